package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"fieldsync/contract"
	"fieldsync/localstore"
	"fieldsync/server"
)

// scope is what a user sees, as the server works it out: record types
// their role sees whole, and the rest through jobs they are on.
func (s *sim) scope(u contract.User) server.Scope {
	sc := server.Scope{UserID: u.ID}
	for _, rr := range s.rules.Records {
		top := rr
		if rr.IsItem() {
			top = s.rules.Record(rr.Parent)
		}
		if s.rules.RoleIn(u.Role, top.View) || s.rules.RoleIn(u.Role, []string{top.Owner}) {
			sc.Types = append(sc.Types, rr.Type)
		}
	}
	return sc
}

func (s *sim) checkConverged(srv *serverState, devs map[*device]*deviceState) error {
	s.rep.Converged = true
	for _, d := range s.devices {
		var recs []contract.Record
		var rvs []contract.Review
		sc := s.scope(d.user)
		if err := s.store.Read(s.ctx, func(q server.Query) (err error) {
			page, err := q.Pull(sc, server.Position{}, 1<<30, "")
			if err != nil {
				return err
			}
			recs = page.Records
			rvs, err = q.Reviews(sc, false)
			return err
		}); err != nil {
			return err
		}
		var diffs []string
		ds := devs[d]
		for _, p := range ds.outbox {
			if p.State == localstore.Queued || p.State == localstore.Applied {
				diffs = append(diffs, fmt.Sprintf("operation %s still %s", short(p.Op.ID), p.State))
			}
		}
		for _, p := range ds.photos {
			if p.State == localstore.PhotoWaiting {
				why := ""
				for _, o := range ds.outbox {
					if o.Op.RecordID == p.ID {
						why = fmt.Sprintf(" (its append is %s", o.State)
						if o.Result != nil {
							why += ": " + o.Result.Message
						}
						why += ")"
					}
				}
				if e := s.byOpRecord(p.ID); e != nil {
					if r := srv.results[e.op.ID]; r != nil {
						why += fmt.Sprintf(" (the server: %s %s, review %s)", r.Result.Outcome, r.Result.Message, short(r.Result.ReviewID))
						if rv := srv.reviews[r.Result.ReviewID]; rv != nil && rv.Resolution != nil {
							why += fmt.Sprintf(" resolved %s entry %s", rv.Resolution.Choice, short(rv.Resolution.Entry))
						}
					}
				}
				diffs = append(diffs, fmt.Sprintf("photo %s still waiting to upload%s", short(p.ID), why))
			}
		}
		want := map[string]*contract.Record{}
		for i := range recs {
			want[recs[i].ID] = &recs[i]
		}
		hideUnseenMatches(want, recs, rvs)
		have := map[string]bool{}
		for _, typ := range s.rules.RecordTypes() {
			entries, err := d.store.Records(typ)
			if err != nil {
				return err
			}
			for _, en := range entries {
				have[en.View.ID] = true
				w := want[en.View.ID]
				if w == nil {
					diffs = append(diffs, fmt.Sprintf("holds %s %s, which the server does not show its user%s", typ, short(en.View.ID), s.whyNot(srv, en.View.ID)))
					continue
				}
				if diff := jsonDiff(en.View, w); diff != "" {
					diffs = append(diffs, fmt.Sprintf("shows %s %s unlike the server:%s", typ, short(en.View.ID), diff))
				}
			}
		}
		for _, r := range recs {
			if !have[r.ID] {
				diffs = append(diffs, fmt.Sprintf("lacks %s %s", r.Type, short(r.ID)))
			}
		}
		mine, err := d.store.Reviews(false)
		if err != nil {
			return err
		}
		wantRv := map[string]*contract.Review{}
		for i := range rvs {
			wantRv[rvs[i].ID] = &rvs[i]
		}
		for _, rv := range mine {
			if diff := jsonDiff(rv, wantRv[rv.ID]); diff != "" {
				diffs = append(diffs, fmt.Sprintf("shows review %s unlike the server:%s", short(rv.ID), diff))
			}
			delete(wantRv, rv.ID)
		}
		for id := range wantRv {
			diffs = append(diffs, fmt.Sprintf("lacks review %s", short(id)))
		}
		if len(diffs) > 0 {
			s.rep.Converged = false
			s.rep.Diverged++
			slices.Sort(diffs)
			for i, df := range diffs {
				if i == 5 {
					s.rep.problem("not converged: %s: … and %d more", d.name, len(diffs)-5)
					break
				}
				s.rep.problem("not converged: %s %s", d.name, df)
			}
		}
	}
	return nil
}

// unseenReason is what the server says of a suspected duplicate to a
// reader who cannot see the job it repeats (server/matches.go).
const unseenReason = "Same customer and site on the same day as an open job made on another device."

// hideUnseenMatches makes the server's records and reviews what it sends
// their reader: a job they may repeat that the reader cannot see (one not
// among the records they see) is said to exist, nothing more.
func hideUnseenMatches(sees map[string]*contract.Record, recs []contract.Record, rvs []contract.Review) {
	for i := range recs {
		if id := recs[i].DuplicateOf; id != "" && id != contract.MatchUnseen && sees[id] == nil {
			recs[i].DuplicateOf = contract.MatchUnseen
		}
	}
	for i := range rvs {
		if id := rvs[i].MatchID; id != "" && sees[id] == nil {
			rvs[i].MatchID, rvs[i].Reason = "", unseenReason
		}
	}
}

// jsonDiff returns "" when a and b encode to the same JSON.
func jsonDiff(a, b any) string {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if bytes.Equal(ja, jb) {
		return ""
	}
	return fmt.Sprintf(": device %s, server %s", ja, jb)
}

// whyNot describes a record and its job on the server, for a device that
// holds what the server does not show it.
func (s *sim) whyNot(srv *serverState, id string) string {
	rec := srv.records[id]
	if rec == nil {
		return " (the server has no such record)"
	}
	out := fmt.Sprintf(" (on the server: parent %s", short(rec.ParentID))
	if p := srv.records[rec.ParentID]; p != nil {
		out += fmt.Sprintf(", job %s %s owned by %s, past owners %v, voided %v", p.Number, p.Text("status"), p.OwnerName, p.PastOwners, p.Bool("voided"))
	}
	for _, c := range srv.changes[id] {
		if c.Note != "" {
			out += "; " + c.Note
		}
	}
	return out + ")"
}

// byOpRecord returns the ledger's create or append of a record.
func (s *sim) byOpRecord(id string) *entry {
	for _, e := range s.ledger {
		if e.op.RecordID == id && (e.op.Action == contract.ActionAppend || e.op.Action == contract.ActionCreate) {
			return e
		}
	}
	return nil
}
