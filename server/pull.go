package server

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"fieldsync/contract"
)

// Cursors are opaque to devices: "c" and the base64 of the last sequence
// number seen. The empty cursor is the start.
func encodeCursor(seq int64) string {
	return "c" + base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(seq, 10)))
}

// ParseCursor reads a pull cursor.
func ParseCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	rest, ok := strings.CutPrefix(c, "c")
	if !ok || len(rest) > 28 {
		return 0, fmt.Errorf("cursor %q is not one this server gave out", clip(c))
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return 0, fmt.Errorf("cursor %q is not one this server gave out", clip(c))
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != string(b) {
		return 0, fmt.Errorf("cursor %q is not one this server gave out", clip(c))
	}
	return n, nil
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
		recs, rvs, err := q.Pull(s.scope(c.actor), after, limit+1, answered)
		if err != nil {
			return err
		}
		page = mergePage(recs, rvs, after, limit)
		if err := s.hideMatches(q, c.actor, page.Records, page.Reviews); err != nil {
			return err
		}
		if page.More {
			return nil
		}
		// Everything this caller may see up to the newest change was sent
		// or left out on purpose: the cursor moves past it all, so that the
		// next pull does not walk what was left out again.
		last, err := q.LastSeq()
		if err == nil && last > after {
			page.Cursor = encodeCursor(last)
		}
		return err
	}); err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// mergePage takes the first limit entries of two lists in sequence order.
func mergePage(recs []contract.Record, rvs []contract.Review, after int64, limit int) contract.PullResponse {
	out := contract.PullResponse{Records: []contract.Record{}, Reviews: []contract.Review{}}
	last := after
	i, j := 0, 0
	for i+j < limit && (i < len(recs) || j < len(rvs)) {
		if j >= len(rvs) || i < len(recs) && recs[i].Seq < rvs[j].Seq {
			out.Records = append(out.Records, recs[i])
			last = recs[i].Seq
			i++
		} else {
			out.Reviews = append(out.Reviews, rvs[j])
			last = rvs[j].Seq
			j++
		}
	}
	out.More = i < len(recs) || j < len(rvs)
	out.Cursor = encodeCursor(last)
	return out
}
