package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/engine"
)

// Suspected duplicates. A new record with the same match fields as an open
// one made on another device, on the same day (for jobs by default: the
// same customer and site), is stored with a duplicate-suspect review, for
// the office to keep both or merge.
//
// A suspected duplicate names the job it seems to repeat (a record's
// duplicate_of, a review's match_id and reason). Someone who cannot see
// that job learns that a match exists, nothing more: on the way out, the
// server puts contract.MatchUnseen in duplicate_of, and leaves the match
// out of the review.

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

// created gives a new record its number and checks it against the open
// records it may repeat, returning a duplicate-suspect review to store and
// the number of the record it seems to repeat, when actor may see that
// record ("" when not).
func (a *applier) created(actor engine.Actor, rec *contract.Record) (*contract.Review, string, error) {
	rr := a.s.rules.Record(rec.Type)
	if rr.Number != "" {
		n, err := a.tx.NextNumber(rr.Number)
		if err != nil {
			return nil, "", err
		}
		rec.Number = n
	}
	key := a.s.matchKey(rec)
	lg := rr.Lifecycle()
	if key == "" || lg == nil {
		return nil, "", nil
	}
	// Two creates with the same key at once: the second waits here for the
	// first, and then finds it.
	if err := a.tx.LockMatch(rec.Type, key); err != nil {
		return nil, "", err
	}
	others, err := a.tx.Matches(rec.Type, key)
	if err != nil {
		return nil, "", err
	}
	for _, m := range others {
		if m.ID == rec.ID || m.DeviceID == rec.DeviceID || !a.s.open(&m) {
			continue
		}
		rec.DuplicateOf = m.ID
		rec.OpenReviews = append(rec.OpenReviews, lg.Name)
		rv := &contract.Review{ID: a.s.newID(), RecordType: rec.Type, RecordID: rec.ID, Number: rec.Number,
			Title: recordTitle(rec), Group: lg.Name, Kind: contract.KindDuplicate, Status: "open", MatchID: m.ID,
			Device: []contract.ReviewEntry{},
			Reason: fmt.Sprintf("Same %s on the same day as %s, which was made on another device.", words(rr.Match.Same), m.Number),
			Server: a.groupState(rec, lg.Name, nil), CreatedAt: a.now}
		seen, err := a.visible(actor, &m)
		if err != nil || !seen {
			return rv, "", err
		}
		return rv, m.Number, nil
	}
	return nil, "", nil
}

func words(fields []string) string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = strings.ReplaceAll(strings.TrimSuffix(f, "_id"), "_", " ")
	}
	return strings.Join(out, " and ")
}

// handleMatches answers which open jobs a job with the given match fields
// and day would repeat, naming only those the caller may see.
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

// unseenReason is a duplicate review's reason for a reader who cannot see
// the job it matches.
const unseenReason = "Same customer and site on the same day as an open job made on another device."

// matchSeer answers, once per job, whether an actor may see it.
type matchSeer struct {
	visible func(id string) (bool, error)
	seen    map[string]bool
}

func (m *matchSeer) sees(id string) (bool, error) {
	if v, ok := m.seen[id]; ok {
		return v, nil
	}
	v, err := m.visible(id)
	if err != nil {
		return false, err
	}
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	m.seen[id] = v
	return v, nil
}

// hideRecordMatch puts MatchUnseen in rec's duplicate_of when the reader
// cannot see the job it names, and reports whether it did.
func (m *matchSeer) hideRecordMatch(rec *contract.Record) (bool, error) {
	id := rec.DuplicateOf
	if id == "" || id == contract.MatchUnseen {
		return false, nil
	}
	ok, err := m.sees(id)
	if err != nil || ok {
		return false, err
	}
	rec.DuplicateOf = contract.MatchUnseen
	return true, nil
}

// hideReviewMatch leaves the matched job out of rv when the reader cannot
// see it.
func (m *matchSeer) hideReviewMatch(rv *contract.Review) error {
	if rv.MatchID == "" {
		return nil
	}
	ok, err := m.sees(rv.MatchID)
	if err != nil || ok {
		return err
	}
	rv.MatchID, rv.Reason = "", unseenReason
	return nil
}

// hideMatches hides, in records and reviews going to actor, the jobs they
// seem to repeat that actor cannot see.
func (s *Server) hideMatches(q Query, actor engine.Actor, recs []contract.Record, rvs []contract.Review) error {
	m := matchSeer{visible: func(id string) (bool, error) {
		rec, err := q.Record(id)
		if err != nil || rec == nil {
			return false, err
		}
		return s.visible(q, actor, rec)
	}}
	for i := range recs {
		if _, err := m.hideRecordMatch(&recs[i]); err != nil {
			return err
		}
	}
	for i := range rvs {
		if err := m.hideReviewMatch(&rvs[i]); err != nil {
			return err
		}
	}
	return nil
}
