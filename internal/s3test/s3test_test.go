package s3test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"fieldsync/server/blobstore/s3"
)

func TestServerKeepsObjectsInItsDirectoryAndStopsWithTheTest(t *testing.T) {
	var srv *Server
	ok := t.Run("a test using a bucket", func(t *testing.T) {
		srv = Start(t)
		a, b := srv.NewBucket(t), srv.NewBucket(t)
		if a.Bucket == b.Bucket {
			t.Fatalf("two buckets named %s", a.Bucket)
		}
		st, err := s3.New(t.Context(), a)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put(t.Context(), "photos/p1", strings.NewReader("jpeg"), 4); err != nil {
			t.Fatal(err)
		}
		// The posix backend keeps an object as a file of its bucket's directory.
		got, err := os.ReadFile(filepath.Join(srv.dir, a.Bucket, "photos", "p1"))
		if err != nil || string(got) != "jpeg" {
			t.Fatalf("the object's file holds %q, %v; want jpeg", got, err)
		}
		other, err := s3.New(t.Context(), b)
		if err != nil {
			t.Fatal(err)
		}
		if infos, err := other.List(t.Context(), ""); err != nil || len(infos) != 0 {
			t.Fatalf("the other bucket lists %+v, %v; want nothing", infos, err)
		}
	})
	switch {
	case !ok:
		return
	case srv == nil:
		t.Skip("the subtest was skipped: versitygw is missing")
	}
	if conn, err := net.Dial("tcp", srv.Endpoint); err == nil {
		conn.Close()
		t.Fatalf("%s still takes connections after its test ended", srv.Endpoint)
	}
	if _, err := os.Stat(srv.dir); !os.IsNotExist(err) {
		t.Fatalf("the server's directory %s is still there after its test ended: %v", srv.dir, err)
	}
}

func TestStopEndsTheServer(t *testing.T) {
	srv := Start(t)
	cfg := srv.NewBucket(t)
	srv.Stop(t)
	srv.Stop(t) // a second Stop does nothing
	if _, err := s3.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("New after Stop: %v; want an error saying the server cannot be reached", err)
	}
}

func TestBinaryIsLookedForInOrder(t *testing.T) {
	exe := func(dir string) string {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "versitygw")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	root := t.TempDir()
	named := exe(filepath.Join(root, "named"))
	onPath := exe(filepath.Join(root, "path"))
	cache := filepath.Join(root, "cache")
	cached := exe(filepath.Join(cache, "fieldsync", "bin"))
	t.Setenv("XDG_CACHE_HOME", cache)

	steps := []struct {
		name, env, path, want, fails string
	}{
		{"the variable first", named, filepath.Dir(onPath), named, ""},
		{"then PATH", "", filepath.Dir(onPath), onPath, ""},
		{"then the cache", "", filepath.Join(root, "empty"), cached, ""},
		{"the variable alone when it is set", filepath.Join(root, "missing"), filepath.Dir(onPath), "", EnvBinary},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			t.Setenv(EnvBinary, st.env)
			t.Setenv("PATH", st.path)
			got, err := Binary()
			if st.fails != "" {
				if err == nil || !strings.Contains(err.Error(), st.fails) {
					t.Fatalf("Binary() = %q, %v; want an error naming %s", got, err, st.fails)
				}
				return
			}
			if err != nil || got != st.want {
				t.Fatalf("Binary() = %q, %v; want %q", got, err, st.want)
			}
		})
	}
	if err := os.Chmod(cached, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvBinary, "")
	t.Setenv("PATH", filepath.Join(root, "empty"))
	if got, err := Binary(); err == nil {
		t.Fatalf("Binary() = %q with the cached file not executable; want an error", got)
	}
}

// TestWithoutTheBinary runs this package's helper test in a child process
// whose versitygw is missing, to see what a developer without it and what
// make test would see.
func TestWithoutTheBinary(t *testing.T) {
	tests := []struct {
		name    string
		require string
		want    []string
	}{
		{"a developer's run skips S3 tests", "", []string{"--- SKIP: TestChildStartsAServer", "S3 tests skipped", "scripts/setup installs versitygw"}},
		{"a run that requires S3 fails them", "1", []string{"--- FAIL: TestChildStartsAServer", "FIELDSYNC_REQUIRE_S3 is set, so S3 tests must run"}},
		{"FIELDSYNC_REQUIRE_S3=0 does not require them", "0", []string{"--- SKIP: TestChildStartsAServer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestChildStartsAServer$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "S3TEST_CHILD=1", EnvBinary+"=/nonexistent/versitygw", EnvRequire+"="+tt.require)
			out, _ := cmd.CombinedOutput()
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestChildStartsAServer is TestWithoutTheBinary's child; run on its own,
// it does nothing.
func TestChildStartsAServer(t *testing.T) {
	if os.Getenv("S3TEST_CHILD") != "1" {
		t.Skip("runs only as TestWithoutTheBinary's child process")
	}
	Start(t)
	t.Error("Start returned without a binary")
}
