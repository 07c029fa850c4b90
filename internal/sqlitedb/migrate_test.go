package sqlitedb_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"fieldsync/internal/sqlitedb"
)

func openFile(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(path, sqlitedb.Options{Immediate: true, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// versions returns the versions schema_migrations holds, in order.
func versions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// Each migration appends its number to a log table, so the log shows
// which ran and in what order.
var steps = []string{
	`CREATE TABLE log (n INTEGER); INSERT INTO log VALUES (1);`,
	`INSERT INTO log VALUES (2);`,
	`CREATE TABLE notes (text TEXT NOT NULL); INSERT INTO log VALUES (3);`,
}

func logOf(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query(`SELECT n FROM log ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMigrationsRunOnceAndInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	db := openFile(t, path)
	if err := sqlitedb.Migrate(db, steps[:2]); err != nil {
		t.Fatal(err)
	}
	if got := logOf(t, db); !equal(got, []int{1, 2}) {
		t.Fatalf("after the first two migrations the log is %v, want [1 2]", got)
	}
	db.Close()

	// A later build brings a third: only it runs, on the reopened file.
	db = openFile(t, path)
	for range 2 {
		if err := sqlitedb.Migrate(db, steps); err != nil {
			t.Fatal(err)
		}
	}
	if got := logOf(t, db); !equal(got, []int{1, 2, 3}) {
		t.Errorf("after migrating twice to three the log is %v, want [1 2 3]", got)
	}
	if got := versions(t, db); !equal(got, []int{1, 2, 3}) {
		t.Errorf("schema_migrations holds %v, want [1 2 3]", got)
	}
}

func TestAFailingMigrationLeavesNothingHalfApplied(t *testing.T) {
	db := openFile(t, filepath.Join(t.TempDir(), "a.db"))
	broken := append(steps[:2:2],
		// The table is made, then the insert fails: neither may stay.
		`CREATE TABLE notes (text TEXT NOT NULL); INSERT INTO log VALUES (3); INSERT INTO notes VALUES (NULL);`)
	err := sqlitedb.Migrate(db, broken)
	if err == nil {
		t.Fatal("a migration that breaks a NOT NULL constraint succeeded")
	}
	if got := versions(t, db); !equal(got, []int{1, 2}) {
		t.Errorf("after migration 3 failed schema_migrations holds %v, want [1 2]", got)
	}
	if tableExists(t, db, "notes") {
		t.Error("the failed migration's table is there")
	}
	if got := logOf(t, db); !equal(got, []int{1, 2}) {
		t.Errorf("after migration 3 failed the log is %v, want [1 2]", got)
	}

	// Fixed, it runs in full next time.
	if err := sqlitedb.Migrate(db, steps); err != nil {
		t.Fatal(err)
	}
	if got := versions(t, db); !equal(got, []int{1, 2, 3}) || !tableExists(t, db, "notes") {
		t.Errorf("after the fixed migration: versions %v, notes table %v", got, tableExists(t, db, "notes"))
	}
}

func TestADatabaseFromANewerBuildIsRefusedAndLeftAlone(t *testing.T) {
	db := openFile(t, filepath.Join(t.TempDir(), "a.db"))
	if err := sqlitedb.Migrate(db, steps); err != nil {
		t.Fatal(err)
	}
	err := sqlitedb.Migrate(db, steps[:1])
	var newer *sqlitedb.NewerError
	if !errors.As(err, &newer) || newer.Version != 3 || newer.Known != 1 {
		t.Fatalf("Migrate of a version 3 database with 1 migration: %v, want a *NewerError for 3 and 1", err)
	}
	if got := versions(t, db); !equal(got, []int{1, 2, 3}) {
		t.Errorf("after the refusal schema_migrations holds %v, want [1 2 3]", got)
	}
}

// A database whose schema_migrations table predates the applied_at column
// (device stores made before the stores shared this package) migrates on.
func TestMigrateTakesAVersionTableWithoutTimes(t *testing.T) {
	db := openFile(t, filepath.Join(t.TempDir(), "a.db"))
	for _, q := range []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)`, steps[0], `INSERT INTO schema_migrations VALUES (1)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := sqlitedb.Migrate(db, steps); err != nil {
		t.Fatal(err)
	}
	if got := logOf(t, db); !equal(got, []int{1, 2, 3}) {
		t.Errorf("the log is %v, want [1 2 3]", got)
	}
}
