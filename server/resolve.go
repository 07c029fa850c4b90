package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/contract/rulebook"
)

// resolveValues is what a resolve operation carries in its values.
type resolveValues struct {
	Choice string                     `json:"choice"`
	Entry  string                     `json:"entry,omitempty"`
	Values map[string]json.RawMessage `json:"values,omitempty"`
}

// resolve settles a review item. The resolution is an ordinary versioned
// change of the record; the item stays in history, marked resolved.
func (a *applier) resolve(actor engine.Actor, op *contract.Operation) (contract.Result, error) {
	if op.Action != contract.ActionResolve {
		return refused(op, contract.CodeInvalid, "review items are only resolved; got action %q", op.Action), nil
	}
	if _, ok := contract.ValidUUID(op.ID); !ok {
		return refused(op, contract.CodeInvalid, "operation id %q is not a UUID", op.ID), nil
	}
	if _, ok := contract.ValidUUID(op.RecordID); !ok {
		return refused(op, contract.CodeInvalid, "review id %q is not a UUID", op.RecordID), nil
	}
	if op.DeviceID == "" || op.DeviceTime.IsZero() {
		return refused(op, contract.CodeInvalid, "device_id and device_time are required"), nil
	}
	var req resolveValues
	if b, err := json.Marshal(op.Values); err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return refused(op, contract.CodeBadValue, "a resolve carries choice, entry and values: %v", err), nil
		}
	}
	rv, err := a.tx.Review(op.RecordID)
	if err != nil {
		return contract.Result{}, err
	}
	if rv == nil {
		return refused(op, contract.CodeNotFound, "no review item with id %s", op.RecordID), nil
	}
	rec, err := a.record(rv.RecordID)
	if err != nil {
		return contract.Result{}, err
	}
	if rec == nil {
		return refused(op, contract.CodeNotFound, "the record of review %s is gone", rv.ID), nil
	}
	if vis, err := a.visible(actor, rec); err != nil {
		return contract.Result{}, err
	} else if !vis || !a.s.engine.MayResolve(actor, rv.RecordType) {
		rr := a.s.rules.Record(rv.RecordType)
		if rr.IsItem() {
			rr = a.s.rules.Record(rr.Parent)
		}
		return refused(op, contract.CodeForbidden, "Only %s can resolve reviews of %ss.", a.s.rules.Expand(rr.Resolve), rr.Type), nil
	}
	if rv.Status != "open" {
		who := "someone"
		if rv.Resolution != nil && rv.Resolution.UserName != "" {
			who = rv.Resolution.UserName
		}
		return refused(op, contract.CodeResolved, "This review was already resolved by %s.", who), nil
	}
	var (
		next    *contract.Record
		changes []engine.FieldChange
		note    string
		entry   *contract.ReviewEntry
	)
	isDup := rv.Kind == contract.KindDuplicate
	switch {
	case isDup && req.Choice == contract.KeepBoth:
		next = rec.Clone()
		next.DuplicateOf = ""
		note = "Review resolved: kept both jobs."
	case isDup && req.Choice == contract.Merge:
		next, changes, note, err = a.merge(actor, op, rec, rv)
		if err != nil {
			return contract.Result{}, err
		}
		if next == nil {
			return refused(op, contract.CodeNotFound, "the job this one seemed to repeat is gone; keep both instead"), nil
		}
	case isDup:
		return refused(op, contract.CodeBadValue, "a suspected duplicate is resolved with choice %q or %q", contract.KeepBoth, contract.Merge), nil
	case req.Choice == contract.KeepServer:
		next = rec.Clone()
		note = "Review resolved: kept the server's version."
	case req.Choice == contract.TakeDevice:
		entry = pickEntry(rv, req.Entry)
		if entry == nil {
			return refused(op, contract.CodeNotFound, "review %s has no device version %q", rv.ID, req.Entry), nil
		}
		note = fmt.Sprintf("Review resolved: took %s's version from device %s.", entry.UserName, entry.DeviceID)
		if entry.Action == contract.ActionAppend {
			if err := a.appendHeld(actor, op, rec, entry); err != nil {
				return contract.Result{}, err
			}
			next = rec.Clone()
			break
		}
		vals, err := a.deviceValues(rec, rv, entry)
		if err != nil {
			return contract.Result{}, err
		}
		if err := a.s.engine.CheckResolution(rec, vals); err != nil {
			return refused(op, contract.CodeIllegalMove, "Cannot take this version: %v.", err), nil
		}
		next, changes = a.s.engine.Apply(actor, a.now, rec, vals)
	case req.Choice == contract.TypeValue:
		vals, err := a.s.engine.GroupValues(rv.RecordType, rv.Group, req.Values)
		if err != nil {
			return refused(op, contract.CodeBadValue, "%v", err), nil
		}
		if len(vals) == 0 {
			return refused(op, contract.CodeBadValue, "choice %q needs values for %s", contract.TypeValue, rv.Group), nil
		}
		if err := a.s.engine.CheckResolution(rec, vals); err != nil {
			return refused(op, contract.CodeIllegalMove, "Cannot set this value: %v.", err), nil
		}
		next, changes = a.s.engine.Apply(actor, a.now, rec, vals)
		note = "Review resolved: a value was typed."
	default:
		return refused(op, contract.CodeBadValue, "choice must be %q, %q or %q; got %q", contract.KeepServer, contract.TakeDevice, contract.TypeValue, req.Choice), nil
	}
	if !isDup && len(changes) == 0 {
		// Even keeping the server's value is a versioned change: devices
		// holding the older version learn the question is settled.
		a.s.engine.Bump(actor, next, rv.Group)
	}
	next.OpenReviews = slices.DeleteFunc(next.OpenReviews, func(g string) bool { return g == rv.Group })
	if err := a.save(rec, next, op, actor, changes, note); err != nil {
		return contract.Result{}, err
	}
	res := &contract.Resolution{Choice: req.Choice, Values: req.Values, OpID: op.ID, UserID: actor.UserID,
		UserName: a.name(actor.UserID), At: a.now}
	if entry != nil {
		res.Entry = entry.OpID
	}
	rv.Status, rv.Resolution = "resolved", res
	if err := a.putReview(rv); err != nil {
		return contract.Result{}, err
	}
	return contract.Result{OpID: op.ID, Outcome: contract.Applied, RecordType: contract.ReviewType, RecordID: rv.ID,
		Versions: next.Versions, Number: next.Number}, nil
}

// pickEntry returns the device entry with the given op id, or the latest.
func pickEntry(rv *contract.Review, opID string) *contract.ReviewEntry {
	if len(rv.Device) == 0 {
		return nil
	}
	if opID == "" {
		return &rv.Device[len(rv.Device)-1]
	}
	for i := range rv.Device {
		if rv.Device[i].OpID == opID {
			return &rv.Device[i]
		}
	}
	return nil
}

// deviceValues are the values taking a device's version sets. Taking a
// device's edit to a voided record un-voids it, back to its status before.
func (a *applier) deviceValues(rec *contract.Record, rv *contract.Review, entry *contract.ReviewEntry) (map[string]json.RawMessage, error) {
	rr := a.s.rules.Record(rec.Type)
	vals := map[string]json.RawMessage{}
	for k, v := range entry.Values {
		if rr.Field(k) != nil {
			vals[k] = v
		}
	}
	if rv.Kind != contract.KindVoided {
		return vals, nil
	}
	vals["voided"] = contract.Bool(false)
	if m := rr.Machine; m != nil {
		if _, ok := vals[m.Field]; !ok {
			last, err := a.tx.LastChange(rec.ID, rr.StatusGroup().Name)
			if err != nil {
				return nil, err
			}
			if last != nil && last.Field == m.Field {
				vals[m.Field] = last.Old
			}
		}
	}
	return vals, nil
}

// appendHeld adds an item whose append was held, as its author made it.
func (a *applier) appendHeld(actor engine.Actor, op *contract.Operation, parent *contract.Record, e *contract.ReviewEntry) error {
	existing, err := a.record(e.RecordID)
	if err != nil || existing != nil {
		return err
	}
	item := &contract.Record{Type: e.RecordType, ID: e.RecordID, ParentID: parent.ID, Fields: map[string]json.RawMessage{},
		Versions: map[string]int64{}, Author: e.UserID, DeviceID: e.DeviceID, DeviceTime: e.DeviceTime, CreatedAt: a.now}
	next, changes := a.s.engine.Apply(engine.Actor{UserID: e.UserID, DeviceID: e.DeviceID}, a.now, item, e.Values)
	for _, g := range a.s.rules.Record(item.Type).Groups {
		if len(g.Fields) > 0 {
			next.Versions[g.Name] = 1 // as if appended: every group starts at 1
		}
	}
	next.Streaks = nil
	return a.save(nil, next, op, actor, changes, "Added when a review was resolved.")
}

// merge voids a suspected duplicate and moves its items to the job it repeats.
func (a *applier) merge(actor engine.Actor, op *contract.Operation, dup *contract.Record, rv *contract.Review) (*contract.Record, []engine.FieldChange, string, error) {
	target, err := a.record(rv.MatchID)
	if err != nil || target == nil {
		return nil, nil, "", err
	}
	rr := a.s.rules.Record(dup.Type)
	vals := map[string]json.RawMessage{"voided": contract.Bool(true)}
	if m := rr.Machine; m != nil {
		for _, mv := range m.Moves {
			if mv.Action == contract.ActionVoid {
				vals[m.Field] = contract.Text(mv.To)
				break
			}
		}
	}
	items, err := a.tx.Items(dup.ID)
	if err != nil {
		return nil, nil, "", err
	}
	// The people on the duplicate join the surviving job's crew, so the work
	// they put on it (now moved there) stays in their view.
	if err := a.joinCrew(actor, op, target, a.s.people(dup)); err != nil {
		return nil, nil, "", err
	}
	for i := range items {
		item := items[i].Clone()
		item.ParentID = target.ID
		via := a.s.rules.Record(item.Type).Via
		ch := []engine.FieldChange{{Group: via, Field: via, Old: contract.Text(dup.ID), New: contract.Text(target.ID)}}
		if err := a.save(&items[i], item, op, actor, ch, "Moved from "+dup.Number+" when it was merged into "+target.Number+"."); err != nil {
			return nil, nil, "", err
		}
	}
	next, changes := a.s.engine.Apply(actor, a.now, dup, vals)
	return next, changes, fmt.Sprintf("Review resolved: merged into %s.", target.Number), nil
}

// joinCrew adds people to a job's crew field (a users field of its owner's
// group), leaving out its owner and those already on it.
func (a *applier) joinCrew(actor engine.Actor, op *contract.Operation, job *contract.Record, people []string) error {
	rr := a.s.rules.Record(job.Type)
	of := rr.OwnerField()
	if of == "" {
		return nil
	}
	var crew *rulebook.FieldRule
	for i, f := range rr.GroupOf(of).Fields {
		if f.Type == rulebook.TypeUsers {
			crew = &rr.GroupOf(of).Fields[i]
		}
	}
	if crew == nil {
		return nil
	}
	var ids []string
	_ = json.Unmarshal(job.Fields[crew.Name], &ids)
	changed := false
	for _, p := range people {
		if p != job.Text(of) && !slices.Contains(ids, p) {
			ids = append(ids, p)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	raw, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	vals, err := a.s.engine.GroupValues(job.Type, rr.GroupOf(of).Name, map[string]json.RawMessage{crew.Name: raw})
	if err != nil {
		return err
	}
	next, changes := a.s.engine.Apply(actor, a.now, job, vals)
	return a.save(job, next, op, actor, changes, "Joined the crew when a suspected duplicate was merged into this job.")
}
