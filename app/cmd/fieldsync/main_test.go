package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/server"
)

// newServer starts a seeded demo server on loopback and returns its URL.
func newServer(t *testing.T) string { return newServerWithRules(t, nil) }

// device is one store directory the command runs against.
type device struct {
	t     *testing.T
	store string
	url   string
}

func newDevice(t *testing.T, url string) *device {
	return &device{t: t, store: t.TempDir(), url: url}
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%sstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs the command with the device's store and server.
func (d *device) run(stdin string, args ...string) result {
	d.t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{"--store", d.store, "--server", d.url}, args...)
	code := run(full, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// must runs the command and fails the test unless it exits with code.
func (d *device) must(code int, args ...string) result {
	d.t.Helper()
	r := d.run("", args...)
	if r.code != code {
		d.t.Fatalf("fieldsync %s: want exit %d\n%s", strings.Join(args, " "), code, r)
	}
	return r
}

func (d *device) login(user string) {
	d.t.Helper()
	r := d.run(server.DemoPassword+"\n", "login", user)
	if r.code != 0 || !strings.Contains(r.stdout, "Signed in as "+user) {
		d.t.Fatalf("login %s:\n%s", user, r)
	}
}

// json runs a command with --json and decodes its document into v.
func (d *device) json(v any, code int, args ...string) {
	d.t.Helper()
	r := d.must(code, append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		d.t.Fatalf("fieldsync --json %s: %v\n%s", strings.Join(args, " "), err, r)
	}
}

func contains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s: want %q in:\n%s", what, w, got)
		}
	}
}

func TestTechnicianWorksOfflineThenSyncs(t *testing.T) {
	t.Parallel()
	url := newServer(t)
	alex := newDevice(t, url)

	if r := alex.run("wrong\n", "login", "alex"); r.code != 1 || !strings.HasPrefix(r.stderr, "fieldsync: ") {
		t.Fatalf("login with a wrong password:\n%s", r)
	}
	alex.login("alex")

	r := alex.must(0, "jobs")
	contains(t, "jobs", r.stdout, "NUMBER", "SYNC", "J-1001", "Replace pump seal", "in_progress", "Harbor Bakery", "alex (you)", "Synced")

	r = alex.must(0, "job", "show", "J-1001")
	contains(t, "job show", r.stdout, "Owned by alex (you)", "Moves:", "paused, completed",
		"Groups:", "Needs review if both change it", "no: Only dispatcher can change this",
		"Seal is worn through", "SEAL-40", "Pump shaft seal 40 mm")

	alex.must(0, "offline", "on")
	r = alex.must(0, "note", "add", "J-1001", "Replaced", "the", "seal")
	contains(t, "note add", r.stdout, "Saved on this device", "fieldsync sync")

	r = alex.must(0, "status")
	contains(t, "status", r.stdout, "No signal", "J-1001 Replace pump seal: Saved on this device")
	r = alex.must(0, "status", "J-1001")
	contains(t, "status J-1001", r.stdout, `Note by alex: "Replaced the seal": Saved on this device`)

	r = alex.must(1, "sync")
	// Without signal nothing failed that a retry would fix: the work is saved here.
	contains(t, "sync while offline", r.stdout, "No signal: will sync when it is back", "J-1001 Replace pump seal: Saved on this device")
	contains(t, "sync while offline (stderr)", r.stderr, "did not get through", "no signal")

	alex.must(0, "offline", "off")
	r = alex.must(0, "sync")
	contains(t, "sync", r.stdout, "Your notes synced.", "Synced")

	// The note is on the server: a fresh device sees it.
	sue := newDevice(t, url)
	sue.login("sue")
	r = sue.must(0, "job", "show", "J-1001")
	contains(t, "job show on another device", r.stdout, "alex: Replaced the seal")
}

func TestPartsAndPhotosUpload(t *testing.T) {
	t.Parallel()
	alex := newDevice(t, newServer(t))
	alex.login("alex")
	photo := filepath.Join(t.TempDir(), "seal.jpg")
	if err := os.WriteFile(photo, bytes.Repeat([]byte("photo"), 100_000), 0o600); err != nil {
		t.Fatal(err)
	}
	alex.must(0, "part", "add", "J-1001", "--sku", "VALVE-1", "--qty", "2", "--description", "Check valve")
	r := alex.must(0, "photo", "add", "J-1001", photo)
	contains(t, "photo add", r.stdout, "seal.jpg", "uploads when it syncs")
	r = alex.must(0, "job", "show", "J-1001")
	contains(t, "job show before sync", r.stdout, "seal.jpg", "uploaded 0%", "VALVE-1", "Check valve [Saved on this device]")

	r = alex.must(0, "sync")
	contains(t, "sync", r.stdout, "photos", "parts", "synced")
	r = alex.must(0, "job", "show", "J-1001")
	contains(t, "job show after sync", r.stdout, "seal.jpg, 488.3 KB, on the server")

	alex.must(1, "part", "add", "J-1001", "--sku", "X") // no --qty
}

// A job like one sam cannot see is said to exist, nothing more.
func TestNewJobLikeOneYouCannotSeeSaysOnlyThatItExists(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	alex, sam := newDevice(t, srv), newDevice(t, srv)
	alex.login("alex")
	sam.login("sam")
	var pump jobDetailJSON
	alex.json(&pump, 0, "job", "show", "J-1001")
	start := pump.Start.Local().Add(2 * time.Hour).Format("2006-01-02 15:04")
	args := []string{"job", "new", "--customer", "harbor bakery", "--site", "12 Quay Street", "--title", "Pump still leaking", "--start", start}
	r := sam.must(2, args...)
	contains(t, "job new", r.stderr, "looks like a job that exists", "A job you cannot see is booked for the same customer and site that day: ask the office", "--force")
	for _, leak := range []string{"J-1001", "alex", "Replace pump seal", "New job"} {
		if strings.Contains(r.stderr, leak) {
			t.Errorf("sam is told %q of a job he cannot see:\n%s", leak, r.stderr)
		}
	}
}

func TestNewJobWarnsAboutDuplicates(t *testing.T) {
	t.Parallel()
	alex := newDevice(t, newServer(t))
	alex.login("alex")
	var pump jobDetailJSON
	alex.json(&pump, 0, "job", "show", "J-1001")
	start := pump.Start.Local().Add(2 * time.Hour).Format("2006-01-02 15:04")
	args := []string{"job", "new", "--customer", "harbor bakery", "--site", "12 Quay Street", "--title", "Check the pump again", "--start", start}

	r := alex.must(2, args...)
	contains(t, "job new", r.stderr, "looks like a job that exists", "J-1001", "Replace pump seal", "same customer and site", "--force")
	if r.stdout != "" {
		t.Errorf("job new wrote to stdout:\n%s", r)
	}
	var dup struct {
		Duplicate bool `json:"suspected_duplicate"`
		Suspects  []struct{ Number, Why string }
	}
	alex.json(&dup, 2, args...)
	if !dup.Duplicate || len(dup.Suspects) != 1 || dup.Suspects[0].Number != "J-1001" {
		t.Errorf("job new --json: %+v", dup)
	}

	r = alex.must(0, append(args, "--force")...)
	contains(t, "job new --force", r.stdout, `New job "Check the pump again" for Harbor Bakery created`, "Saved on this device")
	r = alex.must(0, "jobs")
	contains(t, "jobs", r.stdout, "Check the pump again", "Saved on this device")
	alex.must(0, "sync")
	var jobs struct{ Jobs []jobRow }
	alex.json(&jobs, 0, "jobs")
	var found bool
	for _, j := range jobs.Jobs {
		if j.Title == "Check the pump again" {
			found = true
			if !strings.HasPrefix(j.Number, "J-") || !j.Duplicate {
				t.Errorf("new job after sync: %+v", j)
			}
		}
	}
	if !found {
		t.Errorf("the new job is not listed: %+v", jobs)
	}
}

func TestTechnicianCannotReassign(t *testing.T) {
	t.Parallel()
	alex := newDevice(t, newServer(t))
	alex.login("alex")
	r := alex.must(1, "job", "reassign", "J-1001", "sam")
	if r.stderr != "Only dispatcher can reassign a job.\n" {
		t.Errorf("reassign refused with %q", r.stderr)
	}
	var doc jsonError
	alex.json(&doc, 1, "job", "reassign", "J-1001", "sam")
	if doc.Error.Code != contract.CodeForbidden || doc.Error.Kind != contract.Refusal || !strings.Contains(doc.Error.Message, "Only dispatcher") {
		t.Errorf("reassign --json: %+v", doc)
	}
	r = alex.must(0, "status")
	contains(t, "status after a refusal", r.stdout, "Waiting to send:  0 changes")
}

func TestOfficeResolvesStatusConflict(t *testing.T) {
	t.Parallel()
	url := newServer(t)
	alex, dana := newDevice(t, url), newDevice(t, url)
	alex.login("alex")
	dana.login("dana")

	// Alex completes the job with no signal while the office asks for approval.
	alex.must(0, "offline", "on")
	alex.must(0, "job", "move", "J-1001", "completed")
	r := dana.must(0, "job", "move", "J-1001", "waiting_for_approval")
	contains(t, "dana's move", r.stdout, "J-1001 is now waiting_for_approval", "Saved on this device")
	dana.must(0, "sync")
	alex.must(0, "offline", "off")
	r = alex.must(1, "sync")
	contains(t, "alex's sync", r.stdout, "Job status needs review because dana changed it in the office.",
		"J-1001 Replace pump seal: Another update changed this record. Review before sending again.")

	dana.must(0, "sync")
	r = dana.must(0, "reviews")
	contains(t, "reviews", r.stdout, "J-1001 Replace pump seal, group status (conflict)",
		"Server's:  status=waiting_for_approval", "version 4 by dana", "Device 1:  status=completed", "transition by alex", "entry ")
	var list struct{ Reviews []contract.Review }
	dana.json(&list, 0, "reviews")
	var rv contract.Review
	for _, x := range list.Reviews {
		if x.Number == "J-1001" && x.Group == "status" {
			rv = x
		}
	}
	if rv.ID == "" || len(rv.Device) != 1 || rv.Device[0].UserName != "alex" {
		t.Fatalf("no status review for J-1001: %+v", list)
	}

	// A technician may not resolve it; until someone does, alex's sync
	// does not count as through.
	alex.must(1, "sync")
	r = alex.must(1, "review", "resolve", rv.ID, "--keep", "device")
	contains(t, "alex resolving", r.stderr, "Only")

	dana.must(1, "review", "resolve", rv.ID) // no choice
	dana.must(1, "review", "resolve", rv.ID, "--keep", "server", "--merge")
	r = dana.must(0, "review", "resolve", rv.ID[:8], "--keep", "device", "--entry", rv.Device[0].OpID)
	contains(t, "resolve", r.stdout, "take the device's version", "Saved on this device")
	r = dana.must(0, "sync")
	contains(t, "dana's sync", r.stdout, "Your review decisions synced.")
	r = dana.must(0, "reviews")
	contains(t, "reviews after", r.stdout, "No open review items")

	alex.must(0, "sync")
	var job jobDetailJSON
	alex.json(&job, 0, "job", "show", "J-1001")
	if job.Status != "completed" || job.Sync != "Synced" || len(job.Reviews) != 0 {
		t.Errorf("after the review: status %s, sync %q, reviews %d", job.Status, job.Sync, len(job.Reviews))
	}
}

func TestJSONOutputDecodes(t *testing.T) {
	t.Parallel()
	alex := newDevice(t, newServer(t))
	var login struct {
		User   contract.User
		Server string
		Jobs   int
	}
	r := alex.run(server.DemoPassword+"\n", "--json", "login", "alex")
	if err := json.Unmarshal([]byte(r.stdout), &login); err != nil || r.code != 0 || login.User.Name != "alex" || login.Jobs == 0 {
		t.Fatalf("login --json: %v %+v\n%s", err, login, r)
	}
	var jobs struct{ Jobs []jobRow }
	alex.json(&jobs, 0, "jobs")
	if len(jobs.Jobs) != login.Jobs || jobs.Jobs[0].Sync != "Synced" || jobs.Jobs[0].SyncState != "synced" {
		t.Errorf("jobs --json: %+v", jobs)
	}
	var job jobDetailJSON
	alex.json(&job, 0, "job", "show", "J-1001")
	if job.Number != "J-1001" || job.OwnerLine == "" || len(job.Groups) == 0 || len(job.Notes) != 1 || len(job.Parts) != 1 || len(job.Moves) == 0 {
		t.Errorf("job show --json: %+v", job)
	}
	var saved struct {
		Record    recordJSON
		Sync      string
		SyncState string `json:"sync_state"`
	}
	alex.json(&saved, 0, "note", "add", "J-1001", "From a script")
	if saved.Record.Type != "note" || saved.Sync != "Saved on this device" || saved.SyncState != "saved" {
		t.Errorf("note add --json: %+v", saved)
	}
	var st deviceStatus
	alex.json(&st, 0, "status")
	if st.Queued != 1 || len(st.Records) != 1 || st.Records[0].Label != "J-1001 Replace pump seal" || len(st.Records[0].Items) != 1 {
		t.Errorf("status --json: %+v", st)
	}
	var sync struct {
		OK bool
		deviceStatus
	}
	alex.json(&sync, 0, "sync")
	if !sync.OK || sync.Line != "Synced" || sync.Summary != "Your notes synced." {
		t.Errorf("sync --json: %+v", sync)
	}
	var hist struct{ Changes []contract.Change }
	alex.json(&hist, 0, "job", "history", "J-1001")
	if len(hist.Changes) == 0 {
		t.Errorf("job history --json: no changes")
	}
	var fail jsonError
	alex.json(&fail, 1, "job", "show", "J-9999")
	if !strings.Contains(fail.Error.Message, "J-9999") {
		t.Errorf("error --json: %+v", fail)
	}
}

func TestLogoutRefusesWhileUnsynced(t *testing.T) {
	t.Parallel()
	alex := newDevice(t, newServer(t))
	alex.login("alex")
	alex.must(0, "offline", "on")
	alex.must(0, "note", "add", "J-1001", "Not sent yet")
	r := alex.must(1, "logout")
	contains(t, "logout", r.stderr, "1 change(s) and 0 photo(s) have not reached the server", "logout --force")
	r = alex.must(0, "status")
	contains(t, "status after a refused logout", r.stdout, "alex (technician)", "1 change")

	r = alex.must(0, "logout", "--force")
	contains(t, "logout --force", r.stdout, "Signed out alex")
	r = alex.must(0, "jobs")
	contains(t, "jobs after logout", r.stdout, "No jobs on this device")
	r = alex.must(1, "sync")
	contains(t, "sync after logout", r.stderr, "sign in first")
}

func TestOfficeEditsCustomers(t *testing.T) {
	t.Parallel()
	url := newServer(t)
	dana, sue, alex := newDevice(t, url), newDevice(t, url), newDevice(t, url)
	dana.login("dana")
	sue.login("sue")
	alex.login("alex")
	r := dana.must(0, "customer", "new", "--name", "Quayside Cafe", "phone=+44 20 7946 0044")
	contains(t, "customer new", r.stdout, `Customer "Quayside Cafe" added`, "Saved on this device")
	dana.must(0, "customer", "set", "quayside", "email=hello@quayside.example")
	dana.must(0, "sync")
	sue.must(0, "sync")
	r = sue.must(0, "customers")
	contains(t, "customers", r.stdout, "Quayside Cafe", "+44 20 7946 0044", "hello@quayside.example")
	r = alex.must(1, "customer", "set", "Harbor Bakery", "phone=1")
	contains(t, "technician editing a customer", r.stderr, "Only dispatcher")
	r = alex.must(1, "customer", "new", "--name", "Someone")
	contains(t, "technician adding a customer", r.stderr, "Only dispatcher can create a customer.")
}

func TestDraftsKeepRefusedText(t *testing.T) {
	t.Parallel()
	url := newServer(t)
	alex, alex2 := newDevice(t, url), newDevice(t, url)
	alex.login("alex")
	alex2.login("alex")
	// The service job (J-1004) is signed off; sign off the pump job on the
	// second device while the first one records time with no signal.
	alex.must(0, "offline", "on")
	alex.must(0, "job", "set", "J-1001", "labor_minutes=95")
	alex2.must(0, "job", "move", "J-1001", "completed")
	alex2.must(0, "job", "sign", "J-1001", "--name", "Pat Baker")
	alex2.must(0, "job", "move", "J-1001", "signed_off")
	alex2.must(0, "sync")
	alex.must(0, "offline", "off")
	r := alex.must(1, "sync")
	contains(t, "sync", r.stdout, "not sent", "This job is signed off.")

	var ds struct{ Drafts []draftJSON }
	alex.json(&ds, 0, "drafts")
	if len(ds.Drafts) != 1 || !strings.Contains(ds.Drafts[0].Text, "95") {
		t.Fatalf("drafts: %+v", ds)
	}
	r = alex.must(0, "drafts", "note", ds.Drafts[0].OpID[:8])
	contains(t, "drafts note", r.stdout, "now a note")
	r = alex.must(0, "drafts")
	contains(t, "drafts after", r.stdout, "No refused edits")
	r = alex.must(0, "sync")
	contains(t, "sync after", r.stdout, "Your notes synced.")
	r = alex.must(0, "job", "show", "J-1001")
	contains(t, "job show", r.stdout, "labor minutes: 95 (added after sign-off)", "Pat Baker")
}

// lockedBuffer is written by the command and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestSyncWatch(t *testing.T) {
	t.Parallel()
	alex := newDevice(t, newServer(t))
	alex.login("alex")
	alex.must(0, "offline", "on")
	alex.must(0, "note", "add", "J-1001", "Sent by the watcher")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, []string{"--store", alex.store, "sync", "--watch"}, strings.NewReader(""), &out, &errOut,
			func(string) string { return "" })
	}()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("sync --watch never said %q:\n%s\nstderr:\n%s", what, out.String(), errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("No signal: will sync when it is back.")
	// Another shell ends the simulation; the watcher follows it.
	alex.must(0, "offline", "off")
	waitFor("Your notes synced.")
	waitFor("  Synced\n")
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("sync --watch: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	contains(t, "sync --watch", out.String(), "Watching", "Stopped")
	r := alex.must(0, "status")
	contains(t, "status after watching", r.stdout, "Waiting to send:  0 changes")
}

func TestUsage(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "http://127.0.0.1:1")
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		r := d.must(0, args...)
		for _, cmd := range commands {
			contains(t, strings.Join(args, " "), r.stdout, "  "+cmd.name)
		}
	}
	r := d.must(0, "help", "job", "new")
	contains(t, "help job new", r.stdout, "Usage: fieldsync job new", "--customer", "--force", "--store DIR")
	r = d.must(0, "review", "resolve", "-h")
	contains(t, "review resolve -h", r.stdout, "--keep", "--entry", "--value", "--keep-both", "--merge")
	r = d.must(1, "frobnicate")
	contains(t, "unknown command", r.stderr, `fieldsync: unknown command "frobnicate"`, "fieldsync help")
	r = d.must(1)
	contains(t, "no command", r.stderr, "Commands:", "no command given")
	r = d.must(1, "jobs", "--bogus")
	contains(t, "bad flag", r.stderr, "fieldsync: flag provided but not defined: -bogus", "fieldsync help jobs")
	r = d.must(1, "note", "add", "J-1001")
	contains(t, "missing text", r.stderr, "missing arguments")
	r = d.must(0, "jobs")
	contains(t, "jobs on an empty device", r.stdout, "No jobs on this device")
	r = d.must(1, "sync")
	contains(t, "sync signed out", r.stderr, "fieldsync: sign in first")
}

func TestParseInterleavesFlagsAndArguments(t *testing.T) {
	c := &cli{getenv: func(string) string { return "" }}
	fs := c.flags("x")
	name := fs.String("name", "", "")
	force := fs.Bool("force", false, "")
	args, err := c.parse("x", fs, []string{"J-1", "--name", "--", "a", "--force", "--json", "b", "--", "--name", "-5"})
	if err != nil {
		t.Fatal(err)
	}
	if *name != "--" || !*force || !c.json || strings.Join(args, " ") != "J-1 a b --name -5" {
		t.Errorf("name %q force %v json %v args %q", *name, *force, c.json, args)
	}
}
