// Package server is the FieldSync sync server: an http.Handler that applies
// the sync rules to operations from devices, serves changes to pull, takes
// photo uploads and keeps the review queue.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/contract/rulebook"
)

// Options configure a Server.
type Options struct {
	Store   Store
	BlobDir string          // photo content lives here and nowhere else
	Rules   *rulebook.Rules // compiled; nil means the embedded defaults
	Logger  *slog.Logger    // nil logs nowhere
	Now     func() time.Time
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
	blobs     *blobStore
	log       *slog.Logger
	now       func() time.Time
	ttl       time.Duration
	text      string
	rulesJSON json.RawMessage // the rules as /v1/rules sends them
	mux       *http.ServeMux
	metrics   *metrics
	cache     *recordCache
}

// New returns a server over opts.Store.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("server: no store")
	}
	if opts.BlobDir == "" {
		return nil, errors.New("server: no blob directory")
	}
	s := &Server{store: opts.Store, rules: opts.Rules, log: opts.Logger, now: opts.Now, ttl: opts.TokenTTL, text: opts.RulesText}
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
	if s.ttl == 0 {
		s.ttl = 30 * 24 * time.Hour
	}
	blobs, err := newBlobStore(opts.BlobDir)
	if err != nil {
		return nil, err
	}
	s.blobs = blobs
	s.engine = engine.New(s.rules)
	s.metrics = newMetrics()
	s.cache = newRecordCache(50000)
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

// ServeHTTP serves the /v1 protocol, /healthz and /metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic serving request", "path", r.URL.Path, "panic", v)
			writeError(w, http.StatusInternalServerError, contract.CodeInternal, "the server failed; nothing was applied")
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// Timeouts bound how long one connection may take over each part of its
// work. A zero field takes its default.
type Timeouts struct {
	ReadHeader time.Duration // to send the request line and headers (default 10s)
	Read       time.Duration // to send the whole request, body included (default 2m)
	Write      time.Duration // to receive the whole answer (default 2m)
	Idle       time.Duration // to wait between requests on a kept-alive connection (default 2m)
}

// DefaultTimeouts returns the timeouts NewHTTPServer uses.
func DefaultTimeouts() Timeouts {
	return Timeouts{ReadHeader: 10 * time.Second, Read: 2 * time.Minute, Write: 2 * time.Minute, Idle: 2 * time.Minute}
}

// NewHTTPServer wraps h in an http.Server with timeouts, so that a slow or
// stalled client cannot hold a connection for ever.
func NewHTTPServer(addr string, h http.Handler, logger *slog.Logger) *http.Server {
	return NewHTTPServerWith(addr, h, logger, DefaultTimeouts())
}

// NewHTTPServerWith is NewHTTPServer with other timeouts, such as short ones
// in tests.
func NewHTTPServerWith(addr string, h http.Handler, logger *slog.Logger, t Timeouts) *http.Server {
	def := DefaultTimeouts()
	pick := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	hs := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: pick(t.ReadHeader, def.ReadHeader),
		ReadTimeout:       pick(t.Read, def.Read),
		WriteTimeout:      pick(t.Write, def.Write),
		IdleTimeout:       pick(t.Idle, def.Idle),
		MaxHeaderBytes:    64 << 10,
	}
	if logger != nil {
		hs.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	}
	return hs
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := s.store.Read(ctx, func(q Query) error {
		_, err := q.Record("00000000-0000-0000-0000-000000000000")
		return err
	})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, contract.CodeUnavailable, "the database is not answering")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// writeJSON writes v as the JSON body of a response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// writeError writes a plain error body.
func writeError(w http.ResponseWriter, status int, code contract.Code, msg string) {
	kind := contract.KindOf(code)
	retry := status >= 500 || status == http.StatusTooManyRequests || kind == contract.Transient
	if retry {
		kind = contract.Transient
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "2")
		}
	}
	writeJSON(w, status, contract.ErrorBody{Error: contract.ErrorDetail{Code: code, Kind: kind, Message: msg, Retry: retry}})
}

// storeError answers a failed store call: busy is 503 with Retry-After.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrBusy) || errors.Is(err, context.DeadlineExceeded) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, contract.CodeUnavailable, "the server is busy; try again shortly")
		return
	}
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	s.log.Error("store", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, contract.CodeInternal, "the server failed; nothing was applied")
}

// decodeBody reads a JSON body of at most the body limit into v, refusing
// unknown fields and trailing data.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := s.readBody(w, r)
	return ok && decodeJSON(w, body, v)
}

// readBody reads a whole body of at most the body limit, in one piece when
// its size is known.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, s.rules.Limits.Body)
	var (
		body []byte
		err  error
	)
	if n := r.ContentLength; n >= 0 && n <= s.rules.Limits.Body {
		body = make([]byte, n)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(r.Body)
	}
	if err == nil {
		return body, true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, contract.CodeTooLarge, fmt.Sprintf("the request body is over the limit of %d bytes", tooBig.Limit))
		return nil, false
	}
	// A body cut off by the server's read timeout is not malformed: the
	// device should send it again, not give up on it.
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		writeError(w, http.StatusServiceUnavailable, contract.CodeUnavailable, "the request body did not arrive in time; nothing was applied: send it again")
		return nil, false
	}
	writeError(w, http.StatusBadRequest, contract.CodeInvalid, "malformed JSON: "+jsonProblem(err))
	return nil, false
}

// decodeJSON decodes body into v, refusing unknown fields and trailing
// data, and answers 400 with what was wrong when it cannot.
func decodeJSON(w http.ResponseWriter, body []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON value")
	}
	if err == nil {
		return true
	}
	writeError(w, http.StatusBadRequest, contract.CodeInvalid, "malformed JSON: "+jsonProblem(err))
	return false
}

// jsonProblem turns a decoding error into words a developer can act on.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%v (at byte %d)", syn, syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q: want %s, got %s", typ.Field, typ.Type, typ.Value)
	case errors.Is(err, errors.ErrUnsupported):
		return err.Error()
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field") {
		return strings.TrimPrefix(msg, "json: ")
	}
	if msg == "EOF" {
		return "the body is empty"
	}
	return strings.TrimPrefix(msg, "json: ")
}

// scope is what an actor sees: whole record types by role, and the rest
// through the jobs they are on.
func (s *Server) scope(actor engine.Actor) Scope {
	sc := Scope{UserID: actor.UserID}
	for _, rr := range s.rules.Records {
		top := rr
		if rr.IsItem() {
			top = s.rules.Record(rr.Parent)
		}
		owner := []string{top.Owner}
		if s.rules.RoleIn(actor.Role, top.View) || s.rules.RoleIn(actor.Role, owner) {
			sc.Types = append(sc.Types, rr.Type)
		}
	}
	return sc
}

// visible reports whether actor may see rec.
func (s *Server) visible(q Query, actor engine.Actor, rec *contract.Record) (bool, error) {
	var parent *contract.Record
	if rec.ParentID != "" {
		var err error
		if parent, err = q.Record(rec.ParentID); err != nil {
			return false, err
		}
	}
	if s.engine.CanSee(actor, rec, parent) {
		return true, nil
	}
	return q.SeesThrough(actor.UserID, rec.ID)
}

// index is what the store keeps beside rec: the job it belongs to, the
// team-owned records it links to, and its duplicate-suspect key.
func (s *Server) index(rec *contract.Record) Index {
	rr := s.rules.Record(rec.Type)
	var ix Index
	switch {
	case rr.IsItem():
		ix.Scope = rec.ParentID
	case rr.OwnerField() != "":
		ix.Scope = rec.ID
		for _, g := range rr.Groups {
			for _, f := range g.Fields {
				target := s.rules.Record(f.Type)
				if target == nil || target.IsItem() || !s.rules.HasRole(target.Owner) && !slices.Contains(aliasNames(s.rules), target.Owner) {
					continue
				}
				if id := rec.Text(f.Name); id != "" {
					ix.Links = append(ix.Links, id)
				}
			}
		}
	}
	ix.MatchKey = s.matchKey(rec)
	return ix
}

func aliasNames(r *rulebook.Rules) []string {
	out := make([]string, len(r.Aliases))
	for i, a := range r.Aliases {
		out[i] = a.Name
	}
	return out
}

// people are those on a person-owned record: owner, crew and past owners.
func (s *Server) people(rec *contract.Record) []string {
	rr := s.rules.Record(rec.Type)
	var out []string
	add := func(id string) {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	add(rec.Text(rr.OwnerField()))
	for _, g := range rr.Groups {
		for _, f := range g.Fields {
			if f.Type == rulebook.TypeUsers {
				var ids []string
				_ = json.Unmarshal(rec.Fields[f.Name], &ids)
				for _, id := range ids {
					add(id)
				}
			}
		}
	}
	for _, id := range rec.PastOwners {
		add(id)
	}
	slices.Sort(out)
	return out
}

// matchKey is the duplicate-suspect key of rec: its match fields and day,
// normalised; "" when the record type has no match rule or a field is empty.
func (s *Server) matchKey(rec *contract.Record) string {
	m := s.rules.Record(rec.Type).Match
	if m == nil {
		return ""
	}
	parts := make([]string, 0, len(m.Same)+1)
	for _, f := range m.Same {
		v := normalize(rec.Text(f))
		if v == "" {
			return ""
		}
		parts = append(parts, v)
	}
	parts = append(parts, matchDay(rec, m.Day))
	return strings.Join(parts, "\x1f")
}

// matchDay is the day a record is for: its day field, or the day the
// server made it. A device's clock is only its claim: one set a day off
// must not hide a duplicate.
func matchDay(rec *contract.Record, field string) string {
	if t, err := time.Parse(time.RFC3339Nano, rec.Text(field)); err == nil && field != "" {
		return t.UTC().Format(time.DateOnly)
	}
	return rec.CreatedAt.UTC().Format(time.DateOnly)
}

func normalize(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }

// open reports whether rec is still live: not voided, not locked.
func (s *Server) open(rec *contract.Record) bool {
	rr := s.rules.Record(rec.Type)
	if rec.Bool("voided") {
		return false
	}
	return rr.Machine == nil || !rr.Lock.Locks(rec.Text(rr.Machine.Field))
}
