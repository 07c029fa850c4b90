package blobstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
)

// DirStore keeps blobs as files under one directory, a key's parts its
// path. A Put writes a temporary file beside the blob, syncs it and
// renames it into place, then syncs the directory, so that a blob is
// whole or absent after a power cut. Only one machine can use it.
type DirStore struct {
	dir string
	// SyncDir makes a directory's entries durable; tests watch it.
	SyncDir func(dir string) error
}

// tmpSuffix ends the names of files being written; List skips them.
const tmpSuffix = ".tmp"

// Dir returns a store over dir, making it when it is missing.
func Dir(dir string) (*DirStore, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("blob directory: %w", err)
	}
	return &DirStore{dir: abs, SyncDir: syncDir}, nil
}

// Path returns where a key's file is.
func (d *DirStore) Path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	if strings.HasSuffix(key, tmpSuffix) {
		return "", fmt.Errorf("blobstore: key %q ends in %s, which the directory store keeps for files being written", key, tmpSuffix)
	}
	return filepath.Join(d.dir, filepath.FromSlash(key)), nil
}

func (d *DirStore) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	p, err := d.Path(key)
	if err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("blobstore: put %s: size %d is negative", key, size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.mkdirs(filepath.Dir(p)); err != nil {
		return err
	}
	var b [8]byte
	rand.Read(b[:])
	tmp := p + "." + hex.EncodeToString(b[:]) + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("blobstore: put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, io.LimitReader(ctxReader{ctx, r}, size))
	if err != nil {
		return fmt.Errorf("blobstore: put %s: %w", key, err)
	}
	if n < size {
		return fmt.Errorf("blobstore: put %s: the content ended after %d of %d bytes; nothing was stored", key, n, size)
	}
	var extra [1]byte
	switch k, err := io.ReadFull(r, extra[:]); {
	case k > 0:
		return fmt.Errorf("blobstore: put %s: the content is longer than %d bytes; nothing was stored", key, size)
	case err != io.EOF:
		return fmt.Errorf("blobstore: put %s: reading past the content's %d bytes: %w; nothing was stored", key, size, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blobstore: put %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("blobstore: put %s: %w", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("blobstore: put %s: %w", key, err)
	}
	// The blob is whole only once its name survives a power cut too.
	return d.SyncDir(filepath.Dir(p))
}

// mkdirs makes dir and the directories above it up to the store's,
// syncing each parent that gained an entry.
func (d *DirStore) mkdirs(dir string) error {
	if dir == d.dir {
		return nil
	}
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := d.mkdirs(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("blobstore: %w", err)
	}
	return d.SyncDir(filepath.Dir(dir))
}

func (d *DirStore) Open(ctx context.Context, key string) (Reader, Info, error) {
	p, err := d.Path(key)
	if err != nil {
		return nil, Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(p)
	if notFound(err) {
		return nil, Info{}, ErrNotFound
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("blobstore: open %s: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, Info{}, ErrNotFound
	}
	return f, Info{Key: key, Size: st.Size(), Modified: st.ModTime()}, nil
}

func (d *DirStore) Stat(ctx context.Context, key string) (Info, error) {
	p, err := d.Path(key)
	if err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if notFound(err) || err == nil && !st.Mode().IsRegular() {
		return Info{}, ErrNotFound
	}
	if err != nil {
		return Info{}, fmt.Errorf("blobstore: stat %s: %w", key, err)
	}
	return Info{Key: key, Size: st.Size(), Modified: st.ModTime()}, nil
}

func (d *DirStore) Delete(ctx context.Context, key string) error {
	p, err := d.Path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// A directory is no blob: the blobs under it stay.
	if st, err := os.Lstat(p); notFound(err) || err == nil && !st.Mode().IsRegular() {
		return nil
	}
	if err := os.Remove(p); err != nil && !notFound(err) {
		return fmt.Errorf("blobstore: delete %s: %w", key, err)
	}
	// Empty directories left behind stay: removing them could race with a
	// Put making a file in them.
	return nil
}

func (d *DirStore) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := CheckPrefix(prefix); err != nil {
		return nil, err
	}
	// Walk from the deepest directory the prefix names whole.
	root := d.dir
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		root = filepath.Join(d.dir, filepath.FromSlash(prefix[:i]))
	}
	var out []Info
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(d.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			// Skip directories that cannot hold a key with the prefix.
			if p != root && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) || strings.HasSuffix(key, tmpSuffix) || CheckKey(key) != nil {
			return nil
		}
		st, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, Info{Key: key, Size: st.Size(), Modified: st.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blobstore: list %s: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Check writes, syncs and removes a small file, as a Put would.
func (d *DirStore) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(d.dir, "health-*"+tmpSuffix)
	if err != nil {
		return fmt.Errorf("blobstore: the blob directory takes no writes: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString("ok")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("blobstore: the blob directory takes no writes: %w", err)
	}
	return nil
}

// notFound reports whether err says there is no file at a path: none
// there, or a file where a directory above it should be.
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// ctxReader stops reading when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// syncDir flushes a directory, so that the files created in it, renamed
// into it or out of it are still there after a power cut. Windows makes
// renames durable itself and cannot sync a directory.
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
