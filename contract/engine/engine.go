package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

// Engine decides what an operation does under a set of rules. It is pure: it
// reads the records it is given and returns a Decision; the caller stores it.
type Engine struct {
	Rules *rulebook.Rules
}

// New returns an engine for compiled rules.
func New(r *rulebook.Rules) *Engine { return &Engine{Rules: r} }

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
	Op      *contract.Operation
	Current *contract.Record // the record as stored; nil when it does not exist
	Parent  *contract.Record // items: their parent record; nil when it does not exist
	Dir     Directory        // nil: references are not checked
	Now     time.Time        // when the operation arrived
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
	Outcome contract.Outcome // Applied, Held or Refused
	Code    contract.Code    // held and refused: why
	Message string           // held and refused: plain words
	Retry   bool             // refused: whether trying again later can help

	// Applied: the record after the change and what changed. Record is nil
	// when the operation changes nothing (the same value again).
	Record  *contract.Record
	Changes []FieldChange
	Notice  string

	// Held: the review goes on group of ReviewOn (the record itself, or an
	// item's parent), of the given kind.
	Group    string
	Kind     string
	ReviewOn *contract.Record
	Values   map[string]json.RawMessage // the operation's values, canonical
}

// Decide returns what op does. It never panics on bad input: every problem is
// a refused decision with a message that says what was wrong.
func (e *Engine) Decide(s Situation) Decision {
	d := &decider{r: e.Rules, s: s, op: s.Op, actor: s.Actor, rec: s.Current, parent: s.Parent}
	if d.op == nil {
		return refuse(contract.CodeInvalid, "no operation")
	}
	if dec, ok := d.checkEnvelope(); !ok {
		return dec
	}
	switch d.op.Action {
	case contract.ActionCreate:
		return d.create()
	case contract.ActionAppend:
		return d.append()
	case contract.ActionUpdate:
		return d.update()
	case contract.ActionTransition:
		return d.transition()
	case contract.ActionVoid:
		return d.void()
	case contract.ActionReassign:
		return d.reassign()
	case contract.ActionReopen:
		return d.reopen()
	case contract.ActionResolve:
		return refuse(contract.CodeInvalid, "resolve operations name record type %q and the review's id", contract.ReviewType)
	}
	return refuse(contract.CodeInvalid, "unknown action %q; want %s", d.op.Action, rulebook.OrList(actionNames()))
}

func actionNames() []string {
	out := make([]string, len(contract.Actions))
	for i, a := range contract.Actions {
		out[i] = string(a)
	}
	return out
}

func refuse(code contract.Code, format string, args ...any) Decision {
	return Decision{Outcome: contract.Refused, Code: code, Message: fmt.Sprintf(format, args...)}
}

type decider struct {
	r      *rulebook.Rules
	s      Situation
	op     *contract.Operation
	actor  Actor
	rr     *rulebook.RecordRule
	rec    *contract.Record
	parent *contract.Record
	vals   map[string]json.RawMessage
}

func (d *decider) checkEnvelope() (Decision, bool) {
	op := d.op
	if _, ok := contract.ValidUUID(op.ID); !ok {
		return refuse(contract.CodeInvalid, "operation id %q is not a UUID", clip(op.ID)), false
	}
	d.rr = d.r.Record(op.RecordType)
	if d.rr == nil {
		return refuse(contract.CodeUnknownType, "unknown record type %q; want %s", clip(op.RecordType), rulebook.OrList(d.r.RecordTypes())), false
	}
	if _, ok := contract.ValidUUID(op.RecordID); !ok {
		return refuse(contract.CodeInvalid, "record id %q is not a UUID", clip(op.RecordID)), false
	}
	if op.DeviceID == "" || len(op.DeviceID) > 128 || strings.ContainsFunc(op.DeviceID, isControl) {
		return refuse(contract.CodeInvalid, "device_id must be 1 to 128 printable characters"), false
	}
	if op.DeviceTime.IsZero() {
		return refuse(contract.CodeInvalid, "device_time is missing"), false
	}
	if d.rec != nil && d.rec.Type != op.RecordType {
		return refuse(contract.CodeInvalid, "record %s is a %s, not a %s", op.RecordID, d.rec.Type, op.RecordType), false
	}
	for g, v := range op.Bases {
		if d.rr.Group(g) == nil {
			return refuse(contract.CodeBadBase, "%s has no field group %q", d.rr.Type, clip(g)), false
		}
		if v < 0 {
			return refuse(contract.CodeBadBase, "base version of %s is negative", g), false
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
func (d *decider) parseValues(allow func(g *rulebook.GroupRule, f *rulebook.FieldRule) error) (map[string]json.RawMessage, []*rulebook.GroupRule, *Decision) {
	out := make(map[string]json.RawMessage, len(d.op.Values))
	var groups []*rulebook.GroupRule
	for name, raw := range d.op.Values {
		if name == d.rr.Via && d.rr.Via != "" {
			continue
		}
		f := d.rr.Field(name)
		if f == nil {
			dec := refuse(contract.CodeUnknownField, "%s has no field %q; its fields are %s", d.rr.Type, clip(name), strings.Join(d.rr.FieldNames(), ", "))
			return nil, nil, &dec
		}
		g := d.rr.GroupOf(name)
		if err := allow(g, f); err != nil {
			dec := refuse(contract.CodeInvalid, "%s", err.Error())
			return nil, nil, &dec
		}
		v, err := rulebook.Canonical(f, raw, d.rr.Machine, d.r.Limits)
		if err != nil {
			dec := refuse(contract.CodeBadValue, "%s", err.Error())
			return nil, nil, &dec
		}
		if f.Name == "size" && d.rr.IsItem() && d.r.Limits.Photo > 0 {
			var n int64
			_ = json.Unmarshal(v, &n)
			if n > d.r.Limits.Photo {
				dec := refuse(contract.CodeTooLarge, "the %s is %s; the limit is %s", d.rr.Type, contract.SizeWords(n), contract.SizeWords(d.r.Limits.Photo))
				return nil, nil, &dec
			}
		}
		out[name] = v
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	// Keep the rules' group order so decisions do not depend on map order.
	slices.SortFunc(groups, func(a, b *rulebook.GroupRule) int {
		return slices.Index(d.rr.Groups, a) - slices.Index(d.rr.Groups, b)
	})
	return out, groups, nil
}

func (d *decider) engine() *Engine { return &Engine{Rules: d.r} }

func (d *decider) hold(code contract.Code, kind string, on *contract.Record, group, format string, args ...any) Decision {
	return Decision{Outcome: contract.Held, Code: code, Kind: kind, ReviewOn: on, Group: group,
		Message: fmt.Sprintf(format, args...), Values: d.vals}
}

func applied(rec *contract.Record, changes []FieldChange) Decision {
	if len(changes) == 0 {
		return Decision{Outcome: contract.Applied}
	}
	return Decision{Outcome: contract.Applied, Record: rec, Changes: changes}
}

// sameValues reports whether every value is what rec already holds.
func sameValues(rec *contract.Record, vals map[string]json.RawMessage) bool {
	for k, v := range vals {
		if !contract.Same(rec.Fields[k], v) {
			return false
		}
	}
	return true
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
