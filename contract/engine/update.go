package engine

import (
	"encoding/json"
	"fmt"
	"strings"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

// state returns rec's status, or "".
func (d *decider) state(rec *contract.Record, rr *rulebook.RecordRule) string {
	if rr.Machine == nil {
		return ""
	}
	return rec.Text(rr.Machine.Field)
}

// lockedBy returns the state that locks group of rec, or "".
func (d *decider) lockedBy(rec *contract.Record, rr *rulebook.RecordRule, group string) string {
	if rr.Lock == nil {
		return ""
	}
	st := d.state(rec, rr)
	if rr.Lock.Locks(st) && !rr.Lock.Exempt(group) {
		return st
	}
	return ""
}

func lockedMessage(typ, state string) string {
	return fmt.Sprintf("This %s is %s.", typ, strings.ReplaceAll(state, "_", " "))
}

// ownStreak reports whether every change to group since base came from the
// operation's own device, so the edit built on them and is not a conflict.
func (d *decider) ownStreak(rec *contract.Record, group string, base int64) bool {
	st, ok := rec.Streaks[group]
	return ok && st.DeviceID == d.op.DeviceID && base >= st.Base
}

// apply sets vals on rec, bumps the version of each group that changed, and
// returns the changes in rules order.
func (d *decider) apply(rec *contract.Record, rr *rulebook.RecordRule, vals map[string]json.RawMessage) []FieldChange {
	var changes []FieldChange
	for _, g := range rr.Groups {
		changed := false
		for _, f := range g.Fields {
			nv, ok := vals[f.Name]
			if !ok {
				continue
			}
			old := rec.Fields[f.Name]
			if contract.IsNull(old) {
				old = contract.Null
			}
			if contract.Same(old, nv) {
				continue
			}
			changes = append(changes, FieldChange{Group: g.Name, Field: f.Name, Old: old, New: nv})
			if contract.IsNull(nv) {
				delete(rec.Fields, f.Name)
			} else {
				rec.Fields[f.Name] = nv
			}
			changed = true
		}
		if changed {
			d.bump(rec, g.Name)
		}
	}
	rec.UpdatedAt = d.s.Now
	return changes
}

func (d *decider) bump(rec *contract.Record, group string) {
	old := rec.Versions[group]
	rec.Versions[group] = old + 1
	if rec.Streaks == nil {
		rec.Streaks = map[string]contract.Streak{}
	}
	if st, ok := rec.Streaks[group]; !ok || st.DeviceID != d.op.DeviceID {
		rec.Streaks[group] = contract.Streak{DeviceID: d.op.DeviceID, Base: old}
	}
}

// existing loads the common checks of every action on a stored record.
func (d *decider) existing() (Decision, bool) {
	if d.rec == nil {
		return refuse(contract.CodeNotFound, "no %s with id %s", d.rr.Type, d.op.RecordID), false
	}
	if !d.canSee(d.rec, d.parent) && !d.seenThroughDir() {
		return refuse(contract.CodeForbidden, "You do not have access to this %s.", d.rr.Type), false
	}
	return Decision{}, true
}

// seenThroughDir asks the directory about records seen through others, such
// as a technician's view of the customers of their jobs.
func (d *decider) seenThroughDir() bool {
	if d.s.Dir == nil {
		return false
	}
	_, visible := d.s.Dir.Lookup(d.actor, d.rec.Type, d.rec.ID)
	return visible
}

func (d *decider) base(group string) (int64, *Decision) {
	b, ok := d.op.Bases[group]
	if !ok {
		dec := refuse(contract.CodeBadBase, "the base version of group %s is missing: say which version the edit was made from", group)
		return 0, &dec
	}
	if cur := d.rec.Versions[group]; b > cur {
		dec := refuse(contract.CodeBadBase, "base version %d of group %s is newer than the server's %d", b, group, cur)
		return 0, &dec
	}
	return b, nil
}

func (d *decider) voided(rec *contract.Record) bool { return rec.Bool("voided") }

func (d *decider) update() Decision {
	if dec, ok := d.existing(); !ok {
		return dec
	}
	rr := d.rr
	vals, groups, bad := d.parseValues(func(g *rulebook.GroupRule, f *rulebook.FieldRule) error {
		switch {
		case rr.Machine != nil && f.Name == rr.Machine.Field:
			return fmt.Errorf("%s changes use the transition action", f.Name)
		case f.Name == rr.OwnerField():
			return fmt.Errorf("%s changes use the reassign action", f.Name)
		case f.Name == "voided":
			return fmt.Errorf("use the void action to void a %s", rr.Type)
		}
		return nil
	})
	if bad != nil {
		return *bad
	}
	d.vals = vals
	switch len(groups) {
	case 0:
		return refuse(contract.CodeInvalid, "an update needs at least one value")
	case 1:
	default:
		names := make([]string, len(groups))
		for i, g := range groups {
			names[i] = g.Name
		}
		return refuse(contract.CodeInvalid, "an update changes one field group at a time; this one touches %s", strings.Join(names, " and "))
	}
	return d.editGroup(groups[0], vals, "change "+groups[0].Name+" of this "+rr.Type)
}

// editGroup applies vals to one group of the stored record under the group's
// policy: the shared path of update and reassign.
func (d *decider) editGroup(g *rulebook.GroupRule, vals map[string]json.RawMessage, what string) Decision {
	rec, rr := d.rec, d.rr
	base, bad := d.base(g.Name)
	if bad != nil {
		return *bad
	}
	if st := d.lockedBy(rec, rr, g.Name); st != "" {
		return refuse(contract.CodeLocked, "%s", lockedMessage(rr.Type, st))
	}
	if d.parent != nil && rr.IsItem() {
		prr := d.r.Record(rr.Parent)
		if st := d.lockedBy(d.parent, prr, rr.In); st != "" {
			return refuse(contract.CodeLocked, "%s", lockedMessage(prr.Type, st))
		}
	}
	if !d.may(g.Edit, rec, d.parent) {
		if d.formerOwner(g.Edit, rec, d.parent) {
			return d.hold(contract.CodeOwnership, contract.KindOwnership, rec, g.Name, "The %s was moved to someone else; your change to %s needs review.", rr.Type, g.Name)
		}
		return d.forbidden(what, g.Edit)
	}
	if sameValues(rec, vals) {
		return Decision{Outcome: contract.Applied}
	}
	if d.voided(rec) {
		return d.hold(contract.CodeVoided, contract.KindVoided, rec, g.Name, "This %s was voided; your change to %s needs review.", rr.Type, g.Name)
	}
	if rec.HasReview(g.Name) {
		return d.hold(contract.CodeReviewOpen, contract.KindConflict, rec, g.Name, "A review of %s is already open; your change joins it.", g.Name)
	}
	if g.Policy == rulebook.PolicyWriteOnce {
		for k := range vals {
			if !contract.IsNull(rec.Fields[k]) {
				return refuse(contract.CodeWriteOnce, "%s is already set and cannot change.", strings.ReplaceAll(g.Name, "_", " "))
			}
		}
	}
	stale := base < rec.Versions[g.Name] && !d.ownStreak(rec, g.Name, base)
	if stale && g.Policy == rulebook.PolicyReview {
		return d.hold(contract.CodeConflict, contract.KindConflict, rec, g.Name, "Another update changed %s after your version; it needs review.", g.Name)
	}
	if bad := d.checkRefs(vals); bad != nil {
		return *bad
	}
	next := rec.Clone()
	changes := d.apply(next, rr, vals)
	moveOwner(rr, rec, next)
	return applied(next, changes)
}
