// Package soak runs a bounded load against a real FieldSync server: many
// technicians' devices pushing small batches and pulling, for a while, over
// loopback HTTP against a temporary SQLite file. It measures throughput,
// push latency and the server's memory, and reports one line.
//
// It owns the load and its measures; the devices are plain HTTP clients of
// its own, so that the figure is the server's. It imports the standard
// library, contract, server, server/sqlitestore and bcrypt; cmd/fieldsoak
// and the server's soak test run it.
//
// Memory rule. The heap in use (runtime.MemStats.HeapInuse, after a full
// GC) is measured once the devices have signed in and before the load, and
// again after the load has stopped and its connections are closed. The
// devices keep a fixed amount of state (a cursor and their job's versions)
// and latencies go into a fixed histogram, so any growth is the server's.
//
// The server legitimately keeps one thing that grows with the records it
// writes: its record cache, capped at 50,000 records (measured at about
// 1.3 KiB a note and 1.7 KiB a record of this load's mix, so 65 to 90 MiB
// when full). Memory is bounded when
//
//	end ≤ start + 32 MiB + 4 KiB × min(records made, 50,000)
//
// The allowance follows the cache while it fills, with more than twice the
// room a record takes, and stops growing when the cache is full: it never
// exceeds 32 MiB + 195 MiB, however long the run. A server that keeps more
// than that per record fails at once; one that keeps growing after its
// cache is full fails once it passes the cap.
package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"fieldsync/contract"
	"fieldsync/server"
	"fieldsync/server/sqlitestore"

	"golang.org/x/crypto/bcrypt"
)

// The memory rule's terms: a fixed allowance, room per record made, and
// the record cache's cap.
const (
	BaseAllowance   = 32 << 20
	RecordAllowance = 4 << 10
	CachedRecords   = 50000
)

// Allowance is how much the heap in use may grow over a run that made
// the given number of records.
func Allowance(records int64) uint64 {
	return BaseAllowance + RecordAllowance*uint64(min(max(records, 0), CachedRecords))
}

// Config says how hard and how long to push.
type Config struct {
	Devices  int           // concurrent technicians' devices; 0 means 50
	Duration time.Duration // 0 means 60s
	// Think is a device's pause between requests, on average (each pause
	// is between half and one and a half of it); 0 means 100ms. It keeps
	// the run gentle on a small machine: about Devices/Think requests a
	// second at most.
	Think time.Duration
	// Dir holds the database; "" means a temporary directory, removed after.
	Dir string
	// Progress, when set, gets a line every 10 seconds.
	Progress io.Writer
	// NewID makes the ids the devices give their operations and records,
	// from many goroutines at once; nil makes UUIDv7s by the wall clock,
	// as the app does. (Each device draws its pauses and choices from a
	// random source of its own, seeded with its number.)
	NewID func() string
}

// Report is what a run measured.
type Report struct {
	Devices          int
	Seconds          float64
	Ops              int64 // operations applied
	Records          int64 // records made (notes and part lines)
	Pushes, Pulls    int64
	Busy             int64 // 503 answers, retried as the protocol says
	Failures         int64 // anything else that went wrong
	FirstFailure     string
	PushP50, PushP99 time.Duration
	MemStart, MemEnd uint64 // heap in use, bytes
	MemPeak          uint64 // the most seen at the 10-second checkpoints
	Bounded          bool
	AllowanceBytes   uint64
	OpsPerSec        float64
	PushesPerSec     float64
}

// OK reports whether the run passed: memory bounded and nothing failed.
func (r Report) OK() bool { return r.Bounded && r.Failures == 0 && r.Ops > 0 }

// Line is the one-line summary.
func (r Report) Line() string {
	growth := "ok"
	if !r.Bounded {
		growth = "UNBOUNDED"
	}
	return fmt.Sprintf("devices=%d seconds=%.0f ops=%d ops_per_sec=%.1f push_p50_ms=%.1f push_p99_ms=%.1f mem_start_mb=%.1f mem_end_mb=%.1f mem_growth=%s mem_allowance_mb=%.0f records=%d pushes=%d pulls=%d busy=%d failures=%d",
		r.Devices, r.Seconds, r.Ops, r.OpsPerSec, ms(r.PushP50), ms(r.PushP99), mb(r.MemStart), mb(r.MemEnd), growth,
		mb(r.AllowanceBytes), r.Records, r.Pushes, r.Pulls, r.Busy, r.Failures)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(b uint64) float64        { return float64(b) / (1 << 20) }

// heapInUse returns the heap in use after a full collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// histogram keeps latencies in fixed log-spaced buckets (2% wide, from 10µs
// to over a minute), so a long run holds no more than a short one.
type histogram struct {
	mu     sync.Mutex
	counts [800]int64
	n      int64
}

const histBase, histRatio = 10 * time.Microsecond, 1.02

func (h *histogram) add(d time.Duration) {
	i := 0
	if d > histBase {
		i = int(math.Log(float64(d)/float64(histBase)) / math.Log(histRatio))
	}
	i = min(i, len(h.counts)-1)
	h.mu.Lock()
	h.counts[i]++
	h.n++
	h.mu.Unlock()
}

// quantile returns the upper edge of the bucket holding quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return time.Duration(float64(histBase) * math.Pow(histRatio, float64(i+1)))
		}
	}
	return 0
}

// run is one soak in progress.
type run struct {
	cfg     Config
	base    string
	client  *http.Client
	lat     histogram
	ops     atomic.Int64
	records atomic.Int64 // notes and part lines made
	pushes  atomic.Int64
	pulls   atomic.Int64
	busy    atomic.Int64
	fails   atomic.Int64
	failMu  sync.Mutex
	failMsg string
}

func (r *run) fail(format string, args ...any) {
	r.fails.Add(1)
	r.failMu.Lock()
	defer r.failMu.Unlock()
	if r.failMsg == "" {
		r.failMsg = fmt.Sprintf(format, args...)
	}
}

// Run starts a server, runs the devices for cfg.Duration and reports.
// It returns an error only when the run could not be set up.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Devices <= 0 {
		cfg.Devices = 50
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 60 * time.Second
	}
	if cfg.Think <= 0 {
		cfg.Think = 100 * time.Millisecond
	}
	if cfg.NewID == nil {
		cfg.NewID = func() string { return server.NewV7(time.Now()) }
	}
	dir := cfg.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "fieldsoak-")
		if err != nil {
			return Report{}, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	st, err := sqlitestore.Open(filepath.Join(dir, "soak.db"))
	if err != nil {
		return Report{}, err
	}
	defer st.Close()
	srv, err := server.New(server.Options{Store: st, BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		return Report{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Report{}, err
	}
	hs := server.NewHTTPServer(ln.Addr().String(), srv, nil)
	go hs.Serve(ln)
	defer hs.Close()

	tr := &http.Transport{MaxIdleConns: 2 * cfg.Devices, MaxIdleConnsPerHost: 2 * cfg.Devices, IdleConnTimeout: time.Minute}
	r := &run{cfg: cfg, base: "http://" + ln.Addr().String(), client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	devs, err := r.setup(ctx, srv, cfg.Devices)
	if err != nil {
		return Report{}, err
	}

	rep := Report{Devices: cfg.Devices}
	rep.MemStart = heapInUse()
	rep.MemPeak = rep.MemStart
	loadCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	start := time.Now()
	var wg sync.WaitGroup
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.work(loadCtx, r, rand.New(rand.NewPCG(uint64(i), 42)))
		}()
	}
	// Progress, and the heap at each checkpoint.
	tick := time.NewTicker(10 * time.Second)
	func() {
		defer tick.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
				h := heapInUse()
				rep.MemPeak = max(rep.MemPeak, h)
				if cfg.Progress != nil {
					fmt.Fprintf(cfg.Progress, "fieldsoak: %4.0fs ops=%d records=%d pushes=%d pulls=%d heap_mb=%.1f failures=%d\n",
						time.Since(start).Seconds(), r.ops.Load(), r.records.Load(), r.pushes.Load(), r.pulls.Load(), mb(h), r.fails.Load())
				}
			}
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	tr.CloseIdleConnections()
	devs = nil
	rep.MemEnd = heapInUse()
	rep.MemPeak = max(rep.MemPeak, rep.MemEnd)

	rep.Seconds = elapsed.Seconds()
	rep.Ops, rep.Pushes, rep.Pulls, rep.Busy, rep.Failures = r.ops.Load(), r.pushes.Load(), r.pulls.Load(), r.busy.Load(), r.fails.Load()
	rep.FirstFailure = r.failMsg
	rep.OpsPerSec = float64(rep.Ops) / rep.Seconds
	rep.PushesPerSec = float64(rep.Pushes) / rep.Seconds
	rep.PushP50, rep.PushP99 = r.lat.quantile(0.50), r.lat.quantile(0.99)
	rep.Records = r.records.Load()
	rep.AllowanceBytes = Allowance(rep.Records)
	rep.Bounded = rep.MemEnd <= rep.MemStart+rep.AllowanceBytes
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	return rep, nil
}

// device is one technician's phone: its token, its job, the versions of
// the job's groups it last heard, and its pull cursor.
type device struct {
	name, id, token string
	job             string
	versions        map[string]int64
	status          string
	cursor          string
	minutes         int
}

func (r *run) setup(ctx context.Context, srv *server.Server, n int) ([]*device, error) {
	rules := srv.Rules()
	add := func(name, role string) (contract.User, error) {
		return srv.AddUser(ctx, server.NewUser{Name: name, Role: role, Password: "soak-password", Cost: bcrypt.MinCost})
	}
	if _, err := add("dispatch", "dispatcher"); err != nil {
		return nil, err
	}
	office := &device{name: "dispatch", id: "office-pc"}
	if err := r.login(ctx, office); err != nil {
		return nil, err
	}
	cust := r.cfg.NewID()
	ops := []contract.Operation{{ID: r.cfg.NewID(), RecordType: "customer", RecordID: cust, Action: contract.ActionCreate,
		Values: values(map[string]any{"name": "Soak Test Ltd"}), DeviceID: office.id, DeviceTime: time.Now().UTC()}}
	devs := make([]*device, n)
	for i := range devs {
		name := fmt.Sprintf("tech%03d", i+1)
		u, err := add(name, "technician")
		if err != nil {
			return nil, err
		}
		d := &device{name: name, id: name + "-phone", job: r.cfg.NewID(), status: "assigned"}
		devs[i] = d
		ops = append(ops, contract.Operation{ID: r.cfg.NewID(), RecordType: "job", RecordID: d.job, Action: contract.ActionCreate,
			Values: values(map[string]any{"title": "Soak job " + name, "customer_id": cust, "assignee": u.ID,
				"site_address": fmt.Sprintf("%d Load Street", i+1)}), DeviceID: office.id, DeviceTime: time.Now().UTC()})
	}
	for len(ops) > 0 {
		batch := ops[:min(len(ops), rules.Limits.Batch)]
		ops = ops[len(batch):]
		res, _, err := r.push(ctx, office, batch)
		if err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		for _, x := range res {
			if x.Outcome != contract.Applied {
				return nil, fmt.Errorf("setup: %s %s: %s %s", x.RecordType, x.RecordID, x.Outcome, x.Message)
			}
		}
	}
	for _, d := range devs {
		if err := r.login(ctx, d); err != nil {
			return nil, err
		}
		if err := r.pullAll(ctx, d); err != nil {
			return nil, err
		}
		if d.versions == nil {
			return nil, fmt.Errorf("setup: %s did not pull its job", d.name)
		}
	}
	r.pulls.Store(0)
	return devs, nil
}

func values(m map[string]any) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range m {
		b, _ := json.Marshal(v)
		out[k] = b
	}
	return out
}

// do sends one JSON request and decodes a 200 answer into out. A 503 is
// retried after Retry-After, as a device would.
func (r *run) do(ctx context.Context, d *device, method, path string, body, out any) (int, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return 0, err
		}
	}
	for {
		req, err := http.NewRequestWithContext(ctx, method, r.base+path, bytes.NewReader(b))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		if d.token != "" {
			req.Header.Set("Authorization", "Bearer "+d.token)
		}
		resp, err := r.client.Do(req)
		if err != nil {
			return 0, err
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return resp.StatusCode, err
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			r.busy.Add(1)
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			select {
			case <-ctx.Done():
				return resp.StatusCode, ctx.Err()
			case <-time.After(time.Duration(max(wait, 1)) * time.Second):
			}
			continue
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
			return resp.StatusCode, fmt.Errorf("%s %s: status %d: %.200s", method, path, resp.StatusCode, data)
		}
		if out != nil {
			return resp.StatusCode, json.Unmarshal(data, out)
		}
		return resp.StatusCode, nil
	}
}

func (r *run) login(ctx context.Context, d *device) error {
	var resp contract.LoginResponse
	if _, err := r.do(ctx, d, "POST", "/v1/login", contract.LoginRequest{Username: d.name, Password: "soak-password", DeviceID: d.id}, &resp); err != nil {
		return fmt.Errorf("login %s: %w", d.name, err)
	}
	d.token = resp.Token
	return nil
}

func (r *run) push(ctx context.Context, d *device, ops []contract.Operation) ([]contract.Result, time.Duration, error) {
	start := time.Now()
	var resp contract.PushResponse
	_, err := r.do(ctx, d, "POST", "/v1/push", contract.PushRequest{Ops: ops}, &resp)
	took := time.Since(start)
	if err == nil && len(resp.Results) != len(ops) {
		err = fmt.Errorf("push: %d results for %d operations", len(resp.Results), len(ops))
	}
	return resp.Results, took, err
}

// pullAll pulls every page after the device's cursor, keeping only its
// job's versions.
func (r *run) pullAll(ctx context.Context, d *device) error {
	for range 1000 {
		var page contract.PullResponse
		if _, err := r.do(ctx, d, "GET", "/v1/pull?cursor="+d.cursor, nil, &page); err != nil {
			return err
		}
		r.pulls.Add(1)
		for _, rec := range page.Records {
			if rec.ID == d.job {
				d.versions, d.status = rec.Versions, rec.Text("status")
			}
		}
		d.cursor = page.Cursor
		if !page.More {
			return nil
		}
	}
	return errors.New("pull: more than 1000 pages")
}

// nextStatus is the owner's next move: to work, then pausing and resuming.
func (d *device) nextStatus() string {
	switch d.status {
	case "assigned":
		return "opened"
	case "opened", "paused":
		return "in_progress"
	default:
		return "paused"
	}
}

// work pushes small batches and pulls until ctx ends.
func (d *device) work(ctx context.Context, r *run, rng *rand.Rand) {
	think := func() bool {
		pause := time.Duration(float64(r.cfg.Think) * (0.5 + rng.Float64()))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(pause):
			return true
		}
	}
	for i := 0; think(); i++ {
		if i%5 == 4 {
			if err := r.pullAll(ctx, d); err != nil && ctx.Err() == nil {
				r.fail("%s pull: %v", d.name, err)
			}
			continue
		}
		now := time.Now().UTC()
		op := func(typ, id string, action contract.Action, bases map[string]int64, vals map[string]any) contract.Operation {
			return contract.Operation{ID: r.cfg.NewID(), RecordType: typ, RecordID: id, Action: action, Bases: bases,
				Values: values(vals), DeviceID: d.id, DeviceTime: now}
		}
		// One to four operations, at most one per field group.
		var ops []contract.Operation
		for _, k := range rng.Perm(4)[:1+rng.IntN(4)] {
			switch k {
			case 0:
				ops = append(ops, op("note", r.cfg.NewID(), contract.ActionAppend, nil, map[string]any{"job_id": d.job, "text": fmt.Sprintf("Note %d from %s.", i, d.name)}))
			case 1:
				ops = append(ops, op("part", r.cfg.NewID(), contract.ActionAppend, nil, map[string]any{"job_id": d.job, "sku": fmt.Sprintf("SKU-%d", rng.IntN(100)), "quantity": 1 + rng.IntN(5)}))
			case 2:
				d.minutes += 5
				ops = append(ops, op("job", d.job, contract.ActionUpdate, map[string]int64{"work": d.versions["work"]}, map[string]any{"labor_minutes": d.minutes}))
			case 3:
				ops = append(ops, op("job", d.job, contract.ActionTransition, map[string]int64{"status": d.versions["status"]}, map[string]any{"status": d.nextStatus()}))
			}
		}
		res, took, err := r.push(ctx, d, ops)
		if err != nil {
			if ctx.Err() == nil {
				r.fail("%s push: %v", d.name, err)
			}
			continue
		}
		r.pushes.Add(1)
		r.lat.add(took)
		for j, x := range res {
			if x.Outcome != contract.Applied && x.Outcome != contract.AlreadyApplied {
				r.fail("%s %s %s: %s %s: %s", d.name, ops[j].Action, ops[j].RecordType, x.Outcome, x.Code, x.Message)
				continue
			}
			r.ops.Add(1)
			if ops[j].Action == contract.ActionAppend && x.Outcome == contract.Applied {
				r.records.Add(1)
			}
			if x.RecordID == d.job && x.Versions != nil {
				d.versions = x.Versions
				if ops[j].Action == contract.ActionTransition {
					d.status = d.nextStatus()
				}
			}
		}
	}
}
