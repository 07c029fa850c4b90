package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"fieldsync/contract"
	"fieldsync/internal/writebehind"
	"fieldsync/server"
)

// stmtCache keeps one prepared statement per SQL text for a pool: parsing
// SQL again for every operation would cost more than running it.
//
// A statement is never prepared inside a transaction: the writer pool has a
// single connection, which the transaction holds. A miss runs unprepared and
// is prepared once the transaction has ended. database/sql then binds the
// cached statement to each transaction's own connection.
type stmtCache struct {
	db *sql.DB
	m  sync.Map // string → *sql.Stmt

	mu     sync.Mutex
	wanted map[string]bool
}

// lookup returns the statement for text, or nil and notes that it is wanted.
func (c *stmtCache) lookup(text string) *sql.Stmt {
	if st, ok := c.m.Load(text); ok {
		return st.(*sql.Stmt)
	}
	c.mu.Lock()
	if c.wanted == nil {
		c.wanted = map[string]bool{}
	}
	c.wanted[text] = true
	c.mu.Unlock()
	return nil
}

// prepareWanted prepares the statements missed so far. Call it with no
// transaction open on the caller's side.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	wanted := c.wanted
	c.wanted = nil
	c.mu.Unlock()
	for text := range wanted {
		if _, ok := c.m.Load(text); ok {
			continue
		}
		st, err := c.db.PrepareContext(ctx, text)
		if err != nil {
			continue // it runs unprepared; the error shows where it is used
		}
		if _, loaded := c.m.LoadOrStore(text, st); loaded {
			st.Close()
		}
	}
}

// query runs statements inside one transaction.
type query struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts *stmtCache
	// flush, in a write transaction, sends the writes waiting in memory
	// before a statement that must see them.
	flush func() error
}

// raw returns q without its flush, for statements that never need the
// waiting writes: those on tables they do not touch, and their own.
func (q query) raw() query {
	q.flush = nil
	return q
}

func (q query) exec(text string, args ...any) (sql.Result, error) {
	if q.flush != nil {
		if err := q.flush(); err != nil {
			return nil, err
		}
	}
	if st := q.stmts.lookup(text); st != nil {
		return q.tx.StmtContext(q.ctx, st).ExecContext(q.ctx, args...)
	}
	return q.tx.ExecContext(q.ctx, text, args...)
}

func (q query) queryRows(text string, args ...any) (*sql.Rows, error) {
	if q.flush != nil {
		if err := q.flush(); err != nil {
			return nil, err
		}
	}
	if st := q.stmts.lookup(text); st != nil {
		return q.tx.StmtContext(q.ctx, st).QueryContext(q.ctx, args...)
	}
	return q.tx.QueryContext(q.ctx, text, args...)
}

// row is one row of a result, as *sql.Row gives it.
type row interface{ Scan(dest ...any) error }

// errRow is a row that could not be read.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// queryRow runs a statement that returns one row. In a write transaction
// it sends the waiting writes first; an error doing so shows when the row
// is scanned.
func (q query) queryRow(text string, args ...any) row {
	if q.flush != nil {
		if err := q.flush(); err != nil {
			return errRow{err}
		}
	}
	if st := q.stmts.lookup(text); st != nil {
		return q.tx.StmtContext(q.ctx, st).QueryRowContext(q.ctx, args...)
	}
	return q.tx.QueryRowContext(q.ctx, text, args...)
}

// txn is a write transaction: the server.Tx that Write hands out. Its
// plain writes wait in buf and go to the database in multi-row statements.
type txn struct {
	query
	s   *Store
	buf *writebehind.Buffer
	// read holds the records this transaction read from the database, to
	// cache once it commits; touched says it renumbered records, which
	// leaves every cached copy stale.
	read    map[string]*contract.Record
	touched bool
}

func (t *txn) BeginOp() error        { return t.buf.BeginOp() }
func (t *txn) EndOp(keep bool) error { return t.buf.EndOp(keep) }

func (t *txn) PutRecords(ws []server.RecordWrite) error            { return t.buf.PutRecords(ws) }
func (t *txn) AddChanges(changes []contract.Change) error          { return t.buf.AddChanges(changes) }
func (t *txn) PutResults(rs []server.StoredResult) error           { return t.buf.PutResults(rs) }
func (t *txn) Claim(opIDs []string) ([]server.StoredResult, error) { return t.Results(opIDs) }

// LockMatch has nothing to do: write transactions run one at a time.
func (t *txn) LockMatch(typ, key string) error { return nil }

// sink sends the buffer's writes on the transaction. Savepoints here never
// nest, so one name serves them all and their statements stay prepared.
type sink struct{ t *txn }

func (k sink) PutRecords(ws []server.RecordWrite) error  { return k.t.putRecords(ws) }
func (k sink) AddChanges(cs []contract.Change) error     { return k.t.addChanges(cs) }
func (k sink) PutResults(rs []server.StoredResult) error { return k.t.putResults(rs) }

func (k sink) Savepoint() error {
	_, err := k.t.raw().exec("SAVEPOINT op")
	return wrap("savepoint", err)
}

func (k sink) RollbackTo() error {
	_, err := k.t.raw().exec("ROLLBACK TO op")
	return wrap("rollback to savepoint", err)
}

func (k sink) Release() error {
	_, err := k.t.raw().exec("RELEASE op")
	return wrap("release savepoint", err)
}

func (q query) doc(r row, v any) (bool, error) {
	var b []byte
	if err := r.Scan(&b); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return false, err
	}
	return true, json.Unmarshal(b, v)
}

func wrap(step string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", step, err)
}

// idKey packs a UUID into 16 bytes for the columns of big random-keyed
// indexes; anything else is kept as its bytes.
func idKey(id string) []byte {
	if len(id) == 36 {
		if b, err := hex.DecodeString(strings.ReplaceAll(id, "-", "")); err == nil && len(b) == 16 {
			return b
		}
	}
	return []byte(id)
}

// idString undoes idKey.
func idString(b []byte) string {
	if len(b) != 16 {
		return string(b)
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// inList returns "?,?,…" for n values.
func inList(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// chunks calls fn with ids in slices small enough for one statement.
func chunks(ids []string, fn func(part []any) error) error {
	const max = 500
	for len(ids) > 0 {
		n := min(len(ids), max)
		part := make([]any, n)
		for i, id := range ids[:n] {
			part[i] = id
		}
		if err := fn(part); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// valuesRows returns "(?,?,…),(?,?,…)…" for rows of cols values.
func valuesRows(rows, cols int) string {
	one := "(" + inList(cols) + ")"
	return strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
}

// perStatement is how many rows one multi-row statement carries.
const perStatement = 64

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
