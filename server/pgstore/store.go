package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"fieldsync/server"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"
)

var _ server.Store = (*Store)(nil)

// Store is the PostgreSQL implementation of server.Store.
type Store struct {
	pool *pgxpool.Pool
	addr string // host:port, for messages

	// shift is added to transaction ids to make feed epochs (see
	// checkEpochs); epoch is the SQL of the writing transaction's epoch.
	shift int64
	epoch string
	// marked is when a write last marked the feed's high water, in Unix
	// nanoseconds.
	marked atomic.Int64

	attempts atomic.Int64 // write transactions begun, retries included
	retries  atomic.Int64 // write transactions begun again after a conflict
}

// The limits every pooled connection sets, unless the DSN sets them: a
// stuck statement or an idle open transaction holds back every pull (the
// feed shows nothing newer than the oldest running write), so neither may
// last for ever.
const (
	statementTimeout  = 30 * time.Second
	idleInTxTimeout   = 60 * time.Second
	connectTimeout    = 5 * time.Second
	defaultMaxConns   = 16
	markEvery         = time.Minute
	maxWriteAttempts  = 8
	firstRetryBackoff = 5 * time.Millisecond
	lastRetryBackoff  = 250 * time.Millisecond
)

// Open connects to the PostgreSQL database dsn names (a URL or keyword/value
// string, as libpq takes) and brings its schema up to date. It fails at
// once when the database cannot be reached, naming its address.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors leave the password out.
		return nil, fmt.Errorf("open PostgreSQL: %w", err)
	}
	cc := cfg.ConnConfig
	addr := fmt.Sprintf("%s:%d", cc.Host, cc.Port)
	if strings.HasPrefix(cc.Host, "/") {
		addr = fmt.Sprintf("%s/.s.PGSQL.%d", cc.Host, cc.Port)
	}
	if !strings.Contains(dsn, "connect_timeout") {
		cc.ConnectTimeout = connectTimeout
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	for k, v := range map[string]time.Duration{
		"statement_timeout":                   statementTimeout,
		"idle_in_transaction_session_timeout": idleInTxTimeout,
	} {
		if _, ok := cc.RuntimeParams[k]; !ok {
			cc.RuntimeParams[k] = fmt.Sprint(v.Milliseconds())
		}
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "fieldsyncd"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL at %s: %w", addr, err)
	}
	s := &Store{pool: pool, addr: addr}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, s.unreachable(err)
	}
	s.shift, err = migrate(ctx, conn.Conn())
	conn.Release() // before Close, which waits for every connection
	if err != nil {
		pool.Close()
		if isUnavailable(err) {
			return nil, s.unreachable(err)
		}
		return nil, fmt.Errorf("migrate PostgreSQL database %s at %s: %w", cc.Database, addr, err)
	}
	// The epoch of rows a transaction writes is its id: rows of a
	// transaction that can still commit are never older in the feed than
	// those a pull has shown.
	s.epoch = fmt.Sprintf("(pg_current_xact_id()::text::bigint + %d)", s.shift)
	s.marked.Store(time.Now().UnixNano())
	return s, nil
}

// unreachable wraps a failure to reach the database in ErrUnavailable,
// with the server's address and without the DSN (and so its password).
func (s *Store) unreachable(err error) error {
	if ce, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		// Its own message names the user and database: the address says
		// enough, and the cause is what a reader needs.
		if cause := errors.Unwrap(ce); cause != nil {
			err = cause
		}
	}
	return &unavailableError{fmt.Errorf("cannot reach PostgreSQL at %s: %w", s.addr, err)}
}

// Close closes every connection of the pool, waiting for those in use.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Attempts returns how many write transactions the store has begun, each
// retry counted: more than the calls to Write says writers got in each
// other's way.
func (s *Store) Attempts() int64 { return s.attempts.Load() }

// Stats reports the store's retries and its connection pool, for
// /metrics.
func (s *Store) Stats() server.StoreStats {
	st := s.pool.Stat()
	return server.StoreStats{
		Retries:    s.retries.Load(),
		ConnsInUse: st.AcquiredConns(), ConnsIdle: st.IdleConns(), ConnsMax: st.MaxConns(),
		ConnWaits: st.EmptyAcquireCount(), ConnWait: st.EmptyAcquireWaitTime(),
	}
}

// FeedLag returns how long the oldest transaction still writing in this
// database has been running, or 0: pulls show nothing it could still
// commit before, so this is how far they may lag behind the newest writes.
func (s *Store) FeedLag(ctx context.Context) (time.Duration, error) {
	var secs float64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - MIN(xact_start)), 0)::float8
		FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()
		  AND backend_xid IS NOT NULL AND xact_start IS NOT NULL`).Scan(&secs)
	if err != nil {
		return 0, s.classify("feed lag", err, ctx)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// errConflict marks a write attempt that a concurrent transaction forced
// to give up: Write runs fn again.
type errConflict struct{ err error }

func (e *errConflict) Error() string { return e.err.Error() }
func (e *errConflict) Unwrap() error { return e.err }

// Write runs fn in a READ COMMITTED transaction, and again in a new one,
// after a short random wait, when a statement of the attempt met a
// concurrent transaction (a serialization failure, a deadlock, or a
// unique key taken at the same moment), whatever fn made of the error.
func (s *Store) Write(ctx context.Context, fn func(server.Tx) error) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = firstRetryBackoff, lastRetryBackoff, 0
	bo.Reset()
	var last error
	for attempt := 1; ; attempt++ {
		err := s.writeOnce(ctx, fn)
		conflict, ok := errors.AsType[*errConflict](err)
		if !ok {
			return err
		}
		last = conflict.err
		if attempt == maxWriteAttempts {
			break
		}
		s.retries.Add(1)
		select {
		case <-ctx.Done():
			return fmt.Errorf("write: %w", ctx.Err())
		case <-time.After(bo.NextBackOff()):
		}
	}
	return fmt.Errorf("%w: write gave way to concurrent writers %d times: %v", server.ErrBusy, maxWriteAttempts, last)
}

// writeOnce runs one attempt of Write.
func (s *Store) writeOnce(ctx context.Context, fn func(server.Tx) error) error {
	s.attempts.Add(1)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.classify("write", err, ctx)
	}
	// A connection released inside a transaction is closed by the pool,
	// never reused.
	defer conn.Release()
	t := newTxn(ctx, s, conn.Conn(), true)
	ferr := fn(t)
	switch {
	case t.conflict != nil:
		t.rollback()
		return &errConflict{t.conflict}
	case t.broken != nil:
		t.rollback()
		return t.broken
	case ferr != nil:
		t.rollback()
		return ferr
	case t.aborted != nil:
		// fn carried on after a failed statement, but PostgreSQL will not
		// commit what came before it.
		t.rollback()
		return fmt.Errorf("write: a statement failed outside any operation, so nothing was kept: %w", t.aborted)
	}
	// A connection lost while COMMIT was on its way leaves the outcome
	// unknown, and is reported as unavailable all the same: a device
	// sending the batch again gets the stored results of whatever did
	// commit, so trying again is safe.
	if err := t.commit(); err != nil {
		t.rollback()
		if c, ok := errors.AsType[*errConflict](err); ok {
			return c
		}
		return err
	}
	return nil
}

// Read runs fn in a REPEATABLE READ, READ ONLY transaction: every
// statement sees one snapshot, so a pull and its head agree.
func (s *Store) Read(ctx context.Context, fn func(server.Query) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.classify("read", err, ctx)
	}
	defer conn.Release()
	t := newTxn(ctx, s, conn.Conn(), false)
	err = fn(t)
	t.rollback()
	if err == nil && t.broken != nil {
		err = t.broken
	}
	return err
}

// unavailableError is an error that means the database could not be
// reached: it wraps server.ErrUnavailable without saying so in its text.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }
func (e *unavailableError) Is(target error) bool {
	return target == server.ErrUnavailable
}

// busyError wraps server.ErrBusy the same way.
type busyError struct{ err error }

func (e *busyError) Error() string { return e.err.Error() }
func (e *busyError) Unwrap() error { return e.err }
func (e *busyError) Is(target error) bool {
	return target == server.ErrBusy
}

// conflictCode reports whether a SQLSTATE means a concurrent transaction
// got in the way, so that the attempt should run again.
func conflictCode(code string) bool {
	switch code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"23505": // unique_violation
		return true
	}
	return false
}

// isUnavailable reports whether err means the connection to the database
// failed or ended, rather than a statement being refused.
func isUnavailable(err error) bool {
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection_exception
			pe.Code == "57P01", // admin_shutdown
			pe.Code == "57P02", // crash_shutdown
			pe.Code == "57P03": // cannot_connect_now
			return true
		}
		return false
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, puddle.ErrClosedPool) || errors.Is(err, net.ErrClosed)
}

// isBusy reports whether err means a statement ran out of time waiting.
func isBusy(err error) bool {
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pe.Code == "57014" || // query_canceled: statement_timeout
			pe.Code == "55P03" // lock_not_available: lock_timeout
	}
	return false
}

// classify wraps a failed step's error in the kind the server acts on.
func (s *Store) classify(step string, err error, ctx context.Context) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	switch {
	case isUnavailable(err):
		return &unavailableError{fmt.Errorf("%s: database at %s: %w", step, s.addr, err)}
	case isBusy(err):
		return &busyError{fmt.Errorf("%s: %w", step, err)}
	}
	return fmt.Errorf("%s: %w", step, err)
}
