package sqlitedb_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fieldsync/internal/sqlitedb"
)

func TestOpenPutsAFileInWALModeWithThePragmasAsked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	db, err := sqlitedb.Open(path, sqlitedb.Options{
		BusyTimeout: 2500 * time.Millisecond,
		Pragmas:     []string{"synchronous(FULL)", "foreign_keys(ON)", "cache_size(-4096)"},
		MaxConns:    1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"busy_timeout", "2500"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"cache_size", "-4096"},
	} {
		var got string
		if err := db.QueryRow(`PRAGMA ` + c.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", c.pragma, err)
		}
		if !strings.EqualFold(got, c.want) {
			t.Errorf("PRAGMA %s is %q, want %q", c.pragma, got, c.want)
		}
	}
	if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("a write left no write-ahead log beside the file: %v", err)
	}
}

// A database in memory keeps its journal in memory, whatever it is asked:
// SQLite says so without an error, and Open must notice.
func TestOpenRefusesADatabaseThatCannotBeInWALMode(t *testing.T) {
	db, err := sqlitedb.Open(":memory:", sqlitedb.Options{})
	if err == nil {
		db.Close()
		t.Fatal("Open took a database in memory")
	}
	if !strings.Contains(err.Error(), `journal mode is "memory", want wal`) {
		t.Errorf("Open: %v, want it to say the journal mode is not wal", err)
	}
}

func TestOpenWithMustExistNeverMakesAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone.db")
	db, err := sqlitedb.Open(path, sqlitedb.Options{MustExist: true})
	if err == nil {
		db.Close()
		t.Fatal("Open of a missing file with MustExist succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a refused Open the file is there: %v", err)
	}
}

func TestImmediateTransactionsTakeTheWriteLockAsTheyBegin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	w, err := sqlitedb.Open(path, sqlitedb.Options{Immediate: true, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	other, err := sqlitedb.Open(path, sqlitedb.Options{BusyTimeout: time.Millisecond, Immediate: true, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := w.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// No statement has run in tx, yet it holds the lock: a second writer
	// cannot begin.
	tx2, err := other.Begin()
	if err == nil {
		tx2.Rollback()
		t.Fatal("a second immediate transaction began while the first held the write lock")
	}
}
