package syncbench

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// Wire is what a proxy saw on the wire: bytes each way, headers included,
// the HTTP requests it read, and the connections it took.
type Wire struct {
	Up, Down    int64 // bytes from the device, bytes to the device
	Requests    int64
	Connections int64
}

// Sub returns w less what an earlier reading saw.
func (w Wire) Sub(before Wire) Wire {
	return Wire{Up: w.Up - before.Up, Down: w.Down - before.Down,
		Requests: w.Requests - before.Requests, Connections: w.Connections - before.Connections}
}

// proxy forwards TCP connections from a loopback port to the server,
// byte for byte, counting what passes. It reads the device's side as a
// stream of HTTP/1.1 requests to count them, and forwards exactly the
// bytes it read.
type proxy struct {
	ln       net.Listener
	upstream string

	up, down, requests, conns atomic.Int64

	mu     sync.Mutex
	open   map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

// startProxy listens on a free loopback port and forwards to upstream.
func startProxy(upstream string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, upstream: upstream, open: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// URL is the address devices are given.
func (p *proxy) URL() string { return "http://" + p.ln.Addr().String() }

// Wire returns what the proxy has seen so far.
func (p *proxy) Wire() Wire {
	return Wire{Up: p.up.Load(), Down: p.down.Load(), Requests: p.requests.Load(), Connections: p.conns.Load()}
}

// Close stops listening, ends every connection and waits for the
// goroutines that served them.
func (p *proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.open[c] = true
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	c.Close()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		p.conns.Add(1)
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve forwards one connection both ways until either side closes it.
func (p *proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)

	done := make(chan struct{})
	go func() {
		defer close(done)
		// The bytes of a request's head are held until it is counted, so
		// that an answer the device holds was always counted first; the
		// body's bytes go on as they are read.
		rec := &holder{r: &counter{r: client, n: &p.up}, w: server}
		br := bufio.NewReader(rec)
		for {
			rec.holding = true
			req, err := http.ReadRequest(br)
			if err != nil {
				break
			}
			p.requests.Add(1)
			if err := rec.release(); err != nil {
				break
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				break
			}
			req.Body.Close()
		}
		rec.release()
		// The server learns that the device is done sending.
		if tc, ok := server.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	_, err = io.Copy(client, &counter{r: server, n: &p.down})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		client.Close()
	}
	if tc, ok := client.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	client.Close()
	<-done
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n *atomic.Int64
}

func (c *counter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// holder passes what it reads on to w, at once or, while holding, when
// released.
type holder struct {
	r       io.Reader
	w       io.Writer
	holding bool
	held    []byte
}

func (h *holder) Read(b []byte) (int, error) {
	n, err := h.r.Read(b)
	if n > 0 {
		if h.holding {
			h.held = append(h.held, b[:n]...)
		} else if _, werr := h.w.Write(b[:n]); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// release sends what was held and stops holding.
func (h *holder) release() error {
	h.holding = false
	if len(h.held) == 0 {
		return nil
	}
	_, err := h.w.Write(h.held)
	h.held = h.held[:0]
	return err
}
