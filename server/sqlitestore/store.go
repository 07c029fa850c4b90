package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/sqlitedb"
	"fieldsync/internal/writebehind"
	"fieldsync/server"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ server.Store = (*Store)(nil)

// Store is the SQLite implementation of server.Store.
type Store struct {
	w, r   *sql.DB
	ws, rs stmtCache

	// Checkpoints copy the write-ahead log back into the database file.
	// SQLite runs one inside the commit that fills the log, which would hold
	// up that push's answer; here a goroutine runs them on its own
	// connection after commits, and the writer's own is only a backstop.
	cp        *sql.DB
	committed chan struct{}
	cpDone    chan struct{}

	mu    sync.Mutex // guards seq, version and committed; held by the one writer
	seq   int64
	cache *recordCache
	// version is the writer connection's PRAGMA data_version when seq and
	// the cache were last known right: it changes when another process
	// commits to the database (another server on the same file, or
	// fieldsyncd user add), and then both are read again.
	version int64
}

// Open opens or creates the database at path and brings its schema up to date.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w, err := sqlitedb.Open(path, connOptions(1, true))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetConnMaxIdleTime(0)
	if err := migrate(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	r, err := sqlitedb.Open(path, connOptions(8, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	cp, err := sqlitedb.Open(path, connOptions(1, false))
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{w: w, r: r, ws: stmtCache{db: w}, rs: stmtCache{db: r},
		cp: cp, committed: make(chan struct{}, 1), cpDone: make(chan struct{}), cache: newRecordCache(50000)}
	go s.checkpoints(s.committed)
	if err := s.catchUp(context.Background(), w); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// catchUp reads the sequence counter again, and forgets every cached
// record, when another process committed to the database since this
// store last looked: what this process kept in memory may be stale. On
// the writer's transaction, holding the write lock, nothing can change
// until it ends.
func (s *Store) catchUp(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) error {
	var version int64
	if err := q.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&version); err != nil {
		return fmt.Errorf("read data version: %w", err)
	}
	if version == s.version && s.version != 0 {
		return nil
	}
	if err := q.QueryRowContext(ctx, `SELECT MAX(COALESCE((SELECT MAX(seq) FROM records),0), COALESCE((SELECT MAX(seq) FROM reviews),0))`).Scan(&s.seq); err != nil {
		return fmt.Errorf("read sequence: %w", err)
	}
	s.cache.clear()
	s.version = version
	return nil
}

// connOptions says how the store's connections open: a pool of conns
// connections, each with 64 MiB of page cache. The writer's take the write
// lock as each transaction begins, and checkpoint by themselves only as a
// backstop.
func connOptions(conns int, writer bool) sqlitedb.Options {
	o := sqlitedb.Options{
		BusyTimeout: 10 * time.Second,
		Pragmas:     []string{"synchronous(FULL)", "foreign_keys(ON)", "cache_size(-65536)", "temp_store(MEMORY)"},
		MaxConns:    conns,
	}
	if writer {
		o.Immediate = true
		o.Pragmas = append(o.Pragmas, fmt.Sprintf("wal_autocheckpoint(%d)", walBackstop))
	}
	return o
}

// walBackstop is the log size, in pages, at which the writer checkpoints
// by itself: only when the checkpoint goroutine falls behind.
const walBackstop = 16384

// checkpointGap is the least time between two background checkpoints, so
// that a page written by many pushes in a row is copied back once.
const checkpointGap = 100 * time.Millisecond

// checkpoints copies the log back into the database after commits, at most
// once per checkpointGap, until the store closes. It is handed the channel
// because Close forgets the store's, perhaps before this goroutine starts.
func (s *Store) checkpoints(committed <-chan struct{}) {
	defer close(s.cpDone)
	for range committed {
		time.Sleep(checkpointGap)
		// PASSIVE never waits for the writer or readers; what it cannot copy
		// now it copies next time. An error leaves the writer's backstop.
		s.cp.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
	}
}

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.committed != nil {
		close(s.committed)
		s.committed = nil
		<-s.cpDone
	}
	s.mu.Unlock()
	return errors.Join(s.cp.Close(), s.r.Close(), s.w.Close())
}

// Write runs fn in one immediate transaction on the writer connection.
func (s *Store) Write(ctx context.Context, fn func(server.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return busy(fmt.Errorf("begin: %w", err))
	}
	defer s.ws.prepareWanted(ctx)
	if err := s.catchUp(ctx, tx); err != nil {
		tx.Rollback()
		return busy(err)
	}
	t := &txn{query: query{ctx: ctx, tx: tx, stmts: &s.ws}, s: s, read: map[string]*contract.Record{}}
	t.buf = writebehind.New(sink{t})
	t.flush = t.buf.Flush
	if err := fn(t); err != nil {
		tx.Rollback()
		return err
	}
	if err := t.buf.Commit(); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return busy(fmt.Errorf("commit: %w", err))
	}
	if s.committed != nil {
		select {
		case s.committed <- struct{}{}:
		default: // a checkpoint is due already
		}
	}
	t.publish()
	return nil
}

// publish hands the records a committed transaction read and wrote to the
// cache, or empties it when the transaction renumbered records.
func (t *txn) publish() {
	if t.touched {
		t.s.cache.clear()
		return
	}
	for _, rec := range t.read {
		t.s.cache.put(rec)
	}
	t.buf.Each(t.s.cache.put)
}

// Read runs fn in a read transaction on a snapshot.
func (s *Store) Read(ctx context.Context, fn func(server.Query) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return busy(fmt.Errorf("begin read: %w", err))
	}
	err = fn(query{ctx: ctx, tx: tx, stmts: &s.rs})
	tx.Rollback()
	s.rs.prepareWanted(ctx)
	return err
}

func busy(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED) {
		return fmt.Errorf("%w: %v", server.ErrBusy, err)
	}
	return err
}
