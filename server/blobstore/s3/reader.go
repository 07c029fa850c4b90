package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
)

// objectReader reads one object as it was when Open fetched it. Open's
// request streams the whole object, so reading straight through costs one
// round trip. A Seek elsewhere drops that stream; the next Read asks for
// the rest from the new position, on condition that the object is still
// the one opened (If-Match on its ETag), so that a blob replaced meanwhile
// fails the read instead of mixing two contents.
type objectReader struct {
	s    *Store
	ctx  context.Context
	key  string
	name string
	orig minio.ObjectInfo

	body io.ReadCloser // nil when a Seek moved away from it
	pos  int64
	err  error // a failure that ends the reader
}

func (s *Store) openReader(ctx context.Context, key string) (*objectReader, minio.ObjectInfo, error) {
	name := s.object(key)
	body, oi, _, err := s.core.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, minio.ObjectInfo{}, err
	}
	return &objectReader{s: s, ctx: ctx, key: key, name: name, orig: oi, body: body}, oi, nil
}

func (r *objectReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.pos >= r.orig.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.body == nil {
		if err := r.reopen(); err != nil {
			r.err = err
			return 0, err
		}
	}
	if left := r.orig.Size - r.pos; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	switch {
	case err == io.EOF && r.pos < r.orig.Size:
		r.err = fmt.Errorf("s3: read %s: the server sent %d of %d bytes: %w", r.key, r.pos, r.orig.Size, io.ErrUnexpectedEOF)
		return n, r.err
	case err == io.EOF:
		return n, nil // the next Read gives io.EOF, from pos
	case err != nil:
		r.err = r.s.explain("read "+r.key, err)
		return n, r.err
	}
	return n, nil
}

// reopen asks for the object from pos on, as long as it is unchanged.
func (r *objectReader) reopen() error {
	opts := minio.GetObjectOptions{}
	if r.orig.ETag != "" {
		if err := opts.SetMatchETag(r.orig.ETag); err != nil {
			return err
		}
	}
	if r.pos > 0 {
		if err := opts.SetRange(r.pos, 0); err != nil {
			return err
		}
	}
	body, oi, _, err := r.s.core.GetObject(r.ctx, r.s.bucket, r.name, opts)
	if err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && (resp.Code == "PreconditionFailed" || resp.Code == minio.NoSuchKey) {
			return fmt.Errorf("s3: read %s: the blob was replaced or deleted while being read", r.key)
		}
		return r.s.explain("read "+r.key, err)
	}
	if oi.ETag != r.orig.ETag || !oi.LastModified.Equal(r.orig.LastModified) {
		body.Close()
		return fmt.Errorf("s3: read %s: the blob was replaced while being read", r.key)
	}
	r.body = body
	return nil
}

func (r *objectReader) Seek(offset int64, whence int) (int64, error) {
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = r.pos + offset
	case io.SeekEnd:
		pos = r.orig.Size + offset
	default:
		return r.pos, fmt.Errorf("s3: seek %s: whence %d is not io.SeekStart, io.SeekCurrent or io.SeekEnd", r.key, whence)
	}
	if pos < 0 {
		return r.pos, fmt.Errorf("s3: seek %s: position %d is before the start", r.key, pos)
	}
	if pos != r.pos && r.body != nil {
		r.body.Close()
		r.body = nil
	}
	r.pos = pos
	return pos, nil
}

func (r *objectReader) Close() error {
	r.err = errors.New("s3: read of a closed blob")
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	return err
}
