package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

// MayResolve reports whether actor may resolve review items on records of typ.
// Items follow their parent's rule.
func (e *Engine) MayResolve(actor Actor, typ string) bool {
	rr := e.Rules.Record(typ)
	if rr == nil {
		return false
	}
	if rr.IsItem() {
		rr = e.Rules.Record(rr.Parent)
	}
	return e.Rules.RoleIn(actor.Role, rr.Resolve)
}

// GroupValues checks values for one group of a record type, such as a value
// typed by a person resolving a review, and returns them canonical.
func (e *Engine) GroupValues(typ, group string, vals map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	rr := e.Rules.Record(typ)
	if rr == nil {
		return nil, fmt.Errorf("unknown record type %q", typ)
	}
	g := rr.Group(group)
	if g == nil {
		return nil, fmt.Errorf("%s has no group %q", typ, group)
	}
	out := make(map[string]json.RawMessage, len(vals))
	for name, raw := range vals {
		if rr.GroupOf(name) != g {
			return nil, fmt.Errorf("%s is not a field of %s", name, group)
		}
		v, err := rulebook.Canonical(rr.Field(name), raw, rr.Machine, e.Rules.Limits)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// Apply sets vals on a copy of rec as an ordinary versioned change by actor,
// bumping the version of each group that changed. It checks nothing: the
// caller has decided the change is allowed, as when a review is resolved.
func (e *Engine) Apply(actor Actor, now time.Time, rec *contract.Record, vals map[string]json.RawMessage) (*contract.Record, []FieldChange) {
	d := &decider{r: e.Rules, actor: actor, op: &contract.Operation{DeviceID: actor.DeviceID}, s: Situation{Now: now}}
	next := rec.Clone()
	rr := e.Rules.Record(rec.Type)
	changes := d.apply(next, rr, vals)
	moveOwner(rr, rec, next)
	return next, changes
}

// Bump raises a group's version without changing a value, as when a review
// is resolved by keeping the server's version.
func (e *Engine) Bump(actor Actor, rec *contract.Record, group string) {
	d := &decider{r: e.Rules, actor: actor, op: &contract.Operation{DeviceID: actor.DeviceID}}
	d.bump(rec, group)
}

// CheckResolution says whether a person resolving a review may set vals on
// rec. A resolution may settle a status where neither side's move could
// reach, but never skip what the status machine guards: a state that needs
// something (a signature) needs it, a locked state is reached only by a
// legal move, and states entered only by void or reopen are not set here.
func (e *Engine) CheckResolution(rec *contract.Record, vals map[string]json.RawMessage) error {
	rr := e.Rules.Record(rec.Type)
	m := rr.Machine
	if m == nil {
		return nil
	}
	raw, ok := vals[m.Field]
	if !ok || contract.IsNull(raw) {
		if ok {
			return fmt.Errorf("a %s cannot be left without a %s", rr.Type, m.Field)
		}
		return nil
	}
	var target string
	_ = json.Unmarshal(raw, &target)
	current := rec.Text(m.Field)
	if target == current {
		return nil
	}
	var into []rulebook.Move
	for _, mv := range m.Moves {
		if mv.To == target && mv.Action == contract.ActionTransition {
			into = append(into, mv)
		}
	}
	if len(into) == 0 {
		return fmt.Errorf("a review cannot set a %s to %s; use the %s action", rr.Type, words(target), actionInto(m, target))
	}
	d := &decider{r: e.Rules, rr: rr}
	for _, mv := range into {
		if mv.Needs != "" && !d.filled(rec, rr.Group(mv.Needs)) {
			return fmt.Errorf("a %s can be %s only with the %s", rr.Type, words(target), words(mv.Needs))
		}
	}
	if rr.Lock.Locks(target) {
		if _, legal := m.Find(current, target, contract.ActionTransition); !legal {
			return fmt.Errorf("a %s reaches %s only from %s; it is %s", rr.Type, words(target), rulebook.OrList(into[0].From), words(current))
		}
	}
	return nil
}

func actionInto(m *rulebook.Machine, state string) string {
	for _, mv := range m.Moves {
		if mv.To == state {
			return string(mv.Action)
		}
	}
	return "right"
}

// AllowedMoves lists the states actor may move rec to now by a transition,
// in rules order: what a status picker offers.
func (e *Engine) AllowedMoves(actor Actor, rec *contract.Record) []string {
	rr := e.Rules.Record(rec.Type)
	if rr == nil || rr.Machine == nil || rec.Bool("voided") {
		return nil
	}
	d := &decider{r: e.Rules, actor: actor, rr: rr}
	var out []string
	for _, mv := range rr.Machine.MovesFrom(d.state(rec, rr), contract.ActionTransition) {
		if d.may(mv.By, rec, nil) && !slices.Contains(out, mv.To) {
			out = append(out, mv.To)
		}
	}
	return out
}

// MayEdit says whether actor may change group of rec now, and if not, why,
// in words a screen can show: "Locked after sign-off", "Only dispatcher can
// change scheduling", "Owned by someone else: read only".
func (e *Engine) MayEdit(actor Actor, rec, parent *contract.Record, group string) (bool, string) {
	rr := e.Rules.Record(rec.Type)
	if rr == nil {
		return false, "Unknown record type"
	}
	g := rr.Group(group)
	if g == nil {
		return false, "Unknown group"
	}
	d := &decider{r: e.Rules, actor: actor, rr: rr}
	if st := d.lockedBy(rec, rr, group); st != "" {
		return false, "Locked: " + lockedMessage(rr.Type, st)
	}
	if parent != nil && rr.IsItem() {
		prr := e.Rules.Record(rr.Parent)
		if st := d.lockedBy(parent, prr, rr.In); st != "" {
			return false, "Locked: " + lockedMessage(prr.Type, st)
		}
	}
	if rec.Bool("voided") {
		return false, "This " + rr.Type + " is voided"
	}
	list := g.Edit
	if rr.Machine != nil && g.Name == rr.StatusGroup().Name {
		if len(e.AllowedMoves(actor, rec)) > 0 {
			return true, ""
		}
		list = nil
		for _, mv := range rr.Machine.Moves {
			list = append(list, mv.By...)
		}
	}
	if d.may(list, rec, parent) {
		return true, ""
	}
	if d.formerOwner(list, rec, parent) {
		return false, "Reassigned to someone else: read only"
	}
	if slices.Equal(list, []string{rulebook.WhoNobody}) {
		return false, "Set when the " + rr.Type + " was made"
	}
	return false, "Only " + e.Rules.Expand(dedupe(list)) + " can change this"
}
