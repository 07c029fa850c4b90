package localstore_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fieldsync/contract"
	"fieldsync/localstore"

	"github.com/google/uuid"
)

// photoFiles lists the names in the store's photos directory.
func photoFiles(t testing.TB, st *localstore.Store) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(st.Dir(), "photos"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// failingReader gives some bytes, then fails, like a camera roll read cut short.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("read failed")
	}
	k := min(len(p), r.n)
	for i := range k {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func TestImportPhoto(t *testing.T) {
	content := bytes.Repeat([]byte("photo-bytes-"), 10000) // 120,000 bytes
	sum := sha256.Sum256(content)
	tests := []struct {
		name    string
		id      string
		r       io.Reader
		max     int64
		wantErr string
	}{
		{"content within the limit is kept under the photo's id", uuid.NewString(), bytes.NewReader(content), 1 << 20, ""},
		{"content exactly at the limit is kept", uuid.NewString(), bytes.NewReader(content), int64(len(content)), ""},
		{"content over the limit is refused", uuid.NewString(), bytes.NewReader(content), int64(len(content)) - 1, "over the limit"},
		{"an id that is not a UUID is refused", "../../etc/passwd", bytes.NewReader(content), 1 << 20, "not a UUID"},
		{"a read that fails midway is refused", uuid.NewString(), &failingReader{n: 5000}, 1 << 20, "read failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			path, size, got, err := st.ImportPhoto(tt.id, tt.r, tt.max)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				if files := photoFiles(t, st); len(files) != 0 {
					t.Errorf("a refused import left %v", files)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if size != int64(len(content)) || got != hex.EncodeToString(sum[:]) {
				t.Errorf("size %d sha256 %s", size, got)
			}
			if path != filepath.Join(st.Dir(), "photos", tt.id) {
				t.Errorf("path %s", path)
			}
			b, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(b, content) {
				t.Errorf("file content differs (%d bytes, %v)", len(b), err)
			}
			if files := photoFiles(t, st); len(files) != 1 || files[0] != tt.id {
				t.Errorf("photos directory holds %v, want only the photo (no temporary files)", files)
			}
		})
	}
}

func TestImportPhotoLimitMessageNamesTheLimit(t *testing.T) {
	st := openStore(t)
	_, _, _, err := st.ImportPhoto(uuid.NewString(), bytes.NewReader(make([]byte, 600<<10)), 512<<10)
	if err == nil {
		t.Fatal("an over-limit photo was kept")
	}
	if strings.Contains(err.Error(), "limit of 0 MB") {
		t.Fatalf("ImportPhoto words a limit under 1 MiB as %q: it prints max>>20 MB", err)
	}
}

func TestPhotoRowsFollowTheUpload(t *testing.T) {
	st := openStore(t)
	job := uuid.NewString()
	id := uuid.NewString()
	path, size, sum, err := st.ImportPhoto(id, strings.NewReader("jpeg"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	op := newOp("photo", id, contract.ActionAppend, map[string]string{"job_id": job, "sha256": sum})
	if saved, err := st.Save(op, &localstore.Photo{ID: id, JobID: job, Path: path, Size: size, SHA256: sum}); err != nil || !saved {
		t.Fatalf("save: %v %v", saved, err)
	}
	waiting, _ := st.Photos(localstore.PhotoWaiting)
	if len(waiting) != 1 || waiting[0].ID != id || waiting[0].JobID != job || waiting[0].Size != 4 || waiting[0].SHA256 != sum || waiting[0].Uploaded != 0 {
		t.Fatalf("waiting photos: %+v", waiting)
	}
	if err := st.SetUploaded(id, 2); err != nil {
		t.Fatal(err)
	}
	if err := st.PhotoAttempt(id, "cut short"); err != nil {
		t.Fatal(err)
	}
	p, _ := st.Photos("")
	if p[0].Uploaded != 2 || p[0].Attempts != 1 || p[0].Error != "cut short" || p[0].State != localstore.PhotoWaiting {
		t.Errorf("after a cut upload: %+v", p[0])
	}
	if err := st.PhotoDone(id, 4); err != nil {
		t.Fatal(err)
	}
	if w, _ := st.Photos(localstore.PhotoWaiting); len(w) != 0 {
		t.Errorf("a finished photo still waits")
	}
	if done, _ := st.Photos(localstore.PhotoUploaded); len(done) != 1 || done[0].Uploaded != 4 || done[0].Error != "" {
		t.Errorf("uploaded photos: %+v", done)
	}

	// Saving the same photo again adds no second row.
	if saved, err := st.Save(op, &localstore.Photo{ID: id, JobID: job, Path: path, Size: size, SHA256: sum}); err != nil || saved {
		t.Errorf("second save: %v %v", saved, err)
	}
	if all, _ := st.Photos(""); len(all) != 1 {
		t.Errorf("%d photo rows after saving twice", len(all))
	}

	other := uuid.NewString()
	path2, size2, sum2, _ := st.ImportPhoto(other, strings.NewReader("png"), 1<<20)
	if _, err := st.Save(newOp("photo", other, contract.ActionAppend, map[string]string{"job_id": job}), &localstore.Photo{ID: other, JobID: job, Path: path2, Size: size2, SHA256: sum2}); err != nil {
		t.Fatal(err)
	}
	if err := st.PhotoFailed(other, "too large"); err != nil {
		t.Fatal(err)
	}
	failed, _ := st.Photos(localstore.PhotoFailed)
	if len(failed) != 1 || failed[0].Error != "too large" {
		t.Errorf("failed photos: %+v", failed)
	}
	if _, err := os.Stat(path2); err != nil {
		t.Errorf("a failed photo's file is gone: %v", err)
	}
}

func TestResetRemovesThePreviousUsersPhotoFiles(t *testing.T) {
	st := openStore(t)
	id := uuid.NewString()
	path, size, sum, err := st.ImportPhoto(id, strings.NewReader("private"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Save(newOp("photo", id, contract.ActionAppend, map[string]string{"job_id": uuid.NewString()}),
		&localstore.Photo{ID: id, JobID: uuid.NewString(), Path: path, Size: size, SHA256: sum}); err != nil {
		t.Fatal(err)
	}
	if err := st.Reset(""); err != nil {
		t.Fatal(err)
	}
	if p, _ := st.Photos(""); len(p) != 0 {
		t.Fatalf("photo rows after Reset: %d", len(p))
	}
	if files := photoFiles(t, st); len(files) != 0 {
		t.Fatalf("Reset deletes the photos rows but leaves their files in %s (%v): the previous user's photos stay on the device with nothing pointing at them", filepath.Join(st.Dir(), "photos"), files)
	}
}
