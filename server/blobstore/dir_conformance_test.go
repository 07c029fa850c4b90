package blobstore_test

import (
	"testing"

	"fieldsync/server/blobstore"
	"fieldsync/server/blobstore/blobtest"
)

// The suite every blob store runs, against a directory of its own for
// each subtest.
func TestDirConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blobstore.Store {
		st, err := blobstore.Dir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}
