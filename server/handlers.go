package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/internal/wirejson"
)

func timeNow() time.Time { return time.Now().UTC() }

func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request, c *caller) {
	var rows []UserRow
	if err := s.store.Read(r.Context(), func(q Query) error {
		var err error
		rows, err = q.Users()
		return err
	}); err != nil {
		s.storeError(w, r, err)
		return
	}
	out := contract.UsersResponse{Users: make([]contract.User, 0, len(rows))}
	for _, u := range rows {
		if !u.Disabled {
			out.Users = append(out.Users, u.User)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRules(w http.ResponseWriter, r *http.Request, c *caller) {
	writeJSON(w, http.StatusOK, contract.RulesResponse{Protocol: contract.Protocol, Rules: s.rulesJSON, Text: s.text})
}

func (s *Server) handlePush(w http.ResponseWriter, r *http.Request, c *caller) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	// Requests of the usual shape are read without reflection; anything
	// else goes through encoding/json, which words the errors.
	req, ok := wirejson.DecodePushRequest(body)
	if !ok && !decodeJSON(w, body, &req) {
		return
	}
	if len(req.Ops) == 0 {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "a push needs at least one operation in ops")
		return
	}
	if max := s.rules.Limits.Batch; len(req.Ops) > max {
		writeError(w, http.StatusRequestEntityTooLarge, contract.CodeTooLarge,
			fmt.Sprintf("a push carries at most %d operations; this one has %d: split it", max, len(req.Ops)))
		return
	}
	out, docs, err := s.push(r.Context(), c.actor, req.Ops, true)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	// A push answer is results and records, encoded the fast way.
	size := len(`{"results":[],"copies":[]}`+"\n") + len(out.Results) + len(out.Copies)
	for i := range out.Results {
		if docs[i] == nil {
			var err error
			if docs[i], err = wirejson.MarshalResult(&out.Results[i]); err != nil {
				s.storeError(w, r, err)
				return
			}
		}
		size += len(docs[i])
	}
	for _, doc := range out.Copies {
		size += len(doc)
	}
	answer := append(make([]byte, 0, size), `{"results":[`...)
	for i, b := range docs {
		if i > 0 {
			answer = append(answer, ',')
		}
		answer = append(answer, b...)
	}
	answer = append(answer, `],"copies":[`...)
	for i, doc := range out.Copies {
		if i > 0 {
			answer = append(answer, ',')
		}
		answer = append(answer, doc...)
	}
	answer = append(answer, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
	w.WriteHeader(http.StatusOK)
	w.Write(answer)
}

// Push applies a batch of operations for actor in one transaction and
// returns the answer for actor's device: one result per operation, and
// copies of the records they wrote. Those records are marked as answered to
// that device, whose pulls may then leave them out: the caller must deliver
// the copies.
//
// actor's device is bound to actor's user, as a sign-in binds it, so that
// nobody can later sign in as that device; a device bound to another user
// is an error.
func (s *Server) Push(ctx context.Context, actor engine.Actor, ops []contract.Operation) (contract.PushResponse, error) {
	if err := s.store.Write(ctx, func(tx Tx) error {
		owner, err := tx.BindDevice(actor.DeviceID, actor.UserID, s.now().UTC())
		if err == nil && owner != actor.UserID {
			err = fmt.Errorf("push: device %q belongs to another user", actor.DeviceID)
		}
		return err
	}); err != nil {
		return contract.PushResponse{}, err
	}
	out, _, err := s.push(ctx, actor, ops, true)
	return out, err
}

// push applies a batch; with copies false the answer carries none and no
// record is marked as answered. It also returns each result's JSON where
// the store was given it (nil elsewhere), for the answer to reuse.
func (s *Server) push(ctx context.Context, actor engine.Actor, ops []contract.Operation, copies bool) (contract.PushResponse, [][]byte, error) {
	start := time.Now()
	var out contract.PushResponse
	var docs [][]byte
	err := s.store.Write(ctx, func(tx Tx) error {
		a := s.newApplier(tx)
		if copies {
			a.device = actor.DeviceID
		}
		var err error
		if out, err = a.applyBatch(actor, ops); err != nil {
			return err
		}
		docs = make([][]byte, len(out.Results))
		for i := range out.Results {
			docs[i] = a.resultDoc(&out.Results[i])
		}
		return nil
	})
	s.metrics.pushSeconds.Observe(time.Since(start).Seconds())
	return out, docs, err
}

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

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
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

func (s *Server) handleReviews(w http.ResponseWriter, r *http.Request, c *caller) {
	status := r.URL.Query().Get("status")
	if status != "" && status != "open" && status != "all" {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "status must be open or all")
		return
	}
	var rvs []contract.Review
	if err := s.store.Read(r.Context(), func(q Query) error {
		var err error
		if rvs, err = q.Reviews(s.scope(c.actor), status != "all"); err != nil {
			return err
		}
		return s.hideMatches(q, c.actor, nil, rvs)
	}); err != nil {
		s.storeError(w, r, err)
		return
	}
	if rvs == nil {
		rvs = []contract.Review{}
	}
	writeJSON(w, http.StatusOK, contract.ReviewsResponse{Reviews: rvs})
}

func (s *Server) handleResolve(w http.ResponseWriter, r *http.Request, c *caller) {
	var req contract.ResolveRequest
	if !s.decodeBody(w, r, &req) {
		return
	}
	if _, ok := contract.ValidUUID(r.PathValue("id")); !ok {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "the review id in the path is not a UUID")
		return
	}
	if _, ok := contract.ValidUUID(req.OpID); !ok {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "op_id must be a UUID made by the client, so that a retry is not applied twice")
		return
	}
	values := map[string]json.RawMessage{"choice": contract.Text(req.Choice)}
	if req.Entry != "" {
		values["entry"] = contract.Text(req.Entry)
	}
	if req.Values != nil {
		b, _ := json.Marshal(req.Values)
		values["values"] = b
	}
	if req.DeviceID != "" && req.DeviceID != c.session.DeviceID {
		writeError(w, http.StatusBadRequest, contract.CodeWrongDevice,
			fmt.Sprintf("device_id %q is not the device you signed in from (%q); leave it out", clip(req.DeviceID), c.session.DeviceID))
		return
	}
	op := contract.Operation{ID: req.OpID, RecordType: contract.ReviewType, RecordID: r.PathValue("id"),
		Action: contract.ActionResolve, Values: values, DeviceID: c.session.DeviceID, DeviceTime: s.now().UTC()}
	// The answer is one result, without copies: the caller pulls the
	// records the decision changed.
	out, _, err := s.push(r.Context(), c.actor, []contract.Operation{op}, false)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	res := out.Results[0]
	final := res.Final()
	if final.Outcome == contract.Refused {
		status := http.StatusConflict
		switch final.Code {
		case contract.CodeForbidden:
			status = http.StatusForbidden
		case contract.CodeNotFound:
			status = http.StatusNotFound
		case contract.CodeBadValue, contract.CodeInvalid:
			status = http.StatusBadRequest
		case contract.CodeInternal:
			status = http.StatusServiceUnavailable
		}
		writeError(w, status, final.Code, final.Message)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleMatches(w http.ResponseWriter, r *http.Request, c *caller) {
	typ := "job"
	rr := s.rules.Record(typ)
	if rr == nil || rr.Match == nil {
		writeJSON(w, http.StatusOK, contract.MatchesResponse{Matches: []contract.Match{}})
		return
	}
	q := r.URL.Query()
	probe := &contract.Record{Type: typ, Fields: map[string]json.RawMessage{}, CreatedAt: s.now()}
	for _, f := range rr.Match.Same {
		v := q.Get(f)
		if v == "" {
			writeError(w, http.StatusBadRequest, contract.CodeInvalid, fmt.Sprintf("query parameter %s is required; matches need %s", f, strings.Join(rr.Match.Same, ", ")))
			return
		}
		if rr.Field(f) != nil && s.rules.Record(rr.Field(f).Type) != nil {
			id, ok := contract.ValidUUID(v)
			if !ok {
				writeError(w, http.StatusBadRequest, contract.CodeInvalid, fmt.Sprintf("query parameter %s must be a UUID", f))
				return
			}
			v = id
		}
		probe.Fields[f] = contract.Text(v)
	}
	// Matches are about a customer the caller works for: one they cannot
	// see is answered like one that does not exist.
	for _, f := range rr.Match.Same {
		target := s.rules.Record(rr.Field(f).Type)
		if target == nil {
			continue
		}
		id := probe.Text(f)
		var seen bool
		if err := s.store.Read(r.Context(), func(q Query) error {
			rec, err := q.Record(id)
			if err != nil || rec == nil || rec.Type != target.Type {
				return err
			}
			seen, err = s.visible(q, c.actor, rec)
			return err
		}); err != nil {
			s.storeError(w, r, err)
			return
		}
		if !seen {
			writeError(w, http.StatusNotFound, contract.CodeNotFound, fmt.Sprintf("no %s %s that you can see", target.Type, id))
			return
		}
	}
	if d := q.Get("date"); d != "" {
		t, err := time.Parse(time.DateOnly, d)
		if err != nil {
			writeError(w, http.StatusBadRequest, contract.CodeInvalid, "date must look like 2026-11-24")
			return
		}
		probe.CreatedAt = t
	}
	key := s.matchKey(probe)
	out := contract.MatchesResponse{Matches: []contract.Match{}}
	err := s.store.Read(r.Context(), func(qr Query) error {
		recs, err := qr.Matches(typ, key)
		if err != nil {
			return err
		}
		for i := range recs {
			m := &recs[i]
			if !s.open(m) {
				continue
			}
			vis, err := s.visible(qr, c.actor, m)
			if err != nil {
				return err
			}
			// A job the caller cannot see is only said to exist.
			match := contract.Match{Visible: vis}
			if vis {
				match.ID, match.Number, match.Title = m.ID, m.Number, m.Text("title")
				match.Status, match.OwnerName = m.Text("status"), m.OwnerName
			}
			out.Matches = append(out.Matches, match)
		}
		return nil
	})
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request, c *caller) {
	id, ok := contract.ValidUUID(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "the record id in the path is not a UUID")
		return
	}
	typ := r.PathValue("type")
	if s.rules.Record(typ) == nil {
		writeError(w, http.StatusBadRequest, contract.CodeUnknownType, fmt.Sprintf("unknown record type %q", clip(typ)))
		return
	}
	var (
		changes []contract.Change
		found   bool
	)
	err := s.store.Read(r.Context(), func(q Query) error {
		rec, err := q.Record(id)
		if err != nil || rec == nil || rec.Type != typ {
			return err
		}
		if found, err = s.visible(q, c.actor, rec); err != nil || !found {
			return err
		}
		if changes, err = q.Changes(id); err != nil {
			return err
		}
		names := map[string]string{}
		for i := range changes {
			uid := changes[i].UserID
			if _, ok := names[uid]; !ok {
				if u, err := q.User(uid); err == nil && u != nil {
					names[uid] = u.Name
				}
			}
			changes[i].UserName = names[uid]
		}
		return nil
	})
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, contract.CodeNotFound, fmt.Sprintf("no %s %s that you can see", typ, id))
		return
	}
	if changes == nil {
		changes = []contract.Change{}
	}
	writeJSON(w, http.StatusOK, contract.HistoryResponse{Changes: changes})
}
