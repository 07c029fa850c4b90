package pgstore

import (
	"time"

	"github.com/jackc/pgx/v5"

	"fieldsync/server"
)

func (t *txn) Parts(photoID string) ([]server.Part, error) {
	return t.parts("upload parts", `SELECT photo_id, "offset", size, key, at FROM upload_parts WHERE photo_id = $1 ORDER BY "offset"`, photoID)
}

// AddPart inserts the part unless its offset is taken. A part being added
// at the same offset by another transaction makes the insert wait for it,
// so the loser finds the winner's row and records nothing.
func (t *txn) AddPart(p server.Part) (bool, error) {
	tag, err := t.exec("add upload part", true, `INSERT INTO upload_parts(photo_id, "offset", size, key, at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, p.PhotoID, p.Offset, p.Size, p.Key, p.At.UnixNano())
	return err == nil && tag.RowsAffected() == 1, err
}

func (t *txn) DropParts(photoID string) error {
	_, err := t.exec("drop upload parts", true, `DELETE FROM upload_parts WHERE photo_id = $1`, photoID)
	return err
}

func (t *txn) StaleParts(before time.Time, limit int) ([]server.Part, error) {
	return t.parts("stale upload parts", `SELECT photo_id, "offset", size, key, at FROM upload_parts WHERE photo_id IN (
			SELECT photo_id FROM upload_parts GROUP BY photo_id HAVING max(at) < $1 ORDER BY max(at) LIMIT $2)
		ORDER BY photo_id, "offset"`, before.UnixNano(), limit)
}

func (t *txn) parts(step, sql string, args ...any) ([]server.Part, error) {
	var out []server.Part
	err := t.each(step, false, sql, args, func(rows pgx.Rows) error {
		var (
			p  server.Part
			at int64
		)
		if err := rows.Scan(&p.PhotoID, &p.Offset, &p.Size, &p.Key, &at); err != nil {
			return err
		}
		p.At = time.Unix(0, at).UTC()
		out = append(out, p)
		return nil
	})
	return out, err
}
