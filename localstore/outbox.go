package localstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"fieldsync/contract"
)

// Outbox states.
const (
	Queued  = "queued"  // saved here, not yet confirmed by the server
	Applied = "applied" // the server applied it; waiting for the pull that brings it back
	Held    = "held"    // the server holds it for review
	Refused = "refused" // the server refused it; the user's input is kept
)

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
