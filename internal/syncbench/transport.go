package syncbench

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// transport is the devices' HTTP transport: it counts the requests they
// make and times each, from sending it to closing its answer's body.
type transport struct {
	base     http.RoundTripper
	requests atomic.Int64

	mu    sync.Mutex
	times []time.Duration
}

func newTransport() *transport {
	return &transport{base: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second}}
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.requests.Add(1)
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		t.record(time.Since(start))
		return nil, err
	}
	resp.Body = &timedBody{ReadCloser: resp.Body, start: start, t: t}
	return resp, nil
}

func (t *transport) record(d time.Duration) {
	t.mu.Lock()
	t.times = append(t.times, d)
	t.mu.Unlock()
}

// takeTimes returns the request times recorded since the last call.
func (t *transport) takeTimes() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.times
	t.times = nil
	return out
}

// client is an HTTP client over the transport, for one device.
func (t *transport) client() *http.Client {
	return &http.Client{Transport: t, Timeout: 10 * time.Minute}
}

// timedBody records its request's time when it is closed.
type timedBody struct {
	io.ReadCloser
	start time.Time
	t     *transport
	once  sync.Once
}

func (b *timedBody) Close() error {
	b.once.Do(func() { b.t.record(time.Since(b.start)) })
	return b.ReadCloser.Close()
}
