package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

func (d *decider) void() Decision {
	if dec, ok := d.existing(); !ok {
		return dec
	}
	rr, rec := d.rr, d.rec
	lg := rr.Lifecycle()
	if lg == nil {
		return refuse(contract.CodeInvalid, "%s records cannot be voided", rr.Type)
	}
	for k := range d.op.Values {
		if k != "voided" {
			return refuse(contract.CodeUnknownField, "a void carries no values but voided; got %q", clip(k))
		}
	}
	base, bad := d.base(lg.Name)
	if bad != nil {
		return *bad
	}
	_ = base
	if d.voided(rec) {
		return Decision{Outcome: contract.Applied}
	}
	if !d.may(lg.Edit, rec, d.parent) {
		if d.formerOwner(lg.Edit, rec, d.parent) {
			return d.hold(contract.CodeOwnership, contract.KindOwnership, rec, lg.Name, "The %s was moved to someone else; your void needs review.", rr.Type)
		}
		return d.forbidden("void this "+rr.Type, lg.Edit)
	}
	if d.parent != nil && rr.IsItem() {
		prr := d.r.Record(rr.Parent)
		if st := d.lockedBy(d.parent, prr, rr.In); st != "" {
			return refuse(contract.CodeLocked, "%s", lockedMessage(prr.Type, st))
		}
	}
	vals := map[string]json.RawMessage{"voided": contract.Bool(true)}
	if m := rr.Machine; m != nil {
		current := d.state(rec, rr)
		moves := m.MovesFrom(current, contract.ActionVoid)
		if len(moves) == 0 {
			if st := d.lockedBy(rec, rr, lg.Name); st != "" {
				return refuse(contract.CodeLocked, "%s Reopen it before voiding.", lockedMessage(rr.Type, st))
			}
			return refuse(contract.CodeIllegalMove, "A %s cannot be voided from %s.", rr.Type, words(current))
		}
		if !d.may(moves[0].By, rec, nil) {
			return d.forbidden("void this "+rr.Type, moves[0].By)
		}
		vals[m.Field] = contract.Text(moves[0].To)
	}
	d.vals = vals
	if rec.HasReview(lg.Name) {
		return d.hold(contract.CodeReviewOpen, contract.KindConflict, rec, lg.Name, "A review of this %s's void is already open; your void joins it.", rr.Type)
	}
	// A void never hides an update the voider had not seen.
	var unseen []string
	for _, g := range rr.Groups {
		b, ok := d.op.Bases[g.Name]
		if ok && b < rec.Versions[g.Name] && !d.ownStreak(rec, g.Name, b) {
			unseen = append(unseen, g.Name)
		}
	}
	if len(unseen) > 0 {
		return d.hold(contract.CodeConflict, contract.KindConflict, rec, lg.Name, "The %s changed (%s) after your version; voiding it needs review.", rr.Type, strings.Join(unseen, ", "))
	}
	next := rec.Clone()
	return applied(next, d.apply(next, rr, vals))
}

func (d *decider) reassign() Decision {
	if dec, ok := d.existing(); !ok {
		return dec
	}
	rr := d.rr
	of := rr.OwnerField()
	if of == "" {
		return refuse(contract.CodeInvalid, "%s records are not reassigned; their owner is %s", rr.Type, d.r.Expand([]string{rr.Owner}))
	}
	g := rr.GroupOf(of)
	vals, _, bad := d.parseValues(func(fg *rulebook.GroupRule, f *rulebook.FieldRule) error {
		if fg != g {
			return fmt.Errorf("a reassign sets only %s fields; got %s", g.Name, f.Name)
		}
		return nil
	})
	if bad != nil {
		return *bad
	}
	d.vals = vals
	if contract.IsNull(vals[of]) {
		return refuse(contract.CodeBadValue, "a reassign needs the new %s", of)
	}
	return d.editGroup(g, vals, "reassign a "+rr.Type)
}

func (d *decider) reopen() Decision {
	if dec, ok := d.existing(); !ok {
		return dec
	}
	rr, rec := d.rr, d.rec
	m := rr.Machine
	if m == nil {
		return refuse(contract.CodeInvalid, "%s records have no status to reopen", rr.Type)
	}
	if len(d.op.Values) > 0 {
		return refuse(contract.CodeInvalid, "a reopen carries no values")
	}
	current := d.state(rec, rr)
	var who []string
	for _, mv := range m.Moves {
		if mv.Action == contract.ActionReopen {
			who = append(who, mv.By...)
		}
	}
	if !d.may(who, rec, nil) {
		return d.forbidden("reopen a "+rr.Type, who)
	}
	moves := m.MovesFrom(current, contract.ActionReopen)
	if len(moves) == 0 {
		for _, mv := range m.Moves {
			if mv.Action == contract.ActionReopen && mv.To == current {
				return Decision{Outcome: contract.Applied} // already reopened
			}
		}
		return refuse(contract.CodeIllegalMove, "Only a signed-off or closed %s can be reopened; this one is %s.", rr.Type, words(current))
	}
	mv := moves[0]
	if !d.may(mv.By, rec, nil) {
		return d.forbidden("reopen a "+rr.Type, mv.By)
	}
	vals := map[string]json.RawMessage{m.Field: contract.Text(mv.To)}
	for _, gname := range mv.Clears {
		for _, f := range rr.Group(gname).Fields {
			vals[f.Name] = contract.Null
		}
	}
	d.vals = vals
	next := rec.Clone()
	return applied(next, d.apply(next, rr, vals))
}

// moveOwner keeps a record's owner and past owners in step with its owner
// field: someone who owned it once keeps seeing it, read only.
func moveOwner(rr *rulebook.RecordRule, before, after *contract.Record) {
	of := rr.OwnerField()
	if of == "" || before.Text(of) == after.Text(of) {
		return
	}
	if old := before.Text(of); old != "" && !slices.Contains(after.PastOwners, old) {
		after.PastOwners = append(after.PastOwners, old)
	}
	after.PastOwners = slices.DeleteFunc(after.PastOwners, func(id string) bool { return id == after.Text(of) })
	after.Owner = after.Text(of)
}
