package faultproxy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fieldsync/internal/faultproxy"
)

// backend is a server that records what reached it.
type backend struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []string // method and path of each request it saw
	bodies [][]byte // the body bytes it read, even when cut
	errs   []error  // the error reading each body, if any
}

func newBackend(t *testing.T) *backend {
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		b.mu.Lock()
		b.hits = append(b.hits, r.Method+" "+r.URL.Path)
		b.bodies = append(b.bodies, body)
		b.errs = append(b.errs, err)
		b.mu.Unlock()
		if err != nil {
			http.Error(w, "cut short", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Seen", r.URL.RawQuery)
		io.WriteString(w, "ok:"+string(body))
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) seen() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.hits)
}

func newProxy(t *testing.T, b *backend) *faultproxy.Proxy {
	p := faultproxy.New(b.URL)
	t.Cleanup(p.Close)
	return p
}

// client never reuses connections, so that what one request does to a
// connection never shows in the next, and never retries on its own.
func client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

func send(c *http.Client, method, url, body string) (int, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestForwardPassesRequestsAndAnswers(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	code, body, err := send(client(), "POST", p.URL()+"/v1/push?x=1", "hello")
	if err != nil || code != 200 || body != "ok:hello" {
		t.Fatalf("got %d %q %v, want 200 ok:hello", code, body, err)
	}
	st := p.Stats()
	if st.Requests != 1 || st.Forwarded != 1 || st.BytesIn != 5 || st.BytesOut != 5 {
		t.Errorf("stats %+v", st)
	}
	ev := p.Events()
	if len(ev) != 1 || ev[0].Method != "POST" || ev[0].Path != "/v1/push" || ev[0].Query != "x=1" || ev[0].Status != 200 ||
		!ev[0].Replied || !ev[0].Forwarded || ev[0].Fault != faultproxy.Forward || !ev[0].Done {
		t.Errorf("events %+v", ev)
	}
}

func TestDropRequestNeverReachesTheServer(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	p.Add(faultproxy.Rule{Method: "POST", Fault: faultproxy.DropRequest, Times: 1})
	if _, _, err := send(client(), "POST", p.URL()+"/v1/push", "x"); err == nil {
		t.Fatal("a dropped request got an answer")
	}
	if n := b.seen(); n != 0 {
		t.Errorf("the server saw %d requests, want none", n)
	}
	// The rule was for one request only.
	if code, _, err := send(client(), "POST", p.URL()+"/v1/push", "y"); err != nil || code != 200 {
		t.Fatalf("second request: %d %v", code, err)
	}
	st := p.Stats()
	if st.DroppedRequests != 1 || st.Forwarded != 1 || st.Requests != 2 || p.Rules() != 0 {
		t.Errorf("stats %+v rules %d", st, p.Rules())
	}
}

func TestDropReplyAfterTheServerHandledIt(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	p.Add(faultproxy.Rule{Path: "/v1/push", Fault: faultproxy.DropReply, Times: 1, Name: "lost reply"})
	if _, _, err := send(client(), "POST", p.URL()+"/v1/push", "x"); err == nil {
		t.Fatal("a dropped reply arrived")
	}
	if n := b.seen(); n != 1 {
		t.Errorf("the server saw %d requests, want 1", n)
	}
	ev := p.Events()[0]
	if ev.Fault != faultproxy.DropReply || ev.Rule != "lost reply" || ev.Status != 200 || ev.Replied || !ev.Forwarded {
		t.Errorf("event %+v", ev)
	}
	if st := p.Stats(); st.DroppedReplies != 1 || st.Forwarded != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestUnavailableAnswers503WithRetryAfter(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	p.Add(faultproxy.Rule{Fault: faultproxy.Unavailable, RetryAfter: 1500 * time.Millisecond, Times: 1})
	resp, err := client().Get(p.URL() + "/v1/pull")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "2" || !strings.Contains(string(body), `"retry":true`) {
		t.Errorf("got %d Retry-After %q body %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if b.seen() != 0 || p.Stats().Unavailable != 1 {
		t.Errorf("server saw %d, stats %+v", b.seen(), p.Stats())
	}
}

func TestCutUploadForwardsOnlyTheFirstBytes(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	p.Add(faultproxy.Rule{Method: "PUT", Path: "/v1/photos/", Fault: faultproxy.CutUpload, CutAfter: 1000, Times: 2})
	content := bytes.Repeat([]byte("abcdefgh"), 1000) // 8000 bytes
	for i := range 2 {
		if _, _, err := send(client(), "PUT", p.URL()+"/v1/photos/p1/content?offset=0", string(content)); err == nil {
			t.Fatalf("cut upload %d got an answer", i+1)
		}
	}
	// When the proxy hangs up, the server has already read what it got.
	b.mu.Lock()
	if len(b.bodies) != 2 {
		t.Fatalf("the server saw %d uploads, want 2", len(b.bodies))
	}
	for i, body := range b.bodies {
		if len(body) != 1000 || !bytes.Equal(body, content[:1000]) || !errors.Is(b.errs[i], io.ErrUnexpectedEOF) {
			t.Errorf("upload %d: server read %d bytes, err %v; want the first 1000 and a body cut short", i+1, len(body), b.errs[i])
		}
	}
	b.mu.Unlock()
	// A PUT elsewhere, and the third, pass whole.
	if code, body, err := send(client(), "PUT", p.URL()+"/v1/photos/p1/content?offset=0", string(content)); err != nil || code != 200 || len(body) != 8003 {
		t.Fatalf("third upload: %d %d %v", code, len(body), err)
	}
	st := p.Stats()
	if st.Cut != 2 || st.BytesIn != 24000 || st.BytesOut != 10000 || st.Forwarded != 3 {
		t.Errorf("stats %+v", st)
	}
	ev := p.Events()
	if ev[0].BodyIn != 8000 || ev[0].BodyOut != 1000 || ev[0].Status != http.StatusBadRequest || ev[0].Replied {
		t.Errorf("event %+v", ev[0])
	}
}

func TestDelayHoldsTheRequest(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	p.Add(faultproxy.Rule{Fault: faultproxy.Delay, Delay: 150 * time.Millisecond, Times: 1})
	start := time.Now()
	if code, _, err := send(client(), "GET", p.URL()+"/healthz", ""); err != nil || code != 200 {
		t.Fatalf("%d %v", code, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("answered after %v, want at least the delay", d)
	}
	if p.Stats().Delayed != 1 {
		t.Errorf("stats %+v", p.Stats())
	}
}

func TestDelayReplyHoldsTheAnswerUntilReleased(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	p.Add(faultproxy.Rule{Path: "/v1/push", Fault: faultproxy.DelayReply, Times: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	done := make(chan error, 1)
	go func() {
		code, _, err := send(client(), "POST", p.URL()+"/v1/push", "x")
		if err == nil && code != 200 {
			err = errors.New(http.StatusText(code))
		}
		done <- err
	}()
	if !p.Wait(ctx, func(s faultproxy.Stats) bool { return s.Holding == 1 }) {
		t.Fatal("the reply was never held")
	}
	if b.seen() != 1 {
		t.Fatalf("the server has not handled the request while its reply is held")
	}
	select {
	case <-done:
		t.Fatal("the answer went before Release")
	case <-time.After(50 * time.Millisecond):
	}
	p.Release()
	if err := <-done; err != nil {
		t.Fatalf("after release: %v", err)
	}

	// A client that gives up while its reply is held gets nothing.
	rctx, rcancel := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(rctx, "POST", p.URL()+"/v1/push", strings.NewReader("y"))
	go func() {
		p.Wait(ctx, func(s faultproxy.Stats) bool { return s.Holding == 1 })
		rcancel()
	}()
	if _, err := client().Do(req); err == nil {
		t.Fatal("a cancelled request got an answer")
	}
	if !p.Wait(ctx, func(s faultproxy.Stats) bool { return s.Holding == 0 && s.DroppedReplies == 1 }) {
		t.Errorf("stats %+v", p.Stats())
	}
}

func TestDownRefusesConnectionsUntilUpAgain(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	url := p.URL()
	keep := &http.Client{Timeout: 5 * time.Second} // keeps its connection open
	if code, _, err := send(keep, "GET", url+"/healthz", ""); err != nil || code != 200 {
		t.Fatalf("%d %v", code, err)
	}
	if err := p.SetDown(true); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*http.Client{client(), keep} {
		_, _, err := send(c, "GET", url+"/healthz", "")
		if err == nil {
			t.Fatal("a request got through while the proxy was down")
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("want the connection turned away, got %v", err)
		}
	}
	if b.seen() != 1 {
		t.Errorf("the server saw %d requests, want only the one before going down", b.seen())
	}
	if st := p.Stats(); st.Refused < 2 {
		t.Errorf("stats %+v, want the connections made while down counted as refused", st)
	}
	if err := p.SetDown(false); err != nil {
		t.Fatal(err)
	}
	if p.URL() != url {
		t.Errorf("the proxy moved from %s to %s", url, p.URL())
	}
	if code, _, err := send(keep, "GET", url+"/healthz", ""); err != nil || code != 200 {
		t.Fatalf("after up: %d %v", code, err)
	}
	if st := p.Stats(); st.Requests != 2 {
		t.Errorf("stats %+v, want the two requests made while up", st)
	}
}

func TestChanceIsSeededAndRoughlyRight(t *testing.T) {
	b := newBackend(t)
	pattern := func(seed uint64) string {
		p := newProxy(t, b)
		p.Seed(seed)
		p.Add(faultproxy.Rule{Fault: faultproxy.Unavailable, Chance: 0.3})
		var out strings.Builder
		c := client()
		for range 200 {
			code, _, err := send(c, "GET", p.URL()+"/x", "")
			if err != nil {
				t.Fatal(err)
			}
			if code == 503 {
				out.WriteByte('x')
			} else {
				out.WriteByte('.')
			}
		}
		return out.String()
	}
	a, a2, other := pattern(7), pattern(7), pattern(8)
	if a != a2 {
		t.Errorf("the same seed gave different faults:\n%s\n%s", a, a2)
	}
	if a == other {
		t.Errorf("different seeds gave the same faults")
	}
	if n := strings.Count(a, "x"); n < 40 || n > 80 {
		t.Errorf("%d of 200 requests failed, want about 60", n)
	}
}

func TestRulesAreTriedInOrder(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	drop := p.Add(faultproxy.Rule{Method: "POST", Fault: faultproxy.DropRequest})
	p.Add(faultproxy.Rule{Fault: faultproxy.Unavailable})
	if _, _, err := send(client(), "POST", p.URL()+"/a", ""); err == nil {
		t.Error("POST: want the drop")
	}
	if code, _, _ := send(client(), "GET", p.URL()+"/a", ""); code != 503 {
		t.Errorf("GET: %d, want 503 from the second rule", code)
	}
	p.Remove(drop)
	if code, _, _ := send(client(), "POST", p.URL()+"/a", ""); code != 503 {
		t.Errorf("POST after removing the drop: %d, want 503", code)
	}
	p.Clear()
	if code, _, _ := send(client(), "POST", p.URL()+"/a", ""); code != 200 {
		t.Errorf("after Clear: %d, want 200", code)
	}
}
