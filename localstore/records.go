package localstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/wirejson"
)

// Entry is a record as the device holds it.
type Entry struct {
	Server *contract.Record // as last heard from the server; nil until the server has it
	View   *contract.Record // what the user sees: the server's copy with pending edits on top
}

func decodeRecord(b []byte) (*contract.Record, error) {
	if b == nil {
		return nil, nil
	}
	var r contract.Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// sameAsServer is the view column of a record with nothing pending: the
// view is the server's copy, kept once.
var sameAsServer = []byte{}

func scanEntry(sc interface{ Scan(...any) error }) (*Entry, error) {
	var server, view []byte
	if err := sc.Scan(&server, &view); err != nil {
		return nil, err
	}
	e := &Entry{}
	var err error
	if e.Server, err = decodeRecord(server); err != nil {
		return nil, err
	}
	if len(view) == 0 {
		e.View = e.Server.Clone()
		return e, nil
	}
	if e.View, err = decodeRecord(view); err != nil {
		return nil, err
	}
	return e, nil
}

type querier interface {
	QueryRow(query string, args ...any) *sql.Row
	Query(query string, args ...any) (*sql.Rows, error)
	Exec(query string, args ...any) (sql.Result, error)
}

const sqlGetEntry = `SELECT server, view FROM records WHERE id = ?`

func getEntry(q querier, id string) (*Entry, error) {
	e, err := scanEntry(q.QueryRow(sqlGetEntry, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return e, err
}

// Record returns a record, or nil when the device does not have it.
func (s *Store) Record(id string) (*Entry, error) {
	e, err := getEntry(s.read, id)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", id, err)
	}
	return e, nil
}

func (s *Store) entries(step, q string, args ...any) ([]Entry, error) {
	rows, err := s.read.Query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", step, err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", step, err)
		}
		out = append(out, *e)
	}
	return out, rows.Err()
}

// Records returns every record of a type.
func (s *Store) Records(typ string) ([]Entry, error) {
	return s.entries("records", `SELECT server, view FROM records WHERE type = ? ORDER BY rowid`, typ)
}

// Items returns the records that hang off a parent.
func (s *Store) Items(parentID string) ([]Entry, error) {
	return s.entries("items", `SELECT server, view FROM records WHERE parent_id = ? ORDER BY rowid`, parentID)
}

// Photo is a photo's content on the device.
type Photo struct {
	ID       string
	JobID    string
	Path     string // under the store's photos directory
	Size     int64
	SHA256   string
	Uploaded int64
	State    string
	Error    string
	Attempts int
	AddedAt  time.Time
}

const sqlSaveOp = `INSERT INTO outbox(op_id, record_id, record_type, parent_id, op, state, created_at, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(op_id) DO NOTHING`

// Save writes an edit: its operation into the outbox, the photo file's row
// when there is one, and the view of the record it changes, in one
// transaction. It returns false, changing nothing, when an operation with
// this id is already saved: saving the same form twice is harmless.
func (s *Store) Save(op contract.Operation, photo *Photo) (bool, error) {
	b, err := json.Marshal(op)
	if err != nil {
		return false, fmt.Errorf("save: %w", err)
	}
	saved := false
	err = s.tx(context.Background(), func(tx txn) error {
		t := now()
		res, err := tx.Exec(sqlSaveOp, op.ID, op.RecordID, op.RecordType,
			parentOf(nil, []contract.Operation{op}), b, Queued, t, t)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		saved = true
		if photo != nil {
			if _, err := tx.Exec(`INSERT INTO photos(id, job_id, path, size, sha256, uploaded, state, added_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)`,
				photo.ID, photo.JobID, photo.Path, photo.Size, photo.SHA256, PhotoWaiting, t); err != nil {
				return err
			}
		}
		return s.rebaseTx(tx, op.RecordID)
	})
	if err != nil {
		return false, fmt.Errorf("save %s %s: %w", op.Action, op.RecordType, err)
	}
	return saved, nil
}

const sqlPendingOps = `SELECT op FROM outbox WHERE record_id = ? AND state IN (?, ?) ORDER BY seq`

// pendingOps returns the operations that shape a record's view: those not
// yet confirmed and those applied but not yet pulled back.
func pendingOps(q querier, recordID string) ([]contract.Operation, error) {
	rows, err := q.Query(sqlPendingOps, recordID, Queued, Applied)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ops []contract.Operation
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		var op contract.Operation
		if err := json.Unmarshal(b, &op); err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, rows.Err()
}

// rebaseTx recomputes a record's view from its server copy and pending
// operations, and stores it; a record that exists nowhere any more (a
// create the server refused) leaves the view.
func (s *Store) rebaseTx(tx txn, id string) error {
	e, err := getEntry(tx, id)
	if err != nil {
		return err
	}
	var server *contract.Record
	if e != nil {
		server = e.Server
	}
	ops, err := pendingOps(tx, id)
	if err != nil {
		return err
	}
	view := server
	if rb := s.rebaser(); rb != nil && len(ops) > 0 {
		var parent *contract.Record
		if pid := parentOf(server, ops); pid != "" {
			if pe, err := getEntry(tx, pid); err != nil {
				return err
			} else if pe != nil {
				parent = pe.View
			}
		}
		view = rb(server, parent, ops)
	}
	if view == nil {
		_, err := tx.Exec(`DELETE FROM records WHERE id = ?`, id)
		return err
	}
	return putRecord(tx, id, server, view)
}

// parentOf finds the parent id of an item from its server copy or from the
// values of its pending append.
func parentOf(server *contract.Record, ops []contract.Operation) string {
	if server != nil && server.ParentID != "" {
		return server.ParentID
	}
	for _, op := range ops {
		if op.Action != contract.ActionAppend {
			continue
		}
		for k, v := range op.Values {
			if strings.HasSuffix(k, "_id") && k != "customer_id" {
				var id string
				if json.Unmarshal(v, &id) == nil {
					if pid, ok := contract.ValidUUID(id); ok {
						return pid
					}
				}
			}
		}
	}
	return ""
}

const sqlPutRecord = `INSERT INTO records(id, type, parent_id, server, view, server_seq) VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT(id) DO UPDATE SET type = excluded.type, parent_id = excluded.parent_id, server = excluded.server,
		view = excluded.view, server_seq = excluded.server_seq`

func putRecord(ex querier, id string, server, view *contract.Record) error {
	var sb []byte
	var seq int64
	if server != nil {
		seq = server.Seq
		var err error
		if sb, err = wirejson.MarshalRecord(server); err != nil {
			return err
		}
	}
	vb := sameAsServer
	if view != server || server == nil {
		var err error
		if vb, err = wirejson.MarshalRecord(view); err != nil {
			return err
		}
	}
	var parent any
	if view.ParentID != "" {
		parent = view.ParentID
	}
	_, err := ex.Exec(sqlPutRecord, id, view.Type, parent, sb, vb, seq)
	return err
}

// sqlPutCopy keeps a server copy from a push answer unless the device has a
// newer one. With nothing pending on the record the view is the server's
// copy; with edits still pending the view keeps showing them, on an older
// copy, until they are answered too.
const sqlPutCopy = `INSERT INTO records(id, type, parent_id, server, view, server_seq) VALUES (?1, ?2, ?3, ?4, x'', ?5)
	ON CONFLICT(id) DO UPDATE SET
		server = CASE WHEN excluded.server_seq >= records.server_seq THEN excluded.server ELSE records.server END,
		type = CASE WHEN excluded.server_seq >= records.server_seq THEN excluded.type ELSE records.type END,
		parent_id = CASE WHEN excluded.server_seq >= records.server_seq THEN excluded.parent_id ELSE records.parent_id END,
		server_seq = MAX(excluded.server_seq, records.server_seq),
		view = CASE WHEN EXISTS (SELECT 1 FROM outbox WHERE record_id = excluded.id AND state IN ('` + Queued + `', '` + Applied + `'))
			THEN records.view ELSE x'' END`

// PendingRecords lists the records with operations still shaping their view.
func (s *Store) PendingRecords() ([]string, error) {
	rows, err := s.db.Query(`SELECT DISTINCT record_id FROM outbox WHERE state IN (?, ?)`, Queued, Applied)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Rebase recomputes the views of the given records, as when the rules or
// the signed-in user change.
func (s *Store) Rebase(ids ...string) error {
	return s.tx(context.Background(), func(tx txn) error {
		for _, id := range ids {
			if err := s.rebaseTx(tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// --- outbox ---

// Pending is one operation in the outbox.
type Pending struct {
	Seq       int64
	Op        contract.Operation
	State     string
	Result    *contract.Result // the server's answer, once there is one
	Attempts  int
	LastError string
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (s *Store) outbox(where string, args ...any) ([]Pending, error) {
	rows, err := s.db.Query(`SELECT seq, op, state, result, attempts, last_error, created_at, updated_at FROM outbox `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		var (
			p            Pending
			opb, resb    []byte
			created, upd int64
		)
		if err := rows.Scan(&p.Seq, &opb, &p.State, &resb, &p.Attempts, &p.LastError, &created, &upd); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		if err := json.Unmarshal(opb, &p.Op); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		if resb != nil {
			p.Result = &contract.Result{}
			if err := json.Unmarshal(resb, p.Result); err != nil {
				return nil, fmt.Errorf("outbox: %w", err)
			}
		}
		p.CreatedAt, p.UpdatedAt = time.Unix(0, created), time.Unix(0, upd)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Queued returns up to limit operations the server has not confirmed, made
// after the one numbered after (0 for the first), in the order they were made.
func (s *Store) Queued(after int64, limit int) ([]Pending, error) {
	return s.outbox(`WHERE state = ? AND seq > ? ORDER BY seq LIMIT ?`, Queued, after, limit)
}

// Outgoing is a queued operation as the sync lane sends it: the JSON saved
// with the edit, not decoded, and what a round's summary says of it.
type Outgoing struct {
	Seq        int64
	RecordType string
	Action     contract.Action
	JSON       json.RawMessage
}

// Outgoing returns up to limit queued operations made after the one
// numbered after (0 for the first), in the order they were made.
func (s *Store) Outgoing(after int64, limit int) ([]Outgoing, error) {
	rows, err := s.read.Query(`SELECT seq, record_type, COALESCE(json_extract(op, '$.action'), ''), op FROM outbox
		WHERE state = ? AND seq > ? ORDER BY seq LIMIT ?`, Queued, after, limit)
	if err != nil {
		return nil, fmt.Errorf("outgoing: %w", err)
	}
	defer rows.Close()
	var out []Outgoing
	for rows.Next() {
		var o Outgoing
		var action string
		if err := rows.Scan(&o.Seq, &o.RecordType, &action, &o.JSON); err != nil {
			return nil, fmt.Errorf("outgoing: %w", err)
		}
		o.Action = contract.Action(action)
		out = append(out, o)
	}
	return out, rows.Err()
}

// Outbox returns every operation still in the outbox, in order.
func (s *Store) Outbox() ([]Pending, error) { return s.outbox(`ORDER BY seq`) }

// PendingFor returns the outbox operations on one record, in order.
func (s *Store) PendingFor(recordID string) ([]Pending, error) {
	return s.outbox(`WHERE record_id = ? ORDER BY seq`, recordID)
}

// Counts returns how many operations wait and how many were refused.
func (s *Store) Counts() (queued, held, refused int, err error) {
	err = s.db.QueryRow(`SELECT
		COALESCE(SUM(state = ?), 0), COALESCE(SUM(state = ?), 0), COALESCE(SUM(state = ?), 0) FROM outbox`,
		Queued, Held, Refused).Scan(&queued, &held, &refused)
	return
}

// NoteAttempt records a failed try to send operations.
func (s *Store) NoteAttempt(seqs []int64, reason string) error {
	return s.syncTx(context.Background(), func(tx txn) error {
		for _, seq := range seqs {
			if _, err := tx.Exec(`UPDATE outbox SET attempts = attempts + 1, last_error = ?, updated_at = ? WHERE seq = ?`, reason, now(), seq); err != nil {
				return err
			}
		}
		return nil
	})
}

// SaveResults records the server's answer to one push. An applied
// operation whose record came back among the copies is done: the copy is the
// server's copy now, and the operation leaves the outbox. One applied without
// its copy (an older server's answer) waits for the pull that brings it back.
// Held and refused ones stay for the user; a refusal that a retry may cure
// stays queued.
func (s *Store) SaveResults(results []contract.Result, copies []json.RawMessage) error {
	heads := make([]wirejson.RecordHead, len(copies))
	copied := make([]string, len(copies))
	for i, doc := range copies {
		h, err := wirejson.ReadRecordHead(doc)
		if err != nil || h.ID == "" || h.Type == "" {
			return fmt.Errorf("save results: the server sent a record copy that is not a record: %.80s", doc)
		}
		heads[i], copied[i] = h, h.ID
	}
	copiedJSON, err := json.Marshal(copied)
	if err != nil {
		return err
	}
	return s.syncTx(context.Background(), func(tx txn) error {
		t := now()
		var applied []string
		touched := map[string]bool{}
		replayed := false
		for _, r := range results {
			replayed = replayed || r.Outcome == contract.AlreadyApplied
			final := r.Final()
			state := ""
			switch final.Outcome {
			case contract.Applied:
				applied = append(applied, r.OpID)
				continue
			case contract.Held:
				state = Held
			case contract.Refused:
				if final.Retry {
					if _, err := tx.Exec(`UPDATE outbox SET attempts = attempts + 1, last_error = ?, updated_at = ? WHERE op_id = ?`,
						final.Message, t, r.OpID); err != nil {
						return err
					}
					continue
				}
				state = Refused
			default:
				continue
			}
			b, err := json.Marshal(final)
			if err != nil {
				return err
			}
			var rid string
			err = tx.QueryRow(`UPDATE outbox SET state = ?, result = ?, attempts = attempts + 1, last_error = '', updated_at = ? WHERE op_id = ? RETURNING record_id`,
				state, b, t, r.OpID).Scan(&rid)
			if errors.Is(err, sql.ErrNoRows) {
				continue // already settled and gone
			}
			if err != nil {
				return err
			}
			// A held or refused operation leaves the view.
			touched[rid] = true
		}
		if replayed {
			// This answer repeats one that never arrived, whose copies may
			// have named more records than this one does: the next pull
			// brings everything.
			if err := setMeta(tx, metaPullAll, true); err != nil {
				return err
			}
		}
		if len(applied) > 0 {
			done, err := finishApplied(tx, applied, copiedJSON)
			if err != nil {
				return err
			}
			for _, r := range results {
				if f := r.Final(); f.Outcome == contract.Applied && !done[r.OpID] {
					b, err := json.Marshal(f)
					if err != nil {
						return err
					}
					if _, err := tx.Exec(`UPDATE outbox SET state = ?, result = ?, attempts = attempts + 1, last_error = '', updated_at = ? WHERE op_id = ?`,
						Applied, b, t, r.OpID); err != nil {
						return err
					}
				}
			}
		}
		for i, doc := range copies {
			h := &heads[i]
			var parent any
			if h.ParentID != "" {
				parent = h.ParentID
			}
			if _, err := tx.Exec(sqlPutCopy, h.ID, h.Type, parent, []byte(doc), h.Seq); err != nil {
				return err
			}
		}
		for id := range touched {
			if err := s.rebaseTx(tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// metaPullAll is set when the next pull must not leave out anything.
const metaPullAll = "pull_all"

// MayOmitAnswered reports whether a pull may leave out the records whose
// current state a push answer gave this device: only when the device holds
// every copy it was sent since its cursor. Not on a first pull, not while
// an applied operation waits for its record to come back, and not after an
// answer was lost (its replay may carry fewer copies) until a pull has
// brought everything.
func (s *Store) MayOmitAnswered() (bool, error) {
	var cursor string
	if _, err := s.getMeta("cursor", &cursor); err != nil || cursor == "" {
		return false, err
	}
	var all bool
	if _, err := s.getMeta(metaPullAll, &all); err != nil || all {
		return false, err
	}
	upTo, err := s.LastApplied()
	return upTo == 0, err
}

// PulledAll notes that a pull that left nothing out has ended.
func (s *Store) PulledAll() error {
	_, err := s.db.Exec(`DELETE FROM meta WHERE key = ?`, metaPullAll)
	return err
}

// finishApplied removes the applied operations whose record is among the
// copies, and returns their ids.
func finishApplied(tx txn, opIDs []string, copiedJSON []byte) (map[string]bool, error) {
	ids, err := json.Marshal(opIDs)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(`DELETE FROM outbox WHERE op_id IN (SELECT value FROM json_each(?)) AND record_id IN (SELECT value FROM json_each(?))
		RETURNING op_id`, ids, copiedJSON)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	done := make(map[string]bool, len(opIDs))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		done[id] = true
	}
	return done, rows.Err()
}

// Drop removes an operation the user has dealt with, such as a refused edit
// whose text was kept as a note, and recomputes its record's view.
func (s *Store) Drop(opID string) error {
	return s.tx(context.Background(), func(tx txn) error {
		var rid string
		err := tx.QueryRow(`DELETE FROM outbox WHERE op_id = ? RETURNING record_id`, opID).Scan(&rid)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return s.rebaseTx(tx, rid)
	})
}

// LastApplied returns the sequence number of the newest applied operation,
// so a pull that starts now can settle everything up to it.
func (s *Store) LastApplied() (int64, error) {
	var seq int64
	err := s.db.QueryRow(`SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE state = ?`, Applied).Scan(&seq)
	return seq, err
}

// --- pull ---

// ApplyPull stores one page of a pull: records as the server has them (the
// views of records with pending edits are recomputed), review items, and
// the new cursor, in one transaction.
func (s *Store) ApplyPull(page contract.PullResponse) error {
	return s.syncTx(context.Background(), func(tx txn) error {
		// The pull comes after the push of every applied operation, so the
		// server's copy already holds them: only queued ones shape the view.
		pending := map[string]bool{}
		rows, err := tx.Query(`SELECT DISTINCT record_id FROM outbox WHERE state = ?`, Queued)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			pending[id] = true
		}
		rows.Close()
		for i := range page.Records {
			rec := &page.Records[i]
			if pending[rec.ID] {
				if err := putRecord(tx, rec.ID, rec, rec); err != nil {
					return err
				}
				if err := s.rebaseTx(tx, rec.ID); err != nil {
					return err
				}
				continue
			}
			if err := putRecord(tx, rec.ID, rec, rec); err != nil {
				return err
			}
		}
		for _, rv := range page.Reviews {
			b, err := json.Marshal(rv)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO reviews(id, record_id, status, doc) VALUES (?, ?, ?, ?)
				ON CONFLICT(id) DO UPDATE SET status = excluded.status, doc = excluded.doc`, rv.ID, rv.RecordID, rv.Status, b); err != nil {
				return err
			}
		}
		return setMeta(tx, "cursor", page.Cursor)
	})
}

// Settle ends a complete pull: operations applied up to seq are now part of
// the server's copies, and held operations whose review is resolved are
// settled; both leave the outbox. It returns how many left.
func (s *Store) Settle(upTo int64) (int, error) {
	n := 0
	err := s.syncTx(context.Background(), func(tx txn) error {
		recs := map[string]bool{}
		rows, err := tx.Query(`DELETE FROM outbox WHERE state = ? AND seq <= ? RETURNING record_id`, Applied, upTo)
		if err != nil {
			return err
		}
		for rows.Next() {
			var rec string
			if err := rows.Scan(&rec); err != nil {
				rows.Close()
				return err
			}
			recs[rec] = true
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		held, err := tx.Query(`SELECT op_id, record_id, result FROM outbox WHERE state = ?`, Held)
		if err != nil {
			return err
		}
		type gone struct{ op, rec, review string }
		var leave []gone
		for held.Next() {
			var op, rec string
			var resb []byte
			if err := held.Scan(&op, &rec, &resb); err != nil {
				held.Close()
				return err
			}
			var res contract.Result
			if json.Unmarshal(resb, &res) != nil || res.ReviewID == "" {
				continue
			}
			leave = append(leave, gone{op, rec, res.ReviewID})
		}
		held.Close()
		if err := held.Err(); err != nil {
			return err
		}
		for _, g := range leave {
			var status string
			if err := tx.QueryRow(`SELECT status FROM reviews WHERE id = ?`, g.review).Scan(&status); err != nil || status != "resolved" {
				continue
			}
			if _, err := tx.Exec(`DELETE FROM outbox WHERE op_id = ?`, g.op); err != nil {
				return err
			}
			recs[g.rec] = true
			n++
		}
		for id := range recs {
			// With nothing pending the view is the server's copy: no need to
			// decode anything.
			res, err := tx.Exec(sqlSettleView, id, id, Queued, Applied)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				continue
			}
			if err := s.rebaseTx(tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

const sqlSettleView = `UPDATE records SET view = x'' WHERE id = ? AND server IS NOT NULL
	AND NOT EXISTS (SELECT 1 FROM outbox WHERE record_id = ? AND state IN (?, ?))`

// --- reviews and history ---

// Reviews returns the review items the device knows, open ones only if asked.
func (s *Store) Reviews(openOnly bool) ([]contract.Review, error) {
	q := `SELECT doc FROM reviews`
	if openOnly {
		q += ` WHERE status = 'open'`
	}
	rows, err := s.db.Query(q + ` ORDER BY rowid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []contract.Review
	for rows.Next() {
		var b []byte
		var rv contract.Review
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &rv); err != nil {
			return nil, err
		}
		out = append(out, rv)
	}
	return out, rows.Err()
}

// SetHistory keeps a record's change log as last fetched.
func (s *Store) SetHistory(recordID string, changes []contract.Change) error {
	b, err := json.Marshal(changes)
	if err != nil {
		return err
	}
	_, err = s.db.Exec(`INSERT INTO history(record_id, doc, fetched_at) VALUES (?, ?, ?)
		ON CONFLICT(record_id) DO UPDATE SET doc = excluded.doc, fetched_at = excluded.fetched_at`, recordID, b, now())
	return err
}

// History returns a record's change log as last fetched, and when.
func (s *Store) History(recordID string) ([]contract.Change, time.Time, error) {
	var b []byte
	var at int64
	err := s.db.QueryRow(`SELECT doc, fetched_at FROM history WHERE record_id = ?`, recordID).Scan(&b, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	var out []contract.Change
	return out, time.Unix(0, at), json.Unmarshal(b, &out)
}

// OutboxState is what the sync state needs of one outbox row, without the
// operation itself.
type OutboxState struct {
	Seq        int64
	RecordID   string
	RecordType string
	ParentID   string // the record's parent, for items
	State      string
	Attempts   int
	LastError  string
	Result     *contract.Result
}

// OutboxStates returns every outbox row's state, in order.
func (s *Store) OutboxStates() ([]OutboxState, error) {
	rows, err := s.db.Query(`SELECT o.seq, o.record_id, o.record_type, COALESCE(r.parent_id, o.parent_id), o.state, o.attempts, o.last_error, o.result
		FROM outbox o LEFT JOIN records r ON r.id = o.record_id ORDER BY o.seq`)
	if err != nil {
		return nil, fmt.Errorf("outbox states: %w", err)
	}
	defer rows.Close()
	var out []OutboxState
	for rows.Next() {
		var (
			st   OutboxState
			resb []byte
		)
		if err := rows.Scan(&st.Seq, &st.RecordID, &st.RecordType, &st.ParentID, &st.State, &st.Attempts, &st.LastError, &resb); err != nil {
			return nil, fmt.Errorf("outbox states: %w", err)
		}
		if resb != nil && st.State != Applied {
			st.Result = &contract.Result{}
			if err := json.Unmarshal(resb, st.Result); err != nil {
				return nil, fmt.Errorf("outbox states: %w", err)
			}
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// NeedsReview returns the records with an open review item, each with its
// parent for items.
func (s *Store) NeedsReview() (map[string]string, error) {
	rows, err := s.db.Query(`SELECT DISTINCT v.record_id, COALESCE(r.parent_id, '') FROM reviews v
		LEFT JOIN records r ON r.id = v.record_id WHERE v.status = 'open'`)
	if err != nil {
		return nil, fmt.Errorf("needs review: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, parent string
		if err := rows.Scan(&id, &parent); err != nil {
			return nil, err
		}
		out[id] = parent
	}
	return out, rows.Err()
}
