package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/pgtest"
	"fieldsync/server"
	"fieldsync/server/pgstore"
	"fieldsync/server/sqlitestore"
)

// runMainEnv, set in a test binary's environment, makes it run fieldsyncd's
// main with its arguments instead of the tests: the tests run the real
// command as a process, exit status and all.
const runMainEnv = "FIELDSYNCD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// command returns fieldsyncd with args, as a process to start.
func command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

// withPassword returns dsn with a password in it, for checking that no
// message shows it: the test cluster trusts its clients and ignores it. A
// DSN that has a password already keeps it.
func withPassword(t *testing.T, dsn string) (string, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", pgtest.EnvDSN, err)
	}
	if pw, ok := u.User.Password(); ok {
		return dsn, pw
	}
	u.User = url.UserPassword(u.User.Username(), "hunter2-not-shown")
	return u.String(), "hunter2-not-shown"
}

func TestUnreachablePostgreSQLStopsEveryCommandAtOnce(t *testing.T) {
	t.Parallel()
	const dsn = "postgres://fieldsync:secret@127.0.0.1:1/fieldsync"
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
	}{
		{"serve", []string{"serve", "--addr", "127.0.0.1:0", "--db", dsn, "--blob-dir", t.TempDir()}, ""},
		{"user add", []string{"user", "add", "maria", "--role", "technician", "--db", dsn}, "a-password-1\n"},
		{"user revoke", []string{"user", "revoke", "maria", "--db", dsn}, ""},
		{"demo", []string{"demo", "--addr", "127.0.0.1:0", "--dir", t.TempDir(), "--db", dsn}, ""},
		{"copy", []string{"copy", "--from", sqliteWithUser(t), "--to", dsn}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := command(t, tc.args...)
			cmd.Stdin = strings.NewReader(tc.stdin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("fieldsyncd %s was still running after 15s against an address nothing answers on", tc.name)
			}
			exit, ok := errors.AsType[*exec.ExitError](err)
			if !ok || exit.ExitCode() != 1 {
				t.Errorf("exit: %v, want status 1", err)
			}
			out := stdout.String() + stderr.String()
			if !strings.Contains(stderr.String(), "fieldsyncd: cannot reach PostgreSQL at 127.0.0.1:1: ") {
				t.Errorf("stderr %q, want it to say PostgreSQL at 127.0.0.1:1 cannot be reached", stderr.String())
			}
			if strings.Contains(out, "secret") {
				t.Errorf("the output shows the password:\n%s", out)
			}
			if n := strings.Count(strings.TrimSpace(stderr.String()), "\n"); tc.name != "copy" && n != 0 {
				t.Errorf("the error takes %d lines, want one:\n%s", n+1, stderr.String())
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("it took %s to give up, want it at once", d)
			}
		})
	}
}

// sqliteWithUser makes a SQLite server database with one user, through the
// command.
func sqliteWithUser(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fieldsync.db")
	var out bytes.Buffer
	if err := run([]string{"user", "add", "dana", "--role", "dispatcher", "--db", path}, strings.NewReader("dana-password-1\n"), &out, io.Discard); err != nil {
		t.Fatalf("user add on SQLite: %v", err)
	}
	return path
}

// serverProc is a fieldsyncd serve (or demo) process: its address, once it
// listens, and what it has logged.
type serverProc struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  bytes.Buffer
	done chan error
}

func (p *serverProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// startServer starts fieldsyncd with args and waits until a line of its
// output matches ready, whose first group is the address it serves on.
func startServer(t *testing.T, ready *regexp.Regexp, args ...string) *serverProc {
	t.Helper()
	return startServerEnv(t, nil, ready, args...)
}

// startServerEnv is startServer with env added to the process's environment.
func startServerEnv(t *testing.T, env []string, ready *regexp.Regexp, args ...string) *serverProc {
	t.Helper()
	p := &serverProc{cmd: command(t, args...), done: make(chan error, 1)}
	p.cmd.Env = append(p.cmd.Env, env...)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		pw.Close()
		p.done <- err
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-addr:
	case err := <-p.done:
		t.Fatalf("fieldsyncd %s ended before serving: %v\n%s", args[0], err, p.output())
	case <-time.After(2 * time.Minute):
		// The demo hashes its users' passwords at full cost first: slow
		// under the race detector on a busy machine.
		t.Fatalf("fieldsyncd %s did not start serving in 2 minutes:\n%s", args[0], p.output())
	}
	return p
}

// stop sends SIGTERM and wants a clean exit.
func (p *serverProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			t.Errorf("fieldsyncd after SIGTERM: %v, want a clean exit\n%s", err, p.output())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("fieldsyncd did not stop within 30s of SIGTERM")
	}
}

// signIn posts a sign-in and returns its status and token.
func signIn(t *testing.T, addr, user, password, device string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(contract.LoginRequest{Username: user, Password: password, DeviceID: device})
	resp, err := http.Post("http://"+addr+"/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lr contract.LoginResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&lr); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, lr.Token
}

// me answers the status of GET /v1/me with a token.
func me(t *testing.T, addr, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

var serving = regexp.MustCompile(`msg=serving addr=(\S+)`)

func TestServeOnPostgreSQL(t *testing.T) {
	t.Parallel()
	dsn, password := withPassword(t, pgtest.DSN(t))
	var out bytes.Buffer
	if err := run([]string{"user", "add", "maria", "--role", "technician", "--db", dsn}, strings.NewReader("maria-password-1\n"), &out, io.Discard); err != nil {
		t.Fatalf("user add: %v", err)
	}
	if !strings.HasPrefix(out.String(), "added maria (technician)") {
		t.Errorf("user add printed %q", out.String())
	}

	srv := startServer(t, serving, "serve", "--addr", "127.0.0.1:0", "--db", dsn, "--blob-dir", t.TempDir())
	code, token := signIn(t, srv.addr, "maria", "maria-password-1", "maria-phone")
	if code != http.StatusOK {
		t.Fatalf("maria signs in over HTTP: status %d\n%s", code, srv.output())
	}
	if code := me(t, srv.addr, token); code != http.StatusOK {
		t.Errorf("maria's token: status %d, want 200", code)
	}
	if code, _ := signIn(t, srv.addr, "maria", "a wrong password", "maria-phone"); code != http.StatusUnauthorized {
		t.Errorf("a wrong password: status %d, want 401", code)
	}

	// Revoking from the command reaches the running server through the
	// database they share.
	out.Reset()
	if err := run([]string{"user", "revoke", "maria", "--db", dsn}, nil, &out, io.Discard); err != nil {
		t.Fatalf("user revoke: %v", err)
	}
	if got := out.String(); got != "signed maria out of 1 session(s)\n" {
		t.Errorf("user revoke printed %q", got)
	}
	if code := me(t, srv.addr, token); code != http.StatusUnauthorized {
		t.Errorf("maria's token after user revoke: status %d, want 401", code)
	}
	srv.stop(t)
	if log := srv.output(); strings.Contains(log, password) {
		t.Errorf("the server's log shows the database password:\n%s", log)
	} else if !strings.Contains(log, "postgres://") {
		t.Errorf("the server's log does not name the database it serves:\n%s", log)
	}
}

func TestDemoOnPostgreSQL(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	srv := startServer(t, regexp.MustCompile(`^FieldSync demo server at http://(\S+)`),
		"demo", "--addr", "127.0.0.1:0", "--dir", t.TempDir(), "--db", dsn)
	if code, _ := signIn(t, srv.addr, server.DemoUsers[0].Name, server.DemoPassword, "demo-laptop"); code != http.StatusOK {
		t.Fatalf("%s signs in to the demo: status %d\n%s", server.DemoUsers[0].Name, code, srv.output())
	}
	srv.stop(t)

	st, err := pgstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var n int
	if err := st.Read(context.Background(), func(q server.Query) error {
		us, err := q.Users()
		n = len(us)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != len(server.DemoUsers) {
		t.Errorf("the demo left %d users in PostgreSQL, want its %d", n, len(server.DemoUsers))
	}
}

func TestCopyCommand(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "none.db")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"without --from it asks for it", []string{"copy", "--to", "postgres://127.0.0.1:1/x"}, "--from is required"},
		{"without --to it asks for it", []string{"copy", "--from", "fieldsync.db"}, "--to is required"},
		{"a --to that is not a PostgreSQL URL is refused", []string{"copy", "--from", "fieldsync.db", "--to", "other.db"}, "not a PostgreSQL URL"},
		{"stray arguments are refused", []string{"copy", "--from", "a.db", "--to", "postgres://127.0.0.1:1/x", "extra"}, "unexpected arguments"},
		{"a --from that is not there is named", []string{"copy", "--from", missing, "--to", "postgres://127.0.0.1:1/x"}, missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := run(tc.args, nil, &stdout, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("fieldsyncd %s: %v, want an error saying %q", strings.Join(tc.args, " "), err, tc.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("a refused copy printed %q", stdout.String())
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("copying from a file that is not there made it: %v", err)
	}

	t.Run("a SQLite server's users sign in on PostgreSQL after a copy", func(t *testing.T) {
		dsn := pgtest.DSN(t)
		from := sqliteWithUser(t)
		var stdout, stderr bytes.Buffer
		if err := run([]string{"copy", "--from", from, "--to", dsn}, nil, &stdout, &stderr); err != nil {
			t.Fatalf("copy: %v\n%s", err, stderr.String())
		}
		if got := stdout.String(); !strings.HasPrefix(got, "copied 0 records, ") || !strings.Contains(got, " 1 users, ") {
			t.Errorf("copy printed %q, want the counts with 0 records and 1 users", got)
		}
		srv := startServer(t, serving, "serve", "--addr", "127.0.0.1:0", "--db", dsn, "--blob-dir", t.TempDir())
		if code, _ := signIn(t, srv.addr, "dana", "dana-password-1", "office-pc"); code != http.StatusOK {
			t.Errorf("dana signs in after the copy: status %d\n%s", code, srv.output())
		}
		srv.stop(t)

		stdout.Reset()
		err := run([]string{"copy", "--from", from, "--to", dsn}, nil, &stdout, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "already holds FieldSync data") {
			t.Errorf("a second copy into the same database: %v, want it refused as not empty", err)
		}
	})
}

func TestOpenStoreChoosesByTheDBValue(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "postgres.db") // a file, whatever its name
	st, err := openStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, ok := st.(*sqlitestore.Store); !ok {
		t.Errorf("--db %s opened a %T, want the SQLite store", path, st)
	}
	for _, db := range []string{"postgres://127.0.0.1:1/x", "postgresql://127.0.0.1:1/x"} {
		if _, err := openStore(ctx, db); err == nil || !strings.Contains(err.Error(), "PostgreSQL at 127.0.0.1:1") {
			t.Errorf("--db %s: %v, want it tried as PostgreSQL", db, err)
		}
	}
	t.Run("a PostgreSQL URL opens the PostgreSQL store", func(t *testing.T) {
		st, err := openStore(ctx, pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		if _, ok := st.(*pgstore.Store); !ok {
			t.Errorf("a PostgreSQL URL opened a %T, want the PostgreSQL store", st)
		}
	})
}

func TestDescribeDBLeavesOutPasswords(t *testing.T) {
	for _, tc := range []struct{ db, want string }{
		{"fieldsync.db", "fieldsync.db"},
		{"postgres://fs:secret@db.example:5432/fieldsync?sslmode=require", "postgres://fs@db.example:5432/fieldsync?sslmode=require"},
		{"postgresql://fs@db.example/fieldsync?password=secret&sslpassword=secret", "postgresql://fs@db.example/fieldsync"},
	} {
		if got := describeDB(tc.db); got != tc.want {
			t.Errorf("describeDB(%q) = %q, want %q", tc.db, got, tc.want)
		}
	}
}
