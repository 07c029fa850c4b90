package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"fieldsync/app"
	"fieldsync/server"
	"fieldsync/server/blobstore/s3"
	"fieldsync/server/pgstore"
)

// Several instances. With Config.Instances above 1 the server runs as that
// many instances over one PostgreSQL database, as that many fieldsyncd
// processes behind a load balancer would: each instance is its own
// server.New over its own pgstore pool, on its own loopback address, and
// reaches the database through a relay of its own. The instances share
// nothing in memory but the clock; each makes its ids from a source of
// its own. Besides the database they share the photo store: a bucket in
// S3 (Config.S3), each instance with a client of its own, or else one
// directory. A load balancer in front sends each request to a live
// instance chosen at random from the run's seeded source.
//
// With faults on, instances crash. Between operations one goes away at
// random; and now and then the load balancer makes the instance it chose
// for a request crash just before the request reaches it, while the
// instance is handling it, or after it has answered but before the answer
// is passed on. A crash closes the instance's listener and every
// connection to it, and cuts its database connections at the relay, so
// the database rolls back whatever had not committed; requests the
// instance was handling get no answer. The load balancer answers 502 for
// such a request, or sends it to another instance, as deploy/haproxy.cfg
// has HAProxy do (half the time, when the body is small enough to have
// been kept). The instance comes back after a few
// virtual minutes on the same address, with a new pool. At least one
// instance is always up. A crash while a request is being handled races
// the instance's work, as a real one does: runs with it are as
// deterministic as the database's own timing allows.

// Crash chances and how long a crashed instance stays down.
const (
	crashBetween   = 0.03  // per operation, one live instance crashes
	crashInRequest = 0.015 // per request through the load balancer
	downMin        = time.Minute
	downSpan       = 20 * time.Minute
	// crashWait bounds how long a crashed instance's requests may take to
	// end once their connections are gone. Longer means the server kept a
	// request going that no process would still be running.
	crashWait = 30 * time.Second
)

// When the load balancer crashes the instance it chose for a request.
const (
	crashNone   = iota
	crashBefore // before the request reaches it: it is refused
	crashDuring // while it handles the request: its work may or may not commit
	crashAfter  // after it answered: the work is done, the answer lost
)

var crashWhen = [...]string{crashNone: "", crashBefore: "before", crashDuring: "during", crashAfter: "after"}

// cluster is the instances and the load balancer in front of them.
type cluster struct {
	ctx     context.Context
	dsn     string
	photos  string         // the s3:// URL of the photo store, or ""
	opts    server.Options // each instance's, less its Store, Blobs and NewID
	logf    func(format string, args ...any)
	backend *http.Transport // the load balancer's, to the instances

	mu        sync.Mutex
	rng       *rand.Rand    // the load balancer's choices, under mu
	keys      *rand.ChaCha8 // the seed of each instance start's ids, under mu
	faults    bool
	instances []*instance
	crashes   [len(crashWhen)]int // by when; crashNone counts crashes between operations
	failed    int                 // requests the load balancer could not finish: 502
	late      int                 // crashes while handling a request that came after its answer went out
	retried   int                 // requests sent to another instance when theirs crashed with no answer

	lb     *http.Server
	url    string
	served chan struct{}
}

// instance is one fieldsyncd process, which may be down.
type instance struct {
	n        int
	addr     string // host:port, the same across restarts
	link     *pgLink
	proc     *process  // nil while down
	backAt   time.Time // while down: when it comes back
	starts   int
	requests int
}

// process is one life of an instance, from its start to its crash.
type process struct {
	store  *pgstore.Store
	srv    *server.Server
	hs     *http.Server
	served chan struct{} // closed when hs.Serve returns

	mu     sync.Mutex
	active int           // requests being handled
	closed bool          // crashed: requests are refused
	idle   chan struct{} // closed when closed and no request is left
}

// newCluster starts n instances over the database dsn, and the load
// balancer.
func newCluster(ctx context.Context, n int, dsn, photos string, opts server.Options, seed uint64, key [32]byte, logf func(string, ...any)) (*cluster, error) {
	c := &cluster{ctx: ctx, dsn: dsn, photos: photos, opts: opts, logf: logf,
		rng:  rand.New(rand.NewPCG(seed, 0x1b)),
		keys: rand.NewChaCha8(key),
		// A new connection for every request: a crashed instance leaves no
		// stale connection behind, and no request is retried on its own.
		backend: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for i := range n {
		link, err := newPGLink(dsn)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("instance %d: %w", i+1, err)
		}
		in := &instance{n: i + 1, addr: "127.0.0.1:0", link: link}
		c.instances = append(c.instances, in)
		if err := c.start(in); err != nil {
			c.close()
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.close()
		return nil, fmt.Errorf("load balancer: %w", err)
	}
	c.url = "http://" + ln.Addr().String()
	c.lb = &http.Server{Handler: c, ErrorLog: log.New(io.Discard, "", 0)}
	c.served = make(chan struct{})
	go func() {
		defer close(c.served)
		c.lb.Serve(ln)
	}()
	return c, nil
}

// setFaults turns the crashes on or off.
func (c *cluster) setFaults(on bool) {
	c.mu.Lock()
	c.faults = on
	c.mu.Unlock()
}

// start starts an instance on its address, with a new pool.
func (c *cluster) start(in *instance) error {
	in.link.restore()
	st, err := pgstore.Open(c.ctx, in.link.dsn)
	if err != nil {
		return fmt.Errorf("instance %d: %w", in.n, err)
	}
	opts := c.opts
	opts.Store = st
	if c.photos != "" {
		// A client of its own to the bucket they all share.
		if opts.Blobs, err = s3.Open(c.ctx, c.photos); err != nil {
			st.Close()
			return fmt.Errorf("instance %d: %w", in.n, err)
		}
	}
	c.mu.Lock()
	var key [32]byte
	c.keys.Read(key[:])
	c.mu.Unlock()
	ids := app.NewIDFrom(&lockedReader{r: rand.NewChaCha8(key)})
	now := opts.Now
	opts.NewID = func() string { return ids(now()) }
	srv, err := server.New(opts)
	if err != nil {
		st.Close()
		return fmt.Errorf("instance %d: %w", in.n, err)
	}
	ln, err := net.Listen("tcp", in.addr)
	if err != nil {
		st.Close()
		return fmt.Errorf("instance %d: listen on %s again: %w", in.n, in.addr, err)
	}
	p := &process{store: st, srv: srv, served: make(chan struct{}), idle: make(chan struct{})}
	p.hs = &http.Server{Handler: p, ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		defer close(p.served)
		p.hs.Serve(ln)
	}()
	c.mu.Lock()
	in.addr, in.proc = ln.Addr().String(), p
	in.starts++
	c.mu.Unlock()
	return nil
}

// ServeHTTP serves a request of one life of an instance, unless it has
// crashed.
func (p *process) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		panic(http.ErrAbortHandler) // a dead process answers nothing
	}
	p.active++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.active--
		if p.closed && p.active == 0 {
			close(p.idle)
		}
		p.mu.Unlock()
	}()
	p.srv.ServeHTTP(w, r)
}

// kill ends a life abruptly: the listener and every connection to it
// close, its database connections are cut, and once the requests it was
// handling have run into that, its pool closes.
func (p *process) kill(link *pgLink) error {
	p.hs.Close()
	link.cut()
	p.mu.Lock()
	p.closed = true
	if p.active == 0 {
		close(p.idle)
	}
	p.mu.Unlock()
	var err error
	select {
	case <-p.idle:
	case <-time.After(crashWait):
		err = fmt.Errorf("requests still running %s after their instance crashed", crashWait)
		<-p.idle
	}
	p.store.Close()
	<-p.served
	return err
}

// crash takes an instance down until back. It returns at once when the
// instance is already down.
func (c *cluster) crash(in *instance, when int, back time.Time) {
	c.mu.Lock()
	p := in.proc
	if p == nil {
		c.mu.Unlock()
		return
	}
	in.proc, in.backAt = nil, back
	c.crashes[when]++
	c.mu.Unlock()
	if err := p.kill(in.link); err != nil {
		c.logf("instance %d: %v", in.n, err)
	}
}

// live returns the instances that are up.
func (c *cluster) live() []*instance {
	var up []*instance
	for _, in := range c.instances {
		if in.proc != nil {
			up = append(up, in)
		}
	}
	return up
}

// crashOne crashes one live instance, chosen by rng, unless it is the
// only one up; it says which, or returns nil.
func (c *cluster) crashOne(rng *rand.Rand, now time.Time) *instance {
	c.mu.Lock()
	up := c.live()
	c.mu.Unlock()
	if len(up) < 2 {
		return nil
	}
	in := pick(rng, up)
	c.crash(in, crashNone, now.Add(downMin+time.Duration(rng.Int64N(int64(downSpan)))))
	return in
}

// nextBack returns the first instance due to come back, if any.
func (c *cluster) nextBack() (*instance, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first *instance
	for _, in := range c.instances {
		if in.proc == nil && (first == nil || in.backAt.Before(first.backAt)) {
			first = in
		}
	}
	if first == nil {
		return nil, time.Time{}
	}
	return first, first.backAt
}

// restartAll brings every instance that is down back up.
func (c *cluster) restartAll() error {
	for {
		in, _ := c.nextBack()
		if in == nil {
			return nil
		}
		if err := c.start(in); err != nil {
			return err
		}
	}
}

// retryBuffer is the largest request body the load balancer keeps to
// send again, as HAProxy's buffer (deploy/haproxy.cfg).
const retryBuffer = 16 << 10

// ServeHTTP is the load balancer: it sends the request to a live instance
// chosen at random and, with faults on, now and then crashes it. A
// request whose instance crashed before answering is answered 502, or,
// half the time when its body is small enough to have been kept, sent to
// another instance, as deploy/haproxy.cfg does (retry-on conn-failure
// empty-response).
func (c *cluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	up := c.live()
	if len(up) == 0 {
		c.mu.Unlock()
		http.Error(w, "no instance is up", http.StatusServiceUnavailable)
		return
	}
	in := up[c.rng.IntN(len(up))]
	in.requests++
	crash := crashPlan{}
	if c.faults && len(up) >= 2 && c.rng.Float64() < crashInRequest {
		crash.when = 1 + c.rng.IntN(3)
		crash.back = c.opts.Now().Add(downMin + time.Duration(c.rng.Int64N(int64(downSpan))))
		crash.delay = time.Duration(c.rng.Int64N(int64(1500 * time.Microsecond)))
		crash.retry = c.rng.IntN(2) == 0
	}
	c.mu.Unlock()

	var body []byte
	if crash.retry {
		// Keep the body to send again, when it fits.
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, retryBuffer+1))
		if err != nil {
			http.Error(w, "bad request: the body broke off", http.StatusBadRequest)
			return
		}
		rest := r.Body
		r.Body = io.NopCloser(bytes.NewReader(body))
		if len(body) > retryBuffer {
			crash.retry = false
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), rest), rest}
		}
	}
	if c.forward(w, r, in, crash) || !crash.retry {
		return
	}
	// The instance crashed with no answer: another one gets the request.
	c.mu.Lock()
	up = c.live()
	in = up[c.rng.IntN(len(up))]
	in.requests++
	c.retried++
	c.mu.Unlock()
	again := r.Clone(r.Context())
	again.Body = io.NopCloser(bytes.NewReader(body))
	c.forward(w, again, in, crashPlan{})
}

// crashPlan is when the load balancer crashes the instance it chose for a
// request, if at all; with retry, it does not answer the request when the
// instance gave no answer, so that it may go to another.
type crashPlan struct {
	when  int
	back  time.Time
	delay time.Duration
	retry bool
}

// forward passes a request to an instance and its answer back, crashing
// the instance as planned. It reports false when the instance gave no
// answer and, the plan being to retry, none was written.
func (c *cluster) forward(w http.ResponseWriter, r *http.Request, in *instance, crash crashPlan) bool {
	c.mu.Lock()
	target := &url.URL{Scheme: "http", Host: in.addr}
	c.mu.Unlock()
	// failed is set when the request could not be passed on or its
	// answer not read; answered when the whole answer went out.
	failed, answered := false, false
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: c.backend,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			failed = true
			if crash.retry {
				return
			}
			c.mu.Lock()
			c.failed++
			c.mu.Unlock()
			http.Error(w, "bad gateway: the instance did not answer", http.StatusBadGateway)
		},
	}
	switch crash.when {
	case crashBefore:
		c.crash(in, crash.when, crash.back)
	case crashAfter:
		rp.ModifyResponse = func(*http.Response) error {
			c.crash(in, crash.when, crash.back)
			return errors.New("the instance crashed before its answer went out")
		}
	case crashDuring:
		// The crash comes a moment after the whole request went out.
		var once sync.Once
		sent, done := make(chan struct{}), make(chan struct{})
		fire := func() { once.Do(func() { close(sent) }) }
		go func() {
			defer close(done)
			<-sent
			time.Sleep(crash.delay)
			c.crash(in, crash.when, crash.back)
		}()
		defer func() {
			<-done
			if answered {
				c.mu.Lock()
				c.late++
				c.mu.Unlock()
			}
		}()
		defer fire()
		rp.Transport = roundTripper(func(req *http.Request) (*http.Response, error) {
			if req.Body == nil || req.Body == http.NoBody {
				fire()
			} else {
				req.Body = &signalBody{ReadCloser: req.Body, fire: fire}
			}
			return c.backend.RoundTrip(req)
		})
	}
	rp.ServeHTTP(w, r) // it panics with http.ErrAbortHandler when the answer breaks off
	answered = !failed
	return !failed
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// signalBody calls fire once the transport has read a request body to
// its end or closed it.
type signalBody struct {
	io.ReadCloser
	fire func()
}

func (b *signalBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.fire()
	}
	return n, err
}

func (b *signalBody) Close() error {
	b.fire()
	return b.ReadCloser.Close()
}

// summary says in one line what the instances went through.
func (c *cluster) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := fmt.Sprintf("%d instances; requests", len(c.instances))
	for _, in := range c.instances {
		s += fmt.Sprintf(" %d", in.requests)
	}
	return s + fmt.Sprintf("; %d crashes between operations, %d with a request: %d before it arrived, %d while handling it (%d of them once it had answered), %d after answering; "+
		"%d requests sent to another instance, %d answered 502 (their instance crashed, or the device's end of the link broke)",
		c.crashes[crashNone], c.crashes[crashBefore]+c.crashes[crashDuring]+c.crashes[crashAfter],
		c.crashes[crashBefore], c.crashes[crashDuring], c.late, c.crashes[crashAfter], c.retried, c.failed)
}

// counts returns how many crashes there were and how many requests each
// instance was sent.
func (c *cluster) counts() (crashes int, requests []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.crashes {
		crashes += k
	}
	for _, in := range c.instances {
		requests = append(requests, in.requests)
	}
	return crashes, requests
}

// close stops the load balancer, every instance and every relay.
func (c *cluster) close() {
	if c.lb != nil {
		c.lb.Close()
		<-c.served
	}
	for _, in := range c.instances {
		c.mu.Lock()
		p := in.proc
		in.proc = nil
		c.mu.Unlock()
		if p != nil {
			p.kill(in.link)
		}
		in.link.close()
	}
	c.backend.CloseIdleConnections()
}
