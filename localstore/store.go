package localstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"

	"fieldsync/contract"
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
