// Package faultproxy is a fault-injecting HTTP reverse proxy for tests: it
// sits on loopback in front of a real server and, by rules switched on and
// off while a test runs, drops requests before the server sees them, drops
// replies after the server handled them, delays, answers 503, cuts request
// bodies midway, or goes down altogether (every connection is turned away
// at once, as by a closed port). It counts and logs what it did, and its
// random choices come from a source of its own, seeded with 1 unless Seed
// says otherwise, so a test that sends requests one at a time sees the
// same faults on every run.
//
// It owns faults on the wire and knows nothing of FieldSync's protocol: it
// imports only the standard library. Tests of the device and the
// simulation put it between a device and a real server.
//
//	p := faultproxy.New(srv.URL)
//	defer p.Close()
//	p.Add(faultproxy.Rule{Method: "PUT", Path: "/v1/photos/", Fault: faultproxy.CutUpload, CutAfter: 4096, Times: 3})
//	p.Add(faultproxy.Rule{Fault: faultproxy.DropReply, Chance: 0.3})
package faultproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Fault is what the proxy does to a request.
type Fault int

// The faults. Forward is the absence of one.
const (
	// Forward passes the request to the server and its answer back.
	Forward Fault = iota
	// DropRequest closes the client's connection without forwarding: the
	// server never sees the request; the client gets a connection error.
	DropRequest
	// DropReply forwards the request, waits for the server's whole answer,
	// then closes the client's connection without passing it on.
	DropReply
	// Unavailable answers 503 itself, with Retry-After when the rule sets
	// one; the server never sees the request.
	Unavailable
	// CutUpload forwards the request head and only the first CutAfter bytes
	// of its body, then breaks the connection to the server (the server sees
	// a body cut short) and closes the client's connection.
	CutUpload
	// Delay waits the rule's Delay before forwarding.
	Delay
	// DelayReply forwards at once, then holds the server's answer for the
	// rule's Delay, or, when Delay is zero, until Release, Close or the
	// client gives up.
	DelayReply
)

func (f Fault) String() string {
	switch f {
	case Forward:
		return "forward"
	case DropRequest:
		return "drop-request"
	case DropReply:
		return "drop-reply"
	case Unavailable:
		return "unavailable"
	case CutUpload:
		return "cut-upload"
	case Delay:
		return "delay"
	case DelayReply:
		return "delay-reply"
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

// Rule says which requests get a fault. Rules are tried in the order they
// were added; the first that matches and fires decides.
type Rule struct {
	Name   string // shown in the event log; optional
	Method string // "" matches every method
	Path   string // a prefix of the URL path; "" matches every path
	// Match, when set, must also accept the request.
	Match func(*http.Request) bool
	Fault Fault
	// Times > 0 fires the rule on the next Times matching requests only, then
	// retires it; 0 fires it for as long as it is in place.
	Times int
	// Chance in (0, 1) fires the rule on that share of matching requests,
	// drawn from the proxy's seeded source; 0 (or 1 and above) fires it on
	// every match.
	Chance float64
	// Delay is the wait of Delay and DelayReply.
	Delay time.Duration
	// RetryAfter, for Unavailable, is sent as Retry-After in whole seconds
	// (rounded up) when positive.
	RetryAfter time.Duration
	// CutAfter, for CutUpload, is how many body bytes reach the server.
	CutAfter int64
}

func (r *Rule) matches(req *http.Request) bool {
	if r.Method != "" && !strings.EqualFold(r.Method, req.Method) {
		return false
	}
	if r.Path != "" && !strings.HasPrefix(req.URL.Path, r.Path) {
		return false
	}
	return r.Match == nil || r.Match(req)
}

// Event is one request the proxy handled.
type Event struct {
	Seq    int // 1, 2, … in the order requests arrived
	At     time.Time
	Method string
	Path   string
	Query  string
	Fault  Fault  // what was done; Forward when no rule fired
	Rule   string // the name of the rule that fired
	// BodyIn is how many body bytes the client sent; BodyOut how many
	// reached the server.
	BodyIn, BodyOut int64
	// Status is the server's answer (0 when it saw nothing or did not
	// answer); for Unavailable it is the proxy's own 503.
	Status int
	// Forwarded says the server saw the request, whole or cut.
	Forwarded bool
	// Replied says the client got an answer.
	Replied bool
	// Done says the proxy has finished with the request.
	Done bool
}

// Stats counts what the proxy did.
type Stats struct {
	Requests        int   // requests that reached the proxy
	Forwarded       int   // requests the server saw, whole or cut
	DroppedRequests int   // DropRequest
	DroppedReplies  int   // DropReply, and held replies whose client gave up
	Unavailable     int   // 503s the proxy answered itself
	Cut             int   // CutUpload
	Delayed         int   // Delay and DelayReply
	Holding         int   // replies held right now
	Refused         int   // connections turned away while down
	BytesIn         int64 // request body bytes received from clients
	BytesOut        int64 // request body bytes sent on to the server
}

// Proxy is a fault-injecting reverse proxy on loopback.
type Proxy struct {
	target   *url.URL
	upstream *http.Transport

	mu      sync.Mutex
	rng     *rand.Rand
	rules   []*placed
	nextID  int
	events  []Event
	stats   Stats
	changed chan struct{} // closed and replaced at every change
	release chan struct{} // closed by Release: held replies go
	down    bool
	closed  bool
	addr    string
	srv     *http.Server
	conns   map[net.Conn]bool
	wg      sync.WaitGroup // handlers in flight
}

// gate is the proxy's listener: while the proxy is down it turns every
// connection away with a reset, as a closed port does, but keeps the port,
// so that no other listener can take it meanwhile.
type gate struct {
	net.Listener
	p *Proxy
}

func (g gate) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g.p.mu.Lock()
		down := g.p.down
		if down {
			g.p.stats.Refused++
			g.p.changedLocked()
		}
		g.p.mu.Unlock()
		if !down {
			return c, nil
		}
		reset(c)
	}
}

// reset closes a connection with a reset rather than an orderly close.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

type placed struct {
	id   int
	rule Rule
	left int
}

// New starts a proxy in front of target (such as an httptest server's URL)
// on a free loopback port. Its random source is seeded with 1; see Seed.
// It panics if it cannot listen, as httptest.NewServer does.
func New(target string) *Proxy {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		panic(fmt.Sprintf("faultproxy: bad target %q", target))
	}
	p := &Proxy{
		target:   u,
		upstream: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
		rng:      rand.New(rand.NewPCG(1, 1)),
		changed:  make(chan struct{}),
		release:  make(chan struct{}),
		conns:    map[net.Conn]bool{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("faultproxy: listen: %v", err))
	}
	p.addr = ln.Addr().String()
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.handle),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(c net.Conn, st http.ConnState) {
			p.mu.Lock()
			defer p.mu.Unlock()
			switch st {
			case http.StateNew:
				p.conns[c] = true
			case http.StateHijacked, http.StateClosed:
				delete(p.conns, c)
			}
		},
	}
	go p.srv.Serve(gate{Listener: ln, p: p})
	return p
}

// URL is the proxy's base URL, for clients to use instead of the target's.
func (p *Proxy) URL() string { return "http://" + p.addr }

// Seed restarts the random source that decides rules with a Chance.
func (p *Proxy) Seed(seed uint64) {
	p.mu.Lock()
	p.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p.mu.Unlock()
}

// Add puts a rule in place, after those already there, and returns its id
// for Remove.
func (p *Proxy) Add(r Rule) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextID++
	p.rules = append(p.rules, &placed{id: p.nextID, rule: r, left: r.Times})
	return p.nextID
}

// Remove takes a rule away.
func (p *Proxy) Remove(id int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, pl := range p.rules {
		if pl.id == id {
			p.rules = append(p.rules[:i], p.rules[i+1:]...)
			return
		}
	}
}

// Clear takes every rule away: requests pass through again.
func (p *Proxy) Clear() {
	p.mu.Lock()
	p.rules = nil
	p.mu.Unlock()
}

// Rules returns how many rules are in place (retired ones are gone).
func (p *Proxy) Rules() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.rules)
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Events returns the log of requests, oldest first.
func (p *Proxy) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.events...)
}

// ResetLog forgets the counters and the event log; rules stay.
func (p *Proxy) ResetLog() {
	p.mu.Lock()
	holding := p.stats.Holding
	p.stats = Stats{Holding: holding}
	p.events = nil
	p.mu.Unlock()
}

// Release lets every reply held by a DelayReply rule without a Delay go.
func (p *Proxy) Release() {
	p.mu.Lock()
	close(p.release)
	p.release = make(chan struct{})
	p.mu.Unlock()
}

// Wait blocks until cond holds for the counters, or ctx ends; it reports
// whether cond held.
func (p *Proxy) Wait(ctx context.Context, cond func(Stats) bool) bool {
	for {
		p.mu.Lock()
		ok, ch := cond(p.stats), p.changed
		p.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// Down reports whether the proxy is down.
func (p *Proxy) Down() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down
}

// SetDown takes the proxy down: every open connection is cut, requests in
// flight included, and every new one is reset as soon as it arrives, as by
// a closed port (counted in Stats.Refused). SetDown(false) lets
// connections in again, on the same address.
func (p *Proxy) SetDown(down bool) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errors.New("faultproxy: closed")
	}
	p.down = down
	var conns []net.Conn
	if down {
		for c := range p.conns {
			conns = append(conns, c)
		}
		p.conns = map[net.Conn]bool{}
	}
	p.changedLocked()
	p.mu.Unlock()
	for _, c := range conns {
		reset(c)
	}
	return nil
}

// Close shuts the proxy: held replies are released, connections closed.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.release)
	p.release = make(chan struct{})
	p.mu.Unlock()
	p.srv.Close() // the listener and every connection it tracks
	p.wg.Wait()
	p.upstream.CloseIdleConnections()
}

func (p *Proxy) changedLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// pick chooses the rule for a request and logs its arrival.
func (p *Proxy) pick(r *http.Request, bodyIn int64) (Rule, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var chosen Rule
	for i := 0; i < len(p.rules); i++ {
		pl := p.rules[i]
		if !pl.rule.matches(r) {
			continue
		}
		if c := pl.rule.Chance; c > 0 && c < 1 && p.rng.Float64() >= c {
			continue
		}
		chosen = pl.rule
		if pl.rule.Times > 0 {
			if pl.left--; pl.left <= 0 {
				p.rules = append(p.rules[:i], p.rules[i+1:]...)
			}
		}
		break
	}
	p.stats.Requests++
	p.stats.BytesIn += bodyIn
	p.events = append(p.events, Event{Seq: len(p.events) + 1, At: time.Now(), Method: r.Method, Path: r.URL.Path,
		Query: r.URL.RawQuery, Fault: chosen.Fault, Rule: chosen.Name, BodyIn: bodyIn})
	p.changedLocked()
	return chosen, len(p.events) - 1
}

// update changes a logged event and the counters together.
func (p *Proxy) update(i int, f func(e *Event, s *Stats)) {
	p.mu.Lock()
	if i < len(p.events) {
		f(&p.events[i], &p.stats)
	} else {
		var e Event // the log was reset: count only
		f(&e, &p.stats)
	}
	p.changedLocked()
	p.mu.Unlock()
}

func (p *Proxy) handle(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.closed || p.down {
		p.mu.Unlock()
		hangUp(w)
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		hangUp(w)
		return
	}
	rule, ev := p.pick(r, int64(len(body)))
	defer p.update(ev, func(e *Event, _ *Stats) { e.Done = true })

	switch rule.Fault {
	case DropRequest:
		p.update(ev, func(_ *Event, s *Stats) { s.DroppedRequests++ })
		hangUp(w)
		return
	case Unavailable:
		if rule.RetryAfter > 0 {
			secs := (rule.RetryAfter + time.Second - 1) / time.Second
			w.Header().Set("Retry-After", fmt.Sprint(int64(secs)))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":{"code":"unavailable","kind":"transient","message":"the service is unavailable (fault proxy)","retry":true}}`+"\n")
		p.update(ev, func(e *Event, s *Stats) { s.Unavailable++; e.Status, e.Replied = http.StatusServiceUnavailable, true })
		return
	case CutUpload:
		n := min(max(rule.CutAfter, 0), int64(len(body)))
		status := p.forwardCut(r, body, n)
		p.update(ev, func(e *Event, s *Stats) {
			s.Cut++
			s.Forwarded++
			s.BytesOut += n
			e.BodyOut, e.Status, e.Forwarded = n, status, true
		})
		hangUp(w)
		return
	case Delay:
		p.update(ev, func(_ *Event, s *Stats) { s.Delayed++ })
		select {
		case <-time.After(rule.Delay):
		case <-r.Context().Done():
			return
		}
	}

	resp, respBody, err := p.forward(r, body)
	if err != nil {
		// The server did not answer: the client sees the connection go.
		hangUp(w)
		return
	}
	p.update(ev, func(e *Event, s *Stats) {
		s.Forwarded++
		s.BytesOut += int64(len(body))
		e.BodyOut, e.Status, e.Forwarded = int64(len(body)), resp.StatusCode, true
	})

	switch rule.Fault {
	case DropReply:
		p.update(ev, func(_ *Event, s *Stats) { s.DroppedReplies++ })
		hangUp(w)
		return
	case DelayReply:
		p.mu.Lock()
		p.stats.Delayed++
		p.stats.Holding++
		release := p.release
		p.changedLocked()
		p.mu.Unlock()
		var timer <-chan time.Time
		if rule.Delay > 0 {
			timer = time.After(rule.Delay)
		}
		gone := false
		select {
		case <-timer:
		case <-release:
		case <-r.Context().Done():
			gone = true
		}
		p.update(ev, func(_ *Event, s *Stats) {
			s.Holding--
			if gone {
				s.DroppedReplies++
			}
		})
		if gone {
			return
		}
	}

	h := w.Header()
	for k, vs := range resp.Header {
		if hopByHop(k) {
			continue
		}
		h[k] = vs
	}
	h.Del("Content-Length")
	h.Set("Content-Length", fmt.Sprint(len(respBody)))
	w.WriteHeader(resp.StatusCode)
	if _, err := w.Write(respBody); err == nil {
		p.update(ev, func(e *Event, _ *Stats) { e.Replied = true })
	}
}

// forward sends the request to the server and reads its whole answer.
func (p *Proxy) forward(r *http.Request, body []byte) (*http.Response, []byte, error) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.targetURL(r), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	copyHeader(out.Header, r.Header)
	out.ContentLength = int64(len(body))
	resp, err := p.upstream.RoundTrip(out)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	return resp, b, nil
}

// forwardCut sends the request head, announcing the whole body, and then
// only its first n bytes, and closes the sending side: the server reads a
// body cut short. It waits for the server's answer, so the server has
// finished with the request when it returns, and returns its status (0 when
// none came).
func (p *Proxy) forwardCut(r *http.Request, body []byte, n int64) int {
	conn, err := net.DialTimeout("tcp", p.target.Host, 5*time.Second)
	if err != nil {
		return 0
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.Method, r.URL.RequestURI(), p.target.Host)
	h := http.Header{}
	copyHeader(h, r.Header)
	h.Del("Content-Length")
	h.Write(&head)
	fmt.Fprintf(&head, "Content-Length: %d\r\nConnection: close\r\n\r\n", len(body))
	if _, err := conn.Write(head.Bytes()); err != nil {
		return 0
	}
	if _, err := conn.Write(body[:n]); err != nil {
		return 0
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (p *Proxy) targetURL(r *http.Request) string {
	u := *p.target
	u.Path = strings.TrimRight(p.target.Path, "/") + r.URL.Path
	u.RawPath = ""
	u.RawQuery = r.URL.RawQuery
	return u.String()
}

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // a reset, as a dropped link looks to the client
	}
	conn.Close()
}

var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func hopByHop(k string) bool {
	for _, h := range hopHeaders {
		if strings.EqualFold(k, h) {
			return true
		}
	}
	return false
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		if hopByHop(k) {
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}
