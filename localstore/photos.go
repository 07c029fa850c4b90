package localstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"fieldsync/contract"
)

// Photo states.
const (
	PhotoWaiting  = "waiting"  // content to upload
	PhotoUploaded = "uploaded" // the server has all of it
	PhotoFailed   = "failed"   // retrying cannot help; the file is kept
)

// Photo is a photo's content on the device.
type Photo struct {
	ID       string
	JobID    string
	Path     string // under the store's photos directory
	Size     int64
	SHA256   string
	Uploaded int64
	State    string
	Error    string
	Attempts int
	AddedAt  time.Time
}

// ImportPhoto copies photo content into the store's photos directory, under
// the photo's id, and returns its size and sha256. The file is written to a
// temporary name, synced and renamed, so a crash never leaves half a photo
// under the real name; the directory is synced after the rename, so the
// rows the caller then commits never name a file a power cut took away.
// Content over max bytes is refused.
func (s *Store) ImportPhoto(id string, r io.Reader, max int64) (path string, size int64, sum string, err error) {
	if _, ok := contract.ValidUUID(id); !ok {
		return "", 0, "", fmt.Errorf("import photo: %q is not a UUID", id)
	}
	dir := filepath.Join(s.dir, "photos")
	tmp, err := os.CreateTemp(dir, "import-*")
	if err != nil {
		return "", 0, "", fmt.Errorf("import photo: %w", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, max+1))
	if err == nil && n > max {
		err = fmt.Errorf("the photo is over the limit of %s", contract.SizeWords(max))
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, "", fmt.Errorf("import photo: %w", err)
	}
	path = filepath.Join(dir, id)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", 0, "", fmt.Errorf("import photo: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return "", 0, "", fmt.Errorf("import photo: %w", err)
	}
	return path, n, hex.EncodeToString(h.Sum(nil)), nil
}

// syncDir flushes a directory, so that a file created or renamed in it
// (a photo, the store itself) is still there after a power cut. Windows
// makes renames durable itself and cannot sync a directory. Tests watch it.
var syncDir = func(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// Photos returns the photos in a state (all of them for ""), oldest first.
func (s *Store) Photos(state string) ([]Photo, error) {
	q := `SELECT id, job_id, path, size, sha256, uploaded, state, error, attempts, added_at FROM photos`
	var args []any
	if state != "" {
		q += ` WHERE state = ?`
		args = append(args, state)
	}
	rows, err := s.db.Query(q+` ORDER BY added_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("photos: %w", err)
	}
	defer rows.Close()
	var out []Photo
	for rows.Next() {
		var p Photo
		var added int64
		if err := rows.Scan(&p.ID, &p.JobID, &p.Path, &p.Size, &p.SHA256, &p.Uploaded, &p.State, &p.Error, &p.Attempts, &added); err != nil {
			return nil, fmt.Errorf("photos: %w", err)
		}
		p.AddedAt = time.Unix(0, added)
		out = append(out, p)
	}
	return out, rows.Err()
}

// SetUploaded records how many bytes of a photo the server has.
func (s *Store) SetUploaded(id string, n int64) error {
	_, err := s.db.Exec(`UPDATE photos SET uploaded = ? WHERE id = ?`, n, id)
	return err
}

// PhotoAttempt records a failed upload try.
func (s *Store) PhotoAttempt(id, reason string) error {
	_, err := s.db.Exec(`UPDATE photos SET attempts = attempts + 1, error = ? WHERE id = ?`, reason, id)
	return err
}

// PhotoDone marks a photo as wholly on the server.
func (s *Store) PhotoDone(id string, size int64) error {
	_, err := s.db.Exec(`UPDATE photos SET state = ?, uploaded = ?, error = '' WHERE id = ?`, PhotoUploaded, size, id)
	return err
}

// PhotoFailed marks a photo whose upload retrying cannot fix. Its file stays.
func (s *Store) PhotoFailed(id, reason string) error {
	_, err := s.db.Exec(`UPDATE photos SET state = ?, error = ? WHERE id = ?`, PhotoFailed, reason, id)
	return err
}

// removePhotoFiles deletes the photo files of a user whose data is gone.
func (s *Store) removePhotoFiles() {
	dir := filepath.Join(s.dir, "photos")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		os.Remove(filepath.Join(dir, e.Name()))
	}
}
