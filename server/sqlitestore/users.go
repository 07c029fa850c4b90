package sqlitestore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"fieldsync/server"
)

const userCols = `id, name, role, pw_hash, created_at, disabled`

func scanUser(sc interface{ Scan(...any) error }) (*server.UserRow, error) {
	var (
		u       server.UserRow
		created int64
	)
	if err := sc.Scan(&u.ID, &u.Name, &u.Role, &u.PasswordHash, &created, &u.Disabled); err != nil {
		return nil, err
	}
	u.CreatedAt = time.Unix(0, created).UTC()
	return &u, nil
}

func (q query) user(where string, arg any) (*server.UserRow, error) {
	u, err := scanUser(q.raw().queryRow(`SELECT `+userCols+` FROM users WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return u, wrap("user", err)
}

func (q query) User(id string) (*server.UserRow, error) { return q.user("id = ?", id) }

func (q query) UserByName(name string) (*server.UserRow, error) {
	return q.user("name = ? COLLATE NOCASE", name)
}

func (q query) Users() ([]server.UserRow, error) {
	rows, err := q.raw().queryRows(`SELECT ` + userCols + ` FROM users ORDER BY name`)
	if err != nil {
		return nil, wrap("users", err)
	}
	defer rows.Close()
	var out []server.UserRow
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("users", err)
		}
		out = append(out, *u)
	}
	return out, wrap("users", rows.Err())
}

func (q query) Session(hash []byte) (*server.Session, error) {
	var (
		s                         server.Session
		created, expires, revoked int64
	)
	err := q.raw().queryRow(`SELECT user_id, device_id, created_at, expires_at, revoked_at FROM sessions WHERE hash = ?`, hash).
		Scan(&s.UserID, &s.DeviceID, &created, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("session", err)
	}
	s.Hash = hash
	s.CreatedAt, s.ExpiresAt = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	if revoked != 0 {
		s.RevokedAt = time.Unix(0, revoked).UTC()
	}
	return &s, nil
}

func (q query) DeviceUser(deviceID string) (string, error) {
	var user string
	err := q.raw().queryRow(`SELECT user_id FROM devices WHERE device_id = ?`, deviceID).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return user, wrap("device", err)
}

func (q query) Throttles(keys []string) ([]server.Throttle, error) {
	var out []server.Throttle
	err := chunks(keys, func(part []any) error {
		rows, err := q.raw().queryRows(`SELECT key, failures, last_at, until FROM login_throttle WHERE key IN (`+inList(len(part))+`)`, part...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				t           server.Throttle
				last, until int64
			)
			if err := rows.Scan(&t.Key, &t.Failures, &last, &until); err != nil {
				return err
			}
			t.Last, t.Until = time.Unix(0, last).UTC(), time.Unix(0, until).UTC()
			out = append(out, t)
		}
		return rows.Err()
	})
	return out, wrap("throttles", err)
}

func (t *txn) AddUser(u server.UserRow) error {
	_, err := t.exec(`INSERT INTO users(`+userCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Name, u.Role, u.PasswordHash, u.CreatedAt.UnixNano(), u.Disabled)
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
		return fmt.Errorf("add user: a user named %q already exists", u.Name)
	}
	return wrap("add user", err)
}

func (t *txn) AddSession(s server.Session) error {
	_, err := t.exec(`INSERT INTO sessions(hash, user_id, device_id, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, 0)`,
		s.Hash, s.UserID, s.DeviceID, s.CreatedAt.UnixNano(), s.ExpiresAt.UnixNano())
	return wrap("add session", err)
}

func (t *txn) BindDevice(deviceID, userID string, at time.Time) (string, error) {
	if _, err := t.exec(`INSERT INTO devices(device_id, user_id, bound_at) VALUES (?, ?, ?) ON CONFLICT(device_id) DO NOTHING`,
		deviceID, userID, at.UnixNano()); err != nil {
		return "", wrap("bind device", err)
	}
	return t.DeviceUser(deviceID)
}

func (t *txn) PutThrottle(th server.Throttle) error {
	_, err := t.exec(`INSERT INTO login_throttle(key, failures, last_at, until) VALUES (?, ?, ?, ?)
		ON CONFLICT(key) DO UPDATE SET failures = excluded.failures, last_at = excluded.last_at, until = excluded.until`,
		th.Key, th.Failures, th.Last.UnixNano(), th.Until.UnixNano())
	return wrap("put throttle", err)
}

func (t *txn) ClearThrottles(keys []string) error {
	return wrap("clear throttles", chunks(keys, func(part []any) error {
		_, err := t.exec(`DELETE FROM login_throttle WHERE key IN (`+inList(len(part))+`)`, part...)
		return err
	}))
}

func (t *txn) PruneThrottles(before time.Time) error {
	_, err := t.exec(`DELETE FROM login_throttle WHERE last_at < ? AND until < ?`, before.UnixNano(), before.UnixNano())
	return wrap("prune throttles", err)
}

func (t *txn) RevokeSession(hash []byte, at time.Time) error {
	_, err := t.exec(`UPDATE sessions SET revoked_at = ? WHERE hash = ? AND revoked_at = 0`, at.UnixNano(), hash)
	return wrap("revoke session", err)
}

func (t *txn) RevokeUserSessions(userID string, at time.Time) (int, error) {
	res, err := t.exec(`UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0`, at.UnixNano(), userID)
	if err != nil {
		return 0, wrap("revoke sessions", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
