// Package s3test gives tests a real S3-compatible server: versitygw with
// its posix backend, keeping objects in a temporary directory, listening
// on a free port of 127.0.0.1, and stopped when the test ends.
//
// The versitygw binary is found through FIELDSYNC_VERSITYGW (a path, used
// as given), else on PATH, else in the cache directory scripts/setup
// installs it to: ${XDG_CACHE_HOME:-$HOME/.cache}/fieldsync/bin. Without
// it, S3 tests skip, so that go test works on a machine without it.
// FIELDSYNC_REQUIRE_S3 turns that skip into a failure: make test sets it,
// so an S3 test can never pass there by not running.
//
// A server starts in about a tenth of a second, so each test that needs
// one starts its own; a test whose subtests need a bucket each starts one
// server and calls NewBucket in every subtest.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fieldsync/server/blobstore/s3"
)

// The environment variables this package reads.
const (
	// EnvBinary names the versitygw binary to run. When set, no other
	// place is looked in.
	EnvBinary = "FIELDSYNC_VERSITYGW"
	// EnvRequire, set to anything but "" or "0", makes a missing binary
	// fail S3 tests instead of skipping them.
	EnvRequire = "FIELDSYNC_REQUIRE_S3"
)

// Region is the region every server of this package serves.
const Region = "us-east-1"

// startTimeout bounds how long Start waits for the server to answer.
const startTimeout = 30 * time.Second

// Server is a running versitygw. Its fields are what a client needs.
type Server struct {
	Endpoint  string // 127.0.0.1:PORT, plain http
	AccessKey string
	SecretKey string

	dir  string // the posix backend's root: one directory per bucket
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	werr error         // the process's exit, once done is closed
}

// CacheDir returns the directory scripts/setup installs versitygw into.
func CacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "fieldsync", "bin"), nil
}

// Binary returns the path of the versitygw binary tests run, or an error
// that says where it was looked for.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("%s=%s: %v", EnvBinary, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	dir, err := CacheDir()
	if err != nil {
		return "", fmt.Errorf("versitygw is not on PATH and there is no cache directory: %v", err)
	}
	p := filepath.Join(dir, "versitygw")
	if err := executable(p); err != nil {
		return "", fmt.Errorf("versitygw is not on PATH, %s is not set, and %s is missing", EnvBinary, p)
	}
	return p, nil
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

// required reports whether S3 tests must run rather than skip.
func required() bool {
	v := os.Getenv(EnvRequire)
	return v != "" && v != "0"
}

// Start runs a versitygw for tb on an empty directory and returns it once
// it answers requests; it is stopped, and its directory removed, when tb
// and its subtests have finished. Without the binary it skips tb, or
// fails it when FIELDSYNC_REQUIRE_S3 is set.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		if required() {
			tb.Fatalf("%s is set, so S3 tests must run, but: %v; scripts/setup installs versitygw", EnvRequire, err)
		}
		tb.Skipf("S3 tests skipped: %v; scripts/setup installs versitygw", err)
	}
	root := tb.TempDir()
	// A port picked free can be taken before versitygw binds it: then the
	// process exits at once, and another port is tried.
	var lastErr error
	for range 3 {
		s, err := start(bin, root)
		if err == nil {
			tb.Cleanup(func() {
				if err := s.stop(); err != nil {
					tb.Errorf("stop versitygw: %v", err)
				}
			})
			return s
		}
		lastErr = err
	}
	tb.Fatalf("start versitygw (%s): %v", bin, lastErr)
	return nil
}

func start(bin, root string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint:  fmt.Sprintf("127.0.0.1:%d", port),
		AccessKey: "fs" + randomHex(8),
		SecretKey: randomHex(20),
		dir:       root,
		out:       &syncBuffer{},
		done:      make(chan struct{}),
	}
	s.cmd = exec.Command(bin,
		"--access", s.AccessKey,
		"--secret", s.SecretKey,
		"--region", Region,
		"--port", s.Endpoint,
		"--quiet",
		"posix", root)
	s.cmd.Env = cleanEnv()
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.werr = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(); err != nil {
		s.stop()
		return nil, fmt.Errorf("%v; its output:\n%s", err, s.out.String())
	}
	return s, nil
}

// waitReady returns once the server answers HTTP, or fails when it exits
// or takes longer than startTimeout.
func (s *Server) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("versitygw exited at start: %v", s.werr)
		default:
		}
		resp, err := client.Get("http://" + s.Endpoint + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw did not answer on %s within %v: %v", s.Endpoint, startTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop ends the server before the test does, for tests of what happens
// when storage goes away. Stopping it again does nothing.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	if err := s.stop(); err != nil {
		tb.Fatal(err)
	}
}

// stop ends the server, politely first.
func (s *Server) stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
		return nil
	case <-time.After(10 * time.Second):
	}
	s.cmd.Process.Kill()
	<-s.done
	return fmt.Errorf("versitygw on %s did not stop within 10s of an interrupt and was killed; its output:\n%s", s.Endpoint, s.out.String())
}

// Config returns a Config for bucket on s, without creating it.
func (s *Server) Config(bucket string) s3.Config {
	return s3.Config{
		Endpoint:  s.Endpoint,
		Bucket:    bucket,
		Region:    Region,
		AccessKey: s.AccessKey,
		SecretKey: s.SecretKey,
	}
}

// URL returns the s3:// URL of bucket on s, credentials included, in the
// form s3.Open takes.
func (s *Server) URL(bucket string) string {
	return fmt.Sprintf("s3://%s:%s@%s?endpoint=%s&region=%s&insecure=1",
		s.AccessKey, s.SecretKey, bucket, s.Endpoint, Region)
}

// NewBucket creates an empty bucket on s with a name no other test uses,
// and returns its Config. The bucket goes with the server.
func (s *Server) NewBucket(tb testing.TB) s3.Config {
	tb.Helper()
	cfg := s.Config("fs-" + randomHex(8))
	cfg.CreateBucket = true
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if _, err := s3.New(ctx, cfg); err != nil {
		tb.Fatalf("create bucket: %v", err)
	}
	cfg.CreateBucket = false
	return cfg
}

// NewBucket starts a server for tb and returns the Config of a new, empty
// bucket on it.
func NewBucket(tb testing.TB) s3.Config {
	tb.Helper()
	return Start(tb).NewBucket(tb)
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnv returns the environment without versitygw's own settings, which
// would otherwise change the server tests rely on.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VGW_") || strings.HasPrefix(kv, "ROOT_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// syncBuffer collects the server's output for error messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
