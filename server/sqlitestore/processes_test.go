package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"fieldsync/contract"
	"fieldsync/server"
	"fieldsync/server/sqlitestore"
)

// TestTwoServersOnOneFileSeeEachOthersWrites: two server processes on one
// database file (or a server and fieldsyncd user add) each keep a
// sequence counter and a cache of records in memory. Each must notice the
// other's commits: a record the other changed is read again, not taken
// from a stale cache, and a new sequence number comes after every number
// the other gave, or devices pulling by cursor would skip the change.
func TestTwoServersOnOneFileSeeEachOthersWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.db")
	open := func() *sqlitestore.Store {
		st, err := sqlitestore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a, b := open(), open()
	ctx := context.Background()
	id := uuid.NewString()
	put := func(st *sqlitestore.Store, title string) (seq int64) {
		t.Helper()
		err := st.Write(ctx, func(tx server.Tx) error {
			old, err := tx.Record(id)
			if err != nil {
				return err
			}
			if seq, err = tx.NextSeq(); err != nil {
				return err
			}
			rec := &contract.Record{Type: "job", ID: id, Seq: seq, OwnerName: title}
			return tx.PutRecords([]server.RecordWrite{{Record: rec, Index: server.Index{Scope: id}, Stored: old != nil}})
		})
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	first := put(a, "first") // a now holds the record in its cache
	second := put(b, "second")
	if second <= first {
		t.Fatalf("the second server numbered its write %d, after the first's %d", second, first)
	}
	err := a.Write(ctx, func(tx server.Tx) error {
		rec, err := tx.Record(id)
		if err != nil {
			return err
		}
		if rec == nil || rec.OwnerName != "second" {
			t.Errorf("the first server reads the record as %+v, not as the second server left it", rec)
		}
		seq, err := tx.NextSeq()
		if seq <= second {
			t.Errorf("the first server's next number is %d, not after the second server's %d: a device that pulled %d would skip it", seq, second, second)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
