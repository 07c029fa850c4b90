package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/contract/rulebook"
	"fieldsync/localstore"
)

// newOp makes an operation with a new id, from this device, now.
func (a *App) newOp(typ, id string, action contract.Action, bases map[string]int64, values map[string]json.RawMessage) contract.Operation {
	return contract.Operation{ID: a.newID(), RecordType: typ, RecordID: id, Action: action, Bases: bases,
		Values: values, DeviceID: a.DeviceID(), DeviceTime: a.cfg.Now().UTC()}
}

// bases are the versions of groups as last heard from the server: an edit
// names what it was made from. A record the server does not have yet will
// start at version 1.
func bases(e *localstore.Entry, groups ...string) map[string]int64 {
	out := map[string]int64{}
	for _, g := range groups {
		out[g] = 1
		if e != nil && e.Server != nil {
			out[g] = e.Server.Versions[g]
		}
	}
	return out
}

// submit checks op against the rules on the device and saves it. A refusal
// comes back as a *contract.Error with the server's words, and nothing is
// saved. It returns the record's view after the edit.
func (a *App) submit(op contract.Operation, photo *localstore.Photo) (*contract.Record, error) {
	me, err := a.actor()
	if err != nil {
		return nil, err
	}
	var cur, parent *contract.Record
	e, err := a.store.Record(op.RecordID)
	if err != nil {
		return nil, err
	}
	if e != nil {
		cur = e.View
	}
	if pid := a.parentID(op, cur); pid != "" {
		if pe, err := a.store.Record(pid); err != nil {
			return nil, err
		} else if pe != nil {
			parent = pe.View
		}
	}
	d := a.eng().Decide(engine.Situation{Actor: me, Op: &op, Current: cur, Parent: parent, Dir: localDirectory{a}, Now: a.cfg.Now()})
	if err := refusal(d); err != nil {
		return nil, err
	}
	if d.Outcome == contract.Held {
		// A held edit does not show in the record's view, so a second tap
		// would look new; the outbox knows better.
		if again, err := a.repeats(op); err != nil || again {
			return cur, err
		}
	}
	if _, err := a.store.Save(op, photo); err != nil {
		return nil, err
	}
	a.changed()
	after, err := a.store.Record(op.RecordID)
	if err != nil || after == nil {
		return nil, err
	}
	return after.View, nil
}

// repeats reports whether op only repeats the last of its record's edits
// still waiting to go or held for review: the same action with the same
// values, as a second tap on a button makes.
func (a *App) repeats(op contract.Operation) (bool, error) {
	pending, err := a.store.PendingFor(op.RecordID)
	if err != nil {
		return false, err
	}
	for i := len(pending) - 1; i >= 0; i-- {
		p := pending[i]
		if p.State != localstore.Queued && p.State != localstore.Held {
			continue
		}
		if p.Op.Action != op.Action || len(p.Op.Values) != len(op.Values) {
			return false, nil
		}
		for k, v := range op.Values {
			if !contract.Same(p.Op.Values[k], v) {
				return false, nil
			}
		}
		return true, nil
	}
	return false, nil
}

// refusal is the error for an edit the device must not save: one the rules
// refuse, or one it already knows would only be held because the record
// moved to someone else or was voided. Edits made before the device heard
// of that are already queued and go to review; new ones are refused here.
func refusal(d engine.Decision) error {
	switch {
	case d.Outcome == contract.Refused:
		return contract.Errorf(d.Code, "%s", d.Message)
	case d.Outcome == contract.Held && d.Code == contract.CodeOwnership:
		return contract.Errorf(contract.CodeForbidden, "This job was reassigned to someone else; you can no longer change it here. Add a note instead.")
	case d.Outcome == contract.Held && d.Code == contract.CodeVoided:
		return contract.Errorf(contract.CodeLocked, "This record was voided; it takes no more changes.")
	}
	return nil
}

func (a *App) parentID(op contract.Operation, cur *contract.Record) string {
	if cur != nil {
		return cur.ParentID
	}
	rr := a.currentRules().Record(op.RecordType)
	if rr == nil || !rr.IsItem() {
		return ""
	}
	var id string
	_ = json.Unmarshal(op.Values[rr.Via], &id)
	return id
}

// values turns Go values into canonical JSON values of a record type's
// fields. A string for a number field is parsed, as a person typed it.
func (a *App) values(typ string, in map[string]any) (map[string]json.RawMessage, error) {
	rr := a.currentRules().Record(typ)
	if rr == nil {
		return nil, fmt.Errorf("unknown record type %q", typ)
	}
	out := make(map[string]json.RawMessage, len(in))
	for k, v := range in {
		f := rr.Field(k)
		if f == nil && k != rr.Via {
			return nil, contract.Errorf(contract.CodeUnknownField, "%s has no field %q; its fields are %s", typ, k, strings.Join(rr.FieldNames(), ", "))
		}
		if s, ok := v.(string); ok && f != nil {
			v = typed(f.Type, s)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		out[k] = b
	}
	return out, nil
}

// typed reads a value typed as text for a field type.
func typed(typ, s string) any {
	s = strings.TrimSpace(s)
	switch typ {
	case rulebook.TypeInt, rulebook.TypeCount:
		var n json.Number = json.Number(s)
		if _, err := n.Int64(); err == nil {
			return n
		}
	case rulebook.TypeBool:
		switch strings.ToLower(s) {
		case "true", "yes":
			return true
		case "false", "no":
			return false
		}
	case rulebook.TypeTime:
		for _, layout := range []string{time.RFC3339, "2006-01-02 15:04", "2006-01-02T15:04", time.DateOnly} {
			if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
				return t.UTC().Format(time.RFC3339)
			}
		}
	case rulebook.TypeUsers:
		if s == "" {
			return []string{}
		}
		return strings.Split(s, ",")
	}
	if s == "" {
		return nil // an emptied field is cleared
	}
	return s
}

// record returns a record the device has, found by id or number.
func (a *App) record(ref string) (*localstore.Entry, error) {
	if id, ok := contract.ValidUUID(ref); ok {
		e, err := a.store.Record(id)
		if err != nil {
			return nil, err
		}
		if e != nil {
			return e, nil
		}
	}
	for _, typ := range []string{"job"} {
		all, err := a.store.Records(typ)
		if err != nil {
			return nil, err
		}
		for i := range all {
			if strings.EqualFold(all[i].View.Number, ref) {
				return &all[i], nil
			}
		}
	}
	return nil, fmt.Errorf("no job or record %q on this device", ref)
}

// SetFields changes fields of a record. Each field group goes as its own
// operation, from the version the device last heard; a change of owner
// goes as a reassign. Values equal to what the user already sees change
// nothing. If the rules refuse any part, nothing is saved.
func (a *App) SetFields(ref string, fields map[string]any) (*contract.Record, error) {
	e, err := a.record(ref)
	if err != nil {
		return nil, err
	}
	rr := a.currentRules().Record(e.View.Type)
	vals, err := a.values(e.View.Type, fields)
	if err != nil {
		return nil, err
	}
	byGroup := map[string]map[string]json.RawMessage{}
	for k, v := range vals {
		if rr.Field(k) == nil {
			continue
		}
		canon, err := rulebook.Canonical(rr.Field(k), v, rr.Machine, a.currentRules().Limits)
		if err != nil {
			return nil, contract.Errorf(contract.CodeBadValue, "%v", err)
		}
		if contract.Same(e.View.Fields[k], canon) || a.queuedSame(e.View.ID, k, canon) {
			continue // already so: saving the same form twice changes nothing
		}
		g := rr.GroupOf(k).Name
		if byGroup[g] == nil {
			byGroup[g] = map[string]json.RawMessage{}
		}
		byGroup[g][k] = v
	}
	var ops []contract.Operation
	for _, g := range rr.Groups {
		gv, ok := byGroup[g.Name]
		if !ok {
			continue
		}
		action := contract.ActionUpdate
		switch {
		case rr.Machine != nil && g == rr.StatusGroup():
			action = contract.ActionTransition
		case rr.OwnerField() != "" && g == rr.GroupOf(rr.OwnerField()):
			action = contract.ActionReassign
			if _, ok := gv[rr.OwnerField()]; !ok {
				gv[rr.OwnerField()] = e.View.Fields[rr.OwnerField()]
			}
		}
		ops = append(ops, a.newOp(e.View.Type, e.View.ID, action, bases(e, g.Name), gv))
	}
	return a.submitAll(ops)
}

// queuedSame reports whether the newest edit of field still waiting to be
// sent already sets it to v. The view leaves out an edit the server will
// hold (its group is under review), so without this a second tap on the
// same form would queue the same edit again.
func (a *App) queuedSame(id, field string, v json.RawMessage) bool {
	pending, err := a.store.PendingFor(id)
	if err != nil {
		return false
	}
	for i := len(pending) - 1; i >= 0; i-- {
		p := pending[i]
		if p.State != localstore.Queued {
			continue
		}
		if raw, ok := p.Op.Values[field]; ok {
			return contract.Same(raw, v)
		}
	}
	return false
}

// submitAll checks every operation before saving any.
func (a *App) submitAll(ops []contract.Operation) (*contract.Record, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	me, err := a.actor()
	if err != nil {
		return nil, err
	}
	e, err := a.store.Record(ops[0].RecordID)
	if err != nil {
		return nil, err
	}
	var cur, parent *contract.Record
	if e != nil {
		cur = e.View
		if cur.ParentID != "" {
			if pe, err := a.store.Record(cur.ParentID); err != nil {
				return nil, err
			} else if pe != nil {
				parent = pe.View // items owned through their job need it
			}
		}
	}
	for i := range ops {
		d := a.eng().Decide(engine.Situation{Actor: me, Op: &ops[i], Current: cur, Parent: parent, Dir: localDirectory{a}, Now: a.cfg.Now()})
		if err := refusal(d); err != nil {
			return nil, err
		}
	}
	var view *contract.Record
	for _, op := range ops {
		if view, err = a.submit(op, nil); err != nil {
			return nil, err
		}
	}
	return view, nil
}

// Move changes a job's status.
func (a *App) Move(ref, status string) (*contract.Record, error) {
	e, err := a.record(ref)
	if err != nil {
		return nil, err
	}
	rr := a.currentRules().Record(e.View.Type)
	if rr.Machine == nil {
		return nil, fmt.Errorf("a %s has no status", e.View.Type)
	}
	if e.View.Text(rr.Machine.Field) == status || a.queuedSame(e.View.ID, rr.Machine.Field, contract.Text(status)) {
		return e.View, nil // already there: a second tap changes nothing
	}
	g := rr.StatusGroup().Name
	return a.submit(a.newOp(e.View.Type, e.View.ID, contract.ActionTransition, bases(e, g),
		map[string]json.RawMessage{rr.Machine.Field: contract.Text(status)}), nil)
}

// Void voids a record. The operation names the version of every group the
// user saw, so a void never hides an update they had not seen.
func (a *App) Void(ref string) (*contract.Record, error) {
	e, err := a.record(ref)
	if err != nil {
		return nil, err
	}
	if e.View.Bool("voided") {
		return e.View, nil
	}
	rr := a.currentRules().Record(e.View.Type)
	var groups []string
	for _, g := range rr.Groups {
		if len(g.Fields) > 0 {
			groups = append(groups, g.Name)
		}
	}
	return a.submit(a.newOp(e.View.Type, e.View.ID, contract.ActionVoid, bases(e, groups...), nil), nil)
}

// Reassign moves a job to another technician, by name or id.
func (a *App) Reassign(ref, user string) (*contract.Record, error) {
	u, err := a.findUser(user)
	if err != nil {
		return nil, err
	}
	e, err := a.record(ref)
	if err != nil {
		return nil, err
	}
	of := a.currentRules().Record(e.View.Type).OwnerField()
	if of == "" {
		return nil, fmt.Errorf("a %s is not reassigned", e.View.Type)
	}
	return a.SetFields(e.View.ID, map[string]any{of: u.ID})
}

// Reopen reopens a signed-off or closed job.
func (a *App) Reopen(ref string) (*contract.Record, error) {
	e, err := a.record(ref)
	if err != nil {
		return nil, err
	}
	rr := a.currentRules().Record(e.View.Type)
	g := rr.StatusGroup()
	if g == nil {
		return nil, fmt.Errorf("a %s has no status", e.View.Type)
	}
	for _, mv := range rr.Machine.Moves {
		if mv.Action == contract.ActionReopen && e.View.Text(rr.Machine.Field) == mv.To {
			return e.View, nil // reopened already: a second tap changes nothing
		}
	}
	return a.submit(a.newOp(e.View.Type, e.View.ID, contract.ActionReopen, bases(e, g.Name), nil), nil)
}

// NewCustomer makes a customer (office roles).
func (a *App) NewCustomer(id string, fields map[string]any) (*contract.Record, error) {
	if id == "" {
		id = a.newID()
	}
	if e, err := a.store.Record(id); err != nil || e != nil {
		return viewOf(e), err
	}
	vals, err := a.values("customer", fields)
	if err != nil {
		return nil, err
	}
	return a.submit(a.newOp("customer", id, contract.ActionCreate, nil, vals), nil)
}

func (a *App) findUser(ref string) (contract.User, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, u := range a.users {
		if u.ID == ref || strings.EqualFold(u.Name, ref) {
			return u, nil
		}
	}
	return contract.User{}, fmt.Errorf("no user %q known to this device", ref)
}

func (a *App) userName(id string) string {
	u, _ := a.user(id)
	return u.Name
}

// History returns a record's change log: fetched from the server when it
// answers, else as last fetched (stale is then true).
func (a *App) History(ctx context.Context, ref string) (changes []contract.Change, stale bool, err error) {
	e, err := a.record(ref)
	if err != nil {
		return nil, false, err
	}
	fresh, ferr := a.client.History(ctx, e.View.Type, e.View.ID)
	if ferr == nil {
		return fresh, false, a.store.SetHistory(e.View.ID, fresh)
	}
	cached, _, err := a.store.History(e.View.ID)
	if err != nil {
		return nil, true, err
	}
	if cached == nil && !errors.Is(ferr, context.Canceled) {
		return nil, true, fmt.Errorf("history is not on this device and the server did not answer: %w", ferr)
	}
	return cached, true, nil
}
