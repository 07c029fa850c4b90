package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"fieldsync/server"
	"fieldsync/server/blobstore"
	"fieldsync/server/sqlitestore"
)

func TestBlobsFlagRefusesWhatItCannotUse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"both --blobs and --blob-dir", []string{"--blobs", "s3://photos?endpoint=127.0.0.1:1", "--blob-dir", "blobs"},
			"--blobs and --blob-dir both name where photos are kept; give one"},
		{"another kind of URL", []string{"--blobs", "gs://photos/fieldsync"}, `unknown kind of store "gs"; want s3://BUCKET/PREFIX or a directory`},
		{"s3 without its slashes", []string{"--blobs", "s3:/photos"}, "an S3 store is written s3://BUCKET/PREFIX"},
		{"an empty --blobs", []string{"--blobs", ""}, "--blobs is empty"},
		{"an empty --blob-dir", []string{"--blob-dir", ""}, "--blob-dir is empty"},
		{"an S3 URL without a bucket", []string{"--blobs", "s3://?endpoint=127.0.0.1:1"}, "names no bucket"},
		{"an S3 URL with a setting misspelt", []string{"--blobs", "s3://photos?endpont=127.0.0.1:1"}, `unknown setting "endpont"`},
	} {
		for _, cmd := range []string{"serve", "demo"} {
			t.Run(cmd+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				args := append([]string{cmd, "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "fieldsync.db")}, tc.args...)
				if cmd == "demo" {
					args = append(args, "--dir", dir)
				}
				var stdout bytes.Buffer
				err := run(args, nil, &stdout, io.Discard)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("fieldsyncd %s: %v, want an error saying %q", strings.Join(args, " "), err, tc.want)
				}
				if stdout.Len() > 0 {
					t.Errorf("a refused %s printed %q", cmd, stdout.String())
				}
				// Nothing was made of the value as a directory.
				for _, name := range []string{"gs:", "s3:", "blobs"} {
					if _, err := os.Stat(name); err == nil {
						t.Errorf("a refused --blobs made %q", name)
					}
				}
			})
		}
	}
}

func TestDescribeBlobsLeavesOutSecrets(t *testing.T) {
	for _, tc := range []struct{ blobs, want string }{
		{"/srv/fieldsync/blobs", "/srv/fieldsync/blobs"},
		{"s3://photos/fs?endpoint=127.0.0.1:7070&region=us-east-1&insecure=1", "s3://photos/fs?endpoint=127.0.0.1:7070&region=us-east-1&insecure=1"},
		{"s3://AKIA:hunter2@photos/fs?endpoint=s3.example:443", "s3://photos/fs?endpoint=s3.example:443"},
		{"s3://photos?secret_key=hunter2&region=eu&session_token=hunter2", "s3://photos?region=eu"},
	} {
		if got := describeBlobs(tc.blobs); got != tc.want {
			t.Errorf("describeBlobs(%q) = %q, want %q", tc.blobs, got, tc.want)
		}
	}
}

func TestUnreachableBlobStoreStopsServeAtOnce(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-secret-not-shown"
	dir := t.TempDir()
	const s3URL = "s3://photos/fs?endpoint=127.0.0.1:1&insecure=1"
	noWrites := writeProtected(t)
	for _, tc := range []struct {
		name       string
		blobs      string
		env        []string
		start, say string
	}{
		{"an S3 endpoint nothing answers on", s3URL,
			[]string{"AWS_ACCESS_KEY_ID=fieldsync-test", "AWS_SECRET_ACCESS_KEY=" + secret},
			"fieldsyncd: blob store " + s3URL + ": ", "cannot reach http://127.0.0.1:1"},
		{"credentials in the URL", "s3://fieldsync-test:" + secret + "@photos/fs?endpoint=127.0.0.1:1&insecure=1", nil,
			"fieldsyncd: blob store " + s3URL + ": ", "cannot reach http://127.0.0.1:1"},
		{"a directory it cannot write", noWrites, nil,
			"fieldsyncd: blob store " + noWrites, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := command(t, "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, tc.name+".db"), "--blobs", tc.blobs)
			cmd.Env = append(cmd.Env, tc.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				<-done
				t.Fatalf("fieldsyncd serve was still running after a minute with a blob store it cannot reach:\n%s", stderr.String())
			}
			if exit, ok := errors.AsType[*exec.ExitError](err); !ok || exit.ExitCode() != 1 {
				t.Errorf("exit: %v, want status 1", err)
			}
			if !strings.HasPrefix(stderr.String(), tc.start) || !strings.Contains(stderr.String(), tc.say) {
				t.Errorf("stderr %q, want it to start %q and say %q", stderr.String(), tc.start, tc.say)
			}
			if n := strings.Count(strings.TrimSpace(stderr.String()), "\n"); n != 0 {
				t.Errorf("the error takes %d lines, want one:\n%s", n+1, stderr.String())
			}
			if out := stdout.String() + stderr.String(); strings.Contains(out, secret) {
				t.Errorf("the output shows the secret key:\n%s", out)
			}
		})
	}
}

// writeProtected returns a directory that exists but takes no new files,
// unless the tests run as root, whom no mode stops: then a path under a
// regular file, which no one can make.
func writeProtected(t *testing.T) string {
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		f := filepath.Join(dir, "a-file")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(f, "blobs")
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	return dir
}

func TestServeKeepsPhotosInTheBlobDirGiven(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"--blobs", "--blob-dir"} {
		t.Run(flag, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			blobs := filepath.Join(dir, "photos")
			db := filepath.Join(dir, "fieldsync.db")
			srv := startServer(t, serving, "serve", "--addr", "127.0.0.1:0", "--db", db, flag, blobs)
			if !strings.Contains(srv.output(), "blobs="+blobs) {
				t.Errorf("the log does not name the blob directory %s:\n%s", blobs, srv.output())
			}
			resp, err := http.Get("http://" + srv.addr + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("/healthz: status %d, want 200", resp.StatusCode)
			}
			srv.stop(t)
			if fi, err := os.Stat(blobs); err != nil || !fi.IsDir() {
				t.Errorf("%s %s: the directory is not there: %v", flag, blobs, err)
			}
		})
	}
}

func TestDemoSeedOnlyLoadsOnceAndExits(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "team.db")
	for round := range 2 {
		var stdout bytes.Buffer
		if err := run([]string{"demo", "--seed-only", "--db", db}, nil, &stdout, io.Discard); err != nil {
			t.Fatalf("demo --seed-only, round %d: %v", round+1, err)
		}
		out := stdout.String()
		if !strings.HasPrefix(out, "FieldSync demo data in "+db+"\n") || !strings.Contains(out, `the password is "`+server.DemoPassword+`"`) {
			t.Errorf("round %d printed %q, want where the data is and the password", round+1, out)
		}
		for _, u := range server.DemoUsers {
			if !regexp.MustCompile(`(?m)^  ` + u.Name + ` +` + u.Role + `$`).MatchString(out) {
				t.Errorf("round %d does not list %s (%s):\n%s", round+1, u.Name, u.Role, out)
			}
		}
	}
	st, err := sqlitestore.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var users int
	if err := st.Read(context.Background(), func(q server.Query) error {
		us, err := q.Users()
		users = len(us)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if users != len(server.DemoUsers) {
		t.Errorf("two seeds left %d users, want the demo's %d once", users, len(server.DemoUsers))
	}

	err = run([]string{"demo", "--seed-only"}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "give --db") {
		t.Errorf("demo --seed-only without --db: %v, want it to ask for --db", err)
	}
}

func TestSweepUploadsRemovesOrphanedParts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := sqlitestore.Open(filepath.Join(dir, "fieldsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bs, err := blobstore.Dir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Store: st, Blobs: bs})
	if err != nil {
		t.Fatal(err)
	}
	// A chunk a server put but never recorded, two hours ago: no upload
	// can use it.
	ctx := context.Background()
	const orphan = "partial/0190f1a2-7b3c-7d4e-8f50-617283940a1b/0-1f2e3d4c"
	if err := bs.Put(ctx, orphan, strings.NewReader("chunk"), 5); err != nil {
		t.Fatal(err)
	}
	p, err := bs.Path(orphan)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}

	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sweepUploads(sctx, srv, 10*time.Millisecond, slog.New(slog.DiscardHandler))
	}()
	defer func() {
		stop()
		<-done
	}()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := bs.Stat(ctx, orphan); errors.Is(err, blobstore.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the orphaned part %s was still there a minute after sweeps began", orphan)
		}
	}
}
