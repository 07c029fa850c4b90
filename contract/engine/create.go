package engine

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

// checkRefs makes sure referenced users and records exist and, for records,
// that the actor may see them.
func (d *decider) checkRefs(vals map[string]json.RawMessage) *Decision {
	if d.s.Dir == nil {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		v := vals[name]
		if contract.IsNull(v) {
			continue
		}
		f := d.rr.Field(name)
		switch f.Type {
		case rulebook.TypeUser, rulebook.TypeUsers:
			ids := userList(v)
			if f.Type == rulebook.TypeUser {
				var id string
				_ = json.Unmarshal(v, &id)
				ids = []string{id}
			}
			for _, id := range ids {
				if _, ok := d.s.Dir.UserRole(id); !ok {
					dec := refuse(contract.CodeNotFound, "field %s: no user with id %s", name, id)
					return &dec
				}
			}
		default:
			if d.r.Record(f.Type) == nil {
				continue
			}
			var id string
			_ = json.Unmarshal(v, &id)
			exists, visible := d.s.Dir.Lookup(d.actor, f.Type, id)
			if !exists {
				dec := refuse(contract.CodeNotFound, "field %s: no %s with id %s", name, f.Type, id)
				return &dec
			}
			if !visible {
				dec := refuse(contract.CodeForbidden, "field %s: you cannot see %s %s", name, f.Type, id)
				return &dec
			}
		}
	}
	return nil
}

func (d *decider) create() Decision {
	rr := d.rr
	if rr.IsItem() {
		return refuse(contract.CodeInvalid, "a %s is added to its %s with the append action", rr.Type, rr.Parent)
	}
	if !d.r.RoleIn(d.actor.Role, rr.Create) {
		return d.forbidden("create "+article(rr.Type), rr.Create)
	}
	m := rr.Machine
	vals, _, bad := d.parseValues(func(g *rulebook.GroupRule, f *rulebook.FieldRule) error {
		if f.Name == "voided" {
			return fmt.Errorf("a new %s cannot start voided", rr.Type)
		}
		return nil
	})
	if bad != nil {
		return *bad
	}
	d.vals = vals
	if m != nil {
		if v, ok := vals[m.Field]; ok && !contract.Same(v, contract.Text(m.Initial)) {
			return refuse(contract.CodeIllegalMove, "a new %s starts as %s", rr.Type, m.Initial)
		}
		vals[m.Field] = contract.Text(m.Initial)
	}
	if of := rr.OwnerField(); of != "" {
		g := rr.GroupOf(of)
		if !d.may(g.Edit, &contract.Record{Type: rr.Type, Fields: vals}, nil) {
			// People who cannot assign work make jobs that are theirs.
			if v, ok := vals[of]; ok && !contract.IsNull(v) && !contract.Same(v, contract.Text(d.actor.UserID)) {
				return refuse(contract.CodeForbidden, "A %s you create is assigned to you; only %s can assign it to someone else.", rr.Type, d.r.Expand(g.Edit))
			}
			// The rest of the owner's group (a crew) is theirs to set too.
			for _, f := range g.Fields {
				if v, ok := vals[f.Name]; ok && f.Name != of && !contract.IsNull(v) {
					return refuse(contract.CodeForbidden, "Only %s can set %s on a %s.", d.r.Expand(g.Edit), words(f.Name), rr.Type)
				}
			}
			vals[of] = contract.Text(d.actor.UserID)
		}
	}
	for _, name := range rr.FieldNames() {
		if f := rr.Field(name); f.Required && contract.IsNull(vals[name]) {
			return refuse(contract.CodeBadValue, "field %s is required for a new %s", name, rr.Type)
		}
	}
	if d.rec != nil {
		if d.rec.Author == d.actor.UserID && sameValues(d.rec, vals) {
			return Decision{Outcome: contract.Applied}
		}
		return refuse(contract.CodeExists, "another %s already has id %s", rr.Type, d.op.RecordID)
	}
	if bad := d.checkRefs(vals); bad != nil {
		return *bad
	}
	rec := d.newRecord(rr)
	changes := d.apply(rec, rr, vals)
	d.startVersions(rec, rr)
	rec.Owner = d.engine().Owner(rec, nil)
	return Decision{Outcome: contract.Applied, Record: rec, Changes: changes}
}

func (d *decider) newRecord(rr *rulebook.RecordRule) *contract.Record {
	return &contract.Record{Type: rr.Type, ID: strings.ToLower(d.op.RecordID), Fields: map[string]json.RawMessage{},
		Versions: map[string]int64{}, Author: d.actor.UserID, DeviceID: d.op.DeviceID,
		DeviceTime: d.op.DeviceTime, CreatedAt: d.s.Now, UpdatedAt: d.s.Now}
}

// startVersions puts every field group of a new record at version 1.
func (d *decider) startVersions(rec *contract.Record, rr *rulebook.RecordRule) {
	rec.Streaks = nil
	for _, g := range rr.Groups {
		if len(g.Fields) > 0 {
			rec.Versions[g.Name] = 1
		}
	}
}

func (d *decider) append() Decision {
	rr := d.rr
	if !rr.IsItem() {
		return refuse(contract.CodeInvalid, "a %s is made with the create action; append adds notes, photos and part lines to a job", rr.Type)
	}
	raw, ok := d.op.Values[rr.Via]
	if !ok {
		return refuse(contract.CodeBadValue, "field %s is required: it names the %s to add to", rr.Via, rr.Parent)
	}
	var pid string
	if json.Unmarshal(raw, &pid) != nil {
		return refuse(contract.CodeBadValue, "field %s: want the id of a %s", rr.Via, rr.Parent)
	}
	pid, ok = contract.ValidUUID(pid)
	if !ok {
		return refuse(contract.CodeBadValue, "field %s: not a UUID", rr.Via)
	}
	vals, _, bad := d.parseValues(func(g *rulebook.GroupRule, f *rulebook.FieldRule) error {
		if f.Name == "voided" {
			return fmt.Errorf("a new %s cannot start voided", rr.Type)
		}
		return nil
	})
	if bad != nil {
		return *bad
	}
	d.vals = vals
	for _, name := range rr.FieldNames() {
		if f := rr.Field(name); f.Required && contract.IsNull(vals[name]) {
			return refuse(contract.CodeBadValue, "field %s is required for a new %s", name, rr.Type)
		}
	}
	if d.rec != nil {
		if d.rec.Author == d.actor.UserID && d.rec.ParentID == pid && sameValues(d.rec, vals) {
			return Decision{Outcome: contract.Applied}
		}
		return refuse(contract.CodeExists, "another %s already has id %s", rr.Type, d.op.RecordID)
	}
	parent := d.parent
	prr := d.r.Record(rr.Parent)
	if parent == nil || parent.ID != pid {
		return refuse(contract.CodeNotFound, "no %s with id %s", rr.Parent, pid)
	}
	if !d.canSee(parent, nil) {
		return refuse(contract.CodeForbidden, "You do not have access to this %s.", rr.Parent)
	}
	coll := prr.Group(rr.In)
	afterLock := false
	if prr.Lock != nil && prr.Lock.Locks(d.state(parent, prr)) {
		if !prr.Lock.Exempt(coll.Name) {
			return refuse(contract.CodeLocked, "%s", lockedMessage(rr.Parent, d.state(parent, prr)))
		}
		afterLock = true
	}
	if !d.may(coll.Edit, parent, nil) {
		if d.formerOwner(coll.Edit, parent, nil) {
			return d.hold(contract.CodeOwnership, contract.KindOwnership, parent, coll.Name,
				"The %s was moved to someone else; your %s needs review.", rr.Parent, rr.Type)
		}
		return d.forbidden("add "+rr.In+" to this "+rr.Parent, coll.Edit)
	}
	if bad := d.checkRefs(vals); bad != nil {
		return *bad
	}
	rec := d.newRecord(rr)
	rec.ParentID = pid
	rec.AfterSignoff = afterLock
	changes := d.apply(rec, rr, vals)
	d.startVersions(rec, rr)
	if rr.Owner != rulebook.WhoParent {
		rec.Owner = d.engine().Owner(rec, parent)
	}
	dec := Decision{Outcome: contract.Applied, Record: rec, Changes: changes}
	if afterLock {
		dec.Notice = "Added after sign-off."
	}
	return dec
}
