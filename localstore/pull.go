package localstore

import (
	"context"
	"encoding/json"

	"fieldsync/contract"
	"fieldsync/internal/sqlitedb"
)

// ApplyPull stores one page of a pull: records as the server has them (the
// views of records with pending edits are recomputed), review items, and
// the new cursor, in one transaction.
func (s *Store) ApplyPull(page contract.PullResponse) error {
	return s.syncTx(context.Background(), func(tx txn) error {
		// The pull comes after the push of every applied operation, so the
		// server's copy already holds them: only queued ones shape the view.
		ids, err := sqlitedb.Strings(tx.Query(`SELECT DISTINCT record_id FROM outbox WHERE state = ?`, Queued))
		if err != nil {
			return err
		}
		pending := make(map[string]bool, len(ids))
		for _, id := range ids {
			pending[id] = true
		}
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

// PulledAll notes that a pull that left nothing out has ended.
func (s *Store) PulledAll() error {
	_, err := s.db.Exec(`DELETE FROM meta WHERE key = ?`, metaPullAll)
	return err
}
