package syncqueue_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
	"fieldsync/internal/apiclient"
	"fieldsync/localstore"
	"fieldsync/server"
	"fieldsync/server/sqlitestore"
	"fieldsync/syncqueue"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// env is a real server over a real SQLite file with the demo seeded, on
// loopback behind a recording proxy.
type env struct {
	t     testing.TB
	srv   *server.Server
	proxy *proxy
	ts    *httptest.Server
}

func newEnv(t testing.TB) *env { return newEnvOver(t, nil) }

// newEnvOver is newEnv over what wrap makes of the real store; nil wrap
// leaves it as it is.
func newEnvOver(t testing.TB, wrap func(server.Store) server.Store) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlitestore.Open(filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	var store server.Store = st
	if wrap != nil {
		store = wrap(st)
	}
	srv, err := server.New(server.Options{Store: store, BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	if err := server.SeedDemo(context.Background(), srv, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	p := &proxy{next: srv}
	ts := httptest.NewServer(p)
	t.Cleanup(func() {
		ts.Close()
		st.Close()
	})
	return &env{t: t, srv: srv, proxy: p, ts: ts}
}

// proxy passes requests to the server, recording each, and lets a test
// answer some itself.
type proxy struct {
	next http.Handler
	mu   sync.Mutex
	reqs []request
	// intercept, when set, may answer a request itself and return true.
	intercept func(w http.ResponseWriter, r *http.Request, body []byte) bool
}

// request is what the proxy saw of one request.
type request struct {
	Method, Path, Query string
	Ops                 int // operations in a push
	Body                []byte
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	// The tests read bodies and answers as JSON: the proxy takes the
	// device's gzip off, saying that it reads gzip as the server does, and
	// asks the server for plain answers.
	if r.Header.Get("Content-Encoding") == "gzip" {
		if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
			if plain, err := io.ReadAll(zr); err == nil {
				body = plain
				r.Header.Del("Content-Encoding")
				r.ContentLength = int64(len(body))
				w.Header().Set("Accept-Encoding", "gzip")
			}
		}
	}
	r.Header.Del("Accept-Encoding")
	r.Body = io.NopCloser(bytes.NewReader(body))
	rq := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body}
	if r.URL.Path == "/v1/push" {
		var pr contract.PushRequest
		if json.Unmarshal(body, &pr) == nil {
			rq.Ops = len(pr.Ops)
		}
	}
	p.mu.Lock()
	p.reqs = append(p.reqs, rq)
	hook := p.intercept
	p.mu.Unlock()
	if hook != nil && hook(w, r, body) {
		return
	}
	p.next.ServeHTTP(w, r)
}

func (p *proxy) setIntercept(f func(w http.ResponseWriter, r *http.Request, body []byte) bool) {
	p.mu.Lock()
	p.intercept = f
	p.mu.Unlock()
}

// take returns the requests to paths under path seen so far ("" for all)
// and forgets every request seen.
func (p *proxy) take(path string) []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []request
	for _, r := range p.reqs {
		if path == "" || r.Path == path || strings.HasPrefix(r.Path, path) {
			out = append(out, r)
		}
	}
	p.reqs = nil
	return out
}

// device is one signed-in device: a real store in a temp dir, a client and
// a queue driven by hand.
type device struct {
	t     testing.TB
	st    *localstore.Store
	c     *apiclient.Client
	q     *syncqueue.Queue
	user  contract.User
	id    string
	rules *rulebook.Rules
	clock *clock
}

// clock is a settable clock for the queue.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type deviceOpt func(*syncqueue.Options, *device)

// withBatch makes the device use the rules with another batch size.
func withBatch(n int) deviceOpt {
	return func(o *syncqueue.Options, d *device) {
		r := *d.rules
		r.Limits.Batch = n
		d.rules = &r
	}
}

// withChunk sets the upload chunk size.
func withChunk(n int64) deviceOpt {
	return func(o *syncqueue.Options, d *device) { o.ChunkSize = n }
}

// login signs user in on a new device against baseURL.
// withRand makes the device draw its retry jitter from r.
func withRand(r func() float64) deviceOpt {
	return func(o *syncqueue.Options, d *device) { o.Rand = r }
}

func login(t testing.TB, baseURL, user string, opts ...deviceOpt) *device {
	t.Helper()
	st, err := localstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.SetRebaser(localstore.RebaseFunc(applyValues))
	id, err := st.DeviceID()
	if err != nil {
		t.Fatal(err)
	}
	c, err := apiclient.New(baseURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &device{t: t, st: st, c: c, id: id, rules: rulebook.Default(),
		clock: &clock{t: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}}
	if user != "" {
		resp, err := c.Login(context.Background(), user, server.DemoPassword, id)
		if err != nil {
			t.Fatalf("login %s: %v", user, err)
		}
		d.user = resp.User
	}
	o := syncqueue.Options{Store: st, Client: c, Now: d.clock.Now}
	for _, opt := range opts {
		opt(&o, d)
	}
	o.Rules = func() *rulebook.Rules { return d.rules }
	d.q = syncqueue.New(o)
	t.Cleanup(func() { d.q.Close(context.Background()) })
	return d
}

func (e *env) login(user string, opts ...deviceOpt) *device {
	e.t.Helper()
	return login(e.t, e.ts.URL, user, opts...)
}

// sync runs one data round and fails the test on error.
func (d *device) sync() {
	d.t.Helper()
	if err := d.q.RunData(context.Background()); err != nil {
		d.t.Fatalf("%s data round: %v", d.user.Name, err)
	}
}

// job finds a job on the device by title.
func (d *device) job(title string) *localstore.Entry {
	d.t.Helper()
	all, err := d.st.Records("job")
	if err != nil {
		d.t.Fatal(err)
	}
	for i := range all {
		if all[i].View.Text("title") == title {
			return &all[i]
		}
	}
	d.t.Fatalf("%s has no job %q", d.user.Name, title)
	return nil
}

// op makes an operation from this device.
func (d *device) op(typ, id string, action contract.Action, bases map[string]int64, values map[string]any) contract.Operation {
	d.t.Helper()
	vals := map[string]json.RawMessage{}
	for k, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			d.t.Fatal(err)
		}
		vals[k] = b
	}
	return contract.Operation{ID: uuid.NewString(), RecordType: typ, RecordID: id, Action: action, Bases: bases,
		Values: vals, DeviceID: d.id, DeviceTime: time.Now().UTC()}
}

// save saves operations in the device's store.
func (d *device) save(ops ...contract.Operation) {
	d.t.Helper()
	for _, op := range ops {
		if _, err := d.st.Save(op, nil); err != nil {
			d.t.Fatal(err)
		}
	}
}

// note makes a note append on a job.
func (d *device) note(jobID, text string) contract.Operation {
	return d.op("note", uuid.NewString(), contract.ActionAppend, nil, map[string]any{"job_id": jobID, "text": text})
}

// addPhoto imports content and saves its append, as the app does.
func (d *device) addPhoto(jobID string, content []byte) contract.Operation {
	d.t.Helper()
	id := uuid.NewString()
	path, size, sum, err := d.st.ImportPhoto(id, bytes.NewReader(content), 1<<20)
	if err != nil {
		d.t.Fatal(err)
	}
	op := d.op("photo", id, contract.ActionAppend, nil, map[string]any{"job_id": jobID, "size": size, "sha256": sum, "filename": "p.jpg", "content_type": "image/jpeg"})
	if _, err := d.st.Save(op, &localstore.Photo{ID: id, JobID: jobID, Path: path, Size: size, SHA256: sum}); err != nil {
		d.t.Fatal(err)
	}
	return op
}

// applyValues is a small real rebaser: the server's copy (or a new record)
// with each operation's values set on top.
func applyValues(server, parent *contract.Record, ops []contract.Operation) *contract.Record {
	view := server.Clone()
	for _, op := range ops {
		if view == nil {
			view = &contract.Record{Type: op.RecordType, ID: op.RecordID, Fields: map[string]json.RawMessage{},
				Versions: map[string]int64{}, DeviceID: op.DeviceID, DeviceTime: op.DeviceTime}
		}
		for k, v := range op.Values {
			if k == "job_id" {
				_ = json.Unmarshal(v, &view.ParentID)
				continue
			}
			view.Fields[k] = v
		}
	}
	return view
}

// answer writes a JSON error body as the server does.
func answer(w http.ResponseWriter, status int, code contract.Code, msg string, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	kind := contract.KindOf(code)
	json.NewEncoder(w).Encode(contract.ErrorBody{Error: contract.ErrorDetail{Code: code, Kind: kind, Message: msg, Retry: status >= 500 || status == 429}})
}
