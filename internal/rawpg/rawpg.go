// Package rawpg measures the PostgreSQL server under test: how many plain
// rows a second it takes, in one transaction, in the two ways a store can
// send many rows at once. Benchmarks of the PostgreSQL store report it
// beside their own figures, as rawsqlite does for SQLite, so that a figure
// from a slow server or a busy moment can be told from a slower build.
// cmd/syncbench reports it too.
package rawpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// rows is how many rows one measure inserts: enough for a steady rate,
// few enough to take a small part of a second. It is a whole number of
// batches.
const rows = 320 * batch

// batch is how many rows one multi-row INSERT carries.
const batch = 64

// Rates inserts rows rows of about 300 bytes into a new table shaped like
// the server's records table, on the database dsn names, first with
// multi-row INSERT statements of batch rows, then with COPY, each in one
// transaction into a table of its own. It returns each way's rows a
// second, commit included; the rows are made before the clock starts.
// The tables are dropped before it returns. The benchmark's clock should
// be stopped around it.
func Rates(tb testing.TB, dsn string) (batched, copied float64) {
	tb.Helper()
	batched, copied, err := Measure(tb.Context(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	return batched, copied
}

// Measure is Rates for a command: it returns an error instead of failing
// a test.
func Measure(ctx context.Context, dsn string) (batched, copied float64, err error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, 0, fmt.Errorf("rawpg: connect: %w", err)
	}
	defer conn.Close(context.Background())

	data := makeRows()
	batched, err = measure(ctx, conn, func(tx pgx.Tx, table string) error {
		insert := insertStatement(table)
		args := make([]any, 0, 4*batch)
		for start := 0; start < len(data); start += batch {
			args = args[:0]
			for _, r := range data[start : start+batch] {
				args = append(args, r...)
			}
			if _, err := tx.Exec(ctx, insert, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	copied, err = measure(ctx, conn, func(tx pgx.Tx, table string) error {
		n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromRows(data))
		if err == nil && n != int64(len(data)) {
			err = fmt.Errorf("copied %d rows, want %d", n, len(data))
		}
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return batched, copied, nil
}

// columns are the measured table's columns, in the order rows holds them.
var columns = []string{"id", "type", "seq", "doc"}

// makeRows returns the rows to insert, each with a distinct id in the
// server's id format and a JSON document of about 300 bytes.
func makeRows() [][]any {
	data := make([][]any, rows)
	for i := range data {
		id := fmt.Sprintf("%08d-0000-7000-8000-000000000000", i)
		doc := fmt.Sprintf(`{"id":%q,"type":"inspection","site":"north-yard","inspector":"r.okafor",`+
			`"answers":{"gate_secure":true,"extinguisher_checked":true,"hazards":"none seen"},"notes":%q}`,
			id, strings.Repeat("x", 120))
		data[i] = []any{id, "inspection", int64(i + 1), []byte(doc)}
	}
	return data
}

// insertStatement returns one INSERT of batch rows into table.
func insertStatement(table string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "INSERT INTO %s (id, type, seq, doc) VALUES ", pgx.Identifier{table}.Sanitize())
	for i := range batch {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d)", 4*i+1, 4*i+2, 4*i+3, 4*i+4)
	}
	return sb.String()
}

// measure makes a new table, times insert filling it in one transaction,
// commit included, drops the table and returns rows a second.
func measure(ctx context.Context, conn *pgx.Conn, insert func(tx pgx.Tx, table string) error) (rate float64, err error) {
	table, err := newTableName()
	if err != nil {
		return 0, err
	}
	ident := pgx.Identifier{table}.Sanitize()
	// The table has the primary key and the seq index of the server's
	// records table, since keeping them up to date is part of each insert.
	_, err = conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (
		id   text PRIMARY KEY,
		type text NOT NULL,
		seq  bigint NOT NULL,
		doc  bytea NOT NULL
	); CREATE INDEX ON %s (seq)`, ident, ident))
	if err != nil {
		return 0, fmt.Errorf("rawpg: create table: %w", err)
	}
	defer func() {
		if _, derr := conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+ident); derr != nil && err == nil {
			err = fmt.Errorf("rawpg: drop table %s: %w", table, derr)
		}
	}()

	start := time.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("rawpg: begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	if err := insert(tx, table); err != nil {
		return 0, fmt.Errorf("rawpg: insert: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("rawpg: commit: %w", err)
	}
	return rows / time.Since(start).Seconds(), nil
}

// newTableName returns a table name no other measure on the same database
// will pick.
func newTableName() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("rawpg: random table name: %w", err)
	}
	return "rawpg_" + hex.EncodeToString(b[:]), nil
}
