package contract

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Engine decides what an operation does under a set of rules. It is pure: it
// reads the records it is given and returns a Decision; the caller stores it.
type Engine struct {
	Rules *Rules
}

// NewEngine returns an engine for compiled rules.
func NewEngine(r *Rules) *Engine { return &Engine{Rules: r} }

// Actor is who sends an operation, from which device.
type Actor struct {
	UserID   string
	Role     string
	DeviceID string
}

// Directory answers what the records in hand cannot: whether users and
// referenced records exist, and whether the actor may see them. The server
// answers from its store; a device from what it has pulled.
type Directory interface {
	UserRole(id string) (role string, ok bool)
	Lookup(actor Actor, typ, id string) (exists, visible bool)
}

// Situation is everything the engine looks at to decide one operation.
type Situation struct {
	Actor   Actor
	Op      *Operation
	Current *Record   // the record as stored; nil when it does not exist
	Parent  *Record   // items: their parent record; nil when it does not exist
	Dir     Directory // nil: references are not checked
	Now     time.Time // when the operation arrived
}

// FieldChange is one field's old and new value.
type FieldChange struct {
	Group string
	Field string
	Old   json.RawMessage
	New   json.RawMessage
}

// Decision is what an operation does.
type Decision struct {
	Outcome Outcome // Applied, Held or Refused
	Code    Code    // held and refused: why
	Message string  // held and refused: plain words
	Retry   bool    // refused: whether trying again later can help

	// Applied: the record after the change and what changed. Record is nil
	// when the operation changes nothing (the same value again).
	Record  *Record
	Changes []FieldChange
	Notice  string

	// Held: the review goes on group of ReviewOn (the record itself, or an
	// item's parent), of the given kind.
	Group    string
	Kind     string
	ReviewOn *Record
	Values   map[string]json.RawMessage // the operation's values, canonical
}

// Decide returns what op does. It never panics on bad input: every problem is
// a refused decision with a message that says what was wrong.
func (e *Engine) Decide(s Situation) Decision {
	d := &decider{r: e.Rules, s: s, op: s.Op, actor: s.Actor, rec: s.Current, parent: s.Parent}
	if d.op == nil {
		return refuse(CodeInvalid, "no operation")
	}
	if dec, ok := d.checkEnvelope(); !ok {
		return dec
	}
	switch d.op.Action {
	case ActionCreate:
		return d.create()
	case ActionAppend:
		return d.append()
	case ActionUpdate:
		return d.update()
	case ActionTransition:
		return d.transition()
	case ActionVoid:
		return d.void()
	case ActionReassign:
		return d.reassign()
	case ActionReopen:
		return d.reopen()
	case ActionResolve:
		return refuse(CodeInvalid, "resolve operations name record type %q and the review's id", ReviewType)
	}
	return refuse(CodeInvalid, "unknown action %q; want %s", d.op.Action, orList(actionNames()))
}

func actionNames() []string {
	out := make([]string, len(Actions))
	for i, a := range Actions {
		out[i] = string(a)
	}
	return out
}

func refuse(code Code, format string, args ...any) Decision {
	return Decision{Outcome: Refused, Code: code, Message: fmt.Sprintf(format, args...)}
}

type decider struct {
	r      *Rules
	s      Situation
	op     *Operation
	actor  Actor
	rr     *RecordRule
	rec    *Record
	parent *Record
	vals   map[string]json.RawMessage
}

func (d *decider) checkEnvelope() (Decision, bool) {
	op := d.op
	if _, ok := ValidUUID(op.ID); !ok {
		return refuse(CodeInvalid, "operation id %q is not a UUID", clip(op.ID)), false
	}
	d.rr = d.r.Record(op.RecordType)
	if d.rr == nil {
		return refuse(CodeUnknownType, "unknown record type %q; want %s", clip(op.RecordType), orList(d.r.RecordTypes())), false
	}
	if _, ok := ValidUUID(op.RecordID); !ok {
		return refuse(CodeInvalid, "record id %q is not a UUID", clip(op.RecordID)), false
	}
	if op.DeviceID == "" || len(op.DeviceID) > 128 || strings.ContainsFunc(op.DeviceID, isControl) {
		return refuse(CodeInvalid, "device_id must be 1 to 128 printable characters"), false
	}
	if op.DeviceTime.IsZero() {
		return refuse(CodeInvalid, "device_time is missing"), false
	}
	if d.rec != nil && d.rec.Type != op.RecordType {
		return refuse(CodeInvalid, "record %s is a %s, not a %s", op.RecordID, d.rec.Type, op.RecordType), false
	}
	for g, v := range op.Bases {
		if d.rr.Group(g) == nil {
			return refuse(CodeBadBase, "%s has no field group %q", d.rr.Type, clip(g)), false
		}
		if v < 0 {
			return refuse(CodeBadBase, "base version of %s is negative", g), false
		}
	}
	return Decision{}, true
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// parseValues checks every value against its field and returns them
// canonical. allow reports whether a field may be set by this action.
func (d *decider) parseValues(allow func(g *GroupRule, f *FieldRule) error) (map[string]json.RawMessage, []*GroupRule, *Decision) {
	out := make(map[string]json.RawMessage, len(d.op.Values))
	var groups []*GroupRule
	for name, raw := range d.op.Values {
		if name == d.rr.Via && d.rr.Via != "" {
			continue
		}
		f := d.rr.Field(name)
		if f == nil {
			dec := refuse(CodeUnknownField, "%s has no field %q; its fields are %s", d.rr.Type, clip(name), strings.Join(d.rr.FieldNames(), ", "))
			return nil, nil, &dec
		}
		g := d.rr.GroupOf(name)
		if err := allow(g, f); err != nil {
			dec := refuse(CodeInvalid, "%s", err.Error())
			return nil, nil, &dec
		}
		v, err := Canonical(f, raw, d.rr.Machine, d.r.Limits)
		if err != nil {
			dec := refuse(CodeBadValue, "%s", err.Error())
			return nil, nil, &dec
		}
		if f.Name == "size" && d.rr.IsItem() && d.r.Limits.Photo > 0 {
			var n int64
			_ = json.Unmarshal(v, &n)
			if n > d.r.Limits.Photo {
				dec := refuse(CodeTooLarge, "the %s is %s; the limit is %s", d.rr.Type, SizeWords(n), SizeWords(d.r.Limits.Photo))
				return nil, nil, &dec
			}
		}
		out[name] = v
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	// Keep the rules' group order so decisions do not depend on map order.
	slices.SortFunc(groups, func(a, b *GroupRule) int {
		return slices.Index(d.rr.Groups, a) - slices.Index(d.rr.Groups, b)
	})
	return out, groups, nil
}

// SizeWords says a number of bytes as a person reads it: "25.0 MB".
func SizeWords(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// Owner returns who owns rec: a user id, or a role for team-owned records.
// parent is rec's parent record, for items owned by their parent's owner.
func (e *Engine) Owner(rec, parent *Record) string {
	rr := e.Rules.Record(rec.Type)
	if rr == nil {
		return ""
	}
	switch {
	case rr.Owner == WhoAuthor:
		return rec.Author
	case rr.Owner == WhoParent:
		if parent == nil {
			return ""
		}
		return e.Owner(parent, nil)
	case rr.OwnerField() != "":
		return rec.Text(rr.OwnerField())
	}
	return rr.Owner
}

func (d *decider) engine() *Engine { return &Engine{Rules: d.r} }

// isOwner reports whether the actor owns rec (a person or a team).
func (d *decider) isOwner(rec, parent *Record) bool {
	owner := d.engine().Owner(rec, parent)
	if owner == "" {
		return false
	}
	return owner == d.actor.UserID || d.r.RoleIn(d.actor.Role, []string{owner})
}

// CanSee reports whether actor may see rec; parent is rec's parent for
// items. Customers seen through a job are the Directory's business.
func (e *Engine) CanSee(actor Actor, rec, parent *Record) bool {
	d := &decider{r: e.Rules, actor: actor}
	return d.canSee(rec, parent)
}

func (d *decider) canSee(rec, parent *Record) bool {
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
func (d *decider) onRecord(rec *Record) bool {
	if d.isOwner(rec, nil) || slices.Contains(rec.PastOwners, d.actor.UserID) {
		return true
	}
	rr := d.r.Record(rec.Type)
	for _, g := range rr.Groups {
		for _, f := range g.Fields {
			if f.Type == TypeUsers && slices.Contains(userList(rec.Fields[f.Name]), d.actor.UserID) {
				return true
			}
		}
	}
	return false
}

func userList(raw json.RawMessage) []string {
	var ids []string
	if !IsNull(raw) {
		_ = json.Unmarshal(raw, &ids)
	}
	return ids
}

// may reports whether the actor matches an edit list on rec.
func (d *decider) may(list []string, rec, parent *Record) bool {
	for _, tok := range list {
		switch tok {
		case WhoNobody:
		case WhoOwner:
			if d.isOwner(rec, parent) {
				return true
			}
		case WhoAuthor:
			if rec.Author == d.actor.UserID {
				return true
			}
		case WhoViewer:
			if d.canSee(rec, parent) {
				return true
			}
		case WhoPeople:
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
func (d *decider) formerOwner(list []string, rec, parent *Record) bool {
	if !slices.Contains(list, WhoOwner) {
		return false
	}
	holder := rec
	if rr := d.r.Record(rec.Type); rr != nil && rr.Owner == WhoParent {
		holder = parent
	}
	return holder != nil && slices.Contains(holder.PastOwners, d.actor.UserID)
}

func (d *decider) forbidden(action string, list []string) Decision {
	if len(list) == 0 || slices.Equal(list, []string{WhoNobody}) {
		return refuse(CodeForbidden, "Nobody can %s: it is set when the record is made.", action)
	}
	return refuse(CodeForbidden, "Only %s can %s.", d.r.Expand(list), action)
}

// state returns rec's status, or "".
func (d *decider) state(rec *Record, rr *RecordRule) string {
	if rr.Machine == nil {
		return ""
	}
	return rec.Text(rr.Machine.Field)
}

// lockedBy returns the state that locks group of rec, or "".
func (d *decider) lockedBy(rec *Record, rr *RecordRule, group string) string {
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

func (d *decider) hold(code Code, kind string, on *Record, group, format string, args ...any) Decision {
	return Decision{Outcome: Held, Code: code, Kind: kind, ReviewOn: on, Group: group,
		Message: fmt.Sprintf(format, args...), Values: d.vals}
}

// ownStreak reports whether every change to group since base came from the
// operation's own device, so the edit built on them and is not a conflict.
func (d *decider) ownStreak(rec *Record, group string, base int64) bool {
	st, ok := rec.Streaks[group]
	return ok && st.DeviceID == d.op.DeviceID && base >= st.Base
}

// checkRefs makes sure referenced users and records exist and, for records,
// that the actor may see them.
func (d *decider) checkRefs(vals map[string]json.RawMessage) *Decision {
	if d.s.Dir == nil {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		v := vals[name]
		if IsNull(v) {
			continue
		}
		f := d.rr.Field(name)
		switch f.Type {
		case TypeUser, TypeUsers:
			ids := userList(v)
			if f.Type == TypeUser {
				var id string
				_ = json.Unmarshal(v, &id)
				ids = []string{id}
			}
			for _, id := range ids {
				if _, ok := d.s.Dir.UserRole(id); !ok {
					dec := refuse(CodeNotFound, "field %s: no user with id %s", name, id)
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
				dec := refuse(CodeNotFound, "field %s: no %s with id %s", name, f.Type, id)
				return &dec
			}
			if !visible {
				dec := refuse(CodeForbidden, "field %s: you cannot see %s %s", name, f.Type, id)
				return &dec
			}
		}
	}
	return nil
}

// apply sets vals on rec, bumps the version of each group that changed, and
// returns the changes in rules order.
func (d *decider) apply(rec *Record, rr *RecordRule, vals map[string]json.RawMessage) []FieldChange {
	var changes []FieldChange
	for _, g := range rr.Groups {
		changed := false
		for _, f := range g.Fields {
			nv, ok := vals[f.Name]
			if !ok {
				continue
			}
			old := rec.Fields[f.Name]
			if IsNull(old) {
				old = Null
			}
			if Same(old, nv) {
				continue
			}
			changes = append(changes, FieldChange{Group: g.Name, Field: f.Name, Old: old, New: nv})
			if IsNull(nv) {
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

func (d *decider) bump(rec *Record, group string) {
	old := rec.Versions[group]
	rec.Versions[group] = old + 1
	if rec.Streaks == nil {
		rec.Streaks = map[string]Streak{}
	}
	if st, ok := rec.Streaks[group]; !ok || st.DeviceID != d.op.DeviceID {
		rec.Streaks[group] = Streak{DeviceID: d.op.DeviceID, Base: old}
	}
}

func applied(rec *Record, changes []FieldChange) Decision {
	if len(changes) == 0 {
		return Decision{Outcome: Applied}
	}
	return Decision{Outcome: Applied, Record: rec, Changes: changes}
}

// sameValues reports whether every value is what rec already holds.
func sameValues(rec *Record, vals map[string]json.RawMessage) bool {
	for k, v := range vals {
		if !Same(rec.Fields[k], v) {
			return false
		}
	}
	return true
}

func (d *decider) create() Decision {
	rr := d.rr
	if rr.IsItem() {
		return refuse(CodeInvalid, "a %s is added to its %s with the append action", rr.Type, rr.Parent)
	}
	if !d.r.RoleIn(d.actor.Role, rr.Create) {
		return d.forbidden("create "+article(rr.Type), rr.Create)
	}
	m := rr.Machine
	vals, _, bad := d.parseValues(func(g *GroupRule, f *FieldRule) error {
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
		if v, ok := vals[m.Field]; ok && !Same(v, Text(m.Initial)) {
			return refuse(CodeIllegalMove, "a new %s starts as %s", rr.Type, m.Initial)
		}
		vals[m.Field] = Text(m.Initial)
	}
	if of := rr.OwnerField(); of != "" {
		g := rr.GroupOf(of)
		if !d.may(g.Edit, &Record{Type: rr.Type, Fields: vals}, nil) {
			// People who cannot assign work make jobs that are theirs.
			if v, ok := vals[of]; ok && !IsNull(v) && !Same(v, Text(d.actor.UserID)) {
				return refuse(CodeForbidden, "A %s you create is assigned to you; only %s can assign it to someone else.", rr.Type, d.r.Expand(g.Edit))
			}
			// The rest of the owner's group (a crew) is theirs to set too.
			for _, f := range g.Fields {
				if v, ok := vals[f.Name]; ok && f.Name != of && !IsNull(v) {
					return refuse(CodeForbidden, "Only %s can set %s on a %s.", d.r.Expand(g.Edit), words(f.Name), rr.Type)
				}
			}
			vals[of] = Text(d.actor.UserID)
		}
	}
	for _, name := range rr.FieldNames() {
		if f := rr.Field(name); f.Required && IsNull(vals[name]) {
			return refuse(CodeBadValue, "field %s is required for a new %s", name, rr.Type)
		}
	}
	if d.rec != nil {
		if d.rec.Author == d.actor.UserID && sameValues(d.rec, vals) {
			return Decision{Outcome: Applied}
		}
		return refuse(CodeExists, "another %s already has id %s", rr.Type, d.op.RecordID)
	}
	if bad := d.checkRefs(vals); bad != nil {
		return *bad
	}
	rec := d.newRecord(rr)
	changes := d.apply(rec, rr, vals)
	d.startVersions(rec, rr)
	rec.Owner = d.engine().Owner(rec, nil)
	return Decision{Outcome: Applied, Record: rec, Changes: changes}
}

func (d *decider) newRecord(rr *RecordRule) *Record {
	return &Record{Type: rr.Type, ID: strings.ToLower(d.op.RecordID), Fields: map[string]json.RawMessage{},
		Versions: map[string]int64{}, Author: d.actor.UserID, DeviceID: d.op.DeviceID,
		DeviceTime: d.op.DeviceTime, CreatedAt: d.s.Now, UpdatedAt: d.s.Now}
}

// startVersions puts every field group of a new record at version 1.
func (d *decider) startVersions(rec *Record, rr *RecordRule) {
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
		return refuse(CodeInvalid, "a %s is made with the create action; append adds notes, photos and part lines to a job", rr.Type)
	}
	raw, ok := d.op.Values[rr.Via]
	if !ok {
		return refuse(CodeBadValue, "field %s is required: it names the %s to add to", rr.Via, rr.Parent)
	}
	var pid string
	if json.Unmarshal(raw, &pid) != nil {
		return refuse(CodeBadValue, "field %s: want the id of a %s", rr.Via, rr.Parent)
	}
	pid, ok = ValidUUID(pid)
	if !ok {
		return refuse(CodeBadValue, "field %s: not a UUID", rr.Via)
	}
	vals, _, bad := d.parseValues(func(g *GroupRule, f *FieldRule) error {
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
		if f := rr.Field(name); f.Required && IsNull(vals[name]) {
			return refuse(CodeBadValue, "field %s is required for a new %s", name, rr.Type)
		}
	}
	if d.rec != nil {
		if d.rec.Author == d.actor.UserID && d.rec.ParentID == pid && sameValues(d.rec, vals) {
			return Decision{Outcome: Applied}
		}
		return refuse(CodeExists, "another %s already has id %s", rr.Type, d.op.RecordID)
	}
	parent := d.parent
	prr := d.r.Record(rr.Parent)
	if parent == nil || parent.ID != pid {
		return refuse(CodeNotFound, "no %s with id %s", rr.Parent, pid)
	}
	if !d.canSee(parent, nil) {
		return refuse(CodeForbidden, "You do not have access to this %s.", rr.Parent)
	}
	coll := prr.Group(rr.In)
	afterLock := false
	if prr.Lock != nil && prr.Lock.Locks(d.state(parent, prr)) {
		if !prr.Lock.Exempt(coll.Name) {
			return refuse(CodeLocked, "%s", lockedMessage(rr.Parent, d.state(parent, prr)))
		}
		afterLock = true
	}
	if !d.may(coll.Edit, parent, nil) {
		if d.formerOwner(coll.Edit, parent, nil) {
			return d.hold(CodeOwnership, KindOwnership, parent, coll.Name,
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
	if rr.Owner != WhoParent {
		rec.Owner = d.engine().Owner(rec, parent)
	}
	dec := Decision{Outcome: Applied, Record: rec, Changes: changes}
	if afterLock {
		dec.Notice = "Added after sign-off."
	}
	return dec
}

// existing loads the common checks of every action on a stored record.
func (d *decider) existing() (Decision, bool) {
	if d.rec == nil {
		return refuse(CodeNotFound, "no %s with id %s", d.rr.Type, d.op.RecordID), false
	}
	if !d.canSee(d.rec, d.parent) && !d.seenThroughDir() {
		return refuse(CodeForbidden, "You do not have access to this %s.", d.rr.Type), false
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
		dec := refuse(CodeBadBase, "the base version of group %s is missing: say which version the edit was made from", group)
		return 0, &dec
	}
	if cur := d.rec.Versions[group]; b > cur {
		dec := refuse(CodeBadBase, "base version %d of group %s is newer than the server's %d", b, group, cur)
		return 0, &dec
	}
	return b, nil
}

func (d *decider) voided(rec *Record) bool { return rec.Bool("voided") }

func (d *decider) update() Decision {
	if dec, ok := d.existing(); !ok {
		return dec
	}
	rr := d.rr
	vals, groups, bad := d.parseValues(func(g *GroupRule, f *FieldRule) error {
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
		return refuse(CodeInvalid, "an update needs at least one value")
	case 1:
	default:
		names := make([]string, len(groups))
		for i, g := range groups {
			names[i] = g.Name
		}
		return refuse(CodeInvalid, "an update changes one field group at a time; this one touches %s", strings.Join(names, " and "))
	}
	return d.editGroup(groups[0], vals, "change "+groups[0].Name+" of this "+rr.Type)
}

// editGroup applies vals to one group of the stored record under the group's
// policy: the shared path of update and reassign.
func (d *decider) editGroup(g *GroupRule, vals map[string]json.RawMessage, what string) Decision {
	rec, rr := d.rec, d.rr
	base, bad := d.base(g.Name)
	if bad != nil {
		return *bad
	}
	if st := d.lockedBy(rec, rr, g.Name); st != "" {
		return refuse(CodeLocked, "%s", lockedMessage(rr.Type, st))
	}
	if d.parent != nil && rr.IsItem() {
		prr := d.r.Record(rr.Parent)
		if st := d.lockedBy(d.parent, prr, rr.In); st != "" {
			return refuse(CodeLocked, "%s", lockedMessage(prr.Type, st))
		}
	}
	if !d.may(g.Edit, rec, d.parent) {
		if d.formerOwner(g.Edit, rec, d.parent) {
			return d.hold(CodeOwnership, KindOwnership, rec, g.Name, "The %s was moved to someone else; your change to %s needs review.", rr.Type, g.Name)
		}
		return d.forbidden(what, g.Edit)
	}
	if sameValues(rec, vals) {
		return Decision{Outcome: Applied}
	}
	if d.voided(rec) {
		return d.hold(CodeVoided, KindVoided, rec, g.Name, "This %s was voided; your change to %s needs review.", rr.Type, g.Name)
	}
	if rec.HasReview(g.Name) {
		return d.hold(CodeReviewOpen, KindConflict, rec, g.Name, "A review of %s is already open; your change joins it.", g.Name)
	}
	if g.Policy == PolicyWriteOnce {
		for k := range vals {
			if !IsNull(rec.Fields[k]) {
				return refuse(CodeWriteOnce, "%s is already set and cannot change.", strings.ReplaceAll(g.Name, "_", " "))
			}
		}
	}
	stale := base < rec.Versions[g.Name] && !d.ownStreak(rec, g.Name, base)
	if stale && g.Policy == PolicyReview {
		return d.hold(CodeConflict, KindConflict, rec, g.Name, "Another update changed %s after your version; it needs review.", g.Name)
	}
	if bad := d.checkRefs(vals); bad != nil {
		return *bad
	}
	next := rec.Clone()
	changes := d.apply(next, rr, vals)
	moveOwner(rr, rec, next)
	return applied(next, changes)
}

func (d *decider) transition() Decision {
	if dec, ok := d.existing(); !ok {
		return dec
	}
	rr, rec := d.rr, d.rec
	m := rr.Machine
	if m == nil {
		return refuse(CodeInvalid, "%s records have no status", rr.Type)
	}
	vals, _, bad := d.parseValues(func(g *GroupRule, f *FieldRule) error {
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
	if !ok || IsNull(raw) {
		return refuse(CodeBadValue, "a transition needs the new %s", m.Field)
	}
	var target string
	_ = json.Unmarshal(raw, &target)
	g := rr.StatusGroup()
	base, badBase := d.base(g.Name)
	if badBase != nil {
		return *badBase
	}
	current := d.state(rec, rr)
	mv, legal := m.Find(current, target, ActionTransition)
	who := mv.By
	if !legal {
		for _, alt := range m.Moves {
			if alt.Action == ActionTransition && (alt.To == target || target == current) {
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
		return Decision{Outcome: Applied} // the same value again: nothing to do
	}
	if !d.may(who, rec, nil) {
		if d.formerOwner(who, rec, nil) {
			return d.hold(CodeOwnership, KindOwnership, rec, g.Name, "The %s was moved to someone else; your status change needs review.", rr.Type)
		}
		return d.forbidden(fmt.Sprintf("move a %s to %s", rr.Type, words(target)), who)
	}
	if d.voided(rec) {
		return d.hold(CodeVoided, KindVoided, rec, g.Name, "This %s was voided; your status change needs review.", rr.Type)
	}
	if st := d.lockedBy(rec, rr, g.Name); st != "" && !legal {
		return refuse(CodeLocked, "%s", lockedMessage(rr.Type, st))
	}
	if rec.HasReview(g.Name) {
		return d.hold(CodeReviewOpen, KindConflict, rec, g.Name, "A review of the status is already open; your change joins it.")
	}
	if base < rec.Versions[g.Name] && !d.ownStreak(rec, g.Name, base) && g.Policy == PolicyReview {
		return d.hold(CodeConflict, KindConflict, rec, g.Name, "Another update changed the status to %s after your version; it needs review.", words(current))
	}
	if !legal {
		return d.illegal(current, target)
	}
	if mv.Needs != "" && !d.filled(rec, rr.Group(mv.Needs)) {
		return refuse(CodeNeeds, "Moving to %s needs the %s first.", words(target), words(mv.Needs))
	}
	next := rec.Clone()
	return applied(next, d.apply(next, rr, vals))
}

func (d *decider) illegal(from, to string) Decision {
	m := d.rr.Machine
	var allowed []string
	for _, mv := range m.MovesFrom(from, ActionTransition) {
		allowed = append(allowed, words(mv.To))
	}
	if len(allowed) == 0 {
		return refuse(CodeIllegalMove, "A %s cannot move from %s to %s; no moves are allowed from %s.", d.rr.Type, words(from), words(to), words(from))
	}
	return refuse(CodeIllegalMove, "A %s cannot move from %s to %s; from %s it can move to %s.", d.rr.Type, words(from), words(to), words(from), strings.Join(allowed, ", "))
}

func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

// filled reports whether a group holds any value: a signature has been given.
func (d *decider) filled(rec *Record, g *GroupRule) bool {
	for _, f := range g.Fields {
		if !IsNull(rec.Fields[f.Name]) {
			return true
		}
	}
	return false
}

func (d *decider) void() Decision {
	if dec, ok := d.existing(); !ok {
		return dec
	}
	rr, rec := d.rr, d.rec
	lg := rr.Lifecycle()
	if lg == nil {
		return refuse(CodeInvalid, "%s records cannot be voided", rr.Type)
	}
	for k := range d.op.Values {
		if k != "voided" {
			return refuse(CodeUnknownField, "a void carries no values but voided; got %q", clip(k))
		}
	}
	base, bad := d.base(lg.Name)
	if bad != nil {
		return *bad
	}
	_ = base
	if d.voided(rec) {
		return Decision{Outcome: Applied}
	}
	if !d.may(lg.Edit, rec, d.parent) {
		if d.formerOwner(lg.Edit, rec, d.parent) {
			return d.hold(CodeOwnership, KindOwnership, rec, lg.Name, "The %s was moved to someone else; your void needs review.", rr.Type)
		}
		return d.forbidden("void this "+rr.Type, lg.Edit)
	}
	if d.parent != nil && rr.IsItem() {
		prr := d.r.Record(rr.Parent)
		if st := d.lockedBy(d.parent, prr, rr.In); st != "" {
			return refuse(CodeLocked, "%s", lockedMessage(prr.Type, st))
		}
	}
	vals := map[string]json.RawMessage{"voided": Bool(true)}
	if m := rr.Machine; m != nil {
		current := d.state(rec, rr)
		moves := m.MovesFrom(current, ActionVoid)
		if len(moves) == 0 {
			if st := d.lockedBy(rec, rr, lg.Name); st != "" {
				return refuse(CodeLocked, "%s Reopen it before voiding.", lockedMessage(rr.Type, st))
			}
			return refuse(CodeIllegalMove, "A %s cannot be voided from %s.", rr.Type, words(current))
		}
		if !d.may(moves[0].By, rec, nil) {
			return d.forbidden("void this "+rr.Type, moves[0].By)
		}
		vals[m.Field] = Text(moves[0].To)
	}
	d.vals = vals
	if rec.HasReview(lg.Name) {
		return d.hold(CodeReviewOpen, KindConflict, rec, lg.Name, "A review of this %s's void is already open; your void joins it.", rr.Type)
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
		return d.hold(CodeConflict, KindConflict, rec, lg.Name, "The %s changed (%s) after your version; voiding it needs review.", rr.Type, strings.Join(unseen, ", "))
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
		return refuse(CodeInvalid, "%s records are not reassigned; their owner is %s", rr.Type, d.r.Expand([]string{rr.Owner}))
	}
	g := rr.GroupOf(of)
	vals, _, bad := d.parseValues(func(fg *GroupRule, f *FieldRule) error {
		if fg != g {
			return fmt.Errorf("a reassign sets only %s fields; got %s", g.Name, f.Name)
		}
		return nil
	})
	if bad != nil {
		return *bad
	}
	d.vals = vals
	if IsNull(vals[of]) {
		return refuse(CodeBadValue, "a reassign needs the new %s", of)
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
		return refuse(CodeInvalid, "%s records have no status to reopen", rr.Type)
	}
	if len(d.op.Values) > 0 {
		return refuse(CodeInvalid, "a reopen carries no values")
	}
	current := d.state(rec, rr)
	var who []string
	for _, mv := range m.Moves {
		if mv.Action == ActionReopen {
			who = append(who, mv.By...)
		}
	}
	if !d.may(who, rec, nil) {
		return d.forbidden("reopen a "+rr.Type, who)
	}
	moves := m.MovesFrom(current, ActionReopen)
	if len(moves) == 0 {
		for _, mv := range m.Moves {
			if mv.Action == ActionReopen && mv.To == current {
				return Decision{Outcome: Applied} // already reopened
			}
		}
		return refuse(CodeIllegalMove, "Only a signed-off or closed %s can be reopened; this one is %s.", rr.Type, words(current))
	}
	mv := moves[0]
	if !d.may(mv.By, rec, nil) {
		return d.forbidden("reopen a "+rr.Type, mv.By)
	}
	vals := map[string]json.RawMessage{m.Field: Text(mv.To)}
	for _, gname := range mv.Clears {
		for _, f := range rr.Group(gname).Fields {
			vals[f.Name] = Null
		}
	}
	d.vals = vals
	next := rec.Clone()
	return applied(next, d.apply(next, rr, vals))
}

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
		v, err := Canonical(rr.Field(name), raw, rr.Machine, e.Rules.Limits)
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
func (e *Engine) Apply(actor Actor, now time.Time, rec *Record, vals map[string]json.RawMessage) (*Record, []FieldChange) {
	d := &decider{r: e.Rules, actor: actor, op: &Operation{DeviceID: actor.DeviceID}, s: Situation{Now: now}}
	next := rec.Clone()
	rr := e.Rules.Record(rec.Type)
	changes := d.apply(next, rr, vals)
	moveOwner(rr, rec, next)
	return next, changes
}

// Bump raises a group's version without changing a value, as when a review
// is resolved by keeping the server's version.
func (e *Engine) Bump(actor Actor, rec *Record, group string) {
	d := &decider{r: e.Rules, actor: actor, op: &Operation{DeviceID: actor.DeviceID}}
	d.bump(rec, group)
}

// moveOwner keeps a record's owner and past owners in step with its owner
// field: someone who owned it once keeps seeing it, read only.
func moveOwner(rr *RecordRule, before, after *Record) {
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

// CheckResolution says whether a person resolving a review may set vals on
// rec. A resolution may settle a status where neither side's move could
// reach, but never skip what the status machine guards: a state that needs
// something (a signature) needs it, a locked state is reached only by a
// legal move, and states entered only by void or reopen are not set here.
func (e *Engine) CheckResolution(rec *Record, vals map[string]json.RawMessage) error {
	rr := e.Rules.Record(rec.Type)
	m := rr.Machine
	if m == nil {
		return nil
	}
	raw, ok := vals[m.Field]
	if !ok || IsNull(raw) {
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
	var into []Move
	for _, mv := range m.Moves {
		if mv.To == target && mv.Action == ActionTransition {
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
		if _, legal := m.Find(current, target, ActionTransition); !legal {
			return fmt.Errorf("a %s reaches %s only from %s; it is %s", rr.Type, words(target), orList(into[0].From), words(current))
		}
	}
	return nil
}

func actionInto(m *Machine, state string) string {
	for _, mv := range m.Moves {
		if mv.To == state {
			return string(mv.Action)
		}
	}
	return "right"
}

// AllowedMoves lists the states actor may move rec to now by a transition,
// in rules order: what a status picker offers.
func (e *Engine) AllowedMoves(actor Actor, rec *Record) []string {
	rr := e.Rules.Record(rec.Type)
	if rr == nil || rr.Machine == nil || rec.Bool("voided") {
		return nil
	}
	d := &decider{r: e.Rules, actor: actor, rr: rr}
	var out []string
	for _, mv := range rr.Machine.MovesFrom(d.state(rec, rr), ActionTransition) {
		if d.may(mv.By, rec, nil) && !slices.Contains(out, mv.To) {
			out = append(out, mv.To)
		}
	}
	return out
}

// MayEdit says whether actor may change group of rec now, and if not, why,
// in words a screen can show: "Locked after sign-off", "Only dispatcher can
// change scheduling", "Owned by someone else: read only".
func (e *Engine) MayEdit(actor Actor, rec, parent *Record, group string) (bool, string) {
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
	if slices.Equal(list, []string{WhoNobody}) {
		return false, "Set when the " + rr.Type + " was made"
	}
	return false, "Only " + e.Rules.Expand(dedupe(list)) + " can change this"
}

func dedupe(list []string) []string {
	out := append([]string(nil), list...)
	slices.Sort(out)
	return slices.Compact(out)
}

// article puts "a" or "an" before a word.
func article(w string) string {
	if w != "" && strings.ContainsRune("aeiou", rune(w[0])) {
		return "an " + w
	}
	return "a " + w
}
