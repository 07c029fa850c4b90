// Package s3 keeps blobs in S3-compatible object storage: one bucket,
// optionally under a key prefix, shared by every instance of a cluster.
//
// A Store is made from a Config (New) or from a URL (Open, see there). It
// never creates a bucket unless Config.CreateBucket asks it to, and it
// checks that the bucket can be reached before it returns.
//
// Blob keys map to object names as Prefix + key. Objects under the prefix
// whose names are not keys blobstore.CheckKey accepts are not blobs: List
// leaves them out. Check writes and removes such an object, so that it
// can never collide with a blob.
package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"fieldsync/server/blobstore"
)

// Config says where a Store keeps its blobs and how it signs in.
type Config struct {
	// Endpoint is the server's host:port, such as "s3.amazonaws.com" or
	// "127.0.0.1:7070", without a scheme; Secure chooses https.
	Endpoint string
	// Bucket must exist unless CreateBucket is set.
	Bucket string
	// Region is the bucket's region; "us-east-1" when empty.
	Region string
	// AccessKey and SecretKey sign every request; both are required.
	// SessionToken goes with temporary credentials only.
	AccessKey    string
	SecretKey    string
	SessionToken string
	// Secure makes the Store speak https rather than plain http.
	Secure bool
	// Prefix, when set, is put before every key inside the bucket, so that
	// one bucket can hold other things too: "photos" or "photos/" keeps
	// blob "a/b" as object "photos/a/b". It follows the rules of keys.
	Prefix string
	// CreateBucket makes New create the bucket when it does not exist,
	// for tests and demonstrations. A production bucket is made by whoever
	// runs the storage, with the retention and access they choose.
	CreateBucket bool
}

// DefaultRegion is the region of a Config that names none.
const DefaultRegion = "us-east-1"

// connectTimeout bounds New's and Check's round trips when their context
// has no deadline of its own.
const connectTimeout = 15 * time.Second

// maxRetries is how many times a request is sent in all when the network
// or the server fails it in a way another try could mend. Uploads are sent
// once: their reader cannot be read again.
const maxRetries = 3

// checkName starts the names of the objects Check writes. Its upper-case
// letter keeps it outside the keys blobstore.CheckKey accepts.
const checkName = ".Check-"

// Store keeps blobs in one bucket of S3-compatible storage. It is safe for
// concurrent use, also by several processes sharing the bucket.
type Store struct {
	client   *minio.Client
	core     minio.Core // the same client, for requests that return headers
	bucket   string
	prefix   string // "" or ending in '/'
	endpoint string // scheme://host:port, for messages
	partSize uint64 // 0 for minio's default: uploads larger go in parts
}

var _ blobstore.Store = (*Store)(nil)

// New returns a Store for cfg after making sure the bucket is there (or,
// with cfg.CreateBucket, creating it). The error says which setting is
// wrong, or that the endpoint cannot be reached or refused the
// credentials; it never holds the secret key.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	region := cfg.Region
	if region == "" {
		region = DefaultRegion
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken),
		Secure:     cfg.Secure,
		Region:     region,
		MaxRetries: maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: endpoint %q: %w", cfg.Endpoint, err)
	}
	scheme := "http"
	if cfg.Secure {
		scheme = "https"
	}
	s := &Store{
		client:   client,
		core:     minio.Core{Client: client},
		bucket:   cfg.Bucket,
		prefix:   normalPrefix(cfg.Prefix),
		endpoint: scheme + "://" + cfg.Endpoint,
	}

	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	exists, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, s.explain("check bucket "+cfg.Bucket, err)
	}
	if !exists {
		// Some servers answer a bucket request of an unknown access key
		// as they would one for a missing bucket, without saying which;
		// a listing's answer says.
		if err := s.listOne(ctx); err != nil && !isNoSuchBucket(err) {
			return nil, s.explain("check bucket "+cfg.Bucket, err)
		}
		if !cfg.CreateBucket {
			return nil, fmt.Errorf("s3: bucket %q does not exist at %s; create it first", cfg.Bucket, s.endpoint)
		}
		err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: region})
		if err != nil && !bucketAlreadyOurs(err) {
			return nil, s.explain("create bucket "+cfg.Bucket, err)
		}
	}
	return s, nil
}

// validate reports the first missing or malformed setting of cfg.
func (cfg Config) validate() error {
	switch {
	case cfg.Endpoint == "":
		return errors.New("s3: no endpoint: give the server's host:port")
	case strings.Contains(cfg.Endpoint, "://"):
		return fmt.Errorf("s3: endpoint %q has a scheme; give host:port, and Secure (or insecure=1 in a URL) for http or https", cfg.Endpoint)
	case strings.ContainsAny(cfg.Endpoint, "/?#@"):
		return fmt.Errorf("s3: endpoint %q is not host:port", cfg.Endpoint)
	case cfg.Bucket == "":
		return errors.New("s3: no bucket named")
	case cfg.AccessKey == "" || cfg.SecretKey == "":
		return errors.New("s3: no credentials: give both an access key and a secret key")
	}
	if err := s3utils.CheckValidBucketNameStrict(cfg.Bucket); err != nil {
		return fmt.Errorf("s3: bucket name %q: %w", cfg.Bucket, err)
	}
	if cfg.Prefix != "" && cfg.Prefix != "/" {
		if err := blobstore.CheckPrefix(cfg.Prefix); err != nil {
			return fmt.Errorf("s3: prefix: %w", err)
		}
	}
	return nil
}

// normalPrefix returns prefix ending in '/', or "" for none.
func normalPrefix(prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return ""
	}
	return prefix + "/"
}

// String describes the store for logs: its endpoint, bucket and prefix,
// never its credentials.
func (s *Store) String() string {
	return fmt.Sprintf("s3 bucket %s/%s at %s", s.bucket, s.prefix, s.endpoint)
}

// object returns the object name of a blob key.
func (s *Store) object(key string) string {
	return s.prefix + key
}

// Put stores size bytes read from r under key. The last byte goes to the
// server only after r has been found to end there: when r ends early,
// holds more, fails, or ctx ends, the upload is cut short, the server
// keeps nothing, and any blob already under key stays as it was.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := blobstore.CheckKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("s3: put %s: size %d is negative", key, size)
	}
	if r == nil {
		return fmt.Errorf("s3: put %s: no reader", key)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: put %s: %w", key, err)
	}
	body := &exactReader{ctx: ctx, r: r, left: size}
	var upload io.Reader = body
	if size == 0 {
		// Nothing of the body would be read: look for stray bytes first.
		if err := body.checkEnd(); err != nil {
			return fmt.Errorf("s3: put %s: %w", key, err)
		}
		upload = strings.NewReader("")
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.object(key), upload, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    s.partSize,
	})
	if body.err != nil {
		// The reader's own failure says more than the aborted request.
		return fmt.Errorf("s3: put %s: %w", key, body.err)
	}
	if err != nil {
		return s.explain("put "+key, err)
	}
	return nil
}

// exactReader passes on exactly left bytes of r and then io.EOF. It
// holds back the read that would complete them until it has seen r end,
// so that a reader holding more, or failing, never lets an upload finish.
// Once it has failed, every read returns the same error.
type exactReader struct {
	ctx  context.Context
	r    io.Reader
	left int64
	read int64
	err  error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	e.read += int64(n)
	if cerr := e.ctx.Err(); cerr != nil {
		return 0, e.fail(cerr)
	}
	switch {
	case e.left == 0:
		if err != nil && err != io.EOF {
			return 0, e.fail(err)
		}
		if err == nil {
			if err := e.checkEnd(); err != nil {
				return 0, err
			}
		}
		return n, nil
	case err == io.EOF:
		return 0, e.fail(fmt.Errorf("reader ended after %d of %d bytes: %w", e.read, e.read+e.left, io.ErrUnexpectedEOF))
	case err != nil:
		return 0, e.fail(err)
	}
	return n, nil
}

// checkEnd makes sure r has nothing more to give.
func (e *exactReader) checkEnd() error {
	var one [1]byte
	for range 100 {
		n, err := e.r.Read(one[:])
		switch {
		case n > 0:
			return e.fail(fmt.Errorf("reader holds more than the %d bytes given", e.read))
		case err == io.EOF:
			return nil
		case err != nil:
			return e.fail(err)
		}
	}
	return e.fail(io.ErrNoProgress)
}

func (e *exactReader) fail(err error) error {
	e.err = err
	return err
}

// Open returns the blob's content and Info; blobstore.ErrNotFound when
// there is none. Reading straight through takes one request. The content
// is the object's as Open found it: should the blob be replaced while it
// is read, a read after a Seek fails rather than give bytes of the new one.
func (s *Store) Open(ctx context.Context, key string) (blobstore.Reader, blobstore.Info, error) {
	if err := blobstore.CheckKey(key); err != nil {
		return nil, blobstore.Info{}, err
	}
	r, oi, err := s.openReader(ctx, key)
	if err != nil {
		return nil, blobstore.Info{}, s.explain("open "+key, err)
	}
	return r, s.info(key, oi), nil
}

// Stat returns the blob's Info; blobstore.ErrNotFound when there is none.
func (s *Store) Stat(ctx context.Context, key string) (blobstore.Info, error) {
	if err := blobstore.CheckKey(key); err != nil {
		return blobstore.Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, s.object(key), minio.StatObjectOptions{})
	if err != nil {
		return blobstore.Info{}, s.explain("stat "+key, err)
	}
	return s.info(key, oi), nil
}

func (s *Store) info(key string, oi minio.ObjectInfo) blobstore.Info {
	return blobstore.Info{Key: key, Size: oi.Size, Modified: oi.LastModified}
}

// Delete removes the blob; a blob that is not there is no error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blobstore.CheckKey(key); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.object(key), minio.RemoveObjectOptions{})
	if err != nil && !errors.Is(s.explain("", err), blobstore.ErrNotFound) {
		return s.explain("delete "+key, err)
	}
	return nil
}

// List returns the blobs whose keys start with prefix, as strings: "a/b"
// lists "a/b/c" and "a/bc", "a/b/" only the first. Keys are in byte order.
func (s *Store) List(ctx context.Context, prefix string) ([]blobstore.Info, error) {
	if err := blobstore.CheckPrefix(prefix); err != nil {
		return nil, err
	}
	var out []blobstore.Info
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{
		Prefix:    s.object(prefix),
		Recursive: true,
	}) {
		if oi.Err != nil {
			return nil, s.explain("list "+prefix, oi.Err)
		}
		key, ok := strings.CutPrefix(oi.Key, s.prefix)
		if !ok || blobstore.CheckKey(key) != nil {
			continue
		}
		out = append(out, s.info(key, oi))
	}
	// The listing can end early without an error when ctx ends.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("s3: list %s: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Check writes a tiny object and removes it again, so that it proves the
// bucket takes writes now. Without a deadline in ctx it gives up after
// 15 seconds.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("s3: check: %w", err)
	}
	name := s.prefix + checkName + hex.EncodeToString(b[:])
	const body = "ok"
	_, err := s.client.PutObject(ctx, s.bucket, name, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
	if err != nil {
		return s.explain("check", err)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil {
		return s.explain("check", err)
	}
	return nil
}

// withDefaultTimeout gives ctx a deadline of connectTimeout unless it
// has one already.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, connectTimeout)
}

// explain turns an error of the client into one that says what failed in
// the product's words: blobstore.ErrNotFound for a missing object, and
// plain sentences for an unreachable endpoint, refused credentials or a
// missing bucket. Context errors stay recognisable with errors.Is.
func (s *Store) explain(what string, err error) error {
	if what != "" {
		what += ": "
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.Code {
		case minio.NoSuchKey, "NotFound":
			return fmt.Errorf("s3: %s%w", what, blobstore.ErrNotFound)
		case minio.NoSuchBucket:
			return fmt.Errorf("s3: %sbucket %q does not exist at %s", what, s.bucket, s.endpoint)
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken",
			"XAdminUserNotFound": // versitygw's answer to an unknown access key
			return fmt.Errorf("s3: %s%s refused the credentials: %s (%s)", what, s.endpoint, resp.Message, resp.Code)
		}
		if resp.StatusCode == http.StatusNotFound && resp.Code == "" {
			return fmt.Errorf("s3: %s%w", what, blobstore.ErrNotFound)
		}
		return fmt.Errorf("s3: %s%s: %w", what, s.endpoint, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("s3: %s%w", what, err)
	}
	var nerr net.Error
	var operr *net.OpError
	if errors.As(err, &operr) || errors.As(err, &nerr) {
		return fmt.Errorf("s3: %scannot reach %s: %w", what, s.endpoint, err)
	}
	return fmt.Errorf("s3: %s%w", what, err)
}

// listOne lists at most one object of the bucket, for its error.
func (s *Store) listOne(ctx context.Context) error {
	for oi := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{MaxKeys: 1}) {
		return oi.Err
	}
	return nil
}

func isNoSuchBucket(err error) bool {
	var resp minio.ErrorResponse
	return errors.As(err, &resp) && resp.Code == minio.NoSuchBucket
}

// bucketAlreadyOurs reports whether MakeBucket failed only because the
// bucket was made meanwhile, by this account.
func bucketAlreadyOurs(err error) bool {
	var resp minio.ErrorResponse
	return errors.As(err, &resp) && resp.Code == "BucketAlreadyOwnedByYou"
}
