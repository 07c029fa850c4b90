package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"fieldsync/contract"

	kgzip "github.com/klauspost/compress/gzip"
)

// wire makes requests as a device that decompresses nothing itself: the
// answer bodies it returns are the bytes that crossed the network.
var wire = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: time.Minute}

// exchange sends body to path as d, with headers, and returns the answer
// and its body as it arrived.
func (d *device) exchange(method, path string, body []byte, header map[string]string) (*http.Response, []byte) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := wire.Do(req)
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

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gunzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the answer is not gzip: %v (%q)", err, clipped(b))
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("the answer is not gzip: %v", err)
	}
	return out
}

func clipped(b []byte) []byte { return b[:min(len(b), 200)] }

// jobOps makes n new jobs for alex, as dana, of about the size a
// dispatcher types (title, site with coordinates, schedule, description).
func jobOps(e *env, dana *device, customer string, n int) []contract.Operation {
	ops := make([]contract.Operation, n)
	for i := range ops {
		ops[i] = dana.op("job", newID(), contract.ActionCreate, nil, map[string]any{
			"title":           fmt.Sprintf("Boiler service and flue check, unit %05d", i),
			"customer_id":     customer,
			"assignee":        e.users["alex"].ID,
			"site_address":    fmt.Sprintf("%d Harbour Road, Leeds LS1 4AB (53.%05d, -1.%05d)", i%900+1, 79650+i%1000, 54785+i%1000),
			"scheduled_start": time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * 30 * time.Minute).Format(time.RFC3339),
			"description": fmt.Sprintf("Annual service of the gas boiler in plant room %d: check the flue, the pressure "+
				"vessel and the condensate trap, and leave the certificate.", i%40+1),
		})
	}
	return ops
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	acceptGzip = map[string]string{"Accept-Encoding": "gzip"}
	noCoding   = map[string]string{"Accept-Encoding": "identity"}
	sendGzip   = map[string]string{"Accept-Encoding": "gzip", "Content-Encoding": "gzip"}
)

func TestAnswersAreCompressedWhenTheDeviceAcceptsGzip(t *testing.T) {
	e := newEnv(t)
	dana, alex := e.login("dana", "office"), e.login("alex", "phone")
	push := marshal(t, contract.PushRequest{Ops: jobOps(e, dana, e.customer(dana, "Harbor Bakery"), 100)})

	dana.exchange("POST", "/v1/push", push, noCoding)
	// A replay answers with the stored results; sent as it is, it is what
	// the compressed replay must decompress to.
	resp, first := dana.exchange("POST", "/v1/push", push, noCoding)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("push without gzip: %s, Content-Encoding %q: %s", resp.Status, resp.Header.Get("Content-Encoding"), clipped(first))
	}

	t.Run("a push answer is compressed, and its replay is the stored answer byte for byte", func(t *testing.T) {
		resp, b := dana.exchange("POST", "/v1/push", push, acceptGzip)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("%s, headers %v", resp.Status, resp.Header)
		}
		if resp.ContentLength != int64(len(b)) {
			t.Errorf("the compressed answer says %d bytes and has %d", resp.ContentLength, len(b))
		}
		if got := gunzipped(t, b); !bytes.Equal(got, first) {
			t.Errorf("the compressed replay differs from the plain one:\n%s\n%s", clipped(got), clipped(first))
		}
		if !bytes.Contains(first, []byte(`"outcome":"already_applied"`)) {
			t.Errorf("the replay was not answered from the stored results: %s", clipped(first))
		}
		if ratio := float64(len(b)) / float64(len(first)); ratio > 0.40 {
			t.Errorf("a push answer of 100 new jobs is %d bytes compressed, %d as it is: %.0f%%, want under 40%%", len(b), len(first), 100*ratio)
		} else {
			t.Logf("push answer for 100 new jobs: %d bytes as it is, %d compressed (%.1f%%)", len(first), len(b), 100*ratio)
		}
	})

	t.Run("a pull page is compressed and says the same", func(t *testing.T) {
		_, plain := alex.exchange("GET", "/v1/pull?limit=100", nil, nil)
		resp, b := alex.exchange("GET", "/v1/pull?limit=100", nil, acceptGzip)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" || resp.ContentLength != int64(len(b)) {
			t.Fatalf("%s, headers %v, %d bytes", resp.Status, resp.Header, len(b))
		}
		var page contract.PullResponse
		if err := json.Unmarshal(gunzipped(t, b), &page); err != nil || len(page.Records) != 100 {
			t.Fatalf("the page decompressed to %d records: %v", len(page.Records), err)
		}
		if got := gunzipped(t, b); !bytes.Equal(got, plain) {
			t.Errorf("the compressed page differs from the plain one")
		}
		if ratio := float64(len(b)) / float64(len(plain)); ratio > 0.40 {
			t.Errorf("a pull page of 100 jobs is %d bytes compressed, %d as it is: %.0f%%, want under 40%%", len(b), len(plain), 100*ratio)
		} else {
			t.Logf("pull page of 100 jobs: %d bytes as it is, %d compressed (%.1f%%)", len(plain), len(b), 100*ratio)
		}
	})

	t.Run("small answers and errors are sent as they are", func(t *testing.T) {
		for _, path := range []string{"/v1/me", "/healthz", "/v1/pull?cursor=nonsense", "/v1/nothing"} {
			resp, b := alex.exchange("GET", path, nil, acceptGzip)
			if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Vary") != "" || !json.Valid(b) {
				t.Errorf("GET %s: %s, headers %v, body %q", path, resp.Status, resp.Header, clipped(b))
			}
		}
	})

	t.Run("a device that refuses gzip gets the answer as it is", func(t *testing.T) {
		resp, b := alex.exchange("GET", "/v1/pull?limit=100", nil, map[string]string{"Accept-Encoding": "gzip;q=0, identity"})
		if resp.Header.Get("Content-Encoding") != "" || !json.Valid(b) {
			t.Errorf("%s, headers %v", resp.Status, resp.Header)
		}
	})

	t.Run("photo content is sent as the file's own bytes", func(t *testing.T) {
		job := e.job(dana, e.customer(dana, "Corner Shop"), "alex", "Leak", "1 Quay St", time.Now())
		content := bytes.Repeat([]byte("jpeg-ish bytes that would compress well "), 200)
		op := alex.photo(job, "leak.jpg", content)
		alex.must(op)
		if code, _, _ := alex.upload(op.RecordID, 0, content); code != http.StatusOK {
			t.Fatalf("upload: %d", code)
		}
		resp, b := alex.exchange("GET", "/v1/photos/"+op.RecordID+"/content", nil, acceptGzip)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, content) {
			t.Errorf("download: %s, headers %v, %d bytes", resp.Status, resp.Header, len(b))
		}
		resp, b = alex.exchange("GET", "/v1/photos/"+op.RecordID+"/content", nil, map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=10-19"})
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, content[10:20]) {
			t.Errorf("a range: %s, headers %v, %q", resp.Status, resp.Header, b)
		}
	})
}

func TestCompressedRequests(t *testing.T) {
	e := newEnv(t)
	dana, alex := e.login("dana", "office"), e.login("alex", "phone")
	customer := e.customer(dana, "Harbor Bakery")

	t.Run("an answer to a body sent as it is says the next may be gzip", func(t *testing.T) {
		resp, _ := dana.exchange("POST", "/v1/login", marshal(t, contract.LoginRequest{Username: "dana", Password: testPassword, DeviceID: "office"}), nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Accept-Encoding") != "gzip" {
			t.Errorf("login: %s, Accept-Encoding %q", resp.Status, resp.Header.Get("Accept-Encoding"))
		}
		resp, _ = alex.exchange("GET", "/v1/pull", nil, acceptGzip)
		if resp.Header.Get("Accept-Encoding") != "" {
			t.Errorf("a pull sent no body, yet its answer says Accept-Encoding %q", resp.Header.Get("Accept-Encoding"))
		}
	})

	t.Run("a gzip push is applied as the same push sent as it is", func(t *testing.T) {
		ops := jobOps(e, dana, customer, 50)
		resp, b := dana.exchange("POST", "/v1/push", gzipped(t, marshal(t, contract.PushRequest{Ops: ops})), sendGzip)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", resp.Status, b)
		}
		var out contract.PushResponse
		if err := json.Unmarshal(gunzipped(t, b), &out); err != nil || len(out.Results) != 50 {
			t.Fatalf("%d results: %v", len(out.Results), err)
		}
		for i, r := range out.Results {
			if r.Outcome != contract.Applied || r.OpID != ops[i].ID {
				t.Fatalf("result %d: %+v", i, r)
			}
		}
		if got := e.stored(ops[7].RecordID).Text("title"); got != "Boiler service and flue check, unit 00007" {
			t.Errorf("the server keeps the title %q", got)
		}
	})

	t.Run("a gzip sign-in signs in", func(t *testing.T) {
		resp, b := alex.exchange("POST", "/v1/login", gzipped(t, marshal(t, contract.LoginRequest{Username: "alex", Password: testPassword, DeviceID: "phone"})), sendGzip)
		var out contract.LoginResponse
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.Token == "" {
			t.Errorf("%s: %s", resp.Status, b)
		}
	})

	limit := e.srv.Rules().Limits.Body
	bomb := func() []byte {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write([]byte(`{"ops":[`))
		zeros := make([]byte, 1<<20)
		for range 8*limit>>20 + 1 {
			zw.Write(zeros)
		}
		zw.Close()
		return buf.Bytes()
	}()
	// Past the limit, yet compressed no better than real text is.
	overLimit := func() []byte {
		b := bytes.Repeat([]byte(" "), int(limit)+1<<20)
		rnd := rand.New(rand.NewPCG(3, 4))
		for i := 0; i < len(b); i += 40 {
			b[i] = byte('a' + rnd.IntN(26))
		}
		copy(b, `{"ops":[`)
		return gzipped(t, b)
	}()
	corrupt := gzipped(t, marshal(t, contract.PushRequest{Ops: jobOps(e, dana, customer, 1)}))
	corrupt[len(corrupt)/2] ^= 0xff
	whole := gzipped(t, marshal(t, contract.PushRequest{Ops: jobOps(e, dana, customer, 1)}))

	refusals := []struct {
		name    string
		path    string
		method  string
		body    []byte
		header  map[string]string
		status  int
		code    contract.Code
		message string
		accept  string // the Accept-Encoding of the answer
	}{
		{"a small body that inflates a thousand times over is refused before it inflates far", "/v1/push", "POST", bomb, sendGzip,
			http.StatusRequestEntityTooLarge, contract.CodeTooLarge, "inflates more than 200 times over, which no request does", ""},
		{"a body that inflates past the body limit is refused", "/v1/push", "POST", overLimit, sendGzip,
			http.StatusRequestEntityTooLarge, contract.CodeTooLarge, fmt.Sprintf("over the limit of %d bytes once decompressed", limit), ""},
		{"a body that is not gzip is refused as such", "/v1/push", "POST", []byte(`{"ops":[]}`), sendGzip,
			http.StatusBadRequest, contract.CodeInvalid, "not valid gzip: it does not start with a gzip header", ""},
		{"a corrupt gzip body is refused as such", "/v1/push", "POST", corrupt, sendGzip,
			http.StatusBadRequest, contract.CodeInvalid, "not valid gzip", ""},
		{"a gzip body cut short is refused as such", "/v1/push", "POST", whole[:len(whole)-6], sendGzip,
			http.StatusBadRequest, contract.CodeInvalid, "not valid gzip: it ends before the compressed data does", ""},
		{"a body read and refused says the server reads gzip", "/v1/push", "POST", gzipped(t, []byte(`{"ops":[],"extra":1}`)), sendGzip,
			http.StatusBadRequest, contract.CodeInvalid, `unknown field "extra"`, "gzip"},
		{"another coding is unsupported", "/v1/push", "POST", []byte("xx"), map[string]string{"Content-Encoding": "br"},
			http.StatusUnsupportedMediaType, contract.CodeInvalid, `Content-Encoding "br": send gzip, or the body as it is`, "gzip"},
		{"photo content is never compressed", "/v1/photos/" + newID() + "/content?offset=0", "PUT", gzipped(t, []byte("jpeg")), sendGzip,
			http.StatusUnsupportedMediaType, contract.CodeInvalid, "without Content-Encoding: Upload-Offset counts those bytes", "identity"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := dana.exchange(tt.method, tt.path, tt.body, tt.header)
			got := errorOf(t, b)
			if resp.StatusCode != tt.status || got.Code != tt.code || !strings.Contains(got.Message, tt.message) {
				t.Errorf("%s %+v, want %d %s %q", resp.Status, got, tt.status, tt.code, tt.message)
			}
			if got := resp.Header.Get("Accept-Encoding"); got != tt.accept {
				t.Errorf("the answer says Accept-Encoding %q, want %q", got, tt.accept)
			}
		})
	}
	t.Run("nothing of a refused body was applied", func(t *testing.T) {
		alex.pull()
		n := 0
		for _, r := range alex.records {
			if r.Type == "job" {
				n++
			}
		}
		if n != 50 {
			t.Errorf("alex sees %d jobs, want the 50 of the gzip push", n)
		}
	})
}

// TestAnOlderDeviceStillSyncs speaks HTTP/1.1 by hand, as a device built
// before compression did: no Accept-Encoding, bodies as they are. Every
// answer comes back as it is and reads as JSON.
func TestAnOlderDeviceStillSyncs(t *testing.T) {
	e := newEnv(t)
	dana := e.login("dana", "office")
	dana.push(jobOps(e, dana, e.customer(dana, "Harbor Bakery"), 200)...)

	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	roundTrip := func(method, path, token string, body []byte, out any) {
		t.Helper()
		var req strings.Builder
		fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: fieldsync\r\n", method, path)
		if token != "" {
			fmt.Fprintf(&req, "Authorization: Bearer %s\r\n", token)
		}
		if body != nil {
			fmt.Fprintf(&req, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
		}
		req.WriteString("\r\n")
		req.Write(body)
		if _, err := io.WriteString(conn, req.String()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("%s %s: %s, headers %v, %v", method, path, resp.Status, resp.Header, err)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %q", method, path, err, clipped(b))
		}
	}

	var login contract.LoginResponse
	roundTrip("POST", "/v1/login", "", marshal(t, contract.LoginRequest{Username: "alex", Password: testPassword, DeviceID: "old-phone"}), &login)
	var jobs []string
	cursor := ""
	for {
		var page contract.PullResponse
		roundTrip("GET", "/v1/pull?limit=150&cursor="+cursor, login.Token, nil, &page)
		for _, r := range page.Records {
			if r.Type == "job" {
				jobs = append(jobs, r.ID)
			}
		}
		if cursor = page.Cursor; !page.More {
			break
		}
	}
	if len(jobs) != 200 {
		t.Fatalf("the old device pulled %d jobs, want 200", len(jobs))
	}
	older := &device{e: e, t: t, id: "old-phone", clock: time.Now()}
	ops := make([]contract.Operation, 30)
	for i := range ops {
		ops[i] = older.op("note", newID(), contract.ActionAppend, nil, map[string]any{"job_id": jobs[i], "text": "Checked the flue and the pressure vessel; all well."})
	}
	var out contract.PushResponse
	roundTrip("POST", "/v1/push", login.Token, marshal(t, contract.PushRequest{Ops: ops}), &out)
	for i, r := range out.Results {
		if r.Outcome != contract.Applied {
			t.Fatalf("note %d: %+v", i, r)
		}
	}
	if len(out.Results) != 30 || len(e.items(jobs[0])["note"]) != 1 {
		t.Errorf("%d results; the first job has notes %v", len(out.Results), e.items(jobs[0]))
	}
}

// answerSamples returns, from a real server, the answer to a push of 500
// new jobs and the two pull pages (of 500 records each) that bring 1,000
// jobs to a new device, as they are sent uncompressed.
func answerSamples(b testing.TB) (push []byte, pull [][]byte) {
	e := newEnv(b)
	dana, alex := e.login("dana", "office"), e.login("alex", "phone")
	customer := e.customer(dana, "Harbor Bakery")
	dana.push(jobOps(e, dana, customer, 500)...)
	_, push = dana.exchange("POST", "/v1/push", marshal(b, contract.PushRequest{Ops: jobOps(e, dana, customer, 500)}), noCoding)
	cursor := ""
	for range 2 {
		_, page := alex.exchange("GET", "/v1/pull?limit=500&cursor="+cursor, nil, noCoding)
		var p contract.PullResponse
		if err := json.Unmarshal(page, &p); err != nil || len(p.Records) != 500 {
			b.Fatalf("a pull page of %d records: %v", len(p.Records), err)
		}
		pull, cursor = append(pull, page), p.Cursor
	}
	return push, pull
}

// gzipWriter is the part of a gzip writer the benchmark uses, the
// standard library's or klauspost/compress's.
type gzipWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// BenchmarkAnswerCompression compresses a 500-operation push answer and
// the pull of 1,000 jobs (two pages) at gzip levels 1, 5, 6 and 9, with
// the standard library and with klauspost/compress, reusing one writer as
// the server does, and reports the bytes sent and their share of the
// uncompressed size. ns/op is one core's CPU for the whole of it.
func BenchmarkAnswerCompression(b *testing.B) {
	push, pull := answerSamples(b)
	samples := []struct {
		name   string
		bodies [][]byte
	}{{"push_500_ops", [][]byte{push}}, {"pull_1000_records", pull}}
	libraries := []struct {
		name string
		make func(level int) gzipWriter
	}{
		{"stdlib", func(level int) gzipWriter { zw, _ := gzip.NewWriterLevel(io.Discard, level); return zw }},
		{"klauspost", func(level int) gzipWriter { zw, _ := kgzip.NewWriterLevel(io.Discard, level); return zw }},
	}
	for _, s := range samples {
		plain := 0
		for _, body := range s.bodies {
			plain += len(body)
		}
		for _, lib := range libraries {
			for _, level := range []int{1, 5, 6, 9} {
				b.Run(fmt.Sprintf("%s/%s/level_%d", s.name, lib.name, level), func(b *testing.B) {
					var out countWriter
					zw := lib.make(level)
					b.SetBytes(int64(plain))
					for b.Loop() {
						out = 0
						for _, body := range s.bodies {
							zw.Reset(&out)
							zw.Write(body)
							zw.Close()
						}
					}
					b.ReportMetric(float64(out), "wire_bytes")
					b.ReportMetric(float64(plain), "plain_bytes")
					b.ReportMetric(100*float64(out)/float64(plain), "%_of_plain")
				})
			}
		}
	}
}

// countWriter counts the bytes written to it.
type countWriter int

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// An answer too large to hold compressed until its size is known is sent
// in chunks as it is compressed, and arrives whole.
func TestALargeCompressedAnswerArrivesWhole(t *testing.T) {
	e := newEnv(t)
	dana, alex := e.login("dana", "office"), e.login("alex", "phone")
	ops := jobOps(e, dana, e.customer(dana, "Harbor Bakery"), 400)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range ops {
		// Random hex compresses to about half: 400 jobs make an answer of
		// some 450 KB compressed, more than the server holds.
		desc := make([]byte, 2000)
		for j := range desc {
			desc[j] = "0123456789abcdef"[rnd.IntN(16)]
		}
		ops[i].Values["description"] = marshal(t, string(desc))
	}
	dana.push(ops...)
	resp, b := alex.exchange("GET", "/v1/pull?limit=500", nil, acceptGzip)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" || resp.ContentLength != -1 || len(b) < 300<<10 {
		t.Fatalf("%s, headers %v, %d bytes", resp.Status, resp.Header, len(b))
	}
	var page contract.PullResponse
	if err := json.Unmarshal(gunzipped(t, b), &page); err != nil {
		t.Fatal(err)
	}
	jobs := 0
	for _, r := range page.Records {
		if r.Type == "job" {
			jobs++
		}
	}
	if jobs != 400 {
		t.Errorf("the page has %d jobs, want 400", jobs)
	}
}
