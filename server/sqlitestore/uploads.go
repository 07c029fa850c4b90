package sqlitestore

import (
	"time"

	"fieldsync/server"
)

func (q query) Parts(photoID string) ([]server.Part, error) {
	rows, err := q.raw().queryRows(`SELECT photo_id, offset, size, key, at FROM upload_parts WHERE photo_id = ? ORDER BY offset`, photoID)
	if err != nil {
		return nil, wrap("upload parts", err)
	}
	return scanParts(rows)
}

func (t *txn) AddPart(p server.Part) (bool, error) {
	res, err := t.exec(`INSERT INTO upload_parts(photo_id, offset, size, key, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, p.PhotoID, p.Offset, p.Size, p.Key, p.At.UnixNano())
	if err != nil {
		return false, wrap("add upload part", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("add upload part", err)
}

func (t *txn) DropParts(photoID string) error {
	_, err := t.exec(`DELETE FROM upload_parts WHERE photo_id = ?`, photoID)
	return wrap("drop upload parts", err)
}

func (t *txn) StaleParts(before time.Time, limit int) ([]server.Part, error) {
	rows, err := t.raw().queryRows(`SELECT photo_id, offset, size, key, at FROM upload_parts WHERE photo_id IN (
			SELECT photo_id FROM upload_parts GROUP BY photo_id HAVING max(at) < ? ORDER BY max(at) LIMIT ?)
		ORDER BY photo_id, offset`, before.UnixNano(), limit)
	if err != nil {
		return nil, wrap("stale upload parts", err)
	}
	return scanParts(rows)
}

// scanParts reads the rows of a query of upload_parts, and closes them.
func scanParts(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}) ([]server.Part, error) {
	defer rows.Close()
	var out []server.Part
	for rows.Next() {
		var (
			p  server.Part
			at int64
		)
		if err := rows.Scan(&p.PhotoID, &p.Offset, &p.Size, &p.Key, &at); err != nil {
			return nil, wrap("upload parts", err)
		}
		p.At = time.Unix(0, at).UTC()
		out = append(out, p)
	}
	return out, wrap("upload parts", rows.Err())
}
