package localstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"fieldsync/contract"
	"fieldsync/internal/sqlitedb"
	"fieldsync/internal/wirejson"
)

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

// finishApplied removes the applied operations whose record is among the
// copies, and returns their ids.
func finishApplied(tx txn, opIDs []string, copiedJSON []byte) (map[string]bool, error) {
	ids, err := json.Marshal(opIDs)
	if err != nil {
		return nil, err
	}
	deleted, err := sqlitedb.Strings(tx.Query(`DELETE FROM outbox WHERE op_id IN (SELECT value FROM json_each(?)) AND record_id IN (SELECT value FROM json_each(?))
		RETURNING op_id`, ids, copiedJSON))
	if err != nil {
		return nil, err
	}
	done := make(map[string]bool, len(deleted))
	for _, id := range deleted {
		done[id] = true
	}
	return done, nil
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
