package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/server/blobstore"
)

// Photo content lives in the blob store (Options.Blobs), which every
// server sharing the database shares too. A finished photo is one blob,
// photos/<first two characters of its id>/<id>. An upload in progress is
// a list of parts: each chunk that arrived is a blob of its own under
// partial/<id>/, put there before the database records it (Part), so
// that a chunk may reach any server and the next one another. The
// database says which parts count: of two chunks at the same offset, the
// one recorded first; a blob it does not name is a leftover, swept after
// orphanAge. When the parts cover the photo, their bytes are checked
// against its sha256, copied into the finished blob, and forgotten.

var (
	errTooLong  = errors.New("the upload is longer than the photo")
	errChecksum = errors.New("the content does not match its sha256")
)

const (
	// uploadAbandon is how long an upload may make no progress before its
	// parts are swept: its device uploads it again from the first byte.
	uploadAbandon = 7 * 24 * time.Hour
	// orphanAge is how old a part blob the database does not name must be
	// before it is swept: older than any chunk request can take between
	// putting it and recording it.
	orphanAge = time.Hour
	// sweepBatch is how many abandoned uploads one sweep step forgets.
	sweepBatch = 100
)

// photoKey is where a finished photo's content is kept.
func photoKey(id string) (string, error) {
	if _, ok := contract.ValidUUID(id); !ok || strings.ToLower(id) != id {
		return "", fmt.Errorf("photo id %q is not a lower-case UUID", id)
	}
	return "photos/" + id[:2] + "/" + id, nil
}

// partPrefix is where the parts of a photo's upload are kept.
func partPrefix(id string) string { return "partial/" + id + "/" }

// newPartKey names the blob of a new part. Its random tail keeps two
// servers writing the same offset at once from overwriting each other's
// blob; the database then keeps one of them.
func newPartKey(id string, offset int64) string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s%020d-%s", partPrefix(id), offset, hex.EncodeToString(b[:]))
}

// received returns how many bytes from the first the parts hold without a
// gap, and those parts.
func received(parts []Part) (int64, []Part) {
	var n int64
	for i, p := range parts {
		if p.Offset != n {
			return n, parts[:i]
		}
		n += p.Size
	}
	return n, parts
}

// spool reads at most max bytes of a chunk into a temporary file, rewound.
// One byte more is errTooLong, and nothing is kept. A chunk cut short
// keeps what arrived, and the read's error comes back beside it.
func spool(r io.Reader, max int64) (f *os.File, n int64, readErr error, err error) {
	f, err = os.CreateTemp("", "fieldsync-chunk-*")
	if err != nil {
		return nil, 0, nil, err
	}
	os.Remove(f.Name()) // the open file stays readable until closed
	n, readErr = io.Copy(f, io.LimitReader(r, max))
	if readErr == nil {
		var extra [1]byte
		if k, _ := io.ReadFull(r, extra[:]); k > 0 {
			f.Close()
			return nil, 0, nil, errTooLong
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	return f, n, readErr, nil
}

// partsReader reads the parts of an upload one after another, opening
// each when the one before ends.
type partsReader struct {
	ctx   context.Context
	blobs blobstore.Store
	parts []Part
	cur   io.ReadCloser
}

func (p *partsReader) Read(b []byte) (int, error) {
	for {
		if p.cur == nil {
			if len(p.parts) == 0 {
				return 0, io.EOF
			}
			r, info, err := p.blobs.Open(p.ctx, p.parts[0].Key)
			if err != nil {
				return 0, fmt.Errorf("open part at %d: %w", p.parts[0].Offset, err)
			}
			if info.Size != p.parts[0].Size {
				r.Close()
				return 0, fmt.Errorf("part at %d holds %d bytes, not %d", p.parts[0].Offset, info.Size, p.parts[0].Size)
			}
			p.cur, p.parts = r, p.parts[1:]
		}
		n, err := p.cur.Read(b)
		if err == io.EOF {
			p.cur.Close()
			p.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (p *partsReader) Close() error {
	if p.cur != nil {
		return p.cur.Close()
	}
	return nil
}

// checkParts reads the parts through and reports whether their bytes have
// the sha256 sha.
func (s *Server) checkParts(ctx context.Context, parts []Part, sha string) (bool, error) {
	r := &partsReader{ctx: ctx, blobs: s.blobs, parts: parts}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == sha, nil
}

// deleteBlobs deletes blobs, logging what it could not: a blob left
// behind is swept later.
func (s *Server) deleteBlobs(ctx context.Context, parts []Part) {
	for _, p := range parts {
		if err := s.blobs.Delete(ctx, p.Key); err != nil {
			s.log.Warn("delete upload part", "photo", p.PhotoID, "key", p.Key, "err", err)
		}
	}
}

// SweepReport says what a sweep of photo uploads removed.
type SweepReport struct {
	Abandoned int // uploads nobody finished within uploadAbandon, forgotten
	Orphans   int // part blobs the database did not name, deleted
}

// SweepUploads forgets uploads that made no progress for a week, and
// deletes part blobs the database does not name: those of a server that
// stopped between putting a part and recording it, of a chunk that lost
// the race for its offset, of uploads finished or forgotten while a
// deletion failed, and the partial files of earlier versions. Every
// server sharing a store may run it, at any time, even at once: it only
// removes what no upload can still use. The device of a forgotten upload
// still holds the photo and uploads it again.
func (s *Server) SweepUploads(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	for {
		var stale []Part
		err := s.store.Write(ctx, func(tx Tx) error {
			var err error
			if stale, err = tx.StaleParts(s.now().Add(-uploadAbandon), sweepBatch); err != nil {
				return err
			}
			seen := map[string]bool{}
			for _, p := range stale {
				if !seen[p.PhotoID] {
					seen[p.PhotoID] = true
					if err := tx.DropParts(p.PhotoID); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("sweep abandoned uploads: %w", err)
		}
		seen := map[string]bool{}
		for _, p := range stale {
			seen[p.PhotoID] = true
		}
		rep.Abandoned += len(seen)
		s.deleteBlobs(ctx, stale)
		if len(seen) < sweepBatch {
			break
		}
	}

	blobs, err := s.blobs.List(ctx, "partial/")
	if err != nil {
		return rep, fmt.Errorf("sweep upload parts: %w", err)
	}
	old := time.Now().Add(-orphanAge)
	byPhoto := map[string][]blobstore.Info{}
	var order []string
	for _, b := range blobs {
		if !b.Modified.Before(old) {
			continue
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(b.Key, "partial/"), "/")
		if _, ok := byPhoto[id]; !ok {
			order = append(order, id)
		}
		byPhoto[id] = append(byPhoto[id], b)
	}
	for _, id := range order {
		named := map[string]bool{}
		if _, ok := contract.ValidUUID(id); ok {
			var parts []Part
			err := s.store.Read(ctx, func(q Query) error {
				var err error
				parts, err = q.Parts(id)
				return err
			})
			if err != nil {
				return rep, fmt.Errorf("sweep upload parts: %w", err)
			}
			for _, p := range parts {
				named[p.Key] = true
			}
		}
		for _, b := range byPhoto[id] {
			if named[b.Key] {
				continue
			}
			if err := s.blobs.Delete(ctx, b.Key); err != nil {
				return rep, fmt.Errorf("sweep upload parts: %w", err)
			}
			rep.Orphans++
		}
	}
	if rep.Abandoned+rep.Orphans > 0 {
		s.log.Info("swept photo uploads", "abandoned", rep.Abandoned, "orphan_parts", rep.Orphans)
	}
	return rep, nil
}
