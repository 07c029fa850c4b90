package sqlitedb_test

import (
	"path/filepath"
	"slices"
	"testing"

	"fieldsync/internal/sqlitedb"
)

// Strings gives every value of a text column in order, and a bad query's
// error instead of a short list.
func TestStringsReadsAColumnOrSaysWhyNot(t *testing.T) {
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "a.db"), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (id TEXT); INSERT INTO t VALUES ('b'), ('a'), ('c')`); err != nil {
		t.Fatal(err)
	}
	got, err := sqlitedb.Strings(db.Query(`SELECT id FROM t ORDER BY id`))
	if err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("got %q, %v; want a, b, c", got, err)
	}
	if got, err := sqlitedb.Strings(db.Query(`SELECT id FROM nowhere`)); err == nil {
		t.Errorf("a query of a missing table gave %q and no error", got)
	}
	if got, err := sqlitedb.Strings(db.Query(`SELECT id, id FROM t`)); err == nil {
		t.Errorf("two columns read as one gave %q and no error", got)
	}
}
