package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBlobDirectoriesAreSyncedSoAPowerCutLosesNoPhoto: a file's bytes
// survive a power cut only if the directory entry naming it does too. The
// blob store syncs the partial directory when an upload creates its file,
// and, when the whole photo is renamed into photos/xx/, both directories
// the rename touched (and photos/ when xx/ was new) before the record
// can say the content is ready.
func TestBlobDirectoriesAreSyncedSoAPowerCutLosesNoPhoto(t *testing.T) {
	b, err := newBlobStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Each sync is recorded with the files of the directory at that moment:
	// a sync before the rename would not keep the photo.
	var synced []string
	b.syncDir = func(dir string) error {
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
	partialDir, photosDir := filepath.Join(b.dir, "partial"), filepath.Join(b.dir, "photos")
	content := bytes.Repeat([]byte("photo "), 1000)
	sum := sha256.Sum256(content)
	sha := hex.EncodeToString(sum[:])

	upload := func(t *testing.T, id string) {
		t.Helper()
		synced = nil
		if n, err := b.write(id, 0, bytes.NewReader(content[:100]), int64(len(content))); err != nil || n != 100 {
			t.Fatalf("first chunk: %d bytes, %v", n, err)
		}
		if want := partialDir + " " + id + ".part"; !slices.Contains(synced, want) {
			t.Errorf("after the first chunk created the partial file, the directories synced were %q, want %q", synced, want)
		}
		synced = nil
		if n, err := b.write(id, 100, bytes.NewReader(content[100:]), int64(len(content)-100)); err != nil || n != int64(len(content)-100) {
			t.Fatalf("last chunk: %d bytes, %v", n, err)
		}
		synced = nil
		if err := b.finish(id, sha); err != nil {
			t.Fatal(err)
		}
		// After the rename: the destination holds the photo (and any
		// earlier one of its prefix), the partial directory no longer does.
		dest := filepath.Join(photosDir, id[:2])
		if !slices.ContainsFunc(synced, func(s string) bool {
			return strings.HasPrefix(s, dest+" ") && slices.Contains(strings.Split(strings.TrimPrefix(s, dest+" "), ","), id)
		}) {
			t.Errorf("after the rename into place the directories synced were %q, want %s holding %s", synced, dest, id)
		}
		if want := partialDir + " "; !slices.Contains(synced, want) {
			t.Errorf("after the rename into place the directories synced were %q, want %q (the partial file gone)", synced, want)
		}
		if n, whole, err := b.status(id); err != nil || !whole || n != int64(len(content)) {
			t.Fatalf("after finishing: %d bytes, whole %v, %v", n, whole, err)
		}
	}

	t.Run("the first photo of a prefix syncs the new prefix directory's parent", func(t *testing.T) {
		id := "0cd6bcc0-2261-4806-8e2a-93f05014c313"
		upload(t, id)
		if want := photosDir + " " + id[:2]; !slices.Contains(synced, want) {
			t.Errorf("finish made %s but synced only %q: the new directory may vanish", filepath.Join(photosDir, id[:2]), synced)
		}
	})
	t.Run("a second photo of the prefix syncs where it moved", func(t *testing.T) {
		upload(t, "0cd6bcc0-2261-4806-8e2a-93f05014c314")
	})
}
