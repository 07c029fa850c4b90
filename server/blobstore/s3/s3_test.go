package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"fieldsync/internal/s3test"
	"fieldsync/server/blobstore"
	"fieldsync/server/blobstore/s3"
)

// secret is the secret key of the URLs below; no error may repeat it.
const secret = "s3cr3t/Value+xyz"

func TestParseURL(t *testing.T) {
	t.Setenv(s3.EnvAccessKey, "")
	t.Setenv(s3.EnvSecretKey, "")
	t.Setenv(s3.EnvSessionToken, "")
	good := []struct {
		url  string
		want s3.Config
	}{
		{"s3://AKID:s3cr3t%2FValue+xyz@photos/fieldsync/team-a?endpoint=127.0.0.1:7070&region=eu-west-1&insecure=1",
			s3.Config{Endpoint: "127.0.0.1:7070", Bucket: "photos", Region: "eu-west-1", AccessKey: "AKID", SecretKey: secret, Prefix: "fieldsync/team-a"}},
		{"s3://AKID:pw@photos",
			s3.Config{Endpoint: s3.DefaultEndpoint, Bucket: "photos", AccessKey: "AKID", SecretKey: "pw", Secure: true}},
		{"s3://AKID:pw@photos/?endpoint=minio.internal:9000&insecure=0&create=1",
			s3.Config{Endpoint: "minio.internal:9000", Bucket: "photos", AccessKey: "AKID", SecretKey: "pw", Secure: true, CreateBucket: true}},
		{"s3://AKID:pw@photos?insecure&create=yes",
			s3.Config{Endpoint: s3.DefaultEndpoint, Bucket: "photos", AccessKey: "AKID", SecretKey: "pw", CreateBucket: true}},
	}
	for _, tc := range good {
		got, err := s3.ParseURL(tc.url)
		if err != nil {
			t.Errorf("ParseURL(%s): %v", s3.Redacted(tc.url), err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseURL(%s) = %+v, want %+v", s3.Redacted(tc.url), got, tc.want)
		}
	}

	const enc = "s3cr3t%2FValue%2Bxyz" // secret, percent-encoded
	bad := []struct {
		url, says string
	}{
		{"s3://AKID:" + enc + " x@photos", "does not parse"},
		{"s3://AKID:" + enc + "@photos?endpoint=%zz", "query"},
		{"http://AKID:" + enc + "@photos", "does not start with s3://"},
		{"photos", "does not start with s3://"},
		{"s3:photos", "names no bucket"},
		{"s3:///prefix", "names no bucket"},
		{"s3://AKID:" + enc + "@photos#x", "fragment"},
		{"s3://AKID:" + enc + "@photos?endpiont=x:1", `unknown setting "endpiont"`},
		{"s3://AKID:" + enc + "@photos?insecure=maybe", "insecure=maybe"},
		{"s3://AKID:" + enc + "@photos?create=2", "create=2"},
		{"s3://AKID@photos", "give both keys"},
		{"s3://AKID:@photos", "give both keys"},
		{"s3://:" + enc + "@photos", "give both keys"},
		{"s3://photos/p", "no credentials"},
		{"s3://AKID:" + enc + "@Photos_Bucket", "bucket name"},
		{"s3://AKID:" + enc + "@photos?endpoint=https://s3.example", "has a scheme"},
		{"s3://AKID:" + enc + "@photos?endpoint=", "no endpoint"},
		{"s3://AKID:" + enc + "@photos/Team", "prefix"},
		{"s3://AKID:" + enc + "@photos/a//b", "prefix"},
		{"s3://AKID:" + enc + "@photos/../b", "prefix"},
		// A secret key pasted as it is, '/' and all, ends the host part
		// early: what the parser then takes for a port or a bucket is
		// part of the secret, and must not be quoted.
		{"s3://AKID:s3cr3t/Value@photos", "percent-encoded"},
		{"s3://AKID:s3cr3t?x@photos", "percent-encoded"},
		{"s3://AKID:1234/s3cr3t@photos", "percent-encoded"},
		{"http://AKID:1234/s3cr3t@photos", "percent-encoded"},
	}
	for _, tc := range bad {
		_, err := s3.ParseURL(tc.url)
		if err == nil {
			t.Errorf("ParseURL(%s) succeeded; want an error", s3.Redacted(tc.url))
			continue
		}
		if !strings.Contains(err.Error(), tc.says) {
			t.Errorf("ParseURL(%s): %v; want it to say %q", s3.Redacted(tc.url), err, tc.says)
		}
		if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "1234") {
			t.Errorf("ParseURL(%s): the error repeats the secret key: %v", s3.Redacted(tc.url), err)
		}
	}
}

func TestParseURLTakesCredentialsFromTheEnvironment(t *testing.T) {
	t.Setenv(s3.EnvAccessKey, "ENVKEY")
	t.Setenv(s3.EnvSecretKey, "envsecret")
	t.Setenv(s3.EnvSessionToken, "token")
	got, err := s3.ParseURL("s3://photos?endpoint=127.0.0.1:9000&insecure=1")
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessKey != "ENVKEY" || got.SecretKey != "envsecret" || got.SessionToken != "token" {
		t.Fatalf("credentials = %q, %q, %q; want those of the environment", got.AccessKey, got.SecretKey, got.SessionToken)
	}
	// Keys in the URL win over the environment.
	got, err = s3.ParseURL("s3://URLKEY:urlsecret@photos")
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessKey != "URLKEY" || got.SecretKey != "urlsecret" || got.SessionToken != "" {
		t.Fatalf("credentials = %q, %q, %q; want the URL's", got.AccessKey, got.SecretKey, got.SessionToken)
	}
	// Half of them is an error that names what is missing.
	t.Setenv(s3.EnvSecretKey, "")
	if _, err := s3.ParseURL("s3://photos"); err == nil || !strings.Contains(err.Error(), s3.EnvSecretKey) {
		t.Fatalf("ParseURL without %s: %v; want an error naming it", s3.EnvSecretKey, err)
	}
}

func TestRedacted(t *testing.T) {
	got := s3.Redacted("s3://AKID:s3cr3t@photos/p?endpoint=x:1")
	if strings.Contains(got, "s3cr3t") || !strings.Contains(got, "AKID") || !strings.Contains(got, "photos/p") {
		t.Fatalf("Redacted = %q; want the URL with its secret key hidden", got)
	}
	for _, raw := range []string{"s3://AKID:s3cr3t x@photos", "s3://AKID:12345/s3cr3t@photos", "http://AKID:12345/s3cr3t@photos"} {
		if got := s3.Redacted(raw); strings.Contains(got, "s3cr3t") || strings.Contains(got, "12345") {
			t.Errorf("Redacted of a URL whose secret key is not percent-encoded = %q, which holds the secret", got)
		}
	}
}

func TestNewRefusesWhatCannotWork(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	good := srv.NewBucket(t)
	closed := closedPort(t)

	cases := []struct {
		name string
		edit func(*s3.Config)
		says string
	}{
		{"a bucket that does not exist", func(c *s3.Config) { c.Bucket = "no-such-bucket" }, "does not exist"},
		{"a wrong secret key", func(c *s3.Config) { c.SecretKey = "s3cr3t-wrong" }, "refused the credentials"},
		{"an unknown access key", func(c *s3.Config) { c.AccessKey = "NOBODY" }, "refused the credentials"},
		{"an endpoint where nothing listens", func(c *s3.Config) { c.Endpoint = closed }, "cannot reach"},
		{"https to a plain http server", func(c *s3.Config) { c.Secure = true }, "cannot reach"},
		{"no endpoint", func(c *s3.Config) { c.Endpoint = "" }, "no endpoint"},
		{"an endpoint with a scheme", func(c *s3.Config) { c.Endpoint = "http://" + c.Endpoint }, "has a scheme"},
		{"no bucket", func(c *s3.Config) { c.Bucket = "" }, "no bucket"},
		{"no secret key", func(c *s3.Config) { c.SecretKey = "" }, "no credentials"},
		{"a bad prefix", func(c *s3.Config) { c.Prefix = "Photos" }, "prefix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			st, err := s3.New(ctx, cfg)
			if err == nil {
				t.Fatalf("New succeeded with %+v", st)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("New: %v; want it to say %q", err, tc.says)
			}
			if strings.Contains(err.Error(), good.SecretKey) || strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("New: the error repeats the secret key: %v", err)
			}
		})
	}
}

func TestNewCreatesABucketOnlyWhenAsked(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	cfg := srv.Config("made-by-new")
	if _, err := s3.New(ctx, cfg); err == nil {
		t.Fatal("New of a missing bucket without CreateBucket succeeded")
	}
	cfg.CreateBucket = true
	st, err := s3.New(ctx, cfg)
	if err != nil {
		t.Fatalf("New with CreateBucket: %v", err)
	}
	if err := st.Put(ctx, "k", strings.NewReader("v"), 1); err != nil {
		t.Fatal(err)
	}
	// Asking again keeps the bucket and what it holds.
	if _, err := s3.New(ctx, cfg); err != nil {
		t.Fatalf("New with CreateBucket of a bucket that exists: %v", err)
	}
	cfg.CreateBucket = false
	again, err := s3.New(ctx, cfg)
	if err != nil {
		t.Fatalf("New of the bucket made: %v", err)
	}
	if _, err := again.Stat(ctx, "k"); err != nil {
		t.Fatalf("the blob put before: %v", err)
	}
	if s := again.String(); strings.Contains(s, cfg.SecretKey) || !strings.Contains(s, "made-by-new") {
		t.Fatalf("String() = %q; want the bucket and not the secret key", s)
	}
}

func TestOpenURL(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	cfg := srv.NewBucket(t)

	st, err := s3.Open(ctx, srv.URL(cfg.Bucket)+"&create=0")
	if err != nil {
		t.Fatalf("Open(%s): %v", s3.Redacted(srv.URL(cfg.Bucket)), err)
	}
	if err := st.Put(ctx, "x/y", strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}

	// The same bucket with credentials from the environment and a prefix.
	t.Setenv(s3.EnvAccessKey, srv.AccessKey)
	t.Setenv(s3.EnvSecretKey, srv.SecretKey)
	t.Setenv(s3.EnvSessionToken, "")
	prefixed, err := s3.Open(ctx, "s3://"+cfg.Bucket+"/x?endpoint="+srv.Endpoint+"&insecure=1")
	if err != nil {
		t.Fatal(err)
	}
	infos, err := prefixed.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Key != "y" || infos[0].Size != 5 {
		t.Fatalf("List of prefix x = %+v, want blob y of 5 bytes", infos)
	}
	r, _, err := prefixed.Open(ctx, "y")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if b, _ := io.ReadAll(r); string(b) != "hello" {
		t.Fatalf("blob y = %q, want hello", b)
	}
}

// Objects in the bucket that no Store wrote, under names that are not
// keys, are neither listed nor in the way.
func TestListLeavesOutObjectsThatAreNotBlobs(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	st, err := s3.New(ctx, srv.NewBucket(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Photos/IMG_1.JPG", ".Check-0123", "a/B", "notes.txt"} {
		if err := s3.PutObject(ctx, st, name, "x"); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, info := range infos {
		got = append(got, info.Key)
	}
	if !slices.Equal(got, []string{"notes.txt"}) {
		t.Fatalf("List = %q, want only notes.txt, the one name that is a key", got)
	}
}

// Blobs larger than a part go up in several requests: all of it, or
// nothing and no upload left open.
func TestLargeBlobsGoInParts(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	st, err := s3.New(ctx, srv.NewBucket(t))
	if err != nil {
		t.Fatal(err)
	}
	const part = 5 << 20
	s3.SetPartSize(st, part)
	data := make([]byte, 2*part+12345)
	rand.NewChaCha8([32]byte{1}).Read(data)

	if err := st.Put(ctx, "big", onlyRead{bytes.NewReader(data)}, int64(len(data))); err != nil {
		t.Fatalf("Put of %d bytes: %v", len(data), err)
	}
	r, info, err := st.Open(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) || info.Size != int64(len(data)) {
		t.Fatalf("read back %d bytes (Info %d), err %v; want the %d put", len(got), info.Size, err, len(data))
	}

	wrong := []struct {
		name string
		r    func() io.Reader
	}{
		{"one byte short", func() io.Reader { return onlyRead{bytes.NewReader(data[:len(data)-1])} }},
		{"one byte long", func() io.Reader { return io.MultiReader(bytes.NewReader(data), strings.NewReader("x")) }},
		{"short by a whole part", func() io.Reader { return onlyRead{bytes.NewReader(data[:part])} }},
	}
	for _, tc := range wrong {
		if err := st.Put(ctx, "big", tc.r(), int64(len(data))); err == nil {
			t.Errorf("Put of a reader %s succeeded", tc.name)
		}
		if err := st.Put(ctx, "other", tc.r(), int64(len(data))); err == nil {
			t.Errorf("Put of a reader %s succeeded", tc.name)
		}
	}
	if _, err := st.Stat(ctx, "other"); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("Stat(other) after failed puts: %v; want ErrNotFound", err)
	}
	r, _, err = st.Open(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after failed puts big reads %d bytes, err %v; want the first content", len(got), err)
	}
	open, err := s3.IncompleteUploads(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 0 {
		t.Fatalf("failed puts left multipart uploads open: %q", open)
	}
}

// Check says when storage has gone, and within the caller's deadline.
func TestCheckFailsWhenTheServerIsGone(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	st, err := s3.New(ctx, srv.NewBucket(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(ctx); err != nil {
		t.Fatalf("Check with the server up: %v", err)
	}
	srv.Stop(t)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = st.Check(cctx)
	if err == nil {
		t.Fatal("Check with the server stopped succeeded")
	}
	if !strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("Check with the server stopped: %v; want it to say it cannot reach the server", err)
	}
}

// onlyRead hides every method of its reader but Read.
type onlyRead struct{ r io.Reader }

func (o onlyRead) Read(p []byte) (int, error) { return o.r.Read(p) }

// closedPort returns a loopback host:port where nothing listens.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
