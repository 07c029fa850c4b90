// Package rawsqlite measures the machine: how many plain rows a second
// SQLite takes here, in one transaction, with the pragmas the stores use.
// Benchmarks and cmd/syncbench report it beside their own figures, so that
// a figure from a busy moment on a shared machine can be told from a
// slower build.
package rawsqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fieldsync/internal/sqlitedb"
)

// rows is how many rows one measure inserts: enough for a steady rate,
// few enough to take a small part of a second.
const rows = 20000

// InsertRate inserts rows rows of about 200 bytes into a new database file
// in one transaction and returns rows a second, commit and fsync included.
// The benchmark's clock should be stopped around it.
func InsertRate(tb testing.TB) float64 {
	tb.Helper()
	rate, err := Measure(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return rate
}

// Measure is InsertRate for a command: it makes the database file in dir,
// removes it again, and returns rows a second.
func Measure(dir string) (float64, error) {
	path := filepath.Join(dir, "raw.db")
	defer func() {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			os.Remove(path + suffix)
		}
	}()
	db, err := sqlitedb.Open(path, sqlitedb.Options{
		Pragmas: []string{"synchronous(FULL)"},
	})
	if err != nil {
		return 0, fmt.Errorf("raw sqlite rate: %w", err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, doc BLOB NOT NULL)`); err != nil {
		return 0, fmt.Errorf("raw sqlite rate: %w", err)
	}
	doc := make([]byte, 200)
	start := time.Now()
	tx, err := db.Begin()
	if err != nil {
		return 0, fmt.Errorf("raw sqlite rate: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.Prepare(`INSERT INTO t(id, seq, doc) VALUES (?, ?, ?)`)
	if err != nil {
		return 0, fmt.Errorf("raw sqlite rate: %w", err)
	}
	for i := range rows {
		if _, err := st.Exec(fmt.Sprintf("%08d-0000-7000-8000-000000000000", i), i, doc); err != nil {
			return 0, fmt.Errorf("raw sqlite rate: insert: %w", err)
		}
	}
	st.Close()
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("raw sqlite rate: commit: %w", err)
	}
	return rows / time.Since(start).Seconds(), nil
}
