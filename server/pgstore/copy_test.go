package pgstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/pgtest"
	"fieldsync/internal/sqlitedb"
	"fieldsync/server"
	"fieldsync/server/pgstore"
	"fieldsync/server/sqlitestore"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
)

// cpPassword is every test user's password.
const cpPassword = "copy-test-pw-1"

// cpDay is the working day the jobs are scheduled on.
var cpDay = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// cpUnreachable is a PostgreSQL URL nothing answers on, with a password
// that no message may show.
const cpUnreachable = "postgres://fs:hunter2@127.0.0.1:1/fieldsync"

// cpServer is a server over a store, served on loopback.
type cpServer struct {
	t   *testing.T
	srv *server.Server
	ts  *httptest.Server
}

func cpServe(t *testing.T, st server.Store, blobs string) *cpServer {
	t.Helper()
	srv, err := server.New(server.Options{Store: st, BlobDir: blobs})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &cpServer{t: t, srv: srv, ts: ts}
}

func (l *cpServer) addUser(name, role string) contract.User {
	l.t.Helper()
	u, err := l.srv.AddUser(context.Background(), server.NewUser{Name: name, Role: role, Password: cpPassword, Cost: bcrypt.MinCost})
	if err != nil {
		l.t.Fatalf("add user %s: %v", name, err)
	}
	return u
}

// cpDevice is one signed-in device. Its url says which server it talks to:
// the test moves it from the SQLite server to the PostgreSQL one.
type cpDevice struct {
	t      *testing.T
	url    string
	id     string
	token  string
	userID string
}

// cpSignIn signs a user in from a device and returns the status code and,
// on success, the device.
func cpSignIn(t *testing.T, url, user, pw, dev string) (int, *cpDevice) {
	t.Helper()
	d := &cpDevice{t: t, url: url, id: dev}
	var resp contract.LoginResponse
	code := d.call("POST", "/v1/login", contract.LoginRequest{Username: user, Password: pw, DeviceID: dev}, &resp)
	d.token, d.userID = resp.Token, resp.User.ID
	return code, d
}

func cpMustSignIn(t *testing.T, url, user, dev string) *cpDevice {
	t.Helper()
	code, d := cpSignIn(t, url, user, cpPassword, dev)
	if code != http.StatusOK {
		t.Fatalf("%s signs in from %s: status %d", user, dev, code)
	}
	return d
}

// call sends a JSON request and decodes a 200 answer into out.
func (d *cpDevice) call(method, path string, body, out any) int {
	d.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			d.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.url+path, rd)
	if err != nil {
		d.t.Fatal(err)
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			d.t.Fatalf("%s %s: answer %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func (d *cpDevice) op(typ, id string, action contract.Action, bases map[string]int64, values map[string]any) contract.Operation {
	vals := map[string]json.RawMessage{}
	for k, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			d.t.Fatal(err)
		}
		vals[k] = b
	}
	return contract.Operation{ID: uuid.NewString(), RecordType: typ, RecordID: id, Action: action,
		Bases: bases, Values: vals, DeviceID: d.id, DeviceTime: time.Now().UTC()}
}

// push sends one operation and returns its result.
func (d *cpDevice) push(op contract.Operation) contract.Result {
	d.t.Helper()
	return d.pushBatch(op)[0]
}

// pushBatch sends operations in one push and returns their results.
func (d *cpDevice) pushBatch(ops ...contract.Operation) []contract.Result {
	d.t.Helper()
	var resp contract.PushResponse
	if code := d.call("POST", "/v1/push", contract.PushRequest{Ops: ops}, &resp); code != http.StatusOK || len(resp.Results) != len(ops) {
		d.t.Fatalf("push of %d operations: status %d, %d results", len(ops), code, len(resp.Results))
	}
	return resp.Results
}

// in returns the device for use in a subtest, failing that test.
func (d *cpDevice) in(t *testing.T) *cpDevice {
	c := *d
	c.t = t
	return &c
}

// must pushes one operation and fails the test unless it is applied.
func (d *cpDevice) must(op contract.Operation) contract.Result {
	d.t.Helper()
	r := d.push(op)
	if r.Outcome != contract.Applied {
		d.t.Fatalf("%s %s: %s %s (%s)", op.Action, op.RecordType, r.Outcome, r.Code, r.Message)
	}
	return r
}

func (d *cpDevice) job(customer, assignee, title, site string, start time.Time) (string, contract.Result) {
	d.t.Helper()
	op := d.op("job", uuid.NewString(), contract.ActionCreate, nil, map[string]any{"title": title, "customer_id": customer,
		"assignee": assignee, "site_address": site, "scheduled_start": start.Format(time.RFC3339)})
	return op.RecordID, d.must(op)
}

func (d *cpDevice) note(job, text string) {
	d.t.Helper()
	d.must(d.op("note", uuid.NewString(), contract.ActionAppend, nil, map[string]any{"job_id": job, "text": text}))
}

// cpFeed is what a run of pulls brought: records and reviews by id, and the
// cursor it ended on.
type cpFeed struct {
	records map[string]contract.Record
	reviews map[string]contract.Review
	cursor  string
}

// pull pulls every page after cursor, leaving out what push answers
// brought this device, as the app does.
func (d *cpDevice) pull(cursor string) cpFeed {
	d.t.Helper()
	return d.pullPages(cursor, "&"+contract.PullAnswered+"="+contract.PullAnsweredOmit)
}

// pullAll pulls every page after cursor, what push answers brought too.
func (d *cpDevice) pullAll(cursor string) cpFeed {
	d.t.Helper()
	return d.pullPages(cursor, "")
}

func (d *cpDevice) pullPages(cursor, query string) cpFeed {
	d.t.Helper()
	f := cpFeed{records: map[string]contract.Record{}, reviews: map[string]contract.Review{}, cursor: cursor}
	for pages := 0; ; pages++ {
		if pages > 100 {
			d.t.Fatal("pulling never ends")
		}
		var page contract.PullResponse
		if code := d.call("GET", "/v1/pull?cursor="+f.cursor+query, nil, &page); code != http.StatusOK {
			d.t.Fatalf("pull after %q: status %d", f.cursor, code)
		}
		for _, r := range page.Records {
			f.records[r.ID] = r
		}
		for _, r := range page.Reviews {
			f.reviews[r.ID] = r
		}
		f.cursor = page.Cursor
		if !page.More {
			return f
		}
	}
}

func (d *cpDevice) history(typ, id string) []contract.Change {
	d.t.Helper()
	var resp contract.HistoryResponse
	if code := d.call("GET", "/v1/records/"+typ+"/"+id+"/history", nil, &resp); code != http.StatusOK {
		d.t.Fatalf("history of %s %s: status %d", typ, id, code)
	}
	return resp.Changes
}

func (d *cpDevice) openReviews() []contract.Review {
	d.t.Helper()
	var resp contract.ReviewsResponse
	if code := d.call("GET", "/v1/reviews", nil, &resp); code != http.StatusOK {
		d.t.Fatalf("reviews: status %d", code)
	}
	return resp.Reviews
}

// cpJSON encodes v for comparing: two values that encode alike are alike
// to a device.
func cpJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cpSameFeed reports how got differs from want: the same records and
// reviews, each at the same sequence number with the same content.
func cpSameFeed(t *testing.T, what string, got, want cpFeed) {
	t.Helper()
	for _, part := range []struct {
		name      string
		got, want map[string]string
	}{
		{"records", cpDocs(t, got.records), cpDocs(t, want.records)},
		{"reviews", cpDocs(t, got.reviews), cpDocs(t, want.reviews)},
	} {
		for id, w := range part.want {
			if g, ok := part.got[id]; !ok {
				t.Errorf("%s: %s %s is missing", what, part.name, id)
			} else if g != w {
				t.Errorf("%s: %s %s differs:\n got %s\nwant %s", what, part.name, id, g, w)
			}
		}
		for id := range part.got {
			if _, ok := part.want[id]; !ok {
				t.Errorf("%s: %s %s came, and should not have", what, part.name, id)
			}
		}
	}
}

func cpDocs[V any](t *testing.T, m map[string]V) map[string]string {
	out := map[string]string{}
	for id, v := range m {
		out[id] = cpJSON(t, v)
	}
	return out
}

// TestCopyFromSQLite moves a working SQLite server to PostgreSQL and checks
// that its people and devices carry on as if nothing had happened.
func TestCopyFromSQLite(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	dir := t.TempDir()
	path, blobs := filepath.Join(dir, "server.db"), filepath.Join(dir, "blobs")

	// A SQLite server in use: people, devices, jobs with notes, an edit
	// held for review, a suspected duplicate, sign-ins held back after
	// wrong passwords.
	lite, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	old := cpServe(t, lite, blobs)
	for _, u := range []struct{ name, role string }{{"dana", "dispatcher"}, {"alex", "technician"}, {"sam", "technician"}, {"sue", "supervisor"}} {
		old.addUser(u.name, u.role)
	}
	dana := cpMustSignIn(t, old.ts.URL, "dana", "office-pc")
	laptop := cpMustSignIn(t, old.ts.URL, "dana", "office-laptop")
	alex := cpMustSignIn(t, old.ts.URL, "alex", "alex-phone")
	sam := cpMustSignIn(t, old.ts.URL, "sam", "sam-phone")

	cust := dana.op("customer", uuid.NewString(), contract.ActionCreate, nil, map[string]any{"name": "Harbor Bakery", "phone": "+44 20 7946 0000"})
	dana.must(cust)
	job1, _ := dana.job(cust.RecordID, alex.userID, "Replace pump seal", "12 Quay Street", cpDay)
	dana.job(cust.RecordID, alex.userID, "Service boiler", "3 Mill Lane", cpDay.Add(48*time.Hour))
	alex.note(job1, "Seal ordered")
	stale := map[string]int64{"scheduling": alex.pull("").records[job1].Versions["scheduling"]}
	dana.must(dana.op("job", job1, contract.ActionUpdate, stale, map[string]any{"site_address": "12 Quay Street, rear door"}))
	if r := laptop.push(laptop.op("job", job1, contract.ActionUpdate, stale, map[string]any{"site_address": "12 Quay Street, gate 2"})); r.Outcome != contract.Held {
		t.Fatalf("a stale edit: %s %s (%s), want held for review", r.Outcome, r.Code, r.Message)
	}
	dup, _ := alex.job(cust.RecordID, alex.userID, "Boiler noisy", "3 Mill Lane", cpDay.Add(50*time.Hour))

	// Alex's phone pulls; then more happens, some of it for alex.
	cursor := alex.pull("").cursor
	edit := dana.op("job", job1, contract.ActionUpdate, map[string]int64{"summary": 1}, map[string]any{"title": "Replace pump seal and gasket"})
	edited := dana.must(edit)
	dana.note(job1, "Customer asks for a call before arrival")
	alex.note(job1, "On my way") // his own push answer brought it: his pulls leave it out
	samJob, last := dana.job(cust.RecordID, sam.userID, "Fit new oven", "9 Baker Row", cpDay)
	sam.note(samJob, "Oven delivered")
	// Many notes at once, so that sequence numbers run well past what a
	// PostgreSQL sequence left where it starts would give out first.
	var notes []contract.Operation
	for i := range 150 {
		notes = append(notes, dana.op("note", uuid.NewString(), contract.ActionAppend, nil,
			map[string]any{"job_id": samJob, "text": fmt.Sprintf("Checklist item %d done", i+1)}))
	}
	for i, r := range dana.pushBatch(notes...) {
		if r.Outcome != contract.Applied {
			t.Fatalf("note %d: %s %s (%s)", i+1, r.Outcome, r.Code, r.Message)
		}
	}

	// What the SQLite server shows, to hold the PostgreSQL one to.
	wantAlex := alex.pull(cursor)
	if len(wantAlex.records) == 0 {
		t.Fatal("alex has nothing new to pull after his cursor: the test checks nothing")
	}
	wantAll := dana.pullAll("")
	wantAlexAll := alex.pull("")
	wantHistory := dana.history("job", job1)
	wantReviews := dana.openReviews()
	if len(wantReviews) < 2 {
		t.Fatalf("%d open reviews before the copy, want the held edit's and the duplicate's", len(wantReviews))
	}
	var wantLastSeq int64
	for _, r := range wantAll.records {
		wantLastSeq = max(wantLastSeq, r.Seq)
	}
	for _, r := range wantAll.reviews {
		wantLastSeq = max(wantLastSeq, r.Seq)
	}
	// Five wrong passwords for sue: her sign-ins must wait now.
	for i := range 5 {
		if code, _ := cpSignIn(t, old.ts.URL, "sue", fmt.Sprintf("guess %d", i), "sue-pc"); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d for sue: status %d, want 401", i+1, code)
		}
	}
	old.ts.Close()
	if err := lite.Close(); err != nil {
		t.Fatal(err)
	}

	var progress strings.Builder
	counts, err := pgstore.CopyFromSQLite(ctx, path, dsn, &progress)
	if err != nil {
		t.Fatalf("copy: %v\n%s", err, progress.String())
	}
	t.Logf("copied %s", counts)
	for _, c := range []struct {
		what      string
		got, want int64
	}{
		{"records", counts.Records, int64(len(wantAll.records))},
		{"reviews", counts.Reviews, int64(len(wantAll.reviews))},
		{"users", counts.Users, 4},
		{"sessions", counts.Sessions, 4},
		{"devices", counts.Devices, 4},
		{"sign-in throttles", counts.Throttles, 2}, // the name and the address
		{"number counters", counts.Counters, 1},
		{"largest sequence number", counts.LastSeq, wantLastSeq},
	} {
		if c.got != c.want {
			t.Errorf("copied %d %s, want %d", c.got, c.what, c.want)
		}
	}
	if counts.Changes == 0 || counts.Results == 0 || counts.Links == 0 || counts.Access == 0 {
		t.Errorf("copied %s: want changes, results, links and access rows", counts)
	}
	if !strings.Contains(progress.String(), fmt.Sprintf("copied %d records", counts.Records)) {
		t.Errorf("progress does not report the records:\n%s", progress.String())
	}

	pg, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	now := cpServe(t, pg, blobs)
	for _, d := range []*cpDevice{dana, laptop, alex, sam} {
		d.url = now.ts.URL
	}

	t.Run("a device signed in before the copy stays signed in", func(t *testing.T) {
		alex := alex.in(t)
		if code := alex.call("GET", "/v1/me", nil, nil); code != http.StatusOK {
			t.Errorf("alex's token from the SQLite server: status %d, want 200", code)
		}
	})
	t.Run("users sign in with the passwords they had", func(t *testing.T) {
		if code, _ := cpSignIn(t, now.ts.URL, "dana", cpPassword, "office-tablet"); code != http.StatusOK {
			t.Errorf("dana signs in: status %d, want 200", code)
		}
		if code, _ := cpSignIn(t, now.ts.URL, "dana", "not her password", "office-pc"); code != http.StatusUnauthorized {
			t.Errorf("dana with a wrong password: status %d, want 401", code)
		}
	})
	t.Run("a device stays bound to its user", func(t *testing.T) {
		if code, _ := cpSignIn(t, now.ts.URL, "dana", cpPassword, "alex-phone"); code != http.StatusConflict {
			t.Errorf("dana signs in with alex's phone's device id: status %d, want 409", code)
		}
	})
	t.Run("sign-ins held back after wrong passwords stay held back", func(t *testing.T) {
		if code, _ := cpSignIn(t, now.ts.URL, "sue", cpPassword, "sue-pc"); code != http.StatusTooManyRequests {
			t.Errorf("sue signs in with her password after five wrong ones: status %d, want 429", code)
		}
	})
	t.Run("a device pulls from its old cursor exactly what it had not seen", func(t *testing.T) {
		alex := alex.in(t)
		got := alex.pull(cursor)
		cpSameFeed(t, "alex pulling from his old cursor", got, wantAlex)
		if len(got.records) >= len(wantAlexAll.records) {
			t.Errorf("alex pulled %d records from his old cursor, as many as he sees in all (%d): a full download",
				len(got.records), len(wantAlexAll.records))
		}
		if again := alex.pull(got.cursor); len(again.records)+len(again.reviews) != 0 {
			t.Errorf("pulling again brought %d records and %d reviews, want none", len(again.records), len(again.reviews))
		}
		cursor = got.cursor
	})
	t.Run("a pull from the start shows every record and review as before", func(t *testing.T) {
		dana := dana.in(t)
		cpSameFeed(t, "dana pulling from the start", dana.pullAll(""), wantAll)
	})
	t.Run("an operation pushed again answers its first result", func(t *testing.T) {
		dana := dana.in(t)
		r := dana.push(edit)
		if r.Outcome != contract.AlreadyApplied || r.First == nil {
			t.Fatalf("the edit pushed again: %s %s (%s), want %s", r.Outcome, r.Code, r.Message, contract.AlreadyApplied)
		}
		if cpJSON(t, *r.First) != cpJSON(t, edited) {
			t.Errorf("the first result of the edit: %+v, want %+v", *r.First, edited)
		}
	})
	t.Run("a record's history is as it was", func(t *testing.T) {
		dana := dana.in(t)
		if got, want := cpJSON(t, dana.history("job", job1)), cpJSON(t, wantHistory); got != want {
			t.Errorf("history of the job:\n got %s\nwant %s", got, want)
		}
	})
	t.Run("the open reviews are still open", func(t *testing.T) {
		dana := dana.in(t)
		got := dana.openReviews()
		if cpJSON(t, got) != cpJSON(t, wantReviews) {
			t.Errorf("open reviews:\n got %s\nwant %s", cpJSON(t, got), cpJSON(t, wantReviews))
		}
		if !slices.ContainsFunc(got, func(rv contract.Review) bool { return rv.Kind == contract.KindDuplicate && rv.RecordID == dup }) {
			t.Errorf("the duplicate suspect's review is gone")
		}
	})
	t.Run("new jobs take the next number, and devices pull them after the copied changes", func(t *testing.T) {
		dana := dana.in(t)
		alex := alex.in(t)
		var n int
		if _, err := fmt.Sscanf(last.Number, "J-%d", &n); err != nil {
			t.Fatalf("the last job's number %q: %v", last.Number, err)
		}
		job, r := dana.job(cust.RecordID, alex.userID, "Check pump seal", "12 Quay Street", cpDay.Add(7*24*time.Hour))
		if want := fmt.Sprintf("J-%d", n+1); r.Number != want {
			t.Errorf("the first job made after the copy is %s, want %s", r.Number, want)
		}
		edit := dana.op("job", job1, contract.ActionUpdate, map[string]int64{"summary": edited.Versions["summary"]},
			map[string]any{"description": "Bring a spare gasket"})
		dana.must(edit)
		got := alex.pull(cursor)
		// The customer comes again with the new job, as it does on any
		// store for someone put on a job.
		want := []string{job, job1, cust.RecordID}
		if len(got.records) != len(want) {
			t.Errorf("alex pulled %d records after the new job and the edit, want %d", len(got.records), len(want))
		}
		for _, id := range want {
			if _, ok := got.records[id]; !ok {
				t.Errorf("alex's pull after the new job and the edit lacks record %s", id)
			}
		}
		for id, rec := range got.records {
			if rec.Seq <= wantLastSeq {
				t.Errorf("record %s came at sequence number %d, not after the copied %d", id, rec.Seq, wantLastSeq)
			}
		}
		h := dana.history("job", job1)
		if len(h) != len(wantHistory)+1 || h[len(h)-1].OpID != edit.ID || h[len(h)-1].ID <= wantHistory[len(wantHistory)-1].ID {
			t.Errorf("the job's history after one more edit: %d entries, want %d, the last of them the edit's", len(h), len(wantHistory)+1)
		}
	})
}

// cpTableRows counts the rows of each FieldSync table of a PostgreSQL
// database.
func cpTableRows(t *testing.T, dsn string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	out := map[string]int64{}
	for _, tb := range []string{"records", "links", "access", "changes", "results", "reviews", "users", "sessions", "devices", "login_throttle", "counters"} {
		var n int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+tb).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tb] = n
	}
	return out
}

// cpSmallSource makes a SQLite server database with two users and a job.
func cpSmallSource(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "server.db")
	st, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	l := cpServe(t, st, filepath.Join(t.TempDir(), "blobs"))
	l.addUser("dana", "dispatcher")
	alex := l.addUser("alex", "technician")
	dana := cpMustSignIn(t, l.ts.URL, "dana", "office-pc")
	cust := dana.op("customer", uuid.NewString(), contract.ActionCreate, nil, map[string]any{"name": "Harbor Bakery"})
	dana.must(cust)
	dana.job(cust.RecordID, alex.ID, "Replace pump seal", "12 Quay Street", cpDay)
	l.ts.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCopyRefusesATargetWithData(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	pg, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	cpServe(t, pg, t.TempDir()).addUser("ops", "admin")
	pg.Close()
	before := cpTableRows(t, dsn)

	_, err = pgstore.CopyFromSQLite(ctx, cpSmallSource(t), dsn, nil)
	if !errors.Is(err, pgstore.ErrNotEmpty) {
		t.Fatalf("copy into a database with a user: %v, want %v", err, pgstore.ErrNotEmpty)
	}
	if !strings.Contains(err.Error(), "users") {
		t.Errorf("the refusal %q does not say what the database holds", err)
	}
	if after := cpTableRows(t, dsn); !maps.Equal(before, after) {
		t.Errorf("a refused copy changed the database: rows before %v, after %v", before, after)
	}
}

// TestCopyIsAllOrNothing breaks the last table copied and checks that
// nothing of the tables before it was kept.
func TestCopyIsAllOrNothing(t *testing.T) {
	dsn := pgtest.DSN(t)
	path := cpSmallSource(t)
	db, err := sqlitedb.Open(path, sqlitedb.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	// An operation id PostgreSQL cannot store: a damaged file.
	if _, err := db.Exec(`INSERT INTO ops(op_id, user_id, at, result) VALUES (?, 'u', 0, '{}')`, []byte("not-a-uuid")); err != nil {
		t.Fatal(err)
	}
	db.Close()

	_, err = pgstore.CopyFromSQLite(context.Background(), path, dsn, nil)
	if err == nil || !strings.Contains(err.Error(), "not a UUID") {
		t.Fatalf("copy of a file with a damaged operation id: %v, want an error naming it", err)
	}
	for tb, n := range cpTableRows(t, dsn) {
		if n != 0 {
			t.Errorf("a failed copy left %d rows in %s, want none", n, tb)
		}
	}
}

func TestCopyRefusesASourceThatIsNotAFieldSyncServer(t *testing.T) {
	newer := func(t *testing.T) string {
		path := cpSmallSource(t)
		db, err := sqlitedb.Open(path, sqlitedb.Options{MustExist: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`INSERT INTO schema_migrations(version) VALUES (99)`); err != nil {
			t.Fatal(err)
		}
		return path
	}
	other := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "music.db")
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES ('Blue Monday')`); err != nil {
			t.Fatal(err)
		}
		return path
	}
	text := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "notes.db")
		if err := os.WriteFile(path, []byte("shopping list: eggs, flour\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name string
		make func(t *testing.T) string
		want string
	}{
		{"a file that is not there is not made", func(t *testing.T) string { return filepath.Join(t.TempDir(), "missing.db") }, "no such file"},
		{"another program's SQLite database is left as it is", other, "not a FieldSync server database"},
		{"a file that is not SQLite at all is left as it is", text, "not a SQLite database"},
		{"a database from a newer fieldsyncd is left as it is", newer, "schema version 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.make(t)
			before := cpFileSum(t, path)
			// The source is checked before PostgreSQL is reached.
			_, err := pgstore.CopyFromSQLite(context.Background(), path, cpUnreachable, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("copy: %v, want an error saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "PostgreSQL") {
				t.Errorf("copy: %v; the source should be refused before PostgreSQL is tried", err)
			}
			if after := cpFileSum(t, path); after != before {
				t.Errorf("the refused source changed")
			}
		})
	}
}

// cpFileSum sums a file; "" when there is none.
func cpFileSum(t *testing.T, path string) string {
	t.Helper()
	h := sha256.New()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	h.Write(b)
	return fmt.Sprintf("%x", h.Sum(nil))
}
