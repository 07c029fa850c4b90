package localstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"fieldsync/contract"
	"fieldsync/internal/sqlitedb"
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

// PendingRecords lists the records with operations still shaping their view.
func (s *Store) PendingRecords() ([]string, error) {
	return sqlitedb.Strings(s.db.Query(`SELECT DISTINCT record_id FROM outbox WHERE state IN (?, ?)`, Queued, Applied))
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
