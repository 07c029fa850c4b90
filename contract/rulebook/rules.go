package rulebook

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"fieldsync/contract"
)

// Conflict policies, per field group.
const (
	PolicyLastWriteWins = "last_write_wins"
	PolicyReview        = "review"
	PolicyAppend        = "append"
	PolicyWriteOnce     = "write_once"
)

// Policies lists the conflict policies a rules file may name.
var Policies = []string{PolicyLastWriteWins, PolicyReview, PolicyAppend, PolicyWriteOnce}

// Tokens with a meaning of their own in edit=, by= and owner= lists.
const (
	WhoOwner  = "owner"  // the record's owner
	WhoAuthor = "author" // the person who made the record
	WhoViewer = "viewer" // anyone who can see the record
	WhoPeople = "people" // the people on it: its owner, crew and past owners
	WhoNobody = "nobody" // set at creation, then never edited
	WhoParent = "parent" // owner=parent: items owned by their job's owner
)

// Lanes of the device sync queue.
const (
	LaneData  = "data"
	LaneMedia = "media"
)

// Rules is a complete set of sync rules. It is plain data: it travels to
// devices as JSON, and Compile must run before the engine uses it.
type Rules struct {
	Roles   []RoleRule    `json:"roles"`
	Aliases []Alias       `json:"aliases,omitempty"`
	Retry   []RetryRule   `json:"retry"`
	Limits  Limits        `json:"limits"`
	Records []*RecordRule `json:"records"`

	roles   map[string]map[string]bool // role → the roles it counts as, itself included
	aliases map[string][]string
	records map[string]*RecordRule
}

// RoleRule is a role people sign in with.
type RoleRule struct {
	Name   string   `json:"name"`
	ActsAs []string `json:"acts_as,omitempty"`
	line   int
}

// Alias names a set of roles, such as office=dispatcher,supervisor.
type Alias struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
	line  int
}

// RetryRule is a lane's retry timing: the first wait, doubled after each
// failure up to the cap.
type RetryRule struct {
	Lane  string   `json:"lane"`
	First Duration `json:"first"`
	Cap   Duration `json:"cap"`
	line  int
}

// Limits are the sizes the server enforces.
type Limits struct {
	Batch int   `json:"batch"` // operations per push
	Body  int64 `json:"body"`  // bytes per request body, photos aside
	Photo int64 `json:"photo"` // bytes per photo
	Text  int   `json:"text"`  // characters per text field
	Page  int   `json:"page"`  // records per pull page
}

// RecordRule describes one record type.
type RecordRule struct {
	Type    string       `json:"type"`
	Owner   string       `json:"owner"`
	Number  string       `json:"number,omitempty"` // prefix of server-assigned numbers, such as "J-"
	Create  []string     `json:"create,omitempty"`
	View    []string     `json:"view,omitempty"`
	Resolve []string     `json:"resolve,omitempty"`
	Parent  string       `json:"parent,omitempty"` // items: the parent record type
	Via     string       `json:"via,omitempty"`    // items: the value naming the parent
	In      string       `json:"in,omitempty"`     // items: the parent's group they are appended to
	Groups  []*GroupRule `json:"groups"`
	Machine *Machine     `json:"machine,omitempty"`
	Lock    *Lock        `json:"lock,omitempty"`
	Match   *MatchRule   `json:"match,omitempty"`
	line    int
}

// GroupRule is a field group: fields that change together under one policy.
type GroupRule struct {
	Name   string      `json:"name"`
	Policy string      `json:"policy"`
	Edit   []string    `json:"edit"`
	Fields []FieldRule `json:"fields,omitempty"`
	line   int
}

// FieldRule is one field and the type of its values.
type FieldRule struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required,omitempty"`
}

// Machine is a record's status machine.
type Machine struct {
	Field   string   `json:"field"`
	Initial string   `json:"initial"`
	States  []string `json:"states"`
	Moves   []Move   `json:"moves"`
	line    int
}

// Move is an allowed status move.
type Move struct {
	From   []string        `json:"from"`
	To     string          `json:"to"`
	By     []string        `json:"by"`
	Action contract.Action `json:"action"`           // transition, reopen or void
	Needs  string          `json:"needs,omitempty"`  // a group that must be filled first
	Clears []string        `json:"clears,omitempty"` // groups emptied by the move; their values stay in history
	line   int
}

// Lock makes a record read only in some states, except some groups.
type Lock struct {
	When   []string `json:"when"`
	Except []string `json:"except,omitempty"`
	line   int
}

// MatchRule says when a new record probably repeats an open one.
type MatchRule struct {
	Same []string `json:"same"`
	Day  string   `json:"day,omitempty"`
	line int
}

// Duration is a time.Duration written as "2s" or "5m0s" in JSON.
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

//go:embed default.rules
var defaultRulesText string

// DefaultText is the text of the embedded default rules.
func DefaultText() string { return defaultRulesText }

// DefaultRules returns a fresh compiled copy of the embedded default rules.
func Default() *Rules {
	r, err := Parse("default.rules", defaultRulesText)
	if err != nil {
		panic("contract: embedded default rules: " + err.Error())
	}
	return r
}

// Compile checks that the rules hang together and builds the indexes the
// engine uses. Rules read from JSON must be compiled before use.
func (r *Rules) Compile() error {
	return r.compile()
}

// Record returns the rule for a record type, or nil.
func (r *Rules) Record(typ string) *RecordRule { return r.records[typ] }

// RecordTypes lists the record types in rules order.
func (r *Rules) RecordTypes() []string {
	out := make([]string, 0, len(r.Records))
	for _, rr := range r.Records {
		out = append(out, rr.Type)
	}
	return out
}

// RoleNames lists the roles in rules order.
func (r *Rules) RoleNames() []string {
	out := make([]string, 0, len(r.Roles))
	for _, rr := range r.Roles {
		out = append(out, rr.Name)
	}
	return out
}

// HasRole reports whether name is a role.
func (r *Rules) HasRole(name string) bool { _, ok := r.roles[name]; return ok }

// RetryFor returns a lane's retry timing, or zero values when the lane is unknown.
func (r *Rules) RetryFor(lane string) RetryRule {
	for _, rr := range r.Retry {
		if rr.Lane == lane {
			return rr
		}
	}
	return RetryRule{Lane: lane}
}

// RoleIn reports whether someone with role counts as one of the listed roles
// or aliases. Tokens such as "owner" never match here.
func (r *Rules) RoleIn(role string, list []string) bool {
	as := r.roles[role]
	for _, tok := range list {
		if as[tok] {
			return true
		}
		for _, aliased := range r.aliases[tok] {
			if as[aliased] {
				return true
			}
		}
	}
	return false
}

// Expand turns a list of roles, aliases and tokens into plain words, for
// messages: "office" becomes "dispatcher or supervisor".
func (r *Rules) Expand(list []string) string {
	var words []string
	for _, tok := range list {
		if roles, ok := r.aliases[tok]; ok {
			words = append(words, roles...)
			continue
		}
		switch tok {
		case WhoOwner:
			words = append(words, "the owner")
		case WhoAuthor:
			words = append(words, "the author")
		case WhoViewer:
			words = append(words, "anyone who can see it")
		case WhoPeople:
			words = append(words, "the people on it")
		case WhoNobody:
			words = append(words, "nobody")
		default:
			words = append(words, tok)
		}
	}
	return OrList(words)
}

// Group returns the named group of the record type, or nil.
func (rr *RecordRule) Group(name string) *GroupRule {
	for _, g := range rr.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// GroupOf returns the group that holds field, or nil.
func (rr *RecordRule) GroupOf(field string) *GroupRule {
	for _, g := range rr.Groups {
		for _, f := range g.Fields {
			if f.Name == field {
				return g
			}
		}
	}
	return nil
}

// Field returns the rule of a field, or nil.
func (rr *RecordRule) Field(name string) *FieldRule {
	for _, g := range rr.Groups {
		for i := range g.Fields {
			if g.Fields[i].Name == name {
				return &g.Fields[i]
			}
		}
	}
	return nil
}

// FieldNames lists every field of the record type.
func (rr *RecordRule) FieldNames() []string {
	var out []string
	for _, g := range rr.Groups {
		for _, f := range g.Fields {
			out = append(out, f.Name)
		}
	}
	return out
}

// IsItem reports whether records of this type hang off a parent record.
func (rr *RecordRule) IsItem() bool { return rr.Parent != "" }

// OwnerField returns the field holding the owner's user id, or "" when the
// owner is a team, the author or the parent.
func (rr *RecordRule) OwnerField() string {
	if f := rr.Field(rr.Owner); f != nil && f.Type == TypeUser {
		return f.Name
	}
	return ""
}

// Lifecycle returns the group holding the "voided" field, or nil when the
// record type cannot be voided.
func (rr *RecordRule) Lifecycle() *GroupRule { return rr.GroupOf("voided") }

// StatusGroup returns the group of the status machine's field, or nil.
func (rr *RecordRule) StatusGroup() *GroupRule {
	if rr.Machine == nil {
		return nil
	}
	return rr.GroupOf(rr.Machine.Field)
}

// MovesFrom lists the moves an action may make from state.
func (m *Machine) MovesFrom(state string, action contract.Action) []Move {
	var out []Move
	for _, mv := range m.Moves {
		if mv.Action == action && slices.Contains(mv.From, state) {
			out = append(out, mv)
		}
	}
	return out
}

// Find returns the move from one state to another by an action.
func (m *Machine) Find(from, to string, action contract.Action) (Move, bool) {
	for _, mv := range m.Moves {
		if mv.Action == action && mv.To == to && slices.Contains(mv.From, from) {
			return mv, true
		}
	}
	return Move{}, false
}

// HasState reports whether s is one of the machine's states.
func (m *Machine) HasState(s string) bool { return slices.Contains(m.States, s) }

// Locks reports whether the lock applies in state.
func (l *Lock) Locks(state string) bool { return l != nil && slices.Contains(l.When, state) }

// Exempt reports whether group stays open under the lock.
func (l *Lock) Exempt(group string) bool { return l != nil && slices.Contains(l.Except, group) }

// OrList says a list of names as a person would: "a", "a or b", "a, b or c";
// an empty list of people is "nobody".
func OrList(words []string) string {
	switch len(words) {
	case 0:
		return "nobody"
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
