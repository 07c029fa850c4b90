package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus series, on a registry of its own.
type metrics struct {
	reg         *prometheus.Registry
	ops         *prometheus.CounterVec
	requests    *prometheus.CounterVec
	durations   *prometheus.HistogramVec
	pushSeconds prometheus.Histogram
	uploadBytes prometheus.Counter
	logins      *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fieldsync_operations_total",
			Help: "Operations pushed by devices, by outcome."}, []string{"outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fieldsync_http_requests_total",
			Help: "HTTP requests, by route, method and status code."}, []string{"route", "method", "code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fieldsync_http_request_duration_seconds",
			Help: "HTTP request latency, by route.", Buckets: prometheus.DefBuckets}, []string{"route"}),
		pushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fieldsync_push_batch_seconds",
			Help: "Time to apply one pushed batch, in its transaction.", Buckets: prometheus.DefBuckets}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "fieldsync_photo_upload_bytes_total",
			Help: "Photo content bytes received."}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fieldsync_logins_total",
			Help: "Sign-in attempts, by result."}, []string{"result"}),
	}
	m.reg.MustRegister(m.ops, m.requests, m.durations, m.pushSeconds, m.uploadBytes, m.logins,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// instrument counts and times requests to one route.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	labels := prometheus.Labels{"route": route}
	return promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(labels),
		promhttp.InstrumentHandlerDuration(m.durations.MustCurryWith(labels), h))
}

// FeedLagger is a store whose pulls can lag behind its commits: a store
// with concurrent writers shows a pull only what lies before the oldest
// write still running. /metrics exports the lag as
// fieldsync_feed_lag_seconds.
type FeedLagger interface {
	// FeedLag returns how long the oldest transaction still running has
	// been open: changes committed since it began may not be pulled yet.
	FeedLag(ctx context.Context) (time.Duration, error)
}

// watchFeedLag exports the store's feed lag, read at each scrape.
func (m *metrics) watchFeedLag(st FeedLagger) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fieldsync_feed_lag_seconds",
		Help: "How long the oldest open database transaction has run: changes committed since may not reach pulls yet; -1 when the database did not say."},
		func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			lag, err := st.FeedLag(ctx)
			if err != nil {
				return -1
			}
			return lag.Seconds()
		}))
}

// StoreStats is what a store with a connection pool and concurrent
// writers says of its work.
type StoreStats struct {
	// Retries counts write transactions run again because a concurrent
	// transaction got in their way.
	Retries int64
	// ConnsInUse, ConnsIdle and ConnsMax describe the connection pool.
	ConnsInUse, ConnsIdle, ConnsMax int32
	// ConnWaits counts the requests for a connection that had to wait for
	// one, and ConnWait is how long they waited in all.
	ConnWaits int64
	ConnWait  time.Duration
}

// StatsReporter is a store that reports StoreStats; /metrics exports
// them as fieldsync_store_*.
type StatsReporter interface {
	Stats() StoreStats
}

// watchStats exports a store's statistics, read at each scrape.
func (m *metrics) watchStats(st StatsReporter) {
	read := func(f func(StoreStats) float64) func() float64 {
		return func() float64 { return f(st.Stats()) }
	}
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fieldsync_store_write_retries_total",
			Help: "Write transactions run again because a concurrent transaction got in their way."},
			read(func(s StoreStats) float64 { return float64(s.Retries) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fieldsync_store_conns_in_use",
			Help: "Database connections in use now."},
			read(func(s StoreStats) float64 { return float64(s.ConnsInUse) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fieldsync_store_conns_idle",
			Help: "Database connections open and idle now."},
			read(func(s StoreStats) float64 { return float64(s.ConnsIdle) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fieldsync_store_conns_max",
			Help: "The most database connections this server opens."},
			read(func(s StoreStats) float64 { return float64(s.ConnsMax) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fieldsync_store_conn_waits_total",
			Help: "Requests for a database connection that waited for one: the pool was too small at that moment."},
			read(func(s StoreStats) float64 { return float64(s.ConnWaits) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fieldsync_store_conn_wait_seconds_total",
			Help: "Time spent waiting for a database connection."},
			read(func(s StoreStats) float64 { return s.ConnWait.Seconds() })),
	)
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
