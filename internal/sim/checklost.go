package sim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"fieldsync/contract"
	"fieldsync/localstore"
)

// lost counts a saved edit that is nowhere to be found.
func (s *sim) lost(e *entry, format string, args ...any) {
	s.rep.Lost++
	s.rep.problem("lost: %s: %s", e, fmt.Sprintf(format, args...))
}

// jobOf returns the job an operation is on: its record, or an item's job.
func (s *sim) jobOf(op contract.Operation) string {
	rr := s.rules.Record(op.RecordType)
	if rr != nil && rr.IsItem() {
		var id string
		_ = json.Unmarshal(op.Values[rr.Via], &id)
		return id
	}
	return op.RecordID
}

func (s *sim) checkLedger(srv *serverState, devs map[*device]*deviceState) {
	for _, e := range s.ledger {
		op := e.op
		ds := devs[e.dev]
		pend, pending := ds.outbox[op.ID]
		res := srv.results[op.ID]
		if e.keptAs != "" {
			if s.byOp[e.keptAs] == nil {
				s.lost(e, "kept as note %s, which is in no ledger", short(e.keptAs))
			}
			s.rep.KeptAsNote++
			continue
		}
		if res == nil || res.Result.Outcome == contract.Refused {
			dr, ok := ds.drafts[op.ID]
			switch {
			case pending && pend.State == localstore.Refused && ok && strings.TrimSpace(dr.Text) != "":
				s.rep.NotSent++
			case res == nil && pending:
				s.lost(e, "the server never got it; the device has it %s (%s)", pend.State, pend.LastError)
			case res == nil:
				s.lost(e, "the server never got it and the device no longer has it")
			default:
				s.lost(e, "the server refused it (%s) and the device does not keep it as not sent", res.Result.Message)
			}
			continue
		}
		r := res.Result
		if pending && pend.State == localstore.Refused {
			s.rep.Unexpected++
			s.rep.problem("device disagrees: %s: the server %s it, the device shows it as not sent", e, r.Outcome)
		}
		switch r.Outcome {
		case contract.Applied:
			s.rep.Applied++
			s.checkApplied(srv, ds, e, r)
		case contract.Held:
			s.rep.Held++
			rv := srv.reviews[r.ReviewID]
			if rv == nil {
				s.lost(e, "held in review %s, which the server does not have", short(r.ReviewID))
				continue
			}
			i := slices.IndexFunc(rv.Device, func(de contract.ReviewEntry) bool { return de.OpID == op.ID })
			if i < 0 {
				s.lost(e, "held in review %s, which has no entry for it", short(rv.ID))
				continue
			}
			for k, v := range rv.Device[i].Values {
				if ov, ok := op.Values[k]; ok && !contract.Same(ov, v) {
					s.lost(e, "review %s keeps %s=%s, the user saved %s", short(rv.ID), k, v, ov)
				}
			}
			if rv.Status == "open" && (!pending || pend.State != localstore.Held) {
				state := "nothing"
				if pending {
					state = pend.State
				}
				s.lost(e, "its review %s is open but the device shows %s for it, not held", short(rv.ID), state)
			}
		default:
			s.lost(e, "stored outcome %s", r.Outcome)
		}
	}
}

func (s *sim) checkApplied(srv *serverState, ds *deviceState, e *entry, r contract.Result) {
	op := e.op
	switch op.Action {
	case contract.ActionCreate, contract.ActionAppend:
		rec := srv.records[op.RecordID]
		if rec == nil {
			s.lost(e, "applied, but the server has no %s %s", op.RecordType, short(op.RecordID))
			return
		}
		if op.Action == contract.ActionAppend {
			want := s.jobOf(op)
			ok := rec.ParentID == want
			for j, seen := want, 0; !ok && seen < 10; seen++ {
				next, merged := srv.merged[j]
				if !merged {
					break
				}
				j = next
				ok = rec.ParentID == j
			}
			if !ok {
				s.lost(e, "the item hangs off job %s, not %s", short(rec.ParentID), short(want))
			}
		}
		if op.RecordType == "photo" && !rec.ContentReady {
			if p, ok := ds.photos[op.RecordID]; ok && p.State == localstore.PhotoFailed {
				s.rep.NotSent++ // the device shows the upload failed and keeps the file
				return
			}
			s.lost(e, "the photo's content never arrived")
		}
	case contract.ActionResolve:
		rv := srv.reviews[op.RecordID]
		if rv == nil || rv.Resolution == nil || rv.Resolution.OpID != op.ID {
			s.lost(e, "applied, but review %s is not resolved by it", short(op.RecordID))
		}
	case contract.ActionUpdate, contract.ActionTransition, contract.ActionReassign:
		for _, c := range srv.changes[op.RecordID] {
			if c.OpID != op.ID || c.Field == "" {
				continue
			}
			if v, ok := op.Values[c.Field]; ok && !contract.Same(v, c.New) {
				s.rep.LogWrong++
				s.rep.problem("log: %s: the change log says %s became %s, the user saved %s", e, c.Field, c.New, v)
			}
		}
	}
}

// known returns the ids of records that some saved operation made.
func (s *sim) known(srv *serverState) map[string]bool {
	made := map[string]bool{}
	for _, e := range s.ledger {
		if e.op.Action == contract.ActionCreate || e.op.Action == contract.ActionAppend {
			made[e.op.RecordID] = true
		}
	}
	// An append held for review and taken by the resolver is made then.
	for _, rv := range srv.reviews {
		if rv.Resolution == nil || rv.Resolution.Entry == "" {
			continue
		}
		for _, de := range rv.Device {
			if de.OpID == rv.Resolution.Entry && de.Action == contract.ActionAppend {
				made[de.RecordID] = true
			}
		}
	}
	return made
}
