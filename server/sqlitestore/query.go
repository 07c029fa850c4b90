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
}

func (q query) exec(text string, args ...any) (sql.Result, error) {
	if st := q.stmts.lookup(text); st != nil {
		return q.tx.StmtContext(q.ctx, st).ExecContext(q.ctx, args...)
	}
	return q.tx.ExecContext(q.ctx, text, args...)
}

func (q query) queryRows(text string, args ...any) (*sql.Rows, error) {
	if st := q.stmts.lookup(text); st != nil {
		return q.tx.StmtContext(q.ctx, st).QueryContext(q.ctx, args...)
	}
	return q.tx.QueryContext(q.ctx, text, args...)
}

func (q query) queryRow(text string, args ...any) *sql.Row {
	if st := q.stmts.lookup(text); st != nil {
		return q.tx.StmtContext(q.ctx, st).QueryRowContext(q.ctx, args...)
	}
	return q.tx.QueryRowContext(q.ctx, text, args...)
}

// txn is a write transaction: the server.Tx that Write hands out.
type txn struct {
	query
	s           *Store
	afterCommit []func()
}

func (t *txn) AfterCommit(fn func()) { t.afterCommit = append(t.afterCommit, fn) }

// Savepoints here never nest, so one name serves them all and their
// statements stay prepared.
func (t *txn) Savepoint() error {
	_, err := t.exec("SAVEPOINT op")
	return wrap("savepoint", err)
}

func (t *txn) RollbackTo() error {
	_, err := t.exec("ROLLBACK TO op")
	return wrap("rollback to savepoint", err)
}

func (t *txn) Release() error {
	_, err := t.exec("RELEASE op")
	return wrap("release savepoint", err)
}

func (q query) doc(r *sql.Row, v any) (bool, error) {
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
