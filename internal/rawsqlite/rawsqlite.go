// Package rawsqlite measures the machine: how many plain rows a second
// SQLite takes here, in one transaction, with the pragmas the stores use.
// Benchmarks report it beside their own figures, so that a figure from a
// busy moment on a shared machine can be told from a slower build. Only
// benchmarks import it.
package rawsqlite

import (
	"fmt"
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
	db, err := sqlitedb.Open(filepath.Join(tb.TempDir(), "raw.db"), sqlitedb.Options{
		Pragmas: []string{"synchronous(FULL)"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, doc BLOB NOT NULL)`); err != nil {
		tb.Fatal(err)
	}
	doc := make([]byte, 200)
	start := time.Now()
	tx, err := db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	st, err := tx.Prepare(`INSERT INTO t(id, seq, doc) VALUES (?, ?, ?)`)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range rows {
		if _, err := st.Exec(fmt.Sprintf("%08d-0000-7000-8000-000000000000", i), i, doc); err != nil {
			tb.Fatal(err)
		}
	}
	st.Close()
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return rows / time.Since(start).Seconds()
}
