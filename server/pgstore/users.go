package pgstore

import (
	"fmt"
	"time"

	"fieldsync/server"

	"github.com/jackc/pgx/v5"
)

const userCols = `id, name, role, pw_hash, created_at, disabled`

func scanUser(row pgx.Row) (server.UserRow, error) {
	var (
		u       server.UserRow
		created int64
	)
	err := row.Scan(&u.ID, &u.Name, &u.Role, &u.PasswordHash, &created, &u.Disabled)
	u.CreatedAt = time.Unix(0, created).UTC()
	return u, err
}

func (t *txn) users(step, where string, args ...any) ([]server.UserRow, error) {
	var out []server.UserRow
	err := t.each(step, false, `SELECT `+userCols+` FROM users `+where, args, func(rows pgx.Rows) error {
		u, err := scanUser(rows)
		out = append(out, u)
		return err
	})
	return out, err
}

func (t *txn) user(step, where string, arg any) (*server.UserRow, error) {
	us, err := t.users(step, where, arg)
	if err != nil || len(us) == 0 {
		return nil, err
	}
	return &us[0], nil
}

func (t *txn) User(id string) (*server.UserRow, error) {
	return t.user("user", `WHERE id = $1`, id)
}

// UserByName finds a user whatever the case of name, as users_name keeps
// names unique.
func (t *txn) UserByName(name string) (*server.UserRow, error) {
	return t.user("user by name", `WHERE lower(name) = lower($1)`, name)
}

func (t *txn) Users() ([]server.UserRow, error) {
	return t.users("users", `ORDER BY lower(name), name`)
}

func (t *txn) Session(hash []byte) (*server.Session, error) {
	var (
		s                         server.Session
		created, expires, revoked int64
	)
	found, err := t.queryRow("session", false, `SELECT user_id, device_id, created_at, expires_at, revoked_at FROM sessions WHERE hash = $1`,
		[]any{hash}, &s.UserID, &s.DeviceID, &created, &expires, &revoked)
	if err != nil || !found {
		return nil, err
	}
	s.Hash = hash
	s.CreatedAt, s.ExpiresAt = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	if revoked != 0 {
		s.RevokedAt = time.Unix(0, revoked).UTC()
	}
	return &s, nil
}

func (t *txn) DeviceUser(deviceID string) (string, error) {
	var user string
	_, err := t.queryRow("device", false, `SELECT user_id FROM devices WHERE device_id = $1`, []any{deviceID}, &user)
	return user, err
}

func (t *txn) Throttles(keys []string) ([]server.Throttle, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	var out []server.Throttle
	err := t.each("throttles", false, `SELECT key, failures, last_at, until FROM login_throttle WHERE key = ANY($1)`, []any{keys}, func(rows pgx.Rows) error {
		var (
			th          server.Throttle
			last, until int64
		)
		if err := rows.Scan(&th.Key, &th.Failures, &last, &until); err != nil {
			return err
		}
		th.Last, th.Until = time.Unix(0, last).UTC(), time.Unix(0, until).UTC()
		out = append(out, th)
		return nil
	})
	return out, err
}

// AddUser inserts a user unless the name is taken in any case. A name
// being taken at the same moment makes the insert wait for the other
// transaction, so it is never a unique violation, only a refusal.
func (t *txn) AddUser(u server.UserRow) error {
	var id string
	found, err := t.queryRow("add user", true, `INSERT INTO users(`+userCols+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT DO NOTHING RETURNING id`, []any{u.ID, u.Name, u.Role, u.PasswordHash, u.CreatedAt.UnixNano(), u.Disabled}, &id)
	if err != nil || found {
		return err
	}
	if other, err := t.UserByName(u.Name); err != nil || other != nil {
		if err == nil {
			err = fmt.Errorf("add user: a user named %q already exists", other.Name)
		}
		return err
	}
	return fmt.Errorf("add user: a user with id %s already exists", u.ID)
}

func (t *txn) AddSession(s server.Session) error {
	_, err := t.exec("add session", true, `INSERT INTO sessions(hash, user_id, device_id, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, 0)`,
		s.Hash, s.UserID, s.DeviceID, s.CreatedAt.UnixNano(), s.ExpiresAt.UnixNano())
	return err
}

// BindDevice binds the device unless it is bound, and reads who it is
// bound to, in one round trip; a bind at the same moment makes the insert
// wait, and the read then sees the winner.
func (t *txn) BindDevice(deviceID, userID string, at time.Time) (string, error) {
	var user string
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO devices(device_id, user_id, bound_at) VALUES ($1, $2, $3) ON CONFLICT (device_id) DO NOTHING`, deviceID, userID, at.UnixNano())
	b.Queue(`SELECT user_id FROM devices WHERE device_id = $1`, deviceID).QueryRow(func(row pgx.Row) error { return row.Scan(&user) })
	return user, t.send("bind device", true, b)
}

func (t *txn) PutThrottle(th server.Throttle) error {
	_, err := t.exec("put throttle", true, `INSERT INTO login_throttle(key, failures, last_at, until) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_at = excluded.last_at, until = excluded.until`,
		th.Key, th.Failures, th.Last.UnixNano(), th.Until.UnixNano())
	return err
}

func (t *txn) ClearThrottles(keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := t.exec("clear throttles", true, `DELETE FROM login_throttle WHERE key = ANY($1)`, keys)
	return err
}

func (t *txn) PruneThrottles(before time.Time) error {
	_, err := t.exec("prune throttles", true, `DELETE FROM login_throttle WHERE last_at < $1 AND until < $1`, before.UnixNano())
	return err
}

func (t *txn) RevokeSession(hash []byte, at time.Time) error {
	_, err := t.exec("revoke session", true, `UPDATE sessions SET revoked_at = $1 WHERE hash = $2 AND revoked_at = 0`, at.UnixNano(), hash)
	return err
}

func (t *txn) RevokeUserSessions(userID string, at time.Time) (int, error) {
	tag, err := t.exec("revoke sessions", true, `UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at = 0`, at.UnixNano(), userID)
	return int(tag.RowsAffected()), err
}
