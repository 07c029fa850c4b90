package pgstore

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"fieldsync/contract"
	"fieldsync/internal/wirejson"
	"fieldsync/server"

	"github.com/jackc/pgx/v5"
)

// Sequence numbers are drawn in blocks: seqBlock at first, twice as many
// each time a transaction runs out, up to maxSeqBlock; a read that locks
// records draws, in the same round trip, as many as it locked and
// seqBlock more. Numbers left unused are lost, which costs nothing.
const (
	seqBlock    = 32
	maxSeqBlock = 4096
)

// Record returns the record as this transaction last wrote it, or reads
// it, inside Write locking it.
func (t *txn) Record(id string) (*contract.Record, error) {
	if rec, ok := t.known(id); ok {
		return rec, nil
	}
	recs, err := t.lockRecords("record", []string{id})
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return &recs[0], nil
}

// known returns a record as this transaction last wrote or read it (nil
// when it found none), without asking the database: what it read stays
// as it was, as the transaction holds it (Write) or reads one snapshot
// (Read).
func (t *txn) known(id string) (*contract.Record, bool) {
	if t.buf != nil {
		if rec, ok := t.buf.Written(id); ok {
			return rec, true
		}
	}
	rec, ok := t.read[id]
	return rec, ok
}

// records runs a statement whose first column is a record document.
func (t *txn) records(step, sql string, args ...any) ([]contract.Record, error) {
	var out []contract.Record
	err := t.each(step, false, sql, args, appendRecord(&out))
	return out, err
}

// appendRecord returns a row reader that decodes a record document, the
// row's one column, onto out.
func appendRecord(out *[]contract.Record) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return err
		}
		var rec contract.Record
		if err := json.Unmarshal(doc, &rec); err != nil {
			return err
		}
		*out = append(*out, rec)
		return nil
	}
}

// RecordsByID returns the records among ids as Record would, reading those
// this transaction has not written in one statement.
func (t *txn) RecordsByID(ids []string) ([]contract.Record, error) {
	var out []contract.Record
	var missing []string
	for _, id := range ids {
		if rec, ok := t.known(id); !ok {
			missing = append(missing, id)
		} else if rec != nil {
			out = append(out, *rec)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	recs, err := t.lockRecords("records by id", missing)
	return append(out, recs...), err
}

// lockRecords reads records, inside Write locking them in id order, so
// that two writers locking some of the same records cannot each wait for
// the other. When it locks a record this transaction did not hold, the
// same round trip draws a new block of sequence numbers after the locks:
// the numbers drawn before may be smaller than those a writer before it
// gave the record.
func (t *txn) lockRecords(step string, ids []string) ([]contract.Record, error) {
	var recs []contract.Record
	b := &pgx.Batch{}
	sql := `SELECT doc FROM records WHERE id = ANY($1)`
	if t.write {
		sql += ` ORDER BY id FOR UPDATE`
	}
	queueEach(b, sql, []any{ids}, appendRecord(&recs))
	var seqs []int64
	fresh := false
	for _, id := range ids {
		fresh = fresh || t.write && !t.locked[id]
	}
	if fresh {
		queueSeqs(b, min(len(ids)+seqBlock, maxSeqBlock), &seqs)
	}
	if err := t.send(step, false, b); err != nil {
		return nil, err
	}
	for _, id := range ids {
		t.read[id] = nil
	}
	for i := range recs {
		t.read[recs[i].ID] = &recs[i]
	}
	if !t.write {
		return recs, nil
	}
	for _, id := range ids {
		t.absent[id] = true
	}
	for i := range recs {
		id := recs[i].ID
		delete(t.absent, id)
		t.locked[id] = true
		if t.spOpen {
			t.spLocked = append(t.spLocked, id)
		}
	}
	if fresh {
		t.seqs = seqs
	}
	return recs, nil
}

func (t *txn) Items(parentID string) ([]contract.Record, error) {
	if !t.write {
		return t.records("items", `SELECT doc FROM records WHERE scope = $1 AND id <> $1 ORDER BY seq`, parentID)
	}
	// Inside Write the items may be about to change (a merge moves them to
	// another job): hold them, as Record does, so that writing them
	// updates them rather than inserting them again.
	var ids []string
	err := t.each("items", false, `SELECT id FROM records WHERE scope = $1 AND id <> $1 ORDER BY seq`, []any{parentID}, func(rows pgx.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	recs, err := t.RecordsByID(ids)
	if err != nil {
		return nil, err
	}
	at := make(map[string]int, len(ids))
	for i, id := range ids {
		at[id] = i
	}
	slices.SortFunc(recs, func(a, b contract.Record) int { return at[a.ID] - at[b.ID] })
	return recs, nil
}

func (t *txn) Matches(typ, key string) ([]contract.Record, error) {
	return t.records("matches", `SELECT doc FROM records WHERE type = $1 AND match_key = $2 ORDER BY seq`, typ, key)
}

func (t *txn) SeesThrough(userID, recordID string) (bool, error) {
	var sees bool
	_, err := t.queryRow("sees through", false, `SELECT EXISTS (
		SELECT 1 FROM records r JOIN access a ON a.job_id = r.scope WHERE r.id = $1 AND a.user_id = $2
		UNION ALL
		SELECT 1 FROM links l JOIN access a ON a.job_id = l.from_id WHERE l.to_id = $1 AND a.user_id = $2)`,
		[]any{recordID, userID}, &sees)
	return sees, err
}

// NextSeq hands out numbers from a block drawn after the transaction last
// locked a record, so that each is larger than any number a writer that
// held one of its records before could have given it.
func (t *txn) NextSeq() (int64, error) {
	if len(t.seqs) == 0 {
		t.block = min(max(2*t.block, seqBlock), maxSeqBlock)
		seqs, err := t.drawSeqs(t.block)
		if err != nil {
			return 0, err
		}
		t.seqs = seqs
	}
	n := t.seqs[0]
	t.seqs = t.seqs[1:]
	return n, nil
}

// drawSeqs draws n numbers from the feed's sequence, smallest first.
// Sequences ignore rollbacks, so this needs no savepoint.
func (t *txn) drawSeqs(n int) ([]int64, error) {
	var seqs []int64
	b := &pgx.Batch{}
	queueSeqs(b, n, &seqs)
	err := t.send("next sequence number", false, b)
	return seqs, err
}

// queueSeqs queues the draw of n numbers into out, smallest first.
func queueSeqs(b *pgx.Batch, n int, out *[]int64) {
	queueEach(b, `SELECT nextval('feed_seq') FROM generate_series(1, $1) ORDER BY 1`, []any{n}, func(rows pgx.Rows) error {
		var s int64
		err := rows.Scan(&s)
		*out = append(*out, s)
		return err
	})
}

// NextNumber counts on a row of counters: its lock makes a concurrent
// create wait until this transaction ends, so no number is given twice and
// none is skipped, and an undone operation gives its number back.
func (t *txn) NextNumber(prefix string) (string, error) {
	var n int64
	_, err := t.queryRow("next number", true, `INSERT INTO counters(name, value) VALUES ($1, 1001)
		ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value`, []any{"number:" + prefix}, &n)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%d", prefix, n), nil
}

// LockMatch takes an advisory lock on the match key until the transaction
// ends.
func (t *txn) LockMatch(typ, key string) error {
	_, err := t.exec("lock match key", false, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, typ+":"+key)
	return err
}

// putRecords returns the statements storing records and their links.
// Records this transaction looked for and did not find (fresh) are plainly
// inserted: a record made at the same moment by another transaction is a
// unique violation, and the retry finds it. The others are upserted: their
// feed position changes with every write, so an update that left the
// other columns alone would save nothing.
func putRecords(ws []server.RecordWrite, fresh func(id string) bool, epoch string) ([]*pgx.QueuedQuery, error) {
	if len(ws) == 0 {
		return nil, nil
	}
	// One statement may not write a row twice: the write-behind buffer
	// sends each record once, its latest write.
	var upsert, insert recordRows
	var linkFrom, pairFrom, pairTo []string
	for _, w := range ws {
		r := w.Record
		doc := w.Doc
		if doc == nil {
			var err error
			if doc, err = wirejson.MarshalRecord(r); err != nil {
				return nil, fmt.Errorf("put record %s: %w", r.ID, err)
			}
		}
		rows := &upsert
		if fresh(r.ID) {
			rows = &insert
		}
		rows.add(w, doc)
		if w.Index.LinksChanged {
			linkFrom = append(linkFrom, r.ID)
			for _, to := range w.Index.Links {
				pairFrom, pairTo = append(pairFrom, r.ID), append(pairTo, to)
			}
		}
	}
	var qqs []*pgx.QueuedQuery
	insertSQL := `INSERT INTO records(id, type, scope, match_key, number, answered, epoch, seq, doc)
		SELECT u.id, u.type, NULLIF(u.scope, ''), NULLIF(u.match_key, ''), NULLIF(u.number, ''), NULLIF(u.answered, ''), ` + epoch + `, u.seq, u.doc
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bytea[])
			AS u(id, type, scope, match_key, number, answered, seq, doc)`
	if len(insert.id) > 0 {
		qqs = append(qqs, &pgx.QueuedQuery{SQL: insertSQL, Arguments: insert.args()})
	}
	if len(upsert.id) > 0 {
		qqs = append(qqs, &pgx.QueuedQuery{SQL: insertSQL + `
			ON CONFLICT (id) DO UPDATE SET scope = excluded.scope, match_key = excluded.match_key, number = excluded.number,
				answered = excluded.answered, epoch = excluded.epoch, seq = excluded.seq, doc = excluded.doc`,
			Arguments: upsert.args()})
	}
	if len(linkFrom) > 0 {
		qqs = append(qqs, &pgx.QueuedQuery{SQL: `DELETE FROM links WHERE from_id = ANY($1)`, Arguments: []any{linkFrom}})
		if len(pairFrom) > 0 {
			qqs = append(qqs, &pgx.QueuedQuery{SQL: `INSERT INTO links(from_id, to_id) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`,
				Arguments: []any{pairFrom, pairTo}})
		}
	}
	return qqs, nil
}

// recordRows are the columns of records to write, one array per column.
type recordRows struct {
	id, typ, scope, key, num, ans []string
	seq                           []int64
	doc                           [][]byte
}

func (r *recordRows) add(w server.RecordWrite, doc []byte) {
	rec := w.Record
	r.id, r.typ, r.scope = append(r.id, rec.ID), append(r.typ, rec.Type), append(r.scope, w.Index.Scope)
	r.key, r.num, r.ans = append(r.key, w.Index.MatchKey), append(r.num, rec.Number), append(r.ans, w.Answered)
	r.seq, r.doc = append(r.seq, rec.Seq), append(r.doc, doc)
}

func (r *recordRows) args() []any {
	return []any{r.id, r.typ, r.scope, r.key, r.num, r.ans, r.seq, r.doc}
}

// SetAccess replaces who is on a job in one round trip.
func (t *txn) SetAccess(jobID string, userIDs []string) ([]string, error) {
	if userIDs == nil {
		userIDs = []string{}
	}
	addedSet := map[string]bool{}
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM access WHERE job_id = $1 AND user_id <> ALL($2::text[])`, jobID, userIDs)
	queueEach(b, `INSERT INTO access(user_id, job_id) SELECT u, $1 FROM unnest($2::text[]) AS u
		ON CONFLICT DO NOTHING RETURNING user_id`, []any{jobID, userIDs}, func(rows pgx.Rows) error {
		var u string
		if err := rows.Scan(&u); err != nil {
			return err
		}
		addedSet[u] = true
		return nil
	})
	if err := t.send("set access", true, b); err != nil {
		return nil, err
	}
	var added []string
	for _, u := range userIDs {
		if addedSet[u] {
			added = append(added, u)
			delete(addedSet, u)
		}
	}
	return added, nil
}

func (t *txn) ClearAnswered(ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := t.exec("clear answered", true, `UPDATE records SET answered = NULL WHERE answered IS NOT NULL AND id = ANY($1)`, ids)
	return err
}

// touched is a row Touch renumbers.
type touched struct {
	id  string
	seq int64
	doc []byte
}

// Touch renumbers the records and reviews people added to a job must pull,
// in two round trips: lock and read them and draw numbers after the locks
// (as NextSeq does), then write them back with the number changed in
// their documents too.
func (t *txn) Touch(jobID string) error {
	// What the transaction wrote so far is renumbered below, behind the
	// buffer's copies: from here on records are read from the database.
	if err := t.buf.Forget(); err != nil {
		return err
	}
	clear(t.read)
	var recs, rvs []touched
	scan := func(into *[]touched) func(pgx.Rows) error {
		return func(rows pgx.Rows) error {
			var r touched
			if err := rows.Scan(&r.id, &r.seq, &r.doc); err != nil {
				return err
			}
			*into = append(*into, r)
			return nil
		}
	}
	b := &pgx.Batch{}
	// The job's items and linked records, and the jobs that suspect they
	// duplicate it: how they read depends on whether the reader sees it.
	// One index lookup each: the same conditions joined by OR made
	// PostgreSQL scan every record, on every create of a job.
	queueEach(b, `SELECT id, seq, doc FROM records WHERE id IN (
			SELECT id FROM records WHERE scope = $1 AND id <> $1
			UNION SELECT to_id FROM links WHERE from_id = $1
			UNION SELECT record_id FROM reviews WHERE match_id = $1)
		ORDER BY id FOR UPDATE`, []any{jobID}, scan(&recs))
	queueEach(b, `SELECT id, seq, doc FROM reviews WHERE scope = $1 OR match_id = $1 ORDER BY id FOR UPDATE`, []any{jobID}, scan(&rvs))
	var drawn []int64
	queueSeqs(b, seqBlock, &drawn)
	if err := t.send("touch", true, b); err != nil {
		return err
	}
	t.seqs = drawn
	for _, r := range recs {
		t.locked[r.id] = true
		if t.spOpen {
			t.spLocked = append(t.spLocked, r.id)
		}
	}
	if len(recs)+len(rvs) == 0 {
		return nil
	}
	seqs := make([]int64, len(recs)+len(rvs))
	for i := range seqs {
		var err error
		if seqs[i], err = t.NextSeq(); err != nil {
			return err
		}
	}
	// Rows keep their order in the feed among themselves.
	byOldSeq := func(a, b touched) int { return cmp.Compare(a.seq, b.seq) }
	slices.SortFunc(recs, byOldSeq)
	slices.SortFunc(rvs, byOldSeq)
	b = &pgx.Batch{}
	if err := queueRenumbered(b, "records", t.s.epoch, recs, seqs[:len(recs)], func(doc []byte, seq int64) ([]byte, error) {
		var rec contract.Record
		if err := json.Unmarshal(doc, &rec); err != nil {
			return nil, err
		}
		rec.Seq = seq
		return wirejson.MarshalRecord(&rec)
	}); err != nil {
		return err
	}
	if err := queueRenumbered(b, "reviews", t.s.epoch, rvs, seqs[len(recs):], func(doc []byte, seq int64) ([]byte, error) {
		var rv contract.Review
		if err := json.Unmarshal(doc, &rv); err != nil {
			return nil, err
		}
		rv.Seq = seq
		return json.Marshal(&rv)
	}); err != nil {
		return err
	}
	return t.send("touch", true, b)
}

// queueRenumbered queues the update giving rows of table their new
// sequence numbers, in their column and their document. Records lose
// their answered mark: no push answer carried these numbers.
func queueRenumbered(b *pgx.Batch, table, epoch string, rows []touched, seqs []int64, redo func([]byte, int64) ([]byte, error)) error {
	if len(rows) == 0 {
		return nil
	}
	ids, docs := make([]string, len(rows)), make([][]byte, len(rows))
	for i, r := range rows {
		doc, err := redo(r.doc, seqs[i])
		if err != nil {
			return fmt.Errorf("touch %s %s: %w", table, r.id, err)
		}
		ids[i], docs[i] = r.id, doc
	}
	set := `epoch = ` + epoch + `, seq = u.seq, doc = u.doc`
	if table == "records" {
		set += `, answered = NULL`
	}
	b.Queue(`UPDATE `+table+` t SET `+set+`
		FROM unnest($1::text[], $2::bigint[], $3::bytea[]) AS u(id, seq, doc) WHERE t.id = u.id`, ids, seqs, docs)
	return nil
}
