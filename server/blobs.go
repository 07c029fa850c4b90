package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"fieldsync/contract"
)

// blobStore keeps photo content under one directory: finished files in
// photos/, uploads in progress in partial/. Every path comes from a
// validated UUID, so nothing is ever written outside the directory.
type blobStore struct {
	dir   string
	locks [64]sync.Mutex
	// syncDir makes a directory's entries durable; tests watch it.
	syncDir func(dir string) error
}

var (
	errTooLong  = errors.New("the upload is longer than the photo")
	errChecksum = errors.New("the content does not match its sha256")
)

func newBlobStore(dir string) (*blobStore, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob directory: %w", err)
	}
	for _, sub := range []string{"photos", "partial"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o750); err != nil {
			return nil, fmt.Errorf("blob directory: %w", err)
		}
	}
	return &blobStore{dir: abs, syncDir: syncDir}, nil
}

// syncDir flushes a directory, so that the files created in it, renamed
// into it or out of it are still there after a power cut.
// Windows makes renames durable itself and cannot sync a directory.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// path joins parts under the blob directory, refusing anything that is not
// a UUID or would land outside.
func (b *blobStore) path(id string, parts ...string) (string, error) {
	if _, ok := contract.ValidUUID(id); !ok || strings.ToLower(id) != id {
		return "", fmt.Errorf("blob id %q is not a lower-case UUID", id)
	}
	p := filepath.Join(append([]string{b.dir}, parts...)...)
	if rel, err := filepath.Rel(b.dir, p); err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("blob path %q is outside the blob directory", p)
	}
	return p, nil
}

func (b *blobStore) final(id string) (string, error) {
	return b.path(id, "photos", id[:min(2, len(id))], id)
}
func (b *blobStore) partial(id string) (string, error) { return b.path(id, "partial", id+".part") }

// lock serialises uploads of one photo.
func (b *blobStore) lock(id string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(id))
	return &b.locks[h.Sum32()%uint32(len(b.locks))]
}

// status returns how many bytes of a photo arrived and whether it is whole.
func (b *blobStore) status(id string) (int64, bool, error) {
	fp, err := b.final(id)
	if err != nil {
		return 0, false, err
	}
	if st, err := os.Stat(fp); err == nil {
		return st.Size(), true, nil
	}
	pp, err := b.partial(id)
	if err != nil {
		return 0, false, err
	}
	st, err := os.Stat(pp)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return st.Size(), false, nil
}

// write appends r to the partial file at offset, which must be where the file
// ends. More than max bytes is errTooLong and nothing of the chunk is kept;
// a chunk cut short keeps the bytes that arrived, so the upload resumes.
func (b *blobStore) write(id string, offset int64, r io.Reader, max int64) (int64, error) {
	pp, err := b.partial(id)
	if err != nil {
		return 0, err
	}
	created := true
	f, err := os.OpenFile(pp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if errors.Is(err, os.ErrExist) {
		created = false
		f, err = os.OpenFile(pp, os.O_WRONLY, 0)
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, err
	}
	n, copyErr := io.Copy(f, io.LimitReader(r, max))
	if copyErr == nil {
		// One byte past max makes the chunk too long. It is read but never
		// written, so the file, and the status others ask for meanwhile,
		// never holds more than the photo's size.
		var extra [1]byte
		if k, _ := io.ReadFull(r, extra[:]); k > 0 {
			if err := f.Truncate(offset); err != nil {
				return 0, err
			}
			return 0, errTooLong
		}
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	if created {
		// The bytes are on disk; so must be the name that finds them.
		if err := b.syncDir(filepath.Dir(pp)); err != nil {
			return n, err
		}
	}
	return n, copyErr
}

// finish checks the whole partial file against sha and moves it into place.
// A mismatch discards it: the upload starts again from the first byte.
func (b *blobStore) finish(id, sha string) error {
	pp, err := b.partial(id)
	if err != nil {
		return err
	}
	f, err := os.Open(pp)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != sha {
		os.Remove(pp)
		return errChecksum
	}
	fp, err := b.final(id)
	if err != nil {
		return err
	}
	dest := filepath.Dir(fp)
	_, err = os.Stat(dest)
	made := errors.Is(err, os.ErrNotExist)
	if err := os.MkdirAll(dest, 0o750); err != nil {
		return err
	}
	if made {
		if err := b.syncDir(filepath.Dir(dest)); err != nil {
			return err
		}
	}
	if err := os.Rename(pp, fp); err != nil {
		return err
	}
	// The record says the content is ready only after this: the rename
	// must survive a power cut, in both directories it touched.
	if err := b.syncDir(dest); err != nil {
		return err
	}
	return b.syncDir(filepath.Dir(pp))
}

// open returns a finished photo's content.
func (b *blobStore) open(id string) (*os.File, error) {
	fp, err := b.final(id)
	if err != nil {
		return nil, err
	}
	return os.Open(fp)
}
