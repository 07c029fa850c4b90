package syncbench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Measure is one scenario's figures from one run, or the medians of
// several.
type Measure struct {
	Scenario    string `json:"scenario"`
	Unit        string `json:"unit"`         // what one change is: job, edit, record, change, pull
	LatencyUnit string `json:"latency_unit"` // what P50 and P95 time: request, change, pull
	Changes     int    `json:"changes"`

	Seconds float64 `json:"seconds"` // measured wall time
	// On the wire, from the proxy: bytes from and to the devices, headers
	// included, HTTP requests and TCP connections.
	Up          int64 `json:"bytes_up"`
	Down        int64 `json:"bytes_down"`
	Requests    int64 `json:"requests"`
	Connections int64 `json:"connections"`
	// ClientRequests are the requests the devices' HTTP client sent, and
	// ServerRequests and Applied what the server's /metrics counted:
	// requests to /v1 and operations applied.
	ClientRequests int64 `json:"client_requests"`
	ServerRequests int64 `json:"server_requests"`
	Applied        int64 `json:"applied"`
	// ServerSeconds is the time the server spent answering, summed over
	// the requests (its request duration metric).
	ServerSeconds float64 `json:"server_seconds"`
	P50, P95      float64 `json:"-"` // milliseconds
	P50ms         float64 `json:"p50_ms"`
	P95ms         float64 `json:"p95_ms"`
	ServerCPU     float64 `json:"server_cpu_seconds"` // user and system, from /proc
	PeakRSS       int64   `json:"server_peak_rss_bytes"`
	// Raw is the store's raw insert rate measured in the same run: SQLite
	// rows a second in one transaction, or PostgreSQL rows a second in
	// batched INSERTs. RawSQLite is SQLite's, in every run.
	Raw       float64 `json:"raw_rows_per_second"`
	RawSQLite float64 `json:"raw_sqlite_rows_per_second"`
}

// Rate is changes a second.
func (m Measure) Rate() float64 {
	if m.Seconds <= 0 {
		return 0
	}
	return float64(m.Changes) / m.Seconds
}

func (m Measure) per(v float64) float64 {
	if m.Changes == 0 {
		return 0
	}
	return v / float64(m.Changes)
}

// BytesPer is bytes up and down per change.
func (m Measure) BytesPer() float64 { return m.per(float64(m.Up + m.Down)) }

// RequestsPer is requests on the wire per change.
func (m Measure) RequestsPer() float64 { return m.per(float64(m.Requests)) }

// RawRatio is the scenario's rate as a part of the raw insert rate.
func (m Measure) RawRatio() float64 {
	if m.Raw <= 0 {
		return 0
	}
	return m.Rate() / m.Raw
}

// meter adds up the figures of the stretches between start and stop.
type meter struct {
	w *world
	m Measure

	t0     time.Time
	cpu0   time.Duration
	wire0  Wire
	req0   int64
	ctr0   counters
	lat    []time.Duration
	errs   []error
	peakOK bool
}

func (w *world) newMeter(scenario, unit, latencyUnit string) *meter {
	w.tr.takeTimes()
	return &meter{w: w, m: Measure{Scenario: scenario, Unit: unit, LatencyUnit: latencyUnit, Raw: w.raw, RawSQLite: w.rawSQLite},
		peakOK: w.srv.resetPeak()}
}

func (m *meter) start(ctx context.Context) {
	var err error
	m.ctr0, err = m.w.srv.metrics(ctx)
	m.errs = append(m.errs, err)
	m.wire0 = m.w.px.Wire()
	m.req0 = m.w.tr.requests.Load()
	m.cpu0, err = m.w.srv.cpu()
	m.errs = append(m.errs, err)
	m.t0 = time.Now()
}

func (m *meter) stop(ctx context.Context) {
	elapsed := time.Since(m.t0)
	cpu, err := m.w.srv.cpu()
	m.errs = append(m.errs, err)
	// The proxy has seen every byte by now: the device has read them.
	wire := m.w.px.Wire().Sub(m.wire0)
	reqs := m.w.tr.requests.Load() - m.req0
	// The server counts a request once its handler has returned, which
	// can be just after the device has read the whole answer: wait a
	// little for its counters to catch up with the proxy's.
	ctr, err := m.w.srv.metrics(ctx)
	for deadline := time.Now().Add(2 * time.Second); err == nil && ctr.Requests-m.ctr0.Requests < float64(wire.Requests) && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
		ctr, err = m.w.srv.metrics(ctx)
	}
	m.errs = append(m.errs, err)
	m.m.Seconds += elapsed.Seconds()
	m.m.ServerCPU += (cpu - m.cpu0).Seconds()
	m.m.Up += wire.Up
	m.m.Down += wire.Down
	m.m.Requests += wire.Requests
	m.m.Connections += wire.Connections
	m.m.ClientRequests += reqs
	m.m.ServerRequests += int64(ctr.Requests - m.ctr0.Requests)
	m.m.Applied += int64(ctr.Applied - m.ctr0.Applied)
	m.m.ServerSeconds += ctr.Seconds - m.ctr0.Seconds
}

// latency records one change's or pull's time, for scenarios whose
// latency unit is not the request.
func (m *meter) latency(d time.Duration) { m.lat = append(m.lat, d) }

// done returns the figures for changes changes.
func (m *meter) done(changes int) Measure {
	m.m.Changes = changes
	lat := m.lat
	if m.m.LatencyUnit == "request" {
		lat = m.w.tr.takeTimes()
	}
	slices.Sort(lat)
	m.m.P50, m.m.P95 = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.95))
	m.m.P50ms, m.m.P95ms = m.m.P50, m.m.P95
	if rss, err := m.w.srv.peakRSS(); err == nil {
		m.m.PeakRSS = rss
	}
	return m.m
}

// finish returns the figures for changes changes, with the first error
// of the scenario's own check err or of reading the server's figures.
func (m *meter) finish(changes int, err error) ([]Measure, error) {
	if merr := m.err(); merr != nil {
		return nil, merr
	}
	return []Measure{m.done(changes)}, err
}

// err returns the first error met while reading the server's figures.
func (m *meter) err() error {
	for _, e := range m.errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p+0.5)]
}

// Report is every run's figures and their medians.
type Report struct {
	Store     string      `json:"store"`
	Jobs      int         `json:"jobs"`
	Few       int         `json:"few"`
	Many      int         `json:"many"`
	Runs      int         `json:"runs"`
	All       [][]Measure `json:"runs_figures"`
	Medians   []Measure   `json:"medians"`
	Checks    [][]Check   `json:"checks"` // one list per median, beside it
	Raw       float64     `json:"raw_rows_per_second"`
	RawSQLite float64     `json:"raw_sqlite_rows_per_second"`
}

// Check is one target of the table against a figure.
type Check struct {
	What   string  `json:"what"`
	Value  float64 `json:"value"`
	Limit  float64 `json:"limit"`
	AtMost bool    `json:"at_most"` // the figure must not exceed Limit; else reach it
	Met    bool    `json:"met"`
}

func (c Check) String() string {
	op, verdict := "≥", "met"
	if c.AtMost {
		op = "≤"
	}
	if !c.Met {
		verdict = "MISSED"
	}
	limit := fmtNum(c.Limit)
	if strings.HasPrefix(c.What, "share") {
		limit = fmt.Sprintf("%.0f%%", 100*c.Limit)
	}
	return fmt.Sprintf("[%s %s %s]", op, limit, verdict)
}

func check(what string, value, limit float64, atMost bool) Check {
	met := value >= limit
	if atMost {
		met = value <= limit
	}
	return Check{What: what, Value: value, Limit: limit, AtMost: atMost, Met: met}
}

// summarise takes, per scenario, the median of each figure over the runs,
// and checks the medians against the targets.
func (r *Report) summarise() {
	var order []string
	by := map[string][]Measure{}
	for _, run := range r.All {
		for _, m := range run {
			if by[m.Scenario] == nil {
				order = append(order, m.Scenario)
			}
			by[m.Scenario] = append(by[m.Scenario], m)
		}
	}
	for _, name := range order {
		r.Medians = append(r.Medians, median(by[name]))
	}
	var raws, rawSQLites []float64
	for _, run := range r.All {
		if len(run) > 0 {
			raws, rawSQLites = append(raws, run[0].Raw), append(rawSQLites, run[0].RawSQLite)
		}
	}
	r.Raw, r.RawSQLite = med(raws), med(rawSQLites)
	for _, m := range r.Medians {
		r.Checks = append(r.Checks, r.targets(m))
	}
}

func med(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// median returns a Measure each of whose figures is the median of that
// figure over ms; rates and ratios are worked out from the median time,
// which is what the median rate is too.
func median(ms []Measure) Measure {
	out := ms[0]
	f := func(get func(Measure) float64) float64 {
		v := make([]float64, len(ms))
		for i, m := range ms {
			v[i] = get(m)
		}
		return med(v)
	}
	i := func(get func(Measure) int64) int64 {
		return int64(f(func(m Measure) float64 { return float64(get(m)) }) + 0.5)
	}
	out.Seconds = f(func(m Measure) float64 { return m.Seconds })
	out.Up = i(func(m Measure) int64 { return m.Up })
	out.Down = i(func(m Measure) int64 { return m.Down })
	out.Requests = i(func(m Measure) int64 { return m.Requests })
	out.Connections = i(func(m Measure) int64 { return m.Connections })
	out.ClientRequests = i(func(m Measure) int64 { return m.ClientRequests })
	out.ServerRequests = i(func(m Measure) int64 { return m.ServerRequests })
	out.Applied = i(func(m Measure) int64 { return m.Applied })
	out.ServerSeconds = f(func(m Measure) float64 { return m.ServerSeconds })
	out.P50 = f(func(m Measure) float64 { return m.P50 })
	out.P95 = f(func(m Measure) float64 { return m.P95 })
	out.P50ms, out.P95ms = out.P50, out.P95
	out.ServerCPU = f(func(m Measure) float64 { return m.ServerCPU })
	out.PeakRSS = i(func(m Measure) int64 { return m.PeakRSS })
	out.Raw = f(func(m Measure) float64 { return m.Raw })
	out.RawSQLite = f(func(m Measure) float64 { return m.RawSQLite })
	// The raw rate is matched to the scenario's time run by run: the
	// median of the ratios, expressed back as the raw rate it implies.
	if ratio := f(func(m Measure) float64 { return m.RawRatio() }); ratio > 0 && out.Seconds > 0 {
		out.Raw = out.Rate() / ratio
	}
	return out
}

// targets checks a scenario's figures against the table.
func (r *Report) targets(m Measure) []Check {
	pg := r.Store == "postgres"
	ratio := func(sqlite float64) []Check {
		if pg {
			return []Check{check("share of raw PostgreSQL batched inserts", m.RawRatio(), 0.40, false)}
		}
		return []Check{check("share of raw SQLite inserts", m.RawRatio(), sqlite, false)}
	}
	switch m.Scenario {
	case PushCreate:
		return append([]Check{check("jobs/s", m.Rate(), 10000, false)}, append(ratio(0.05),
			check("bytes per new job, request and answer", m.BytesPer(), 400, true))...)
	case PushUpdate:
		return append([]Check{check("edits/s", m.Rate(), 20000, false)}, append(ratio(0.10),
			check("bytes per two-field edit, request and answer", m.BytesPer(), 250, true),
			check("server CPU seconds per 10,000 edits", m.per(m.ServerCPU)*10000, 0.6, true))...)
	case PullFresh:
		cs := []Check{check("records/s", m.Rate(), 30000, false)}
		if !pg {
			cs = append(cs, ratio(0.15)...)
		}
		return append(cs, check("bytes per record", m.BytesPer(), 120, true))
	case SmallSync:
		return []Check{check("requests per change", m.RequestsPer(), 3, true),
			check("bytes per change", m.BytesPer(), 1500, true),
			check("p50 ms per change", m.P50, 5, true)}
	case fmt.Sprintf("%s/%d", PullOneOfMany, r.Many):
		few := slices.IndexFunc(r.Medians, func(f Measure) bool { return f.Scenario == fmt.Sprintf("%s/%d", PullOneOfMany, r.Few) })
		if few < 0 || r.Medians[few].ServerSeconds <= 0 {
			return nil
		}
		return []Check{check(fmt.Sprintf("server time per pull, times that at %d jobs", r.Few),
			m.ServerSeconds/r.Medians[few].ServerSeconds, 2, true)}
	}
	return nil
}

// Missed lists the targets the medians miss, in words.
func (r *Report) Missed() []string {
	var out []string
	for i, cs := range r.Checks {
		for _, c := range cs {
			if !c.Met {
				value, limit := fmtNum(c.Value), fmtNum(c.Limit)
				if strings.HasPrefix(c.What, "share") {
					value, limit = fmt.Sprintf("%.1f%%", 100*c.Value), fmt.Sprintf("%.0f%%", 100*c.Limit)
				}
				out = append(out, fmt.Sprintf("%s: %s %s, target %s", r.Medians[i].Scenario, c.What, value, limit))
			}
		}
	}
	return out
}

// Print writes one line per scenario with its medians and the targets
// beside them.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "store %s, %d jobs (pull_one_of_many: %d and %d), median of %d run(s); raw SQLite %s rows/s",
		r.Store, r.Jobs, r.Few, r.Many, r.Runs, fmtNum(r.RawSQLite))
	if r.Store == "postgres" {
		fmt.Fprintf(w, ", raw PostgreSQL batched %s rows/s", fmtNum(r.Raw))
	}
	fmt.Fprintln(w)
	for i, m := range r.Medians {
		fmt.Fprintln(w, m.line(r.Checks[i]))
	}
	if missed := r.Missed(); len(missed) > 0 {
		fmt.Fprintf(w, "missed %d target(s):\n", len(missed))
		for _, s := range missed {
			fmt.Fprintln(w, "  "+s)
		}
	} else if len(r.Medians) > 0 {
		fmt.Fprintln(w, "every target met")
	}
}

// JSON writes the report as JSON.
func (r *Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// line is the scenario's figures on one line, each followed by its
// target when it has one.
func (m Measure) line(checks []Check) string {
	beside := func(what string) string {
		for _, c := range checks {
			if c.What == what || strings.HasPrefix(c.What, what) {
				return " " + c.String()
			}
		}
		return ""
	}
	unit := m.Unit
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s %s %ss/s%s", m.Scenario, fmtNum(m.Rate()), unit, beside(unit+"s/s"))
	fmt.Fprintf(&b, "  %.1f%% of raw %s%s", 100*m.RawRatio(), fmtNum(m.Raw), beside("share of raw"))
	fmt.Fprintf(&b, "  B/%s up %s down %s total %s%s", unit, fmtNum(m.per(float64(m.Up))), fmtNum(m.per(float64(m.Down))),
		fmtNum(m.BytesPer()), beside("bytes per"))
	fmt.Fprintf(&b, "  req/%s %s%s (%d requests, %d connections)", unit, fmtNum(m.RequestsPer()), beside("requests per"),
		m.Requests, m.Connections)
	fmt.Fprintf(&b, "  p50 %s ms%s p95 %s ms per %s", fmtNum(m.P50), beside("p50"), fmtNum(m.P95), m.LatencyUnit)
	fmt.Fprintf(&b, "  server %s ms per %s in requests", fmtNum(1000*m.per(m.ServerSeconds)), unit)
	for _, c := range checks {
		if strings.HasPrefix(c.What, "server time") {
			fmt.Fprintf(&b, " (%s× that at %s)%s", fmtNum(c.Value), strings.TrimSuffix(strings.TrimPrefix(c.What, "server time per pull, times that at "), " jobs"), " "+c.String())
		}
	}
	fmt.Fprintf(&b, "  server CPU %s s (%s s per 10k)%s", fmtNum(m.ServerCPU), fmtNum(m.per(m.ServerCPU)*10000), beside("server CPU"))
	fmt.Fprintf(&b, "  peak RSS %s MB", fmtNum(float64(m.PeakRSS)/(1<<20)))
	return b.String()
}

// fmtNum writes a figure with three significant digits at most below a
// thousand, and whole numbers with thousands separators above.
func fmtNum(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000 || v <= -1000:
		s := fmt.Sprintf("%.0f", v)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var out []byte
		for i := range len(s) {
			if i > 0 && (len(s)-i)%3 == 0 {
				out = append(out, ',')
			}
			out = append(out, s[i])
		}
		if neg {
			return "-" + string(out)
		}
		return string(out)
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10 || v <= -10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1 || v <= -1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3g", v)
}
