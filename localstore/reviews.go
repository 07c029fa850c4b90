package localstore

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"fieldsync/contract"
)

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
