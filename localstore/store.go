// Package localstore keeps a device's FieldSync data in one SQLite file
// (modernc.org/sqlite, WAL): records as last heard from the server with the
// device's pending edits on top, the outbox of operations, photo files,
// the pull cursor, the rules, reviews and history.
//
// An edit and its outbox row commit in one transaction. An edit reported as
// saved has been written with synchronous=FULL, so it survives the app or the
// device stopping at any point after.
package localstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"

	_ "modernc.org/sqlite"
)

// Outbox states.
const (
	Queued  = "queued"  // saved here, not yet confirmed by the server
	Applied = "applied" // the server applied it; waiting for the pull that brings it back
	Held    = "held"    // the server holds it for review
	Refused = "refused" // the server refused it; the user's input is kept
)

// Photo states.
const (
	PhotoWaiting  = "waiting"  // content to upload
	PhotoUploaded = "uploaded" // the server has all of it
	PhotoFailed   = "failed"   // retrying cannot help; the file is kept
)

// Store is one device's database.
type Store struct {
	db   *sql.DB
	read reader // db, with the prepared statements
	prep prepared
	dir  string

	mu     sync.RWMutex
	rebase Rebaser

	// cp is a connection of its own for checkpoints, which then never wait
	// for the writer nor hold up the user's saves.
	cp       *sql.DB
	cpMu     sync.Mutex
	cpBusy   bool // a checkpoint is running
	cpClosed bool
	cpDone   sync.WaitGroup

	newDeviceID func() string // NewDeviceID unless Open was told otherwise
}

// Rebaser computes what the user sees of a record: the server's copy (nil
// when the server does not have it yet) with the pending operations on top,
// in order. parent is the parent's view, for items.
//
// The store calls Rebase inside its write transaction, while it holds the
// only writer: Rebase must not call back into the store, neither to read
// nor to write, or it waits for itself. Whatever else it needs it keeps on
// its own side. It returns the view; nil means the record exists nowhere,
// as after a create the server refused.
type Rebaser interface {
	Rebase(server, parent *contract.Record, ops []contract.Operation) *contract.Record
}

// RebaseFunc is a Rebaser made of a function, under the same rule.
type RebaseFunc func(server, parent *contract.Record, ops []contract.Operation) *contract.Record

// Rebase calls f.
func (f RebaseFunc) Rebase(server, parent *contract.Record, ops []contract.Operation) *contract.Record {
	return f(server, parent, ops)
}

// Close waits for a running checkpoint and closes the database.
func (s *Store) Close() error {
	s.cpMu.Lock()
	s.cpClosed = true
	s.cpMu.Unlock()
	s.cpDone.Wait()
	return errors.Join(s.cp.Close(), s.db.Close())
}

// Dir is the storage directory.
func (s *Store) Dir() string { return s.dir }

// SetRebaser sets how views are computed from the server's copy and pending
// operations. Until one is set, views are the server's copy. Set it once,
// before the store is shared.
func (s *Store) SetRebaser(r Rebaser) {
	s.mu.Lock()
	s.rebase = r
	s.mu.Unlock()
}

// rebaser is the Rebaser's method, or nil when none is set.
func (s *Store) rebaser() func(server, parent *contract.Record, ops []contract.Operation) *contract.Record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.rebase == nil {
		return nil
	}
	return s.rebase.Rebase
}

// tx runs fn in one write transaction.
func (s *Store) tx(ctx context.Context, fn func(txn) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return s.run(tx, fn)
}

// run runs fn in tx and commits, or rolls back when fn fails.
func (s *Store) run(tx *sql.Tx, fn func(txn) error) error {
	if err := fn(txn{Tx: tx, prep: s.prep}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// walBackstop is the log size, in pages, at which a commit checkpoints by
// itself.
const walBackstop = 8192

// CheckpointSoon starts copying the write-ahead log back into the database
// file, in the background, unless a copy is under way already. Once per
// sync round, one copy of each page the round changed many times is
// written, outside the user's saves and without holding up the round: the
// copy never waits for the writer (PASSIVE), and what it cannot copy now
// the next one does. An error leaves the log to checkpoint itself at
// walBackstop.
func (s *Store) CheckpointSoon() {
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	if s.cpBusy || s.cpClosed {
		return
	}
	s.cpBusy = true
	s.cpDone.Add(1)
	go func() {
		defer s.cpDone.Done()
		s.cp.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		s.cpMu.Lock()
		s.cpBusy = false
		s.cpMu.Unlock()
	}()
}

// syncTx runs fn in one write transaction whose commit does not wait for
// the disk (synchronous=NORMAL): for what the server sent and how sending
// went, which power loss can only make the device ask for again. A crash
// of the app loses nothing, and the next commit of the user's own work
// takes these to the disk with it, since the log is written in order.
func (s *Store) syncTx(ctx context.Context, fn func(txn) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return err
	}
	defer func() {
		if _, err := conn.ExecContext(context.Background(), `PRAGMA synchronous = FULL`); err != nil {
			// Never hand the user's next edit a connection that does not
			// wait for the disk: throw this one away.
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return s.run(tx, fn)
}

// prepared holds the statements that edits and sync rounds run thousands
// of times, prepared once when the store opens: parsing SQL again each time
// would cost more than running it.
type prepared map[string]*sql.Stmt

var hotStatements = []string{sqlGetEntry, sqlPendingOps, sqlPutRecord, sqlPutCopy, sqlSaveOp, sqlSettleView}

func prepare(db *sql.DB) (prepared, error) {
	p := prepared{}
	for _, q := range hotStatements {
		st, err := db.Prepare(q)
		if err != nil {
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		p[q] = st
	}
	return p, nil
}

// txn is a write transaction that runs the prepared statements where it can.
type txn struct {
	*sql.Tx
	prep prepared
}

func (t txn) Exec(q string, args ...any) (sql.Result, error) {
	if st := t.prep[q]; st != nil {
		return t.Tx.Stmt(st).Exec(args...)
	}
	return t.Tx.Exec(q, args...)
}

func (t txn) Query(q string, args ...any) (*sql.Rows, error) {
	if st := t.prep[q]; st != nil {
		return t.Tx.Stmt(st).Query(args...)
	}
	return t.Tx.Query(q, args...)
}

func (t txn) QueryRow(q string, args ...any) *sql.Row {
	if st := t.prep[q]; st != nil {
		return t.Tx.Stmt(st).QueryRow(args...)
	}
	return t.Tx.QueryRow(q, args...)
}

// reader runs reads outside a transaction, prepared where it can.
type reader struct {
	*sql.DB
	prep prepared
}

func (r reader) Query(q string, args ...any) (*sql.Rows, error) {
	if st := r.prep[q]; st != nil {
		return st.Query(args...)
	}
	return r.DB.Query(q, args...)
}

func (r reader) QueryRow(q string, args ...any) *sql.Row {
	if st := r.prep[q]; st != nil {
		return st.QueryRow(args...)
	}
	return r.DB.QueryRow(q, args...)
}

func now() int64 { return time.Now().UnixNano() }

// --- meta ---

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

// removePhotoFiles deletes the photo files of a user whose data is gone.
func (s *Store) removePhotoFiles() {
	dir := filepath.Join(s.dir, "photos")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		os.Remove(filepath.Join(dir, e.Name()))
	}
}
