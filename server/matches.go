package server

import (
	"fieldsync/contract"
	"fieldsync/contract/engine"
)

// A suspected duplicate names the job it seems to repeat (a record's
// duplicate_of, a review's match_id and reason). Someone who cannot see
// that job learns that a match exists, nothing more: on the way out, the
// server puts contract.MatchUnseen in duplicate_of, and leaves the match
// out of the review.

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
