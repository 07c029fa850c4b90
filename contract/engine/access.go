package engine

import (
	"encoding/json"
	"slices"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

// Owner returns who owns rec: a user id, or a role for team-owned records.
// parent is rec's parent record, for items owned by their parent's owner.
func (e *Engine) Owner(rec, parent *contract.Record) string {
	rr := e.Rules.Record(rec.Type)
	if rr == nil {
		return ""
	}
	switch {
	case rr.Owner == rulebook.WhoAuthor:
		return rec.Author
	case rr.Owner == rulebook.WhoParent:
		if parent == nil {
			return ""
		}
		return e.Owner(parent, nil)
	case rr.OwnerField() != "":
		return rec.Text(rr.OwnerField())
	}
	return rr.Owner
}

// isOwner reports whether the actor owns rec (a person or a team).
func (d *decider) isOwner(rec, parent *contract.Record) bool {
	owner := d.engine().Owner(rec, parent)
	if owner == "" {
		return false
	}
	return owner == d.actor.UserID || d.r.RoleIn(d.actor.Role, []string{owner})
}

// CanSee reports whether actor may see rec; parent is rec's parent for
// items. Customers seen through a job are the Directory's business.
func (e *Engine) CanSee(actor Actor, rec, parent *contract.Record) bool {
	d := &decider{r: e.Rules, actor: actor}
	return d.canSee(rec, parent)
}

func (d *decider) canSee(rec, parent *contract.Record) bool {
	rr := d.r.Record(rec.Type)
	if rr == nil {
		return false
	}
	if rr.IsItem() {
		return parent != nil && d.canSee(parent, nil)
	}
	return d.r.RoleIn(d.actor.Role, rr.View) || d.onRecord(rec)
}

// onRecord reports whether the actor is one of the people on a top-level
// record: its owner, on its crew, or a past owner.
func (d *decider) onRecord(rec *contract.Record) bool {
	if d.isOwner(rec, nil) || slices.Contains(rec.PastOwners, d.actor.UserID) {
		return true
	}
	rr := d.r.Record(rec.Type)
	for _, g := range rr.Groups {
		for _, f := range g.Fields {
			if f.Type == rulebook.TypeUsers && slices.Contains(userList(rec.Fields[f.Name]), d.actor.UserID) {
				return true
			}
		}
	}
	return false
}

func userList(raw json.RawMessage) []string {
	var ids []string
	if !contract.IsNull(raw) {
		_ = json.Unmarshal(raw, &ids)
	}
	return ids
}

// may reports whether the actor matches an edit list on rec.
func (d *decider) may(list []string, rec, parent *contract.Record) bool {
	for _, tok := range list {
		switch tok {
		case rulebook.WhoNobody:
		case rulebook.WhoOwner:
			if d.isOwner(rec, parent) {
				return true
			}
		case rulebook.WhoAuthor:
			if rec.Author == d.actor.UserID {
				return true
			}
		case rulebook.WhoViewer:
			if d.canSee(rec, parent) {
				return true
			}
		case rulebook.WhoPeople:
			top := rec
			if d.r.Record(rec.Type).IsItem() {
				top = parent
			}
			if top != nil && d.onRecord(top) {
				return true
			}
		default:
			if d.r.RoleIn(d.actor.Role, []string{tok}) {
				return true
			}
		}
	}
	return false
}

// formerOwner reports whether the list lets the owner act and the actor owned
// rec before a reassign: such edits are held for review, never dropped.
func (d *decider) formerOwner(list []string, rec, parent *contract.Record) bool {
	if !slices.Contains(list, rulebook.WhoOwner) {
		return false
	}
	holder := rec
	if rr := d.r.Record(rec.Type); rr != nil && rr.Owner == rulebook.WhoParent {
		holder = parent
	}
	return holder != nil && slices.Contains(holder.PastOwners, d.actor.UserID)
}

func (d *decider) forbidden(action string, list []string) Decision {
	if len(list) == 0 || slices.Equal(list, []string{rulebook.WhoNobody}) {
		return refuse(contract.CodeForbidden, "Nobody can %s: it is set when the record is made.", action)
	}
	return refuse(contract.CodeForbidden, "Only %s can %s.", d.r.Expand(list), action)
}
