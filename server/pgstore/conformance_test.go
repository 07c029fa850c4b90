package pgstore_test

import (
	"context"
	"testing"

	"fieldsync/internal/pgtest"
	"fieldsync/server"
	"fieldsync/server/pgstore"
	"fieldsync/server/storetest"
)

// open opens a store on a new, empty database of its own.
func open(t *testing.T) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) server.Store { return open(t) })
}
