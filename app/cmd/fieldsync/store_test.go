package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAStoreCutToNothingIsRefusedNotRebuilt(t *testing.T) {
	t.Parallel()
	alex := newDevice(t, newServer(t))
	alex.login("alex")
	alex.must(0, "offline", "on")
	alex.must(0, "note", "add", "J-1001", "Replaced the seal")
	alex.must(0, "offline", "off")
	db := filepath.Join(alex.store, "fieldsync.db")
	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"sync"}, {"status"}, {"jobs"}} {
		r := alex.must(1, cmd...)
		contains(t, cmd[0]+" on a store cut to nothing", r.stderr, "fieldsync: "+db+" is empty (0 bytes)",
			"nothing was changed", "Move it aside")
		if r.stdout != "" {
			t.Errorf("%s wrote to stdout:\n%s", cmd[0], r)
		}
		fi, err := os.Stat(db)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != 0 {
			t.Fatalf("after %s the store file has %d bytes: something was made over the cut file", cmd[0], fi.Size())
		}
	}
}
