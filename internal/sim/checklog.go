package sim

import (
	"encoding/json"
	"slices"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

type streak struct {
	device string
	base   int64
}

// checkLog replays every record's change log: the collisions, the
// versions, last write wins, and each field against its log.
func (s *sim) checkLog(srv *serverState) {
	for _, id := range srv.ids {
		rec := srv.records[id]
		rr := s.rules.Record(rec.Type)
		changes := srv.changes[id]
		versions := map[string]int64{}
		streaks := map[string]streak{}
		for k := 0; k < len(changes); {
			opID := changes[k].OpID
			end := k
			for end < len(changes) && changes[end].OpID == opID {
				end++
			}
			rows := changes[k:end]
			first := k == 0
			k = end
			if first {
				for _, g := range rr.Groups {
					if len(g.Fields) > 0 {
						versions[g.Name] = 1
					}
				}
				continue
			}
			e := s.byOp[opID]
			if e != nil && e.op.RecordID == id {
				s.checkCollision(rr, rec, e, versions, streaks)
			}
			var groups []string
			for _, c := range rows {
				if g := rr.Group(c.Group); g != nil && !slices.Contains(groups, c.Group) {
					groups = append(groups, c.Group)
				}
			}
			if e != nil && e.op.RecordType == contract.ReviewType && len(groups) == 0 {
				if rv := srv.reviews[e.op.RecordID]; rv != nil && rv.RecordID == id && rv.Kind != contract.KindDuplicate {
					groups = append(groups, rv.Group)
				}
			}
			for _, g := range groups {
				old := versions[g]
				versions[g] = old + 1
				if st, ok := streaks[g]; !ok || st.device != rows[0].DeviceID {
					streaks[g] = streak{rows[0].DeviceID, old}
				}
			}
		}
		for _, g := range rr.Groups {
			if len(g.Fields) > 0 && versions[g.Name] != rec.Versions[g.Name] {
				s.rep.LogWrong++
				s.rep.problem("log: %s %s: group %s is at version %d, its change log makes %d", rec.Type, short(id), g.Name, rec.Versions[g.Name], versions[g.Name])
			}
		}
		s.checkFields(srv, rr, rec, changes)
	}
	// No edit of a last-write-wins group is held as a conflict.
	for _, e := range s.ledger {
		res := srv.results[e.op.ID]
		if res == nil || res.Result.Outcome != contract.Held || res.Result.Code != contract.CodeConflict {
			continue
		}
		rr := s.rules.Record(e.op.RecordType)
		if rr == nil {
			continue
		}
		for f := range e.op.Values {
			if g := rr.GroupOf(f); g != nil && g.Policy == rulebook.PolicyLastWriteWins {
				s.rep.LWWWrong++
				s.rep.problem("last write wins: %s was held as a conflict", e)
				break
			}
		}
	}
}

// checkCollision decides whether an applied edit was a collision.
func (s *sim) checkCollision(rr *rulebook.RecordRule, rec *contract.Record, e *entry, versions map[string]int64, streaks map[string]streak) {
	var groups []string
	switch e.op.Action {
	case contract.ActionVoid:
		for g := range e.op.Bases {
			groups = append(groups, g)
		}
		slices.Sort(groups)
	case contract.ActionUpdate, contract.ActionTransition, contract.ActionReassign:
		for g := range e.op.Bases {
			if gr := rr.Group(g); gr != nil && gr.Policy == rulebook.PolicyReview {
				groups = append(groups, g)
			}
		}
	}
	for _, g := range groups {
		base, cur := e.op.Bases[g], versions[g]
		st, ok := streaks[g]
		own := ok && st.device == e.op.DeviceID && base >= st.base
		s.checked++
		if base < cur && own {
			s.ownRuns++
		}
		if base < cur && !own {
			s.rep.Missed++
			s.rep.problem("collision applied: %s was made from version %d of %s %s's %s, the server had %d (last written by %s since %d); it should have become a review item",
				e, base, rec.Type, short(rec.ID), g, cur, st.device, st.base)
		}
	}
}

// checkFields checks each field against the last change-log row that
// wrote it, and each last-write-wins field against the last write of it
// the server received: of the saved operations the server applied that
// carry the field (a write of the value it already had leaves no row, and
// still counts), and of resolutions that wrote it, the one whose result
// the server stored last.
func (s *sim) checkFields(srv *serverState, rr *rulebook.RecordRule, rec *contract.Record, changes []contract.Change) {
	last := map[string]*contract.Change{}
	for i := range changes {
		if changes[i].Field != "" {
			last[changes[i].Field] = &changes[i]
		}
	}
	for _, f := range rr.FieldNames() {
		got := rec.Fields[f]
		c := last[f]
		want := contract.Null
		if c != nil && !contract.IsNull(c.New) {
			want = c.New
		}
		if !sameOrNull(got, want) {
			s.rep.LogWrong++
			s.rep.problem("log: %s %s: %s is %s, the last change-log row wrote %s", rec.Type, short(rec.ID), f, got, want)
		}
		g := rr.GroupOf(f)
		if g == nil || g.Policy != rulebook.PolicyLastWriteWins {
			continue
		}
		latest, at, from := json.RawMessage(nil), -1, ""
		for _, e := range srv.writes[rec.ID] {
			v, ok := e.op.Values[f]
			if !ok {
				continue
			}
			if n := srv.receipt[e.op.ID]; n > at {
				latest, at, from = v, n, e.String()
			}
		}
		for i := range changes {
			if c := &changes[i]; c.Field == f {
				if e := s.byOp[c.OpID]; e != nil && e.op.RecordType == contract.ReviewType && srv.receipt[c.OpID] > at {
					latest, at, from = c.New, srv.receipt[c.OpID], e.String()
				}
			}
		}
		if at >= 0 && !sameOrNull(got, latest) {
			s.rep.LWWWrong++
			s.rep.problem("last write wins: %s %s's %s is %s, but the last write the server received was %s, by %s", rec.Type, short(rec.ID), f, got, latest, from)
		}
	}
}

func sameOrNull(a, b json.RawMessage) bool {
	if contract.IsNull(a) || contract.IsNull(b) {
		return contract.IsNull(a) == contract.IsNull(b)
	}
	return contract.Same(a, b)
}
