package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/contract/rulebook"
	"fieldsync/server/blobstore"
)

// Options configure a Server.
type Options struct {
	Store Store
	// Blobs keeps photo content; nil keeps it in BlobDir, a directory of
	// this machine's. Servers sharing a database must share it too.
	Blobs   blobstore.Store
	BlobDir string
	Rules   *rulebook.Rules  // compiled; nil means the embedded defaults
	Logger  *slog.Logger     // nil logs nowhere
	Now     func() time.Time // the server's clock; nil means time.Now
	// NewID makes every id the server gives something it makes itself:
	// review items, users (Server.AddUser), the demo's records and
	// operations. nil makes UUIDv7s by Now, as devices make theirs (NewV7).
	NewID func() string
	// TrustedProxies are the load balancers in front of the server: for a
	// request from one of them, the sign-in throttle counts wrong
	// passwords against the client address it reports in
	// X-Forwarded-For, not against the balancer's own. Empty trusts no
	// header.
	TrustedProxies []netip.Prefix
	// TokenTTL is how long a sign-in lasts; zero means 30 days.
	TokenTTL time.Duration
	// RulesText is the rules file the rules came from, served to devices.
	RulesText string
}

// Server is the sync server. It is an http.Handler.
type Server struct {
	store     Store
	rules     *rulebook.Rules
	engine    *engine.Engine
	blobs     blobstore.Store
	log       *slog.Logger
	now       func() time.Time
	newID     func() string
	ttl       time.Duration
	text      string
	rulesJSON json.RawMessage // the rules as /v1/rules sends them
	proxies   []netip.Prefix
	mux       *http.ServeMux
	metrics   *metrics
}

// New returns a server over opts.Store.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("server: no store")
	}
	if opts.Blobs == nil && opts.BlobDir == "" {
		return nil, errors.New("server: no blob store and no blob directory")
	}
	s := &Server{store: opts.Store, rules: opts.Rules, log: opts.Logger, now: opts.Now, newID: opts.NewID, ttl: opts.TokenTTL, text: opts.RulesText,
		proxies: opts.TrustedProxies}
	if s.rules == nil {
		s.rules, s.text = rulebook.Default(), rulebook.DefaultText()
	}
	rulesJSON, err := json.Marshal(s.rules)
	if err != nil {
		return nil, fmt.Errorf("server: rules: %w", err)
	}
	s.rulesJSON = rulesJSON
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = func() string { return NewV7(s.now()) }
	}
	if s.ttl == 0 {
		s.ttl = 30 * 24 * time.Hour
	}
	s.blobs = opts.Blobs
	if s.blobs == nil {
		dir, err := blobstore.Dir(opts.BlobDir)
		if err != nil {
			return nil, err
		}
		s.blobs = dir
	}
	s.engine = engine.New(s.rules)
	s.metrics = newMetrics()
	if fl, ok := opts.Store.(FeedLagger); ok {
		s.metrics.watchFeedLag(fl)
	}
	if sr, ok := opts.Store.(StatsReporter); ok {
		s.metrics.watchStats(sr)
	}
	s.routes()
	return s, nil
}

// Rules returns the rules in force.
func (s *Server) Rules() *rulebook.Rules { return s.rules }

func (s *Server) routes() {
	m := http.NewServeMux()
	var routes []string
	handle := func(pattern string, h http.HandlerFunc) {
		routes = append(routes, pattern)
		m.Handle(pattern, s.metrics.instrument(pattern, h))
	}
	handle("GET /healthz", s.handleHealth)
	routes = append(routes, "GET /metrics")
	m.Handle("GET /metrics", s.metrics.handler())
	handle("POST /v1/login", s.handleLogin)
	handle("POST /v1/logout", s.authed(s.handleLogout))
	handle("GET /v1/me", s.authed(s.handleMe))
	handle("GET /v1/users", s.authed(s.handleUsers))
	handle("GET /v1/rules", s.authed(s.handleRules))
	handle("POST /v1/push", s.authed(s.handlePush))
	handle("GET /v1/pull", s.authed(s.handlePull))
	handle("GET /v1/reviews", s.authed(s.handleReviews))
	handle("POST /v1/reviews/{id}/resolve", s.authed(s.handleResolve))
	handle("GET /v1/jobs/matches", s.authed(s.handleMatches))
	handle("GET /v1/records/{type}/{id}/history", s.authed(s.handleHistory))
	handle("GET /v1/photos/{id}/upload", s.authed(s.handleUploadStatus))
	handle("PUT /v1/photos/{id}/content", s.authed(s.handleUpload))
	handle("GET /v1/photos/{id}/content", s.authed(s.handleDownload))
	// paths knows every route whatever its method, to tell a wrong method
	// (405) from a wrong path (404).
	paths := http.NewServeMux()
	known := map[string]bool{}
	for _, route := range routes {
		_, path, _ := strings.Cut(route, " ")
		if !known[path] {
			known[path] = true
			paths.HandleFunc(path, func(http.ResponseWriter, *http.Request) {})
		}
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := paths.Handler(r); pattern != "" {
			var allow []string
			for _, route := range routes {
				method, path, _ := strings.Cut(route, " ")
				if path == pattern {
					allow = append(allow, method)
				}
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, contract.CodeInvalid, fmt.Sprintf("%s does not take %s; it takes %s", r.URL.Path, r.Method, strings.Join(allow, ", ")))
			return
		}
		writeError(w, http.StatusNotFound, contract.CodeNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	s.mux = m
}

// ServeHTTP serves the /v1 protocol, /healthz and /metrics. JSON bodies
// may travel gzip-compressed both ways (compress.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic serving request", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			writeError(w, http.StatusInternalServerError, contract.CodeInternal, "the server failed; nothing was applied")
		}
	}()
	s.serveCoded(w, r, s.mux)
}

// handleHealth answers 200 when the database and the photo store both
// answer within two seconds, and 503 saying which does not otherwise: a
// load balancer sends no request to a server that cannot serve it.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var problems []string
	err := s.store.Read(ctx, func(q Query) error {
		_, err := q.Record("00000000-0000-0000-0000-000000000000")
		return err
	})
	if err != nil {
		s.log.Warn("health: database", "err", err)
		problems = append(problems, "the database is not answering")
	}
	if err := s.blobs.Check(ctx); err != nil {
		s.log.Warn("health: photo store", "err", err)
		problems = append(problems, "the photo store is not answering")
	}
	if len(problems) > 0 {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, contract.CodeUnavailable, strings.Join(problems, "; "))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleRules(w http.ResponseWriter, r *http.Request, c *caller) {
	writeJSON(w, http.StatusOK, contract.RulesResponse{Protocol: contract.Protocol, Rules: s.rulesJSON, Text: s.text})
}
