package sqlitestore_test

import (
	"path/filepath"
	"testing"

	"fieldsync/server"
	"fieldsync/server/sqlitestore"
	"fieldsync/server/storetest"
)

var _ server.Store = (*sqlitestore.Store)(nil)

// The SQLite store keeps the promises every store keeps, each check on a
// new database file.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) server.Store {
		st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "server.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := st.Close(); err != nil {
				t.Errorf("closing the store: %v", err)
			}
		})
		return st
	})
}
