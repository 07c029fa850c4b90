package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

func (d *decider) transition() Decision {
	if dec, ok := d.existing(); !ok {
		return dec
	}
	rr, rec := d.rr, d.rec
	m := rr.Machine
	if m == nil {
		return refuse(contract.CodeInvalid, "%s records have no status", rr.Type)
	}
	vals, _, bad := d.parseValues(func(g *rulebook.GroupRule, f *rulebook.FieldRule) error {
		if f.Name != m.Field {
			return fmt.Errorf("a transition sets only %s; change %s with an update", m.Field, f.Name)
		}
		return nil
	})
	if bad != nil {
		return *bad
	}
	d.vals = vals
	raw, ok := vals[m.Field]
	if !ok || contract.IsNull(raw) {
		return refuse(contract.CodeBadValue, "a transition needs the new %s", m.Field)
	}
	var target string
	_ = json.Unmarshal(raw, &target)
	g := rr.StatusGroup()
	base, badBase := d.base(g.Name)
	if badBase != nil {
		return *badBase
	}
	current := d.state(rec, rr)
	mv, legal := m.Find(current, target, contract.ActionTransition)
	who := mv.By
	if !legal {
		for _, alt := range m.Moves {
			if alt.Action == contract.ActionTransition && (alt.To == target || target == current) {
				who = append(who, alt.By...)
			}
		}
	}
	if len(who) == 0 {
		return d.illegal(current, target)
	}
	slices.Sort(who)
	who = slices.Compact(who)
	if target == current && (d.may(who, rec, nil) || d.formerOwner(who, rec, nil)) {
		return Decision{Outcome: contract.Applied} // the same value again: nothing to do
	}
	if !d.may(who, rec, nil) {
		if d.formerOwner(who, rec, nil) {
			return d.hold(contract.CodeOwnership, contract.KindOwnership, rec, g.Name, "The %s was moved to someone else; your status change needs review.", rr.Type)
		}
		return d.forbidden(fmt.Sprintf("move a %s to %s", rr.Type, words(target)), who)
	}
	if d.voided(rec) {
		return d.hold(contract.CodeVoided, contract.KindVoided, rec, g.Name, "This %s was voided; your status change needs review.", rr.Type)
	}
	if st := d.lockedBy(rec, rr, g.Name); st != "" && !legal {
		return refuse(contract.CodeLocked, "%s", lockedMessage(rr.Type, st))
	}
	if rec.HasReview(g.Name) {
		return d.hold(contract.CodeReviewOpen, contract.KindConflict, rec, g.Name, "A review of the status is already open; your change joins it.")
	}
	if base < rec.Versions[g.Name] && !d.ownStreak(rec, g.Name, base) && g.Policy == rulebook.PolicyReview {
		return d.hold(contract.CodeConflict, contract.KindConflict, rec, g.Name, "Another update changed the status to %s after your version; it needs review.", words(current))
	}
	if !legal {
		return d.illegal(current, target)
	}
	if mv.Needs != "" && !d.filled(rec, rr.Group(mv.Needs)) {
		return refuse(contract.CodeNeeds, "Moving to %s needs the %s first.", words(target), words(mv.Needs))
	}
	next := rec.Clone()
	return applied(next, d.apply(next, rr, vals))
}

func (d *decider) illegal(from, to string) Decision {
	m := d.rr.Machine
	var allowed []string
	for _, mv := range m.MovesFrom(from, contract.ActionTransition) {
		allowed = append(allowed, words(mv.To))
	}
	if len(allowed) == 0 {
		return refuse(contract.CodeIllegalMove, "A %s cannot move from %s to %s; no moves are allowed from %s.", d.rr.Type, words(from), words(to), words(from))
	}
	return refuse(contract.CodeIllegalMove, "A %s cannot move from %s to %s; from %s it can move to %s.", d.rr.Type, words(from), words(to), words(from), strings.Join(allowed, ", "))
}

func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

// filled reports whether a group holds any value: a signature has been given.
func (d *decider) filled(rec *contract.Record, g *rulebook.GroupRule) bool {
	for _, f := range g.Fields {
		if !contract.IsNull(rec.Fields[f.Name]) {
			return true
		}
	}
	return false
}
