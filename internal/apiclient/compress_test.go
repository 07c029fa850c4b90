package apiclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"fieldsync/contract"
	"fieldsync/internal/apiclient"
	"fieldsync/server"
	"fieldsync/server/sqlitestore"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// seen is one request as it reached the server.
type seen struct {
	path     string
	encoding string // its Content-Encoding
	accept   string // its Accept-Encoding
	wire     int64  // the body's bytes as sent
}

// wireEnv is a real server on loopback that counts the connections
// devices open and notes each request as it arrived. With older set, it
// plays a server from before compression, as such a server behaves: it
// compresses nothing, says nothing of gzip, and reads a gzip body as if it
// were JSON.
type wireEnv struct {
	*env
	conns atomic.Int64
	older atomic.Bool

	mu   sync.Mutex
	reqs []seen
}

func newWireEnv(t *testing.T) *wireEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlitestore.Open(filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(server.Options{Store: st, BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	if err := server.SeedDemo(context.Background(), srv, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	w := &wireEnv{}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		// The body is read, and the request noted, before the server
		// answers: a device that has its answer finds it noted.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("%s %s: reading the body: %v", r.Method, r.URL.Path, err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		w.mu.Lock()
		w.reqs = append(w.reqs, seen{path: r.URL.Path, encoding: r.Header.Get("Content-Encoding"),
			accept: r.Header.Get("Accept-Encoding"), wire: int64(len(body))})
		w.mu.Unlock()
		if w.older.Load() {
			r.Header.Del("Accept-Encoding")
			r.Header.Del("Content-Encoding")
			rw = &sayNothingOfGzip{ResponseWriter: rw}
		}
		srv.ServeHTTP(rw, r)
	}))
	ts.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			w.conns.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	w.env = &env{t: t, ts: ts}
	return w
}

// requests returns the requests to path that arrived since the last call.
func (w *wireEnv) requests(path string) []seen {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []seen
	for _, s := range w.reqs {
		if s.path == path {
			out = append(out, s)
		}
	}
	w.reqs = nil
	return out
}

// sayNothingOfGzip drops the Accept-Encoding an answer would carry.
type sayNothingOfGzip struct{ http.ResponseWriter }

func (s *sayNothingOfGzip) WriteHeader(code int) {
	s.Header().Del("Accept-Encoding")
	s.ResponseWriter.WriteHeader(code)
}

func (s *sayNothingOfGzip) Write(p []byte) (int, error) {
	s.Header().Del("Accept-Encoding")
	return s.ResponseWriter.Write(p)
}

// notes makes n notes on a job alex sees, each of a sentence.
func (d *device) notes(job string, n int) []contract.Operation {
	ops := make([]contract.Operation, n)
	for i := range ops {
		ops[i] = d.note(job, fmt.Sprintf("Visit %d: replaced the seal and checked the pump for leaks at full pressure.", i))
	}
	return ops
}

func (d *device) mustPush(ops []contract.Operation) contract.PushResponse {
	d.t.Helper()
	ans, err := d.c.Push(context.Background(), ops)
	if err != nil {
		d.t.Fatalf("push: %v", err)
	}
	for i, r := range ans.Results {
		if r.Outcome != contract.Applied {
			d.t.Fatalf("operation %d: %+v", i, r)
		}
	}
	return ans
}

// Every answer is read to its end before it is closed, so one connection
// carries a whole sync: sign-in, rules, pushes, many pull pages, and
// answers that are errors; compressed, or from an older server, as they
// are and in chunks.
func TestOneConnectionCarriesAWholeSync(t *testing.T) {
	for _, older := range []bool{false, true} {
		name := "to a server that compresses"
		if older {
			name = "to an older server, that does not"
		}
		t.Run(name, func(t *testing.T) {
			w := newWireEnv(t)
			w.older.Store(older)
			ctx := context.Background()
			d := w.login("alex")
			if _, err := d.c.Rules(ctx); err != nil {
				t.Fatal(err)
			}
			pump := d.job("Replace pump seal").ID
			for range 3 {
				d.mustPush(d.notes(pump, 40))
			}
			for _, limit := range []int{7, 500} {
				cursor, pages := "", 0
				for {
					page, err := d.c.Pull(ctx, cursor, limit, false)
					if err != nil {
						t.Fatal(err)
					}
					pages++
					if cursor = page.Cursor; !page.More {
						break
					}
				}
				if limit == 7 && pages < 10 {
					t.Fatalf("%d pages of 7", pages)
				}
			}
			for range 3 {
				if _, err := d.c.History(ctx, "job", uuid.NewString()); apiclient.ErrorCode(err) != contract.CodeNotFound {
					t.Fatalf("history of no job: %v", err)
				}
				if _, err := d.c.Pull(ctx, "not a cursor", 0, false); apiclient.ErrorCode(err) != contract.CodeInvalid {
					t.Fatalf("a pull from a bad cursor: %v", err)
				}
			}
			if err := d.c.Health(ctx); err != nil {
				t.Fatal(err)
			}
			if n := w.conns.Load(); n != 1 {
				t.Errorf("the sync opened %d connections, want 1", n)
			}
		})
	}
}

// The device compresses a request body only after the server said, in an
// answer's Accept-Encoding, that it takes gzip; and stops, sending the
// body again as it is, when an older server took its place.
func TestTheDeviceCompressesOnlyForAServerThatTakesGzip(t *testing.T) {
	w := newWireEnv(t)
	ctx := context.Background()
	c, err := apiclient.New(w.ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	w.older.Store(true)
	d := &device{t: t, c: c, id: "device-" + uuid.NewString()}
	if _, err := c.Login(ctx, "alex", server.DemoPassword, d.id); err != nil {
		t.Fatal(err)
	}
	pump := d.job("Replace pump seal").ID
	w.requests("")

	step := func(name string, want ...string) {
		t.Helper()
		d.mustPush(d.notes(pump, 30))
		got := w.requests("/v1/push")
		var codings []string
		for _, s := range got {
			codings = append(codings, s.encoding)
			if s.accept != "gzip" {
				t.Errorf("%s: the push asked for answers in %q", name, s.accept)
			}
		}
		if fmt.Sprint(codings) != fmt.Sprint(want) {
			t.Errorf("%s: pushes sent as %q, want %q", name, codings, want)
		}
	}
	step("to an older server", "")
	step("to an older server, again", "")
	w.older.Store(false)
	step("to a newer one, before it said so", "")
	step("after it said so", "gzip")
	w.older.Store(true)
	step("when an older server took its place", "gzip", "")
	step("after that", "")
	w.older.Store(false)
	step("when a newer one is back", "")
	step("and has said so", "gzip")

	// A body the server read and refused is not sent again.
	var raw []json.RawMessage
	for _, op := range d.notes(pump, 10) {
		b, _ := json.Marshal(op)
		raw = append(raw, b)
	}
	raw = append(raw, json.RawMessage(`{"id":"`+uuid.NewString()+`","record_type":"note","values":"not an object"}`))
	_, err = c.SendPush(ctx, apiclient.PushBodyOf(raw), len(raw))
	if apiclient.ErrorCode(err) != contract.CodeInvalid {
		t.Fatalf("a push of a malformed operation: %v", err)
	}
	if got := w.requests("/v1/push"); len(got) != 1 || got[0].encoding != "gzip" {
		t.Errorf("a push the server read and refused went as %+v, want once, compressed", got)
	}
	step("after a refusal", "gzip")
}

// A compressed push travels in a fraction of its bytes, and the answers
// come back compressed and read whole.
func TestCompressedBodiesSaveBytes(t *testing.T) {
	w := newWireEnv(t)
	ctx := context.Background()
	d := w.login("alex")
	pump := d.job("Replace pump seal").ID
	ops := d.notes(pump, 100)
	body, _ := apiclient.PushBody(ops)
	w.requests("")
	ans := d.mustPush(ops)
	if len(ans.Copies) != 100 {
		t.Fatalf("%d copies", len(ans.Copies))
	}
	sent := w.requests("/v1/push")
	if len(sent) != 1 || sent[0].encoding != "gzip" || float64(sent[0].wire) > 0.4*float64(len(body)) {
		t.Fatalf("a push of 100 notes, %d bytes of JSON, was sent as %+v; want gzip under 40%%", len(body), sent)
	}
	t.Logf("push of 100 notes: %d bytes of JSON, %d sent", len(body), sent[0].wire)

	// What the device received, counted under the client.
	counted := &countingTransport{base: http.DefaultTransport}
	c, err := apiclient.New(w.ts.URL, &http.Client{Transport: counted})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, "alex", server.DemoPassword, d.id); err != nil {
		t.Fatal(err)
	}
	counted.n.Store(0)
	page, err := c.Pull(ctx, "", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := json.Marshal(page)
	if got := counted.n.Load(); len(page.Records) < 100 || float64(got) > 0.4*float64(len(plain)) {
		t.Errorf("a pull of %d records, %d bytes of JSON, arrived in %d bytes; want under 40%%", len(page.Records), len(plain), got)
	} else {
		t.Logf("pull of %d records: %d bytes of JSON, %d received", len(page.Records), len(plain), got)
	}
}

// countingTransport counts the answer bytes that arrive through it.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		resp.Body = &countedBody{ReadCloser: resp.Body, n: &t.n}
	}
	return resp, err
}

type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
