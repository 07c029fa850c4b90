package server

import (
	"log/slog"
	"net/http"
	"time"
)

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
