package server

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"fieldsync/contract"
)

// Cursors are opaque to devices: "c" and the base64 of the last position
// seen, its sequence number alone when its epoch is 0 (as every cursor of
// a store with one writer is, and as cursors were before epochs) and
// "epoch.seq" otherwise. The empty cursor is the start.
func encodeCursor(p Position) string {
	text := strconv.FormatInt(p.Seq, 10)
	if p.Epoch != 0 {
		text = strconv.FormatInt(p.Epoch, 10) + "." + text
	}
	return "c" + base64.RawURLEncoding.EncodeToString([]byte(text))
}

// ParseCursor reads a pull cursor.
func ParseCursor(c string) (Position, error) {
	if c == "" {
		return Position{}, nil
	}
	bad := fmt.Errorf("cursor %q is not one this server gave out", clip(c))
	rest, ok := strings.CutPrefix(c, "c")
	if !ok || len(rest) > 56 {
		return Position{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return Position{}, bad
	}
	epoch, seq, two := strings.Cut(string(b), ".")
	if !two {
		epoch, seq = "0", epoch
	}
	var p Position
	if p.Epoch, ok = number(epoch); !ok {
		return Position{}, bad
	}
	if p.Seq, ok = number(seq); !ok || two && p.Epoch == 0 {
		return Position{}, bad
	}
	return p, nil
}

// number reads a whole number of 0 or more written the way encodeCursor
// writes it.
func number(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0 && strconv.FormatInt(n, 10) == s
}

func (s *Server) handlePull(w http.ResponseWriter, r *http.Request, c *caller) {
	after, err := ParseCursor(r.URL.Query().Get("cursor"))
	if err != nil {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, err.Error())
		return
	}
	limit := s.rules.Limits.Page
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, contract.CodeInvalid, "limit must be a whole number of 1 or more")
			return
		}
		limit = min(n, limit)
	}
	answered := ""
	switch v := r.URL.Query().Get(contract.PullAnswered); v {
	case "":
	case contract.PullAnsweredOmit:
		answered = c.actor.DeviceID
	default:
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, fmt.Sprintf("%s must be %q or absent, not %q", contract.PullAnswered, contract.PullAnsweredOmit, clip(v)))
		return
	}
	var page contract.PullResponse
	if err := s.store.Read(r.Context(), func(q Query) error {
		feed, err := q.Pull(s.scope(c.actor), after, limit, answered)
		if err != nil {
			return err
		}
		page = contract.PullResponse{Records: feed.Records, Reviews: feed.Reviews, More: feed.More, Cursor: encodeCursor(feed.Last)}
		if err := s.hideMatches(q, c.actor, page.Records, page.Reviews); err != nil {
			return err
		}
		if page.More {
			return nil
		}
		// Everything this caller may see up to the head of the feed was
		// sent or left out on purpose: the cursor moves past it all, so
		// that the next pull does not walk what was left out again.
		head, err := q.Head()
		if err == nil && feed.Last.Before(head) {
			page.Cursor = encodeCursor(head)
		}
		return err
	}); err != nil {
		if errors.Is(err, ErrUnknownPosition) {
			writeError(w, http.StatusBadRequest, contract.CodeInvalid, fmt.Sprintf("cursor %q is not one this server gave out", clip(r.URL.Query().Get("cursor"))))
			return
		}
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}
