package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/writebehind"
	"fieldsync/server"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var (
	_ server.Tx    = (*txn)(nil)
	_ server.Query = (*txn)(nil)
)

// txn is one transaction, of Write (write) or of Read.
//
// Inside Write, records, change-log rows and results wait in a write-behind
// buffer, and go to the database as statements deferred to the next round
// trip: every statement is sent by send, which first has the buffer flush
// what the statement must see, and puts in front of it what waits (BEGIN,
// deferred writes, the end of the last operation's savepoint, this
// operation's savepoint). A push of one operation thus costs a round trip
// to claim it, one to read and lock its records, and one to write and
// commit.
type txn struct {
	ctx   context.Context
	s     *Store
	conn  *pgx.Conn
	write bool
	buf   *writebehind.Buffer // nil in Read

	begun bool               // BEGIN has been sent or queued
	pre   []*pgx.QueuedQuery // deferred statements, sent before the next ones

	// The buffer asks for an operation's savepoint as soon as the
	// operation sends anything (spWanted), but it is opened only in front
	// of the operation's first write (spOpen): most operations that fail
	// have written nothing.
	spWanted, spOpen bool
	// locked holds the records this transaction has locked; spLocked those
	// it locked inside the open savepoint, which a rollback to it releases.
	locked   map[string]bool
	spLocked []string
	// absent holds the records this transaction looked for and did not
	// find; inserted those it has written, and spInserted those it first
	// wrote inside the open savepoint, which a rollback to it unwrites.
	absent, inserted map[string]bool
	spInserted       []string

	// read holds the records this transaction read (nil: looked for and
	// not found).
	read map[string]*contract.Record

	seqs    []int64  // sequence numbers drawn after the last record lock
	block   int      // how many NextSeq drew last
	claimed []string // operation ids this transaction tried to claim
	horizon int64    // Read: the feed's horizon in this snapshot, once known
	next    int64    // Read: the snapshot's end, with horizon
	// Read: the transactions seen not writing this database before it
	// began, if it looked (lookedAbroad).
	foreign      []int64
	lookedAbroad bool

	// conflict is the first error of a statement that met a concurrent
	// transaction: the attempt is given up and run again, whatever the
	// caller made of the error. broken is a lost connection or an ended
	// context; aborted a failed statement outside any savepoint (or a
	// deferred one), after which nothing can be committed.
	conflict, broken, aborted error
}

func newTxn(ctx context.Context, s *Store, conn *pgx.Conn, write bool) *txn {
	t := &txn{ctx: ctx, s: s, conn: conn, write: write, locked: map[string]bool{}, absent: map[string]bool{}, inserted: map[string]bool{},
		read: map[string]*contract.Record{}, horizon: -1}
	if write {
		t.buf = writebehind.New(sink{t})
	}
	return t
}

func (t *txn) beginSQL() string {
	if t.write {
		return "BEGIN ISOLATION LEVEL READ COMMITTED"
	}
	return "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
}

// usable returns why no statement can be sent any more, or nil.
func (t *txn) usable() error {
	switch {
	case t.conflict != nil:
		return fmt.Errorf("gave way to a concurrent transaction: %w", t.conflict)
	case t.broken != nil:
		return t.broken
	case t.aborted != nil:
		return fmt.Errorf("the transaction failed earlier: %w", t.aborted)
	}
	return nil
}

// deferredError is the failure of a deferred statement: it belongs to no
// one statement the caller sent, so the whole attempt fails with it.
type deferredError struct{ err error }

func (e *deferredError) Error() string { return e.err.Error() }
func (e *deferredError) Unwrap() error { return e.err }

// enqueue defers statements to the next round trip. write says they
// change the database: the operation's savepoint is opened in front of
// them if it is wanted. They must not check their outcome in Go: a batch
// that commits goes on to COMMIT whatever Go makes of a result.
func (t *txn) enqueue(write bool, qqs ...*pgx.QueuedQuery) {
	if write && t.spWanted && !t.spOpen {
		t.spOpen = true
		t.enqueue(false, &pgx.QueuedQuery{SQL: "SAVEPOINT op"})
	}
	for _, qq := range qqs {
		t.pre = append(t.pre, deferred(qq))
	}
}

// deferred sets qq to fail as a deferredError.
func deferred(qq *pgx.QueuedQuery) *pgx.QueuedQuery {
	qq.Fn = func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return &deferredError{err}
		}
		return nil
	}
	return qq
}

// send runs b's statements in one round trip, after the buffer has sent
// what they must see and behind the deferred statements. write says they
// change the database, so the operation's savepoint must be open first,
// for them to be undone with it.
func (t *txn) send(step string, write bool, b *pgx.Batch) error {
	if err := t.usable(); err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	if t.buf != nil {
		if err := t.buf.Flush(); err != nil {
			return err
		}
	}
	return t.sendNow(step, write, b)
}

// sendNow is send without flushing the buffer.
func (t *txn) sendNow(step string, write bool, b *pgx.Batch) error {
	if err := t.usable(); err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	if write && !t.write {
		return fmt.Errorf("%s: a read transaction cannot write", step)
	}
	if !t.begun {
		t.begun = true
		t.pre = append([]*pgx.QueuedQuery{deferred(&pgx.QueuedQuery{SQL: t.beginSQL()})}, t.pre...)
	}
	t.enqueue(write) // the savepoint, if due
	if len(t.pre) > 0 {
		b.QueuedQueries = append(t.pre, b.QueuedQueries...)
		t.pre = nil
	}
	return t.check(step, t.conn.SendBatch(t.ctx, b).Close())
}

// check notes what a failed statement means for the transaction and
// returns its error, wrapped in the kind the server acts on.
func (t *txn) check(step string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", step, err)
	if t.ctx.Err() != nil {
		t.broken = err
		return err
	}
	if isUnavailable(err) || t.conn.IsClosed() {
		t.broken = &unavailableError{fmt.Errorf("%w (database at %s)", err, t.s.addr)}
		return t.broken
	}
	pe, isPg := errors.AsType[*pgconn.PgError](err)
	_, isDeferred := errors.AsType[*deferredError](err)
	switch {
	case isPg && conflictCode(pe.Code):
		t.conflict = err
		return err
	case isDeferred || isPg && !t.spOpen:
		t.aborted = err
	case !isPg:
		return err // refused before it reached the database
	}
	if isBusy(err) {
		return &busyError{err}
	}
	return err
}

// exec runs one statement.
func (t *txn) exec(step string, write bool, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	b := &pgx.Batch{}
	b.Queue(sql, args...).Exec(func(ct pgconn.CommandTag) error { tag = ct; return nil })
	err := t.send(step, write, b)
	return tag, err
}

// queryRow runs a statement that returns at most one row, scanned into
// dest; found is false when it returned none.
func (t *txn) queryRow(step string, write bool, sql string, args []any, dest ...any) (found bool, err error) {
	b := &pgx.Batch{}
	b.Queue(sql, args...).QueryRow(func(row pgx.Row) error {
		err := row.Scan(dest...)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	err = t.send(step, write, b)
	return found && err == nil, err
}

// each runs a statement and calls fn for each row it returns.
func (t *txn) each(step string, write bool, sql string, args []any, fn func(pgx.Rows) error) error {
	b := &pgx.Batch{}
	queueEach(b, sql, args, fn)
	return t.send(step, write, b)
}

// queueEach queues a statement whose rows fn reads, one by one.
func queueEach(b *pgx.Batch, sql string, args []any, fn func(pgx.Rows) error) {
	b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := fn(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// commit sends what waits, releases the claims on operations that stored
// no result, so that they can be tried again, and commits, in one round
// trip.
func (t *txn) commit() error {
	if err := t.buf.Commit(); err != nil {
		return err
	}
	if !t.begun && len(t.pre) == 0 {
		return nil // nothing was written
	}
	b := &pgx.Batch{}
	if len(t.claimed) > 0 {
		b.Queue(`DELETE FROM results WHERE op_id = ANY($1::uuid[]) AND result IS NULL`, t.claimed)
	}
	// Now and then a write marks the feed's high water, for checkEpochs.
	if last, now := t.s.marked.Load(), time.Now().UnixNano(); now-last > int64(markEvery) && t.s.marked.CompareAndSwap(last, now) {
		b.Queue(`UPDATE feed_epoch SET high_water = GREATEST(high_water, pg_snapshot_xmax(pg_current_snapshot())::text::bigint + $1)`, t.s.shift)
	}
	var tag pgconn.CommandTag
	b.Queue("COMMIT").Exec(func(ct pgconn.CommandTag) error { tag = ct; return nil })
	if err := t.sendNow("commit", false, b); err != nil {
		if t.conflict != nil {
			return &errConflict{err}
		}
		return err
	}
	t.begun = false
	// PostgreSQL answers COMMIT of a transaction that failed with ROLLBACK.
	if tag.String() == "ROLLBACK" {
		return errors.New("commit: PostgreSQL rolled the transaction back, as a statement in it had failed")
	}
	return nil
}

// rollback ends the transaction, keeping nothing. A connection where it
// fails is closed by the pool on release, as it is still in a transaction.
func (t *txn) rollback() {
	t.pre = nil
	if !t.begun || t.conn.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), 5*time.Second)
	defer cancel()
	t.conn.Exec(ctx, "ROLLBACK")
	t.begun = false
}

func (t *txn) BeginOp() error {
	t.spLocked, t.spInserted = t.spLocked[:0], t.spInserted[:0]
	return t.buf.BeginOp()
}

// EndOp keeps or undoes the operation's writes. Either way the savepoint's
// end is deferred to the next round trip: an operation costs none of its
// own.
func (t *txn) EndOp(keep bool) error {
	if keep {
		// Writes the buffer sends now are kept: no savepoint for them.
		t.spWanted = false
	}
	err := t.buf.EndOp(keep)
	t.spWanted = false
	if !t.spOpen {
		return err
	}
	t.spOpen = false
	if keep {
		t.enqueue(false, &pgx.QueuedQuery{SQL: "RELEASE SAVEPOINT op"})
		return err
	}
	t.enqueue(false, &pgx.QueuedQuery{SQL: "ROLLBACK TO SAVEPOINT op"}, &pgx.QueuedQuery{SQL: "RELEASE SAVEPOINT op"})
	for _, id := range t.spInserted {
		delete(t.inserted, id)
	}
	if len(t.spLocked) > 0 {
		// The rollback released the row locks taken inside the savepoint;
		// what the server read under them must stay held, and is read
		// again, as it may have changed in between.
		ids := append([]string(nil), t.spLocked...)
		for _, id := range ids {
			delete(t.read, id)
		}
		t.enqueue(false, &pgx.QueuedQuery{SQL: `SELECT id FROM records WHERE id = ANY($1) ORDER BY id FOR UPDATE`, Arguments: []any{ids}})
		t.seqs = nil
	}
	return err
}

func (t *txn) PutRecords(ws []server.RecordWrite) error  { return t.buf.PutRecords(ws) }
func (t *txn) AddChanges(cs []contract.Change) error     { return t.buf.AddChanges(cs) }
func (t *txn) PutResults(rs []server.StoredResult) error { return t.buf.PutResults(rs) }

// sink takes the buffer's writes as deferred statements. The savepoint
// statements themselves are the transaction's: Savepoint only says one is
// wanted, and EndOp ends it.
type sink struct{ t *txn }

func (k sink) PutRecords(ws []server.RecordWrite) error {
	t := k.t
	qqs, err := putRecords(ws, func(id string) bool { return t.absent[id] && !t.inserted[id] }, t.s.epoch)
	t.enqueue(true, qqs...)
	for _, w := range ws {
		if id := w.Record.ID; !t.inserted[id] {
			t.inserted[id] = true
			if t.spOpen {
				t.spInserted = append(t.spInserted, id)
			}
		}
	}
	return err
}

func (k sink) AddChanges(cs []contract.Change) error {
	k.t.enqueue(true, addChanges(cs)...)
	return nil
}

func (k sink) PutResults(rs []server.StoredResult) error {
	qqs, err := putResults(rs)
	k.t.enqueue(true, qqs...)
	return err
}

func (k sink) Savepoint() error  { k.t.spWanted = true; return nil }
func (k sink) RollbackTo() error { return nil }
func (k sink) Release() error    { return nil }

// args builds the parameters of a statement.
type args []any

// add appends v and returns its placeholder.
func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}
