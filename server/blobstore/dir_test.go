package blobstore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDirSyncsEveryDirectoryAPutTouches: a file's bytes survive a power
// cut only if the directory entry naming it does too. A Put syncs the
// directory the blob was renamed into, after the rename, and the parent of
// every directory it had to make, so that a photo the server announced is
// still there after a power cut.
func TestDirSyncsEveryDirectoryAPutTouches(t *testing.T) {
	d, err := Dir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Each sync is recorded with the entries of the directory at that
	// moment: a sync before the rename would not keep the blob.
	var synced []string
	d.SyncDir = func(dir string) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Errorf("syncing %s: %v", dir, err)
		}
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.Name()
		}
		synced = append(synced, dir+" "+strings.Join(names, ","))
		return syncDir(dir)
	}
	syncedHolding := func(dir, name string) bool {
		return slices.ContainsFunc(synced, func(s string) bool {
			rest, ok := strings.CutPrefix(s, dir+" ")
			return ok && slices.Contains(strings.Split(rest, ","), name)
		})
	}
	put := func(key string) {
		t.Helper()
		synced = nil
		if err := d.Put(context.Background(), key, bytes.NewReader([]byte("photo")), 5); err != nil {
			t.Fatal(err)
		}
	}

	put("photos/0c/0cd6bcc0-2261-4806-8e2a-93f05014c313")
	photos := filepath.Join(d.dir, "photos")
	if !syncedHolding(d.dir, "photos") || !syncedHolding(photos, "0c") {
		t.Errorf("the first blob under photos/0c/ synced %q; want the store's directory holding photos and photos/ holding 0c", synced)
	}
	if !syncedHolding(filepath.Join(photos, "0c"), "0cd6bcc0-2261-4806-8e2a-93f05014c313") {
		t.Errorf("after the rename into place the directories synced were %q, want photos/0c holding the blob", synced)
	}

	put("photos/0c/0cd6bcc0-2261-4806-8e2a-93f05014c314")
	if !syncedHolding(filepath.Join(photos, "0c"), "0cd6bcc0-2261-4806-8e2a-93f05014c314") {
		t.Errorf("a second blob of the prefix synced %q, want photos/0c holding it", synced)
	}
	for _, s := range synced {
		if strings.HasSuffix(s, tmpSuffix) || strings.Contains(s, tmpSuffix+",") {
			t.Errorf("a directory was synced while it still held a temporary file: %q", s)
		}
	}
}
