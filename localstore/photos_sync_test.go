package localstore

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/uuid"
)

// TestImportPhotoSyncsThePhotosDirectoryBeforeReturning: the caller commits
// the rows that name an imported photo's file as soon as ImportPhoto
// returns. After a power cut those rows must never name a file whose
// rename was lost, so the photos directory is synced after the rename,
// before ImportPhoto returns.
func TestImportPhotoSyncsThePhotosDirectoryBeforeReturning(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id := uuid.NewString()
	photos := filepath.Join(st.dir, "photos")

	// Each sync is recorded with whether the photo was in the directory
	// then: a sync before the rename would not keep it.
	var synced []string
	sync := syncDir
	syncDir = func(dir string) error {
		what := " without the photo"
		if _, err := os.Stat(filepath.Join(dir, id)); err == nil {
			what = " holding the photo"
		}
		synced = append(synced, dir+what)
		return sync(dir)
	}
	t.Cleanup(func() { syncDir = sync })

	path, size, _, err := st.ImportPhoto(id, bytes.NewReader([]byte("jpeg bytes")), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(photos, id) || size != 10 {
		t.Fatalf("imported to %s, %d bytes", path, size)
	}
	if want := photos + " holding the photo"; !slices.Contains(synced, want) {
		t.Errorf("ImportPhoto synced %q, want %q: a power cut after the database commit could lose the photo's file", synced, want)
	}
}
