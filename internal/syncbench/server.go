package syncbench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// BuildServer builds fieldsyncd from this module into dir and returns its
// path. It runs the go command found on PATH, in the working directory,
// which must lie inside the module.
func BuildServer(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "fieldsyncd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "fieldsync/server/cmd/fieldsyncd")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build fieldsyncd (run from the repository, or give --server): %v\n%s", err, out.String())
	}
	return bin, nil
}

// serverProc is a fieldsyncd serve process on a free loopback port.
type serverProc struct {
	cmd  *exec.Cmd
	addr string // host:port it serves on
	done chan error

	mu  sync.Mutex
	log bytes.Buffer
}

var servingLine = regexp.MustCompile(`msg=serving addr=(\S+)`)

// startServer runs bin serve on db and blobs and waits until it listens.
func startServer(ctx context.Context, bin, db, blobs string) (*serverProc, error) {
	p := &serverProc{done: make(chan error, 1)}
	p.cmd = exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", db, "--blobs", blobs)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start fieldsyncd: %w", err)
	}
	go func() {
		err := p.cmd.Wait()
		pw.Close()
		p.done <- err
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			if p.log.Len() < 1<<20 {
				p.log.WriteString(sc.Text() + "\n")
			}
			p.mu.Unlock()
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case p.addr = <-addr:
		return p, nil
	case err := <-p.done:
		p.done <- err
		return nil, fmt.Errorf("fieldsyncd ended before serving: %v\n%s", err, p.output())
	case <-time.After(time.Minute):
		p.stop()
		return nil, fmt.Errorf("fieldsyncd did not start serving within a minute:\n%s", p.output())
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

func (p *serverProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// URL is the server's own address, without the proxy.
func (p *serverProc) URL() string { return "http://" + p.addr }

// stop asks the server to finish (SIGTERM), kills it if it has not within
// 30 seconds, and waits for it.
func (p *serverProc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		err := <-p.done
		p.done <- err
		return errors.New("fieldsyncd did not stop within 30s of SIGTERM; killed")
	}
}

// userHZ is the unit of the CPU times in /proc/PID/stat: fixed at 100 for
// every Linux program to see, whatever the kernel's own tick.
const userHZ = 100

// cpu returns the CPU time the server has used, user and system.
func (p *serverProc) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("server CPU: %w", err)
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// fields are counted from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("server CPU: unexpected /proc stat %q", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("server CPU: unexpected /proc stat %q", s)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("server CPU: %w", err)
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// peakRSS returns the most memory the server has held resident since it
// started or since resetPeak (VmHWM).
func (p *serverProc) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("server peak RSS: %w", err)
	}
	for l := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("server peak RSS: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("server peak RSS: no VmHWM in /proc status")
}

// resetPeak starts the server's peak resident size again from what it
// holds now (clear_refs 5), so that each scenario's peak is its own. It
// reports whether the kernel allowed it.
func (p *serverProc) resetPeak() bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0) == nil
}

// counters are what the server says it did, from /metrics.
type counters struct {
	Applied  float64 // operations applied
	Requests float64 // requests to /v1/ routes
	Seconds  float64 // time spent answering requests to /v1/ routes
}

var metricLine = regexp.MustCompile(`^(\w+)\{([^}]*)\} (\S+)$`)

// metrics reads the server's counters.
func (p *serverProc) metrics(ctx context.Context) (counters, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", p.URL()+"/metrics", nil)
	if err != nil {
		return counters{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return counters{}, fmt.Errorf("server metrics: %w", err)
	}
	defer resp.Body.Close()
	var c counters
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := metricLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		switch {
		case m[1] == "fieldsync_operations_total" && strings.Contains(m[2], `outcome="applied"`):
			c.Applied += v
		case m[1] == "fieldsync_http_requests_total" && strings.Contains(m[2], " /v1/"):
			c.Requests += v
		case m[1] == "fieldsync_http_request_duration_seconds_sum" && strings.Contains(m[2], " /v1/"):
			c.Seconds += v
		}
	}
	return c, sc.Err()
}

// addUser adds a user to db through fieldsyncd user add.
func addUser(ctx context.Context, bin, db, name, role, password string) error {
	cmd := exec.CommandContext(ctx, bin, "user", "add", name, "--role", role, "--db", db)
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("fieldsyncd user add %s: %v: %s", name, err, out)
	}
	return nil
}

// isPostgres reports whether db names a PostgreSQL server.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// newDatabase creates an empty database on the PostgreSQL server base
// names and returns its DSN and a function that drops it.
func newDatabase(ctx context.Context, base string) (string, func() error, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	name := "syncbench_" + hex.EncodeToString(b[:])
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("--db: not a valid URL: %w", err)
	}
	u.Path, u.RawPath = "/"+name, ""
	ident := pgx.Identifier{name}.Sanitize()
	if err := pgAdmin(ctx, base, "CREATE DATABASE "+ident+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		return "", nil, fmt.Errorf("create database %s (the --db user must be allowed to): %w", name, err)
	}
	drop := func() error {
		return pgAdmin(context.Background(), base, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
	}
	return u.String(), drop, nil
}

func pgAdmin(ctx context.Context, dsn, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(dsn), err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// redact returns a DSN without its password, for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "the --db server"
	}
	return u.Redacted()
}
