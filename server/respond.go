package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"fieldsync/contract"
)

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
	if errors.Is(err, ErrUnavailable) {
		s.log.Error("store", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, contract.CodeUnavailable, "the server cannot reach its database; nothing was applied, try again shortly")
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

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
