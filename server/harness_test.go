package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/teststore"
	"fieldsync/server"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// testPassword is every test user's password.
const testPassword = "password1"

// env is a real server on loopback over a real SQLite file, with one user
// of each role: alex and sam (technicians), dana (dispatcher), sue
// (supervisor), fran (finance) and ada (admin).
type env struct {
	t     testing.TB
	srv   *server.Server
	ts    *httptest.Server
	store server.Store
	users map[string]contract.User
	dir   string
	skew  atomic.Int64 // how far the server's clock runs ahead of the real one
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	st := teststore.Open(t, dir)
	e := &env{t: t, store: st, users: map[string]contract.User{}, dir: dir}
	srv, err := server.New(server.Options{Store: st, BlobDir: filepath.Join(dir, "blobs"),
		Now: func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	for _, u := range []struct{ name, role string }{
		{"alex", "technician"}, {"sam", "technician"}, {"dana", "dispatcher"},
		{"sue", "supervisor"}, {"fran", "finance"}, {"ada", "admin"},
	} {
		e.addUser(u.name, u.role)
	}
	e.ts = httptest.NewServer(srv)
	t.Cleanup(e.ts.Close) // before the store closes (teststore.Open)
	return e
}

func (e *env) addUser(name, role string) contract.User {
	e.t.Helper()
	u, err := e.srv.AddUser(context.Background(), server.NewUser{Name: name, Role: role, Password: testPassword, Cost: bcrypt.MinCost})
	if err != nil {
		e.t.Fatal(err)
	}
	e.users[name] = u
	return u
}

// device is a plain HTTP client playing one device of one user. It keeps
// what it pulled, and the group versions it last heard, as a device would.
type device struct {
	e       *env
	t       testing.TB
	name    string
	id      string
	token   string
	user    contract.User
	cursor  string
	records map[string]contract.Record
	reviews map[string]contract.Review
	clock   time.Time
}

// login signs user in from a device called deviceID.
func (e *env) login(user, deviceID string) *device {
	e.t.Helper()
	d := &device{e: e, t: e.t, name: user, id: deviceID, records: map[string]contract.Record{},
		reviews: map[string]contract.Review{}, clock: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
	var resp contract.LoginResponse
	if code := d.call("POST", "/v1/login", contract.LoginRequest{Username: user, Password: testPassword, DeviceID: deviceID}, &resp); code != http.StatusOK {
		e.t.Fatalf("login %s: status %d", user, code)
	}
	d.token, d.user = resp.Token, resp.User
	return d
}

// call sends a JSON request and decodes a JSON answer into out; it returns
// the status code.
func (d *device) call(method, path string, body, out any) int {
	d.t.Helper()
	var rd io.Reader
	if body != nil {
		if b, ok := body.([]byte); ok {
			rd = bytes.NewReader(b)
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				d.t.Fatal(err)
			}
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, d.e.ts.URL+path, rd)
	if err != nil {
		d.t.Fatal(err)
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			d.t.Fatalf("%s %s: status %d, body %q: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// op makes an operation with a new id, stamped a minute after the last.
func (d *device) op(typ, id string, action contract.Action, bases map[string]int64, values map[string]any) contract.Operation {
	d.clock = d.clock.Add(time.Minute)
	vals := map[string]json.RawMessage{}
	for k, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			d.t.Fatal(err)
		}
		vals[k] = b
	}
	return contract.Operation{ID: uuid.NewString(), RecordType: typ, RecordID: id, Action: action,
		Bases: bases, Values: vals, DeviceID: d.id, DeviceTime: d.clock}
}

// push sends operations and fails the test unless the server answers 200.
func (d *device) push(ops ...contract.Operation) []contract.Result {
	d.t.Helper()
	var resp contract.PushResponse
	if code := d.call("POST", "/v1/push", contract.PushRequest{Ops: ops}, &resp); code != http.StatusOK {
		d.t.Fatalf("%s push: status %d", d.name, code)
	}
	if len(resp.Results) != len(ops) {
		d.t.Fatalf("%s push: %d results for %d operations", d.name, len(resp.Results), len(ops))
	}
	return resp.Results
}

// must pushes one operation and fails the test unless it is applied.
func (d *device) must(op contract.Operation) contract.Result {
	d.t.Helper()
	r := d.push(op)[0]
	if r.Outcome != contract.Applied {
		d.t.Fatalf("%s %s %s: %s %s: %s", d.name, op.Action, op.RecordType, r.Outcome, r.Code, r.Message)
	}
	return r
}

// pull fetches every page after the device's cursor.
func (d *device) pull() {
	d.t.Helper()
	for {
		var page contract.PullResponse
		if code := d.call("GET", "/v1/pull?cursor="+d.cursor, nil, &page); code != http.StatusOK {
			d.t.Fatalf("%s pull: status %d", d.name, code)
		}
		for _, r := range page.Records {
			d.records[r.ID] = r
		}
		for _, r := range page.Reviews {
			d.reviews[r.ID] = r
		}
		d.cursor = page.Cursor
		if !page.More {
			return
		}
	}
}

// rec returns what the device last pulled of a record.
func (d *device) rec(id string) contract.Record {
	d.t.Helper()
	r, ok := d.records[id]
	if !ok {
		d.t.Fatalf("%s has not pulled record %s", d.name, id)
	}
	return r
}

// bases returns the versions the device last heard for groups of a record.
func (d *device) bases(id string, groups ...string) map[string]int64 {
	r := d.rec(id)
	out := map[string]int64{}
	for _, g := range groups {
		out[g] = r.Versions[g]
	}
	return out
}

func newID() string { return uuid.NewString() }

// customer makes a customer as dana and returns its id.
func (e *env) customer(office *device, name string) string {
	id := newID()
	office.must(office.op("customer", id, contract.ActionCreate, nil, map[string]any{"name": name, "phone": "+44 20 7946 0000"}))
	return id
}

// job makes a job for a technician as the dispatcher and returns its id.
func (e *env) job(office *device, customer, tech, title, site string, start time.Time) string {
	id := newID()
	office.must(office.op("job", id, contract.ActionCreate, nil, map[string]any{
		"title": title, "customer_id": customer, "assignee": e.users[tech].ID,
		"site_address": site, "scheduled_start": start.Format(time.RFC3339)}))
	return id
}

// move pushes status moves one after another, each from the last version.
func (d *device) move(job string, states ...string) {
	d.t.Helper()
	for _, st := range states {
		d.pull()
		d.must(d.op("job", job, contract.ActionTransition, d.bases(job, "status"), map[string]any{"status": st}))
	}
	d.pull()
}

func (d *device) String() string { return fmt.Sprintf("%s@%s", d.name, d.id) }

// advance moves the server's clock forward, as if time had passed.
func (e *env) advance(d time.Duration) { e.skew.Add(int64(d)) }

// stored returns a record as the server holds it, or nil.
func (e *env) stored(id string) *contract.Record {
	e.t.Helper()
	var rec *contract.Record
	if err := e.store.Read(context.Background(), func(q server.Query) error {
		var err error
		rec, err = q.Record(id)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return rec
}

// items returns the notes, photos and part lines of a job as the server
// holds them, by type.
func (e *env) items(job string) map[string][]contract.Record {
	e.t.Helper()
	var recs []contract.Record
	if err := e.store.Read(context.Background(), func(q server.Query) error {
		var err error
		recs, err = q.Items(job)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]contract.Record{}
	for _, r := range recs {
		out[r.Type] = append(out[r.Type], r)
	}
	return out
}

// storedReview returns a review item as the server holds it, or nil.
func (e *env) storedReview(id string) *contract.Review {
	e.t.Helper()
	var rv *contract.Review
	if err := e.store.Read(context.Background(), func(q server.Query) error {
		var err error
		rv, err = q.Review(id)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return rv
}

// converged pulls on every device and checks that each shows the server's
// state: every record and review item a device holds is exactly what the
// server stores, and every device holds the records in want.
func (e *env) converged(want []string, devs ...*device) {
	e.t.Helper()
	for _, d := range devs {
		d.pull()
		for _, id := range want {
			if _, ok := d.records[id]; !ok {
				e.t.Errorf("%s does not have record %s after pulling", d, id)
			}
		}
		for id, got := range d.records {
			if diff := jsonDiff(got, e.stored(id)); diff != "" {
				e.t.Errorf("%s shows %s %s unlike the server: %s", d, got.Type, id, diff)
			}
		}
		for id, got := range d.reviews {
			if diff := jsonDiff(got, e.storedReview(id)); diff != "" {
				e.t.Errorf("%s shows review %s unlike the server: %s", d, id, diff)
			}
		}
	}
}

// jsonDiff returns "" when a and b encode to the same JSON, or both.
func jsonDiff(a, b any) string {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if bytes.Equal(ja, jb) {
		return ""
	}
	return fmt.Sprintf("device %s, server %s", ja, jb)
}

// send makes a request with a raw body and extra headers, without following
// redirects, and returns the response with its body read.
func (d *device) send(method, path string, body io.Reader, header http.Header) (*http.Response, []byte) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.e.ts.URL+path, body)
	if err != nil {
		d.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if d.token != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp, b
}

// errorOf decodes the error body of a 4xx or 5xx answer.
func errorOf(t testing.TB, body []byte) contract.ErrorDetail {
	t.Helper()
	var eb contract.ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("want an error body, got %q", body)
	}
	return eb.Error
}

// upload sends photo content from offset and returns the status code and
// the server's answer: an UploadStatus on 200, an error otherwise.
func (d *device) upload(photo string, offset int64, content []byte) (int, contract.UploadStatus, contract.ErrorDetail) {
	d.t.Helper()
	resp, body := d.send("PUT", fmt.Sprintf("/v1/photos/%s/content?offset=%d", photo, offset), bytes.NewReader(content),
		http.Header{"Content-Type": {"application/octet-stream"}})
	var st contract.UploadStatus
	var ed contract.ErrorDetail
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &st); err != nil {
			d.t.Fatalf("upload %s: %q: %v", photo, body, err)
		}
	} else {
		ed = errorOf(d.t, body)
	}
	return resp.StatusCode, st, ed
}

// uploadStatus asks how much of a photo's content the server holds.
func (d *device) uploadStatus(photo string) contract.UploadStatus {
	d.t.Helper()
	var st contract.UploadStatus
	if code := d.call("GET", "/v1/photos/"+photo+"/upload", nil, &st); code != http.StatusOK {
		d.t.Fatalf("upload status of %s: status %d", photo, code)
	}
	return st
}

// download fetches a photo's content.
func (d *device) download(photo string) (int, []byte) {
	d.t.Helper()
	resp, body := d.send("GET", "/v1/photos/"+photo+"/content", nil, nil)
	return resp.StatusCode, body
}

// resolve settles a review item and returns the status code, the result on
// 200 and the error otherwise.
func (d *device) resolve(review string, req contract.ResolveRequest) (int, contract.Result, contract.ErrorDetail) {
	d.t.Helper()
	if req.OpID == "" {
		req.OpID = newID()
	}
	b, err := json.Marshal(req)
	if err != nil {
		d.t.Fatal(err)
	}
	resp, body := d.send("POST", "/v1/reviews/"+review+"/resolve", bytes.NewReader(b), http.Header{"Content-Type": {"application/json"}})
	var res contract.Result
	var ed contract.ErrorDetail
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &res); err != nil {
			d.t.Fatalf("resolve %s: %q: %v", review, body, err)
		}
	} else {
		ed = errorOf(d.t, body)
	}
	return resp.StatusCode, res, ed
}

// openReviews lists the open review items the device's user may see.
func (d *device) openReviews() []contract.Review {
	d.t.Helper()
	var resp contract.ReviewsResponse
	if code := d.call("GET", "/v1/reviews", nil, &resp); code != http.StatusOK {
		d.t.Fatalf("%s reviews: status %d", d, code)
	}
	return resp.Reviews
}

// history returns a record's change log.
func (d *device) history(typ, id string) []contract.Change {
	d.t.Helper()
	var resp contract.HistoryResponse
	if code := d.call("GET", "/v1/records/"+typ+"/"+id+"/history", nil, &resp); code != http.StatusOK {
		d.t.Fatalf("%s history of %s %s: status %d", d, typ, id, code)
	}
	return resp.Changes
}

// note makes an operation adding a note to a job.
func (d *device) note(job, text string) contract.Operation {
	return d.op("note", newID(), contract.ActionAppend, nil, map[string]any{"job_id": job, "text": text})
}

// part makes an operation adding a part line to a job.
func (d *device) part(job, sku string, quantity int) contract.Operation {
	return d.op("part", newID(), contract.ActionAppend, nil, map[string]any{"job_id": job, "sku": sku, "quantity": quantity})
}

// photo makes an operation adding a photo's metadata to a job, for content.
func (d *device) photo(job, filename string, content []byte) contract.Operation {
	sum := sha256.Sum256(content)
	return d.op("photo", newID(), contract.ActionAppend, nil, map[string]any{"job_id": job, "filename": filename,
		"content_type": "image/jpeg", "size": len(content), "sha256": hex.EncodeToString(sum[:])})
}

// fakeJPEG returns n bytes of made-up photo content, different for each seed.
func fakeJPEG(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// text returns a text field of a record the device pulled.
func (d *device) text(id, field string) string {
	d.t.Helper()
	r := d.rec(id)
	return r.Text(field)
}
