package pgstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"fieldsync/internal/sqlitedb"
	"fieldsync/server/sqlitestore"

	"github.com/jackc/pgx/v5"
)

// ErrNotEmpty refuses a copy into a PostgreSQL database that holds
// FieldSync data already: the copy would mix two servers' records.
var ErrNotEmpty = errors.New("the PostgreSQL database already holds FieldSync data; copy needs an empty one")

// Counts says how many rows of each kind a copy moved.
type Counts struct {
	Records, Links, Access, Changes, Results, Reviews int64
	Users, Sessions, Devices, Throttles, Counters     int64
	// LastSeq is the largest sequence number copied: new writes are
	// numbered after it.
	LastSeq int64
}

// String lists the counts as a sentence's object: "12 records, 40 changes, …".
func (c Counts) String() string {
	parts := []string{
		fmt.Sprintf("%d records", c.Records),
		fmt.Sprintf("%d record links", c.Links),
		fmt.Sprintf("%d job access rows", c.Access),
		fmt.Sprintf("%d changes", c.Changes),
		fmt.Sprintf("%d operation results", c.Results),
		fmt.Sprintf("%d reviews", c.Reviews),
		fmt.Sprintf("%d users", c.Users),
		fmt.Sprintf("%d sessions", c.Sessions),
		fmt.Sprintf("%d devices", c.Devices),
		fmt.Sprintf("%d sign-in throttles", c.Throttles),
		fmt.Sprintf("%d number counters", c.Counters),
	}
	return strings.Join(parts, ", ")
}

// colKind says how a SQLite column's value becomes the PostgreSQL one.
type colKind int

const (
	colText     colKind = iota // TEXT NOT NULL: a string
	colOptText                 // TEXT or NULL: a string, or NULL
	colBlob                    // BLOB or NULL: bytes, or NULL
	colInt                     // INTEGER: an int64
	colBool                    // INTEGER 0 or 1: a boolean
	colPackedID                // an id as sqlitestore packs it (16 bytes for a UUID): its text
	colUUID                    // a UUID packed in 16 bytes: a uuid
)

type copyColumn struct {
	name string // the same in both databases, or a SQLite expression with this name
	kind colKind
}

// copySpec is one table to copy: its SQLite rows go, column for column,
// into the PostgreSQL table of the same schema (migrate.go).
type copySpec struct {
	pg, sqlite string // table names
	label      string // what its count reads as, for progress
	cols       []copyColumn
	order      string // an ORDER BY for the SQLite rows, or ""
	count      func(c *Counts) *int64
}

// copySpecs lists what a copy moves, users before the sessions that refer
// to them. Copied records and reviews take epoch 0, ahead of every position
// PostgreSQL gives out, and keep their sequence numbers: a SQLite cursor
// (epoch 0, seq) goes on pulling from the same place.
var copySpecs = []copySpec{
	{pg: "users", sqlite: "users", label: "users", count: func(c *Counts) *int64 { return &c.Users },
		cols: []copyColumn{{"id", colText}, {"name", colText}, {"role", colText}, {"pw_hash", colBlob}, {"created_at", colInt}, {"disabled", colBool}}},
	{pg: "sessions", sqlite: "sessions", label: "sessions", count: func(c *Counts) *int64 { return &c.Sessions },
		cols: []copyColumn{{"hash", colBlob}, {"user_id", colText}, {"device_id", colText}, {"created_at", colInt}, {"expires_at", colInt}, {"revoked_at", colInt}}},
	{pg: "devices", sqlite: "devices", label: "devices", count: func(c *Counts) *int64 { return &c.Devices },
		cols: []copyColumn{{"device_id", colText}, {"user_id", colText}, {"bound_at", colInt}}},
	{pg: "login_throttle", sqlite: "login_throttle", label: "sign-in throttles", count: func(c *Counts) *int64 { return &c.Throttles },
		cols: []copyColumn{{"key", colText}, {"failures", colInt}, {"last_at", colInt}, {"until", colInt}}},
	{pg: "counters", sqlite: "counters", label: "number counters", count: func(c *Counts) *int64 { return &c.Counters },
		cols: []copyColumn{{"name", colText}, {"value", colInt}}},
	{pg: "records", sqlite: "records", label: "records", order: "seq", count: func(c *Counts) *int64 { return &c.Records },
		cols: []copyColumn{{"id", colText}, {"type", colText}, {"scope", colOptText}, {"match_key", colOptText}, {"number", colOptText},
			{"answered", colOptText}, {"0 AS epoch", colInt}, {"seq", colInt}, {"doc", colBlob}}},
	{pg: "links", sqlite: "links", label: "record links", count: func(c *Counts) *int64 { return &c.Links },
		cols: []copyColumn{{"from_id", colText}, {"to_id", colText}}},
	{pg: "access", sqlite: "access", label: "job access rows", count: func(c *Counts) *int64 { return &c.Access },
		cols: []copyColumn{{"user_id", colText}, {"job_id", colText}}},
	{pg: "reviews", sqlite: "reviews", label: "reviews", order: "seq", count: func(c *Counts) *int64 { return &c.Reviews },
		cols: []copyColumn{{"id", colText}, {"record_id", colText}, {"record_type", colText}, {"scope", colOptText}, {"grp", colText},
			{"status", colText}, {"match_id", colOptText}, {"0 AS epoch", colInt}, {"seq", colInt}, {"doc", colBlob}}},
	// Change-log rows keep their ids, which history shows; COPY writes
	// them into the identity column as given.
	{pg: "changes", sqlite: "changes", label: "changes", order: "id", count: func(c *Counts) *int64 { return &c.Changes },
		cols: []copyColumn{{"id", colInt}, {"record_type", colText}, {"record_id", colPackedID}, {"op_id", colText}, {"user_id", colText},
			{"device_id", colText}, {"device_time", colInt}, {"server_time", colInt}, {"grp", colText}, {"field", colText},
			{"old", colBlob}, {"new", colBlob}, {"note", colText}}},
	{pg: "results", sqlite: "ops", label: "operation results", count: func(c *Counts) *int64 { return &c.Results },
		cols: []copyColumn{{"op_id", colUUID}, {"user_id", colText}, {"at", colInt}, {"result", colBlob}}},
}

// sqliteServerTables are the tables whose presence marks a SQLite file as a
// FieldSync server's database, rather than a device's or anything else.
var sqliteServerTables = []string{"schema_migrations", "records", "ops", "changes", "users", "sessions", "access"}

// CopyFromSQLite copies a SQLite server database (the file sqlitePath) into
// the empty PostgreSQL FieldSync database dsn names, in one PostgreSQL
// transaction: everything is copied or nothing is. Devices see no
// difference: records, reviews and results keep their documents byte for
// byte, and records and reviews their sequence numbers, so cursors, tokens
// and operation ids given out by the SQLite server keep working.
//
// The SQLite file is first brought up to this build's schema, as
// sqlitestore.Open would; a file that is not a FieldSync server database,
// or whose schema is newer than this build, is refused before anything is
// changed. A PostgreSQL database holding FieldSync data already is refused
// with ErrNotEmpty. The copy reads one snapshot of the SQLite file: writes
// a server still running on it makes after that are not copied, so stop it
// first. progress, when not nil, is told of each table as it is copied.
//
// PostgreSQL's sequences are moved past the copied numbers outside the
// transaction's all-or-nothing: a copy that fails may leave them further
// on than needed, which costs nothing.
func CopyFromSQLite(ctx context.Context, sqlitePath, dsn string, progress io.Writer) (Counts, error) {
	if progress == nil {
		progress = io.Discard
	}
	if err := checkCopySource(ctx, sqlitePath); err != nil {
		return Counts{}, err
	}
	src, err := openCopySource(sqlitePath)
	if err != nil {
		return Counts{}, err
	}
	defer src.Close()

	s, err := Open(ctx, dsn)
	if err != nil {
		return Counts{}, err
	}
	defer s.Close()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return Counts{}, s.unreachable(err)
	}
	defer conn.Release()

	// One read transaction of the SQLite file: every table from one
	// snapshot, so the rows agree with each other.
	rtx, err := src.BeginTx(ctx, nil)
	if err != nil {
		return Counts{}, fmt.Errorf("copy from %s: begin reading: %w", sqlitePath, err)
	}
	defer rtx.Rollback()

	var counts Counts
	err = pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
		if err := prepareCopyTarget(ctx, tx); err != nil {
			return err
		}
		for _, tb := range copySpecs {
			n, err := copyTable(ctx, rtx, tx, tb)
			if err != nil {
				return err
			}
			*tb.count(&counts) = n
			fmt.Fprintf(progress, "copied %d %s\n", n, tb.label)
		}
		last, err := moveSequences(ctx, tx)
		counts.LastSeq = last
		return err
	})
	if err != nil {
		if isUnavailable(err) && ctx.Err() == nil {
			return Counts{}, s.unreachable(err)
		}
		return Counts{}, fmt.Errorf("copy %s to PostgreSQL at %s: %w", sqlitePath, s.addr, err)
	}
	return counts, nil
}

// checkCopySource refuses a path that is not a FieldSync server's SQLite
// database, without creating or changing anything there.
func checkCopySource(ctx context.Context, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("copy from %s: %w", path, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("copy from %s: it is a directory, not a SQLite database file", path)
	}
	// mode=rw opens only a file that is there; only reads are made.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw")
	if err != nil {
		return fmt.Errorf("copy from %s: %w", path, err)
	}
	defer db.Close()
	have, err := sqlitedb.Strings(db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`))
	if err != nil {
		return fmt.Errorf("copy from %s: not a SQLite database: %w", path, err)
	}
	var missing []string
	for _, want := range sqliteServerTables {
		if !slices.Contains(have, want) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("copy from %s: not a FieldSync server database (it lacks the tables %s)", path, strings.Join(missing, ", "))
	}
	return nil
}

// openCopySource brings the SQLite database's schema up to date through
// the store that owns it, then opens it for plain reads.
func openCopySource(path string) (*sql.DB, error) {
	st, err := sqlitestore.Open(path)
	if err != nil {
		return nil, fmt.Errorf("copy from %s: %w", path, err)
	}
	if err := st.Close(); err != nil {
		return nil, fmt.Errorf("copy from %s: close after migrating: %w", path, err)
	}
	db, err := sqlitedb.Open(path, sqlitedb.Options{MustExist: true, MaxConns: 1})
	if err != nil {
		return nil, fmt.Errorf("copy from %s: %w", path, err)
	}
	return db, nil
}

// prepareCopyTarget lifts the pool's time limits for this transaction,
// holds every table against writers, and refuses a database with data in
// it.
func prepareCopyTarget(ctx context.Context, tx pgx.Tx) error {
	names := make([]string, len(copySpecs))
	exists := make([]string, len(copySpecs))
	for i, tb := range copySpecs {
		names[i] = tb.pg
		exists[i] = "EXISTS (SELECT 1 FROM " + tb.pg + ")"
	}
	// A big copy runs longer than the statement limit the pool sets for
	// serving, and waits between tables while SQLite reads.
	for _, q := range []string{
		`SET LOCAL statement_timeout = 0`,
		`SET LOCAL idle_in_transaction_session_timeout = 0`,
		`SET LOCAL lock_timeout = '30s'`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("prepare the target: %w", err)
		}
	}
	// A server running on the database waits until the copy ends, rather
	// than writing between the check and the copy.
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("hold the tables against writers (is a server using this database? stop it first): %w", err)
	}
	var held []bool
	if err := tx.QueryRow(ctx, `SELECT ARRAY[`+strings.Join(exists, ", ")+`]`).Scan(&held); err != nil {
		return fmt.Errorf("check the target is empty: %w", err)
	}
	var full []string
	for i, h := range held {
		if h {
			full = append(full, copySpecs[i].label)
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%w (found %s)", ErrNotEmpty, strings.Join(full, ", "))
	}
	return nil
}

// copyTable streams one table's SQLite rows into PostgreSQL with COPY and
// returns how many went.
func copyTable(ctx context.Context, src *sql.Tx, dst pgx.Tx, tb copySpec) (int64, error) {
	exprs := make([]string, len(tb.cols))
	names := make([]string, len(tb.cols))
	for i, c := range tb.cols {
		exprs[i] = c.name
		names[i] = c.name
		if _, after, ok := strings.Cut(c.name, " AS "); ok {
			names[i] = after
		}
	}
	q := `SELECT ` + strings.Join(exprs, ", ") + ` FROM ` + tb.sqlite
	if tb.order != "" {
		q += ` ORDER BY ` + tb.order
	}
	rows, err := src.QueryContext(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", tb.sqlite, err)
	}
	defer rows.Close()
	var rowErr error
	next := func() ([]any, error) {
		if !rows.Next() {
			return nil, rows.Err()
		}
		vals, err := scanSQLiteRow(rows, tb.cols)
		if err != nil {
			rowErr = err
		}
		return vals, err
	}
	n, err := dst.CopyFrom(ctx, pgx.Identifier{tb.pg}, names, pgx.CopyFromFunc(next))
	if rowErr != nil {
		return 0, fmt.Errorf("read %s: %w", tb.sqlite, rowErr)
	}
	if err != nil {
		return 0, fmt.Errorf("copy %s: %w", tb.label, err)
	}
	return n, nil
}

// scanSQLiteRow reads one SQLite row and returns its values as PostgreSQL
// takes them.
func scanSQLiteRow(rows *sql.Rows, cols []copyColumn) ([]any, error) {
	dest := make([]any, len(cols))
	for i, c := range cols {
		switch c.kind {
		case colText:
			dest[i] = new(string)
		case colOptText:
			dest[i] = new(sql.NullString)
		case colInt, colBool:
			dest[i] = new(int64)
		case colBlob, colPackedID, colUUID:
			dest[i] = new([]byte)
		}
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	for i, c := range cols {
		switch c.kind {
		case colText:
			vals[i] = *dest[i].(*string)
		case colOptText:
			if ns := dest[i].(*sql.NullString); ns.Valid {
				vals[i] = ns.String
			}
		case colInt:
			vals[i] = *dest[i].(*int64)
		case colBool:
			vals[i] = *dest[i].(*int64) != 0
		case colBlob:
			vals[i] = *dest[i].(*[]byte)
		case colPackedID:
			vals[i] = unpackID(*dest[i].(*[]byte))
		case colUUID:
			b := *dest[i].(*[]byte)
			if len(b) != 16 {
				return nil, fmt.Errorf("%s %q is not a UUID", c.name, b)
			}
			vals[i] = [16]byte(b)
		}
	}
	return vals, nil
}

// unpackID gives back the text of an id as sqlitestore packs it (its
// idKey): a UUID's 16 bytes, or any other id's own bytes.
func unpackID(b []byte) string {
	if len(b) != 16 {
		return string(b)
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// moveSequences moves the feed's sequence past every copied record and
// review, and the change log's ids past the copied rows, never back; it
// returns the largest sequence number copied.
func moveSequences(ctx context.Context, tx pgx.Tx) (int64, error) {
	var lastSeq, lastChange int64
	if err := tx.QueryRow(ctx, `SELECT
			GREATEST((SELECT COALESCE(MAX(seq), 0) FROM records), (SELECT COALESCE(MAX(seq), 0) FROM reviews)),
			(SELECT COALESCE(MAX(id), 0) FROM changes)`).Scan(&lastSeq, &lastChange); err != nil {
		return 0, fmt.Errorf("read the copied numbers: %w", err)
	}
	if lastSeq > 0 {
		if _, err := tx.Exec(ctx, `SELECT setval('feed_seq', GREATEST($1::bigint, COALESCE(pg_sequence_last_value('feed_seq'), 0)))`, lastSeq); err != nil {
			return 0, fmt.Errorf("move the feed sequence past %d: %w", lastSeq, err)
		}
	}
	if lastChange > 0 {
		if _, err := tx.Exec(ctx, `SELECT setval(s, GREATEST($1::bigint, COALESCE(pg_sequence_last_value(s::regclass), 0)))
			FROM pg_get_serial_sequence('changes', 'id') AS s`, lastChange); err != nil {
			return 0, fmt.Errorf("move the change log's ids past %d: %w", lastChange, err)
		}
	}
	return lastSeq, nil
}
