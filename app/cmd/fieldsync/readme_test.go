package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// raceEnabled is set when the tests run under the race detector, so that
// binaries built for a test share the packages already compiled for it.
var raceEnabled bool

// conflictScript returns the README's "A conflict in two minutes" script:
// the indented block after the paragraph that starts with those words.
func conflictScript(t *testing.T, readme string) string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	var script []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "A conflict in two minutes"):
			in = true
		case !in:
		case strings.HasPrefix(line, "    "):
			script = append(script, strings.TrimPrefix(line, "    "))
		case len(script) > 0 && strings.TrimSpace(line) == "":
			return strings.Join(script, "\n") + "\n"
		}
	}
	t.Fatalf("%s has no script after \"A conflict in two minutes\"", readme)
	return ""
}

func TestTheReadmesConflictScriptRunsAsWritten(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed; the README's script is for bash")
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	script := conflictScript(t, filepath.Join(root, "README.md"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The two binaries, built as the README says, where the script runs.
	work := t.TempDir()
	args := []string{"build", "-o", work + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), append(args, "./app/cmd/fieldsync", "./server/cmd/fieldsyncd")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The demo server, on a free port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	demo := exec.CommandContext(ctx, filepath.Join(work, "fieldsyncd"), "demo", "--addr", addr, "--dir", filepath.Join(work, "demo"))
	var logs lockedBuffer
	demo.Stderr = &logs
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the demo server's log:\n%s", logs.String())
		}
	})
	out, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		demo.Process.Signal(os.Interrupt)
		demo.Wait()
	})
	up := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "FieldSync demo server at ") {
				up <- sc.Text()
			}
		}
	}()
	select {
	case line := <-up:
		t.Log(line)
	case <-time.After(30 * time.Second):
		t.Fatal("the demo server did not start")
	}

	// The script as written, with this server and this test's directories
	// for the ones it names.
	url := "http://" + addr
	for _, s := range []string{"http://127.0.0.1:8080", "/tmp/alex", "/tmp/dana"} {
		if !strings.Contains(script, s) {
			t.Fatalf("the README's script no longer names %s; change this test with it:\n%s", s, script)
		}
	}
	alex, dana := filepath.Join(work, "alex"), filepath.Join(work, "dana")
	script = strings.NewReplacer("http://127.0.0.1:8080", url, "/tmp/alex", alex, "/tmp/dana", dana).Replace(script)
	sh := exec.CommandContext(ctx, bash, "-c", script)
	sh.Dir = work
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FIELDSYNC_") && !strings.HasPrefix(kv, "HOME=") {
			sh.Env = append(sh.Env, kv)
		}
	}
	sh.Env = append(sh.Env, "HOME="+work)
	got, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("the script failed: %v\n%s", err, got)
	}
	text := string(got)
	contains(t, "the script", text, "Job status needs review", "Decision on review ", "take the device's version", "Your review decisions synced.")
	final := regexp.MustCompile(`(?m)^J-1001 +Replace pump seal +completed +Harbor Bakery +alex( \(you\))? +Synced$`)
	if n := len(final.FindAllString(text, -1)); n != 2 {
		t.Errorf("the script shows J-1001 completed and synced on %d devices, want both:\n%s", n, text)
	}

	// Both devices agree, and nothing is left to review.
	for who, dir := range map[string]string{"alex": alex, "dana": dana} {
		d := &device{t: t, store: dir, url: url}
		var job jobDetailJSON
		d.json(&job, 0, "job", "show", "J-1001")
		if job.Status != "completed" || job.Sync != "Synced" || len(job.Reviews) != 0 {
			t.Errorf("%s's device: J-1001 %s, %q, %d reviews; want completed, Synced, none", who, job.Status, job.Sync, len(job.Reviews))
		}
	}
	var list struct{ Reviews []json.RawMessage }
	(&device{t: t, store: dana, url: url}).json(&list, 0, "reviews")
	if len(list.Reviews) != 0 {
		t.Errorf("after the script dana still has %d reviews", len(list.Reviews))
	}
}
