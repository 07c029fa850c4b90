package localstore_test

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/localstore"

	"github.com/google/uuid"
)

// storePath is the store's database file in dir.
func storePath(dir string) string { return filepath.Join(dir, "fieldsync.db") }

// writeStoreFile puts content where the store's database file goes.
func writeStoreFile(t *testing.T, dir string, content []byte) string {
	t.Helper()
	path := storePath(dir)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// foreignDB makes an SQLite database of another application at path:
// a table of its own and, when appID is not 0, its own application id.
func foreignDB(t *testing.T, path string, appID int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE songs (title TEXT, artist TEXT)`,
		`INSERT INTO songs VALUES ('So What', 'Miles Davis'), ('Blue in Green', 'Miles Davis')`,
		fmt.Sprintf(`PRAGMA application_id = %d`, appID),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

// filledStore makes a real store in dir holding notes, closes it, and
// returns the ids of the operations saved.
func filledStore(t *testing.T, dir string, notes int) []string {
	t.Helper()
	st, err := localstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	st.SetRebaser(localstore.RebaseFunc(applyValues))
	ids := saveNotes(t, st, notes)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// saveNotes saves notes on one job, with text long enough to fill pages.
func saveNotes(t *testing.T, st *localstore.Store, n int) []string {
	t.Helper()
	job := uuid.NewString()
	var ids []string
	for i := range n {
		op := newOp("note", uuid.NewString(), contract.ActionAppend, map[string]string{
			"job_id": job, "text": fmt.Sprintf("note %d: %s", i, strings.Repeat("the seal was worn through ", 40))})
		if _, err := st.Save(op, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, op.ID)
	}
	return ids
}

// outbox returns the ids of the operations the store has kept.
func outbox(t *testing.T, st *localstore.Store) map[string]bool {
	t.Helper()
	pending, err := st.Queued(0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, p := range pending {
		got[p.Op.ID] = true
	}
	return got
}

func keptAll(t *testing.T, st *localstore.Store, ids []string) {
	t.Helper()
	got := outbox(t, st)
	for _, id := range ids {
		if !got[id] {
			t.Fatalf("operation %s saved before is gone: the store kept %d of %d", id, len(got), len(ids))
		}
	}
}

// copyFiles copies the store's files as they are on the disk right now, as
// a crash would leave them: the database and its write-ahead log.
func copyFiles(t *testing.T, from, to string) {
	t.Helper()
	for _, name := range []string{"fieldsync.db", "fieldsync.db-wal"} {
		b, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// checkpoint copies the log of the store in dir back into its file, from a
// connection of its own, and empties the log.
func checkpoint(t *testing.T, dir string) {
	t.Helper()
	var busy, logged, copied int
	if err := rawDB(t, dir).QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &copied); err != nil || busy != 0 {
		t.Fatalf("checkpoint: busy %d, %v", busy, err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestOpenRefusesAFileThatIsNotAStore(t *testing.T) {
	random := make([]byte, 8192)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	tests := []struct {
		name string
		make func(t *testing.T, dir string) string
		want string
	}{
		{"an empty file", func(t *testing.T, dir string) string {
			return writeStoreFile(t, dir, nil)
		}, "is empty (0 bytes): it is not a FieldSync store"},
		{"random bytes", func(t *testing.T, dir string) string {
			return writeStoreFile(t, dir, random)
		}, "is not an SQLite database"},
		{"a text file", func(t *testing.T, dir string) string {
			return writeStoreFile(t, dir, []byte("job,title\nJ-1001,Replace pump seal\n"))
		}, "is not an SQLite database"},
		{"the first bytes of a database only", func(t *testing.T, dir string) string {
			return writeStoreFile(t, dir, []byte("SQLite format 3\x00\x10\x00"))
		}, "is cut short (18 bytes, less than a database header)"},
		{"another application's database", func(t *testing.T, dir string) string {
			path := storePath(dir)
			foreignDB(t, path, 0)
			return path
		}, "is an SQLite database without FieldSync's tables"},
		{"a database marked by another application", func(t *testing.T, dir string) string {
			path := storePath(dir)
			foreignDB(t, path, 0x0f055112)
			return path
		}, "is another application's SQLite database (application id 0xf055112)"},
		{"a database header over garbage", func(t *testing.T, dir string) string {
			path := storePath(dir)
			foreignDB(t, path, 0)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			copy(b[100:], random)
			return writeStoreFile(t, dir, b)
		}, "cannot be read as an SQLite database"},
		{"a real store cut to half its size", func(t *testing.T, dir string) string {
			filledStore(t, dir, 200)
			path := storePath(dir)
			if _, err := os.Stat(path + "-wal"); err == nil {
				t.Fatal("closing the store left a write-ahead log: the test means a file cut with nothing else to go by")
			}
			size := fileSize(t, path)
			if err := os.Truncate(path, size/2); err != nil {
				t.Fatal(err)
			}
			return path
		}, "is cut short ("},
		{"a real store cut to half its size beside a log that holds other pages", func(t *testing.T, dir string) string {
			live := t.TempDir()
			st, err := localstore.Open(live)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			st.SetRebaser(localstore.RebaseFunc(applyValues))
			saveNotes(t, st, 200)
			checkpoint(t, live)
			saveNotes(t, st, 1)
			copyFiles(t, live, dir)
			path := storePath(dir)
			if err := os.Truncate(path, fileSize(t, path)/2); err != nil {
				t.Fatal(err)
			}
			return path
		}, "is cut short ("},
	}
	for _, tt := range tests {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.make(t, dir)
			_, photosErr := os.Stat(filepath.Join(dir, "photos"))
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			st, err := localstore.Open(dir)
			if err == nil {
				st.Close()
				t.Fatalf("Open made a store of %s", tt.name)
			}
			var ue *localstore.UnusableError
			if !errors.As(err, &ue) || !errors.Is(err, localstore.ErrUnusable) || ue.Path != path {
				t.Errorf("Open: %v (%T), want an *UnusableError for %s", err, err, path)
			}
			for _, want := range []string{path + " ", tt.want, "nothing was changed", "Move it aside", "restore it from a backup"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open: %q, want %q in it", err, want)
				}
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("Open changed the refused file: %d bytes before, %d after", len(before), len(after))
			}
			if _, err := os.Stat(filepath.Join(dir, "photos")); err == nil && photosErr != nil {
				t.Errorf("Open made a photos directory beside a refused file")
			}
		})
	}
}

func TestOpenKeepsAStoreWhoseLogWasNotCopiedBack(t *testing.T) {
	live := t.TempDir()
	st, err := localstore.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetRebaser(localstore.RebaseFunc(applyValues))
	// The file's header counts the pages of the last checkpoint; later
	// commits, growing the database, are only in the log.
	ids := saveNotes(t, st, 20)
	checkpoint(t, live)
	ids = append(ids, saveNotes(t, st, 300)...)

	t.Run("as a crash leaves it", func(t *testing.T) {
		dir := t.TempDir()
		copyFiles(t, live, dir)
		if fileSize(t, storePath(dir)+"-wal") == 0 {
			t.Fatal("no log to test with")
		}
		again := openStoreIn(t, dir)
		keptAll(t, again, ids)
	})
	t.Run("with a checkpoint stopped after the header", func(t *testing.T) {
		// A checkpoint writes the pages in order, the header first: one
		// stopped there leaves a file that says it has more pages than it
		// holds, and the log holds the rest.
		dir := t.TempDir()
		copyFiles(t, live, dir)
		path := storePath(dir)
		page1 := lastFrameOf(t, path+"-wal", 1)
		db, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if n := int64(binary.BigEndian.Uint32(page1[28:32])) * int64(len(page1)); n <= int64(len(db)) {
			t.Fatalf("the log's header counts %d bytes, the file has %d: nothing to test", n, len(db))
		}
		copy(db, page1)
		if err := os.WriteFile(path, db, 0o600); err != nil {
			t.Fatal(err)
		}
		again := openStoreIn(t, dir)
		keptAll(t, again, ids)
	})
}

// lastFrameOf returns the newest copy of a page in the write-ahead log.
func lastFrameOf(t *testing.T, wal string, page uint32) []byte {
	t.Helper()
	b, err := os.ReadFile(wal)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int(binary.BigEndian.Uint32(b[8:12]))
	var last []byte
	for off := 32; off+24+pageSize <= len(b); off += 24 + pageSize {
		if binary.BigEndian.Uint32(b[off:]) == page {
			last = b[off+24 : off+24+pageSize]
		}
	}
	if last == nil {
		t.Fatalf("page %d is not in the log", page)
	}
	return last
}

// oldStore builds a store as builds before the FieldSync mark made them:
// the schema through migration 3, no application id, one setting, in WAL
// mode. It returns the open database; closing it copies the log back.
func oldStore(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db := rawDB(t, dir)
	db.SetMaxOpenConns(1)
	stmts := []string{`PRAGMA journal_mode = WAL`, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)`}
	stmts = append(stmts, localstore.Migrations[:3]...)
	stmts = append(stmts, `INSERT INTO schema_migrations(version) VALUES (1), (2), (3)`,
		`INSERT INTO meta(key, value) VALUES ('setting:theme', '"dark"')`)
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("building an old store: %v", err)
		}
	}
	return db
}

func applicationID(t *testing.T, dir string) int64 {
	t.Helper()
	var id int64
	if err := rawDB(t, dir).QueryRow(`PRAGMA application_id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestOpenTakesStoresMadeBeforeTheMark(t *testing.T) {
	check := func(t *testing.T, dir string) {
		t.Helper()
		st, err := localstore.Open(dir)
		if err != nil {
			t.Fatalf("Open of a store made by an earlier build: %v", err)
		}
		var theme string
		if ok, err := st.Setting("theme", &theme); err != nil || !ok || theme != "dark" {
			t.Errorf("the old store's setting: %q %v %v", theme, ok, err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if id := applicationID(t, dir); id != localstore.ApplicationID {
			t.Errorf("after opening an old store its application id is %#x, want it marked %#x", id, localstore.ApplicationID)
		}
	}
	t.Run("closed cleanly", func(t *testing.T) {
		dir := t.TempDir()
		if err := oldStore(t, dir).Close(); err != nil {
			t.Fatal(err)
		}
		check(t, dir)
	})
	t.Run("with its tables still in the log", func(t *testing.T) {
		live, dir := t.TempDir(), t.TempDir()
		oldStore(t, live)
		copyFiles(t, live, dir)
		check(t, dir)
	})
}

func TestOpenMarksANewStoreAndLeavesNothingHalfMade(t *testing.T) {
	dir := t.TempDir()
	// What a create that stopped halfway left behind long ago.
	stale := filepath.Join(dir, "fieldsync.db.new-123")
	if err := os.WriteFile(stale, []byte("SQLite format 3\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	st, err := localstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := saveNotes(t, st, 3)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if id := applicationID(t, dir); id != localstore.ApplicationID {
		t.Errorf("a new store's application id is %#x, want %#x", id, localstore.ApplicationID)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "fieldsync.db*"))
	for _, n := range names {
		if base := filepath.Base(n); base != "fieldsync.db" && base != "fieldsync.db-wal" && base != "fieldsync.db-shm" {
			t.Errorf("making the store left %s behind", base)
		}
	}
	again := openStoreIn(t, dir)
	keptAll(t, again, ids)
}
