package localstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

func (s *Store) getMeta(key string, v any) (bool, error) {
	var b []byte
	err := s.db.QueryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	return true, json.Unmarshal(b, v)
}

func setMeta(ex interface {
	Exec(string, ...any) (sql.Result, error)
}, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = ex.Exec(`INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, b)
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// Session is who is signed in on this device, and where.
type Session struct {
	ServerURL string        `json:"server_url"`
	Token     string        `json:"token"`
	User      contract.User `json:"user"`
	ExpiresAt time.Time     `json:"expires_at"`
}

// Session returns the saved sign-in, if any.
func (s *Store) Session() (Session, bool, error) {
	var sess Session
	ok, err := s.getMeta("session", &sess)
	return sess, ok && sess.Token != "", err
}

// SetSession saves a sign-in.
func (s *Store) SetSession(sess Session) error { return setMeta(s.db, "session", sess) }

// ClearSession forgets the sign-in but keeps the server address.
func (s *Store) ClearSession() error {
	sess, _, err := s.Session()
	if err != nil {
		return err
	}
	return setMeta(s.db, "session", Session{ServerURL: sess.ServerURL})
}

// Setting reads a small device setting into v; false when it is unset.
func (s *Store) Setting(key string, v any) (bool, error) { return s.getMeta("setting:"+key, v) }

// SetSetting saves a small device setting.
func (s *Store) SetSetting(key string, v any) error { return setMeta(s.db, "setting:"+key, v) }

// Rules returns the rules last fetched from the server, or false.
func (s *Store) Rules() (*rulebook.Rules, bool, error) {
	var r rulebook.Rules
	ok, err := s.getMeta("rules", &r)
	if err != nil || !ok {
		return nil, false, err
	}
	if err := r.Compile(); err != nil {
		return nil, false, fmt.Errorf("saved rules: %w", err)
	}
	return &r, true, nil
}

// SetRules saves the rules fetched from the server.
func (s *Store) SetRules(r *rulebook.Rules) error { return setMeta(s.db, "rules", r) }

// Cursor returns the pull cursor.
func (s *Store) Cursor() (string, error) {
	var c string
	_, err := s.getMeta("cursor", &c)
	return c, err
}

// Users returns the people the device knows, by id.
func (s *Store) Users() (map[string]contract.User, error) {
	rows, err := s.db.Query(`SELECT doc FROM users`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]contract.User{}
	for rows.Next() {
		var b []byte
		var u contract.User
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &u); err != nil {
			return nil, err
		}
		out[u.ID] = u
	}
	return out, rows.Err()
}

// SetUsers replaces the people the device knows.
func (s *Store) SetUsers(users []contract.User) error {
	return s.tx(context.Background(), func(tx txn) error {
		if _, err := tx.Exec(`DELETE FROM users`); err != nil {
			return err
		}
		for _, u := range users {
			b, _ := json.Marshal(u)
			if _, err := tx.Exec(`INSERT INTO users(id, doc) VALUES (?, ?)`, u.ID, b); err != nil {
				return err
			}
		}
		return nil
	})
}
