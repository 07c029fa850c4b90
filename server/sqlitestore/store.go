// Package sqlitestore keeps the FieldSync server's data in one SQLite file
// (modernc.org/sqlite, WAL). One connection writes; a small pool reads.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/sqlitedb"
	"fieldsync/internal/wirejson"
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

	mu  sync.Mutex // guards seq and committed; held by the one writer
	seq int64
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
		cp: cp, committed: make(chan struct{}, 1), cpDone: make(chan struct{})}
	go s.checkpoints(s.committed)
	if err := w.QueryRow(`SELECT MAX(COALESCE((SELECT MAX(seq) FROM records),0), COALESCE((SELECT MAX(seq) FROM reviews),0))`).Scan(&s.seq); err != nil {
		s.Close()
		return nil, fmt.Errorf("read sequence: %w", err)
	}
	return s, nil
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
	t := &txn{query: query{ctx: ctx, tx: tx, stmts: &s.ws}, s: s}
	if err := fn(t); err != nil {
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
	for _, f := range t.afterCommit {
		f()
	}
	return nil
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

type txn struct {
	query
	s           *Store
	afterCommit []func()
}

func (t *txn) AfterCommit(fn func()) { t.afterCommit = append(t.afterCommit, fn) }

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

func (q query) Record(id string) (*contract.Record, error) {
	var rec contract.Record
	ok, err := q.doc(q.queryRow(`SELECT doc FROM records WHERE id = ?`, id), &rec)
	if !ok || err != nil {
		return nil, wrap("record", err)
	}
	return &rec, nil
}

func wrap(step string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", step, err)
}

func (q query) records(step, sqlText string, args ...any) ([]contract.Record, error) {
	rows, err := q.queryRows(sqlText, args...)
	if err != nil {
		return nil, wrap(step, err)
	}
	defer rows.Close()
	var out []contract.Record
	for rows.Next() {
		var b sql.RawBytes // decoded before the next row: no copy needed
		if err := rows.Scan(&b); err != nil {
			return nil, wrap(step, err)
		}
		var rec contract.Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, wrap(step, err)
		}
		out = append(out, rec)
	}
	return out, wrap(step, rows.Err())
}

func (q query) reviews(step, sqlText string, args ...any) ([]contract.Review, error) {
	rows, err := q.queryRows(sqlText, args...)
	if err != nil {
		return nil, wrap(step, err)
	}
	defer rows.Close()
	var out []contract.Review
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, wrap(step, err)
		}
		var rv contract.Review
		if err := json.Unmarshal(b, &rv); err != nil {
			return nil, wrap(step, err)
		}
		out = append(out, rv)
	}
	return out, wrap(step, rows.Err())
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

func (q query) RecordsByID(ids []string) ([]contract.Record, error) {
	var out []contract.Record
	err := chunks(ids, func(part []any) error {
		recs, err := q.records("records by id", `SELECT doc FROM records WHERE id IN (`+inList(len(part))+`)`, part...)
		out = append(out, recs...)
		return err
	})
	return out, err
}

func (q query) Results(opIDs []string) ([]server.StoredResult, error) {
	var out []server.StoredResult
	err := chunks(opIDs, func(part []any) error {
		for i, id := range part {
			part[i] = idKey(id.(string))
		}
		rows, err := q.queryRows(`SELECT op_id, user_id, at, result FROM ops WHERE op_id IN (`+inList(len(part))+`)`, part...)
		if err != nil {
			return wrap("results", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				sr   server.StoredResult
				at   int64
				b, k sql.RawBytes // decoded before the next row: no copy needed
			)
			if err := rows.Scan(&k, &sr.UserID, &at, &b); err != nil {
				return wrap("results", err)
			}
			sr.OpID = idString(k)
			sr.At = time.Unix(0, at).UTC()
			if err := json.Unmarshal(b, &sr.Result); err != nil {
				return wrap("results", err)
			}
			out = append(out, sr)
		}
		return wrap("results", rows.Err())
	})
	return out, err
}

func (q query) Items(parentID string) ([]contract.Record, error) {
	return q.records("items", `SELECT doc FROM records WHERE scope = ? AND id <> ? ORDER BY seq`, parentID, parentID)
}

func (q query) Result(opID string) (*server.StoredResult, error) {
	var (
		userID string
		at     int64
		b      []byte
	)
	err := q.queryRow(`SELECT user_id, at, result FROM ops WHERE op_id = ?`, idKey(opID)).Scan(&userID, &at, &b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("result", err)
	}
	sr := &server.StoredResult{OpID: opID, UserID: userID, At: time.Unix(0, at).UTC()}
	return sr, wrap("result", json.Unmarshal(b, &sr.Result))
}

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
	u, err := scanUser(q.queryRow(`SELECT `+userCols+` FROM users WHERE `+where, arg))
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
	rows, err := q.queryRows(`SELECT ` + userCols + ` FROM users ORDER BY name`)
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
	err := q.queryRow(`SELECT user_id, device_id, created_at, expires_at, revoked_at FROM sessions WHERE hash = ?`, hash).
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
	err := q.queryRow(`SELECT user_id FROM devices WHERE device_id = ?`, deviceID).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return user, wrap("device", err)
}

func (q query) Throttles(keys []string) ([]server.Throttle, error) {
	var out []server.Throttle
	err := chunks(keys, func(part []any) error {
		rows, err := q.queryRows(`SELECT key, failures, last_at, until FROM login_throttle WHERE key IN (`+inList(len(part))+`)`, part...)
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

func (q query) SeesThrough(userID, recordID string) (bool, error) {
	var n int
	err := q.queryRow(`SELECT EXISTS (
		SELECT 1 FROM records r JOIN access a ON a.job_id = r.scope WHERE r.id = ?1 AND a.user_id = ?2
		UNION ALL
		SELECT 1 FROM links l JOIN access a ON a.job_id = l.from_id WHERE l.to_id = ?1 AND a.user_id = ?2)`, recordID, userID).Scan(&n)
	return n == 1, wrap("sees through", err)
}

func (q query) Changes(recordID string) ([]contract.Change, error) {
	return q.changes(`WHERE record_id = ? ORDER BY id`, idKey(recordID))
}

func (q query) LastChange(recordID, group string) (*contract.Change, error) {
	cs, err := q.changes(`WHERE record_id = ? AND grp = ? ORDER BY id DESC LIMIT 1`, idKey(recordID), group)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return &cs[0], nil
}

func (q query) changes(where string, args ...any) ([]contract.Change, error) {
	rows, err := q.queryRows(`SELECT id, record_type, record_id, op_id, user_id, device_id, device_time, server_time, grp, field, old, new, note
		FROM changes `+where, args...)
	if err != nil {
		return nil, wrap("changes", err)
	}
	defer rows.Close()
	var out []contract.Change
	for rows.Next() {
		var (
			c               contract.Change
			dt, st          int64
			rid, oldV, newV []byte
		)
		if err := rows.Scan(&c.ID, &c.RecordType, &rid, &c.OpID, &c.UserID, &c.DeviceID, &dt, &st, &c.Group, &c.Field, &oldV, &newV, &c.Note); err != nil {
			return nil, wrap("changes", err)
		}
		c.RecordID = idString(rid)
		c.DeviceTime, c.ServerTime = time.Unix(0, dt).UTC(), time.Unix(0, st).UTC()
		c.Old, c.New = oldV, newV
		out = append(out, c)
	}
	return out, wrap("changes", rows.Err())
}

func (q query) Review(id string) (*contract.Review, error) {
	var rv contract.Review
	ok, err := q.doc(q.queryRow(`SELECT doc FROM reviews WHERE id = ?`, id), &rv)
	if !ok || err != nil {
		return nil, wrap("review", err)
	}
	return &rv, nil
}

func (q query) OpenReview(recordID, group string) (*contract.Review, error) {
	var rv contract.Review
	ok, err := q.doc(q.queryRow(`SELECT doc FROM reviews WHERE record_id = ? AND grp = ? AND status = 'open'`, recordID, group), &rv)
	if !ok || err != nil {
		return nil, wrap("open review", err)
	}
	return &rv, nil
}

// scopeClause limits rows of a table with type, scope and id columns to a scope.
func scopeClause(sc server.Scope, args *[]any) string {
	var parts []string
	if len(sc.Types) > 0 {
		ph := make([]string, len(sc.Types))
		for i, t := range sc.Types {
			ph[i] = "?"
			*args = append(*args, t)
		}
		parts = append(parts, "type IN ("+strings.Join(ph, ",")+")")
	}
	if sc.UserID != "" {
		*args = append(*args, sc.UserID, sc.UserID)
		parts = append(parts, "scope IN (SELECT job_id FROM access WHERE user_id = ?)",
			"rid IN (SELECT l.to_id FROM links l JOIN access a ON a.job_id = l.from_id WHERE a.user_id = ?)")
	}
	if len(parts) == 0 {
		return "0"
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

func (q query) Reviews(sc server.Scope, openOnly bool) ([]contract.Review, error) {
	args := []any{}
	where := scopeClause(sc, &args)
	if openOnly {
		where += " AND status = 'open'"
	}
	return q.reviews("reviews", `SELECT doc FROM (SELECT doc, record_type AS type, scope, record_id AS rid, status, seq FROM reviews) WHERE `+where+` ORDER BY seq`, args...)
}

func (q query) Pull(sc server.Scope, after int64, limit int, answered string) ([]contract.Record, []contract.Review, error) {
	args := []any{after}
	where := scopeClause(sc, &args)
	args = append(args, limit)
	// Walk the sequence index in order and stop at the limit, rather than
	// collect and sort everything visible for every page.
	recArgs, recWhere := args, where
	if answered != "" {
		recArgs = append(append([]any{after}, args[1:len(args)-1]...), answered, limit)
		recWhere = "(" + where + ") AND answered IS NOT ?"
	}
	recs, err := q.records("pull records", `SELECT doc FROM (SELECT doc, type, scope, id AS rid, seq, answered FROM records INDEXED BY records_seq WHERE seq > ?) WHERE `+recWhere+` ORDER BY seq LIMIT ?`, recArgs...)
	if err != nil {
		return nil, nil, err
	}
	rvs, err := q.reviews("pull reviews", `SELECT doc FROM (SELECT doc, record_type AS type, scope, record_id AS rid, seq FROM reviews INDEXED BY reviews_seq WHERE seq > ?) WHERE `+where+` ORDER BY seq LIMIT ?`, args...)
	return recs, rvs, err
}

func (q query) LastSeq() (int64, error) {
	var seq int64
	err := q.queryRow(`SELECT MAX(COALESCE((SELECT MAX(seq) FROM records), 0), COALESCE((SELECT MAX(seq) FROM reviews), 0))`).Scan(&seq)
	return seq, wrap("last sequence", err)
}

func (q query) Matches(typ, key string) ([]contract.Record, error) {
	return q.records("matches", `SELECT doc FROM records WHERE type = ? AND match_key = ? ORDER BY seq`, typ, key)
}

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

// valuesRows returns "(?,?,…),(?,?,…)…" for rows of cols values.
func valuesRows(rows, cols int) string {
	one := "(" + inList(cols) + ")"
	return strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
}

// perStatement is how many rows one multi-row statement carries.
const perStatement = 64

func (t *txn) NextSeq() int64 {
	t.s.seq++
	return t.s.seq
}

func (t *txn) NextNumber(prefix string) (string, error) {
	var n int64
	err := t.queryRow(`INSERT INTO counters(name, value) VALUES (?, 1001)
		ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value`, "number:"+prefix).Scan(&n)
	if err != nil {
		return "", wrap("next number", err)
	}
	return fmt.Sprintf("%s%d", prefix, n), nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (t *txn) PutRecords(ws []server.RecordWrite) error {
	// Records whose index columns stay as they are change only their
	// document and sequence: an update that leaves the other indexes alone.
	var fresh, stored []server.RecordWrite
	for _, w := range ws {
		if w.Stored && !w.Index.LinksChanged {
			stored = append(stored, w)
		} else {
			fresh = append(fresh, w)
		}
	}
	for len(stored) > 0 {
		part := stored[:min(len(stored), perStatement)]
		stored = stored[len(part):]
		args := make([]any, 0, len(part)*4)
		for _, w := range part {
			b, err := recordDoc(w)
			if err != nil {
				return err
			}
			args = append(args, w.Record.ID, w.Record.Seq, b, nullable(w.Answered))
		}
		res, err := t.exec(`UPDATE records SET seq = v.column2, doc = v.column3, answered = v.column4 FROM (VALUES `+valuesRows(len(part), 4)+`) AS v WHERE records.id = v.column1`, args...)
		if err != nil {
			return wrap("put records", err)
		}
		if n, _ := res.RowsAffected(); n != int64(len(part)) {
			return fmt.Errorf("put records: updated %d of %d stored records", n, len(part))
		}
	}
	ws = fresh
	for len(ws) > 0 {
		part := ws[:min(len(ws), perStatement)]
		ws = ws[len(part):]
		args := make([]any, 0, len(part)*8)
		for _, w := range part {
			b, err := recordDoc(w)
			if err != nil {
				return err
			}
			args = append(args, w.Record.ID, w.Record.Type, nullable(w.Index.Scope), nullable(w.Index.MatchKey), nullable(w.Record.Number), w.Record.Seq, b, nullable(w.Answered))
		}
		_, err := t.exec(`INSERT INTO records(id, type, scope, match_key, number, seq, doc, answered) VALUES `+valuesRows(len(part), 8)+`
			ON CONFLICT(id) DO UPDATE SET scope = excluded.scope, match_key = excluded.match_key, number = excluded.number, seq = excluded.seq, doc = excluded.doc, answered = excluded.answered`, args...)
		if err != nil {
			return wrap("put records", err)
		}
		if err := t.putLinks(part); err != nil {
			return err
		}
	}
	return nil
}

// putLinks replaces the links of the records whose links changed, each
// record once in ws: two statements for the lot, not two per record.
func (t *txn) putLinks(ws []server.RecordWrite) error {
	var from, pairs []any
	for _, w := range ws {
		if !w.Index.LinksChanged {
			continue
		}
		from = append(from, w.Record.ID)
		for _, to := range w.Index.Links {
			pairs = append(pairs, w.Record.ID, to)
		}
	}
	if len(from) == 0 {
		return nil
	}
	if _, err := t.exec(`DELETE FROM links WHERE from_id IN (`+inList(len(from))+`)`, from...); err != nil {
		return wrap("put record links", err)
	}
	for len(pairs) > 0 {
		part := pairs[:min(len(pairs), 2*perStatement)]
		pairs = pairs[len(part):]
		if _, err := t.exec(`INSERT OR IGNORE INTO links(from_id, to_id) VALUES `+valuesRows(len(part)/2, 2), part...); err != nil {
			return wrap("put record links", err)
		}
	}
	return nil
}

// recordDoc is a record's JSON, made once by the caller where it could.
func recordDoc(w server.RecordWrite) ([]byte, error) {
	if w.Doc != nil {
		return w.Doc, nil
	}
	b, err := wirejson.MarshalRecord(w.Record)
	return b, wrap("put records", err)
}

func (t *txn) AddChanges(changes []contract.Change) error {
	for len(changes) > 0 {
		part := changes[:min(len(changes), perStatement)]
		changes = changes[len(part):]
		args := make([]any, 0, len(part)*12)
		for _, c := range part {
			args = append(args, c.RecordType, idKey(c.RecordID), c.OpID, c.UserID, c.DeviceID, c.DeviceTime.UnixNano(), c.ServerTime.UnixNano(),
				c.Group, c.Field, []byte(c.Old), []byte(c.New), c.Note)
		}
		_, err := t.exec(`INSERT INTO changes(record_type, record_id, op_id, user_id, device_id, device_time, server_time, grp, field, old, new, note)
			VALUES `+valuesRows(len(part), 12), args...)
		if err != nil {
			return wrap("add changes", err)
		}
	}
	return nil
}

func (t *txn) PutResults(rs []server.StoredResult) error {
	for len(rs) > 0 {
		part := rs[:min(len(rs), perStatement)]
		rs = rs[len(part):]
		args := make([]any, 0, len(part)*4)
		for _, r := range part {
			b := r.Doc
			if b == nil {
				var err error
				if b, err = wirejson.MarshalResult(&r.Result); err != nil {
					return wrap("put results", err)
				}
			}
			args = append(args, idKey(r.OpID), r.UserID, r.At.UnixNano(), b)
		}
		if _, err := t.exec(`INSERT INTO ops(op_id, user_id, at, result) VALUES `+valuesRows(len(part), 4), args...); err != nil {
			return wrap("put results", err)
		}
	}
	return nil
}

func (t *txn) PutReview(rv *contract.Review, scope string) error {
	b, err := json.Marshal(rv)
	if err != nil {
		return wrap("put review", err)
	}
	_, err = t.exec(`INSERT INTO reviews(id, record_id, record_type, scope, grp, status, seq, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET status = excluded.status, seq = excluded.seq, doc = excluded.doc, scope = excluded.scope`,
		rv.ID, rv.RecordID, rv.RecordType, nullable(scope), rv.Group, rv.Status, rv.Seq, b)
	return wrap("put review", err)
}

func (t *txn) SetAccess(jobID string, userIDs []string) ([]string, error) {
	var added []string
	for _, u := range userIDs {
		res, err := t.exec(`INSERT OR IGNORE INTO access(user_id, job_id) VALUES (?, ?)`, u, jobID)
		if err != nil {
			return nil, wrap("set access", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			added = append(added, u)
		}
	}
	args := []any{jobID}
	ph := make([]string, len(userIDs))
	for i, u := range userIDs {
		ph[i] = "?"
		args = append(args, u)
	}
	q := `DELETE FROM access WHERE job_id = ?`
	if len(ph) > 0 {
		q += ` AND user_id NOT IN (` + strings.Join(ph, ",") + `)`
	}
	if _, err := t.exec(q, args...); err != nil {
		return nil, wrap("set access", err)
	}
	return added, nil
}

func (t *txn) Touch(jobID string) error {
	// Collect first: the rows change under an open cursor otherwise.
	collect := func(q string) ([]string, error) {
		rows, err := t.queryRows(q, jobID)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		return ids, rows.Err()
	}
	recs, err := collect(`SELECT id FROM records WHERE (scope = ?1 AND id <> ?1) OR id IN (SELECT to_id FROM links WHERE from_id = ?1) ORDER BY seq`)
	if err != nil {
		return wrap("touch", err)
	}
	for _, id := range recs {
		if err := t.reseq(`records`, id); err != nil {
			return err
		}
	}
	// Nobody was sent these new sequence numbers in a push answer.
	if err := t.ClearAnswered(recs...); err != nil {
		return err
	}
	rvs, err := collect(`SELECT id FROM reviews WHERE scope = ?1 ORDER BY seq`)
	if err != nil {
		return wrap("touch", err)
	}
	for _, id := range rvs {
		if err := t.reseq(`reviews`, id); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) ClearAnswered(ids ...string) error {
	return chunks(ids, func(part []any) error {
		_, err := t.exec(`UPDATE records SET answered = NULL WHERE answered IS NOT NULL AND id IN (`+inList(len(part))+`)`, part...)
		return wrap("clear answered", err)
	})
}

// reseq gives a row a new sequence number, in its column and in its document.
func (t *txn) reseq(table, id string) error {
	seq := t.NextSeq()
	_, err := t.exec(`UPDATE `+table+` SET seq = ?1, doc = json_set(doc, '$.seq', ?1) WHERE id = ?2`, seq, id)
	return wrap("touch "+table, err)
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
