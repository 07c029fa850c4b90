package sqlitestore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"fieldsync/contract"
	"fieldsync/internal/sqlitedb"
	"fieldsync/internal/wirejson"
	"fieldsync/server"
)

func (q query) Record(id string) (*contract.Record, error) {
	var rec contract.Record
	ok, err := q.doc(q.queryRow(`SELECT doc FROM records WHERE id = ?`, id), &rec)
	if !ok || err != nil {
		return nil, wrap("record", err)
	}
	return &rec, nil
}

func (q query) records(step, sqlText string, args ...any) ([]contract.Record, error) {
	rows, err := q.queryRows(sqlText, args...)
	if err != nil {
		return nil, wrap(step, err)
	}
	defer rows.Close()
	var out []contract.Record
	for rows.Next() {
		var b sql.RawBytes // decoded before the next row: no copy needed
		if err := rows.Scan(&b); err != nil {
			return nil, wrap(step, err)
		}
		var rec contract.Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, wrap(step, err)
		}
		out = append(out, rec)
	}
	return out, wrap(step, rows.Err())
}

func (q query) RecordsByID(ids []string) ([]contract.Record, error) {
	var out []contract.Record
	err := chunks(ids, func(part []any) error {
		recs, err := q.records("records by id", `SELECT doc FROM records WHERE id IN (`+inList(len(part))+`)`, part...)
		out = append(out, recs...)
		return err
	})
	return out, err
}

func (q query) Items(parentID string) ([]contract.Record, error) {
	return q.records("items", `SELECT doc FROM records WHERE scope = ? AND id <> ? ORDER BY seq`, parentID, parentID)
}

func (q query) SeesThrough(userID, recordID string) (bool, error) {
	var n int
	err := q.queryRow(`SELECT EXISTS (
		SELECT 1 FROM records r JOIN access a ON a.job_id = r.scope WHERE r.id = ?1 AND a.user_id = ?2
		UNION ALL
		SELECT 1 FROM links l JOIN access a ON a.job_id = l.from_id WHERE l.to_id = ?1 AND a.user_id = ?2)`, recordID, userID).Scan(&n)
	return n == 1, wrap("sees through", err)
}

// scopeClause limits rows of a table with type, scope and id columns to a scope.
func scopeClause(sc server.Scope, args *[]any) string {
	var parts []string
	if len(sc.Types) > 0 {
		ph := make([]string, len(sc.Types))
		for i, t := range sc.Types {
			ph[i] = "?"
			*args = append(*args, t)
		}
		parts = append(parts, "type IN ("+strings.Join(ph, ",")+")")
	}
	if sc.UserID != "" {
		*args = append(*args, sc.UserID, sc.UserID)
		// Correlated lookups, one per row the pull walks: their cost follows
		// the changes after the cursor. "scope IN (SELECT … access …)"
		// built the list of every job the user is on, on every pull.
		parts = append(parts, "EXISTS (SELECT 1 FROM access a WHERE a.user_id = ? AND a.job_id = scope)",
			"EXISTS (SELECT 1 FROM links l JOIN access a ON a.job_id = l.from_id WHERE l.to_id = rid AND a.user_id = ?)")
	}
	if len(parts) == 0 {
		return "0"
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

func (q query) Pull(sc server.Scope, after server.Position, limit int, answered string) (server.FeedPage, error) {
	if after.Epoch != 0 {
		return server.FeedPage{}, fmt.Errorf("pull after %+v: %w", after, server.ErrUnknownPosition)
	}
	args := []any{after.Seq}
	where := scopeClause(sc, &args)
	args = append(args, limit+1)
	// Walk the sequence index in order and stop at the limit, rather than
	// collect and sort everything visible for every page.
	recArgs, recWhere := args, where
	if answered != "" {
		recArgs = append(append([]any{after.Seq}, args[1:len(args)-1]...), answered, limit+1)
		recWhere = "(" + where + ") AND answered IS NOT ?"
	}
	recs, err := q.records("pull records", `SELECT doc FROM (SELECT doc, type, scope, id AS rid, seq, answered FROM records INDEXED BY records_seq WHERE seq > ?) WHERE `+recWhere+` ORDER BY seq LIMIT ?`, recArgs...)
	if err != nil {
		return server.FeedPage{}, err
	}
	rvs, err := q.reviews("pull reviews", `SELECT doc FROM (SELECT doc, record_type AS type, scope, record_id AS rid, seq FROM reviews INDEXED BY reviews_seq WHERE seq > ?) WHERE `+where+` ORDER BY seq LIMIT ?`, args...)
	if err != nil {
		return server.FeedPage{}, err
	}
	return mergePage(recs, rvs, after, limit), nil
}

// mergePage takes the first limit entries of two lists in sequence order:
// with one writer, a position is its sequence number.
func mergePage(recs []contract.Record, rvs []contract.Review, after server.Position, limit int) server.FeedPage {
	out := server.FeedPage{Records: []contract.Record{}, Reviews: []contract.Review{}, Last: after}
	i, j := 0, 0
	for i+j < limit && (i < len(recs) || j < len(rvs)) {
		if j >= len(rvs) || i < len(recs) && recs[i].Seq < rvs[j].Seq {
			out.Records = append(out.Records, recs[i])
			out.Last = server.Position{Seq: recs[i].Seq}
			i++
		} else {
			out.Reviews = append(out.Reviews, rvs[j])
			out.Last = server.Position{Seq: rvs[j].Seq}
			j++
		}
	}
	out.More = i < len(recs) || j < len(rvs)
	return out
}

func (q query) Head() (server.Position, error) {
	var seq int64
	err := q.queryRow(`SELECT MAX(COALESCE((SELECT MAX(seq) FROM records), 0), COALESCE((SELECT MAX(seq) FROM reviews), 0))`).Scan(&seq)
	return server.Position{Seq: seq}, wrap("feed head", err)
}

func (q query) Matches(typ, key string) ([]contract.Record, error) {
	return q.records("matches", `SELECT doc FROM records WHERE type = ? AND match_key = ? ORDER BY seq`, typ, key)
}

// Record returns the record as this transaction last wrote it, or as the
// last committed write left it (cached), or reads it.
func (t *txn) Record(id string) (*contract.Record, error) {
	if rec, ok := t.buf.Written(id); ok {
		return rec, nil
	}
	if rec, ok := t.s.cache.get(id); ok && !t.touched {
		return rec, nil
	}
	rec, err := t.raw().Record(id)
	if rec != nil {
		t.read[id] = rec
	}
	return rec, err
}

// RecordsByID returns the records among ids as Record would, reading
// those it does not know in one statement.
func (t *txn) RecordsByID(ids []string) ([]contract.Record, error) {
	var out []contract.Record
	var missing []string
	for _, id := range ids {
		if rec, ok := t.buf.Written(id); ok {
			out = append(out, *rec)
		} else if rec, ok := t.s.cache.get(id); ok && !t.touched {
			out = append(out, *rec)
		} else {
			missing = append(missing, id)
		}
	}
	recs, err := t.raw().RecordsByID(missing)
	for i := range recs {
		t.read[recs[i].ID] = &recs[i]
	}
	return append(out, recs...), err
}

// NextSeq takes the next number of the one writer's sequence.
func (t *txn) NextSeq() (int64, error) {
	t.s.seq++
	return t.s.seq, nil
}

func (t *txn) NextNumber(prefix string) (string, error) {
	var n int64
	err := t.queryRow(`INSERT INTO counters(name, value) VALUES (?, 1001)
		ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value`, "number:"+prefix).Scan(&n)
	if err != nil {
		return "", wrap("next number", err)
	}
	return fmt.Sprintf("%s%d", prefix, n), nil
}

func (t *txn) putRecords(ws []server.RecordWrite) error {
	// Records whose index columns stay as they are change only their
	// document and sequence: an update that leaves the other indexes alone.
	var fresh, stored []server.RecordWrite
	for _, w := range ws {
		if w.Stored && !w.Index.LinksChanged {
			stored = append(stored, w)
		} else {
			fresh = append(fresh, w)
		}
	}
	for len(stored) > 0 {
		part := stored[:min(len(stored), perStatement)]
		stored = stored[len(part):]
		args := make([]any, 0, len(part)*4)
		for _, w := range part {
			b, err := recordDoc(w)
			if err != nil {
				return err
			}
			args = append(args, w.Record.ID, w.Record.Seq, b, nullable(w.Answered))
		}
		res, err := t.raw().exec(`UPDATE records SET seq = v.column2, doc = v.column3, answered = v.column4 FROM (VALUES `+valuesRows(len(part), 4)+`) AS v WHERE records.id = v.column1`, args...)
		if err != nil {
			return wrap("put records", err)
		}
		if n, _ := res.RowsAffected(); n != int64(len(part)) {
			return fmt.Errorf("put records: updated %d of %d stored records", n, len(part))
		}
	}
	ws = fresh
	for len(ws) > 0 {
		part := ws[:min(len(ws), perStatement)]
		ws = ws[len(part):]
		args := make([]any, 0, len(part)*8)
		for _, w := range part {
			b, err := recordDoc(w)
			if err != nil {
				return err
			}
			args = append(args, w.Record.ID, w.Record.Type, nullable(w.Index.Scope), nullable(w.Index.MatchKey), nullable(w.Record.Number), w.Record.Seq, b, nullable(w.Answered))
		}
		_, err := t.raw().exec(`INSERT INTO records(id, type, scope, match_key, number, seq, doc, answered) VALUES `+valuesRows(len(part), 8)+`
			ON CONFLICT(id) DO UPDATE SET scope = excluded.scope, match_key = excluded.match_key, number = excluded.number, seq = excluded.seq, doc = excluded.doc, answered = excluded.answered`, args...)
		if err != nil {
			return wrap("put records", err)
		}
		if err := t.putLinks(part); err != nil {
			return err
		}
	}
	return nil
}

// putLinks replaces the links of the records whose links changed, each
// record once in ws: two statements for the lot, not two per record.
func (t *txn) putLinks(ws []server.RecordWrite) error {
	var from, pairs []any
	for _, w := range ws {
		if !w.Index.LinksChanged {
			continue
		}
		from = append(from, w.Record.ID)
		for _, to := range w.Index.Links {
			pairs = append(pairs, w.Record.ID, to)
		}
	}
	if len(from) == 0 {
		return nil
	}
	if _, err := t.raw().exec(`DELETE FROM links WHERE from_id IN (`+inList(len(from))+`)`, from...); err != nil {
		return wrap("put record links", err)
	}
	for len(pairs) > 0 {
		part := pairs[:min(len(pairs), 2*perStatement)]
		pairs = pairs[len(part):]
		if _, err := t.raw().exec(`INSERT OR IGNORE INTO links(from_id, to_id) VALUES `+valuesRows(len(part)/2, 2), part...); err != nil {
			return wrap("put record links", err)
		}
	}
	return nil
}

// recordDoc is a record's JSON, made once by the caller where it could.
func recordDoc(w server.RecordWrite) ([]byte, error) {
	if w.Doc != nil {
		return w.Doc, nil
	}
	b, err := wirejson.MarshalRecord(w.Record)
	return b, wrap("put records", err)
}

func (t *txn) SetAccess(jobID string, userIDs []string) ([]string, error) {
	var added []string
	for _, u := range userIDs {
		res, err := t.exec(`INSERT OR IGNORE INTO access(user_id, job_id) VALUES (?, ?)`, u, jobID)
		if err != nil {
			return nil, wrap("set access", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			added = append(added, u)
		}
	}
	args := []any{jobID}
	ph := make([]string, len(userIDs))
	for i, u := range userIDs {
		ph[i] = "?"
		args = append(args, u)
	}
	q := `DELETE FROM access WHERE job_id = ?`
	if len(ph) > 0 {
		q += ` AND user_id NOT IN (` + strings.Join(ph, ",") + `)`
	}
	if _, err := t.exec(q, args...); err != nil {
		return nil, wrap("set access", err)
	}
	return added, nil
}

func (t *txn) Touch(jobID string) error {
	// What the transaction wrote so far is renumbered below, behind its
	// copies: from here on records are read from the database.
	if err := t.buf.Forget(); err != nil {
		return err
	}
	t.touched = true
	// Collect first: the rows change under an open cursor otherwise.
	collect := func(q string) ([]string, error) { return sqlitedb.Strings(t.queryRows(q, jobID)) }
	// The job's items and linked records, and the jobs that suspect they
	// duplicate it: how they read depends on whether the reader sees it.
	recs, err := collect(`SELECT id FROM records WHERE (scope = ?1 AND id <> ?1) OR id IN (SELECT to_id FROM links WHERE from_id = ?1)
		OR id IN (SELECT record_id FROM reviews WHERE match_id = ?1) ORDER BY seq`)
	if err != nil {
		return wrap("touch", err)
	}
	for _, id := range recs {
		if err := t.reseq(`records`, id); err != nil {
			return err
		}
	}
	// Nobody was sent these new sequence numbers in a push answer.
	if err := t.ClearAnswered(recs...); err != nil {
		return err
	}
	rvs, err := collect(`SELECT id FROM reviews WHERE scope = ?1 OR match_id = ?1 ORDER BY seq`)
	if err != nil {
		return wrap("touch", err)
	}
	for _, id := range rvs {
		if err := t.reseq(`reviews`, id); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) ClearAnswered(ids ...string) error {
	return chunks(ids, func(part []any) error {
		_, err := t.exec(`UPDATE records SET answered = NULL WHERE answered IS NOT NULL AND id IN (`+inList(len(part))+`)`, part...)
		return wrap("clear answered", err)
	})
}

// reseq gives a row a new sequence number, in its column and in its document.
func (t *txn) reseq(table, id string) error {
	seq, _ := t.NextSeq()
	_, err := t.exec(`UPDATE `+table+` SET seq = ?1, doc = json_set(doc, '$.seq', ?1) WHERE id = ?2`, seq, id)
	return wrap("touch "+table, err)
}
