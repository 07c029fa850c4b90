package app

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

// ValueWords says a stored value of a field the way a person reads it:
// names for people and customers, job numbers, local times, states in
// words.
func (a *App) ValueWords(typ, field string, raw json.RawMessage) string {
	if contract.IsNull(raw) {
		return "—"
	}
	var f *rulebook.FieldRule
	if rr := a.currentRules().Record(typ); rr != nil {
		f = rr.Field(field)
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		var v any
		if json.Unmarshal(raw, &v) == nil {
			switch x := v.(type) {
			case bool:
				if x {
					return "yes"
				}
				return "no"
			case []any:
				var names []string
				for _, e := range x {
					if id, ok := e.(string); ok {
						names = append(names, a.personName(id))
					}
				}
				return strings.Join(names, ", ")
			}
		}
		return strings.Trim(string(raw), `"`)
	}
	if f == nil {
		return words(s)
	}
	switch f.Type {
	case rulebook.TypeUser:
		return a.personName(s)
	case rulebook.TypeTime:
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.Local().Format("2 Jan 2006 15:04")
		}
	case rulebook.TypeState:
		return words(s)
	case "customer":
		if _, name := a.RecordName(s); name != "" {
			return name
		}
		return "a customer"
	case "job":
		if d, err := a.Job(s); err == nil {
			return d.Label()
		}
		return "another job"
	case "photo":
		return "a photo"
	}
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// personName is a user's name, or "someone" when the device does not know them.
func (a *App) personName(id string) string {
	if u, ok := a.user(id); ok {
		return u.Name
	}
	return "someone"
}

// ValueField is one input of the form with which a person deciding a
// review types the value to keep.
type ValueField struct {
	Field string
	// Choices is what a pick list offers (states, people); nil means the
	// value is typed as text.
	Choices []Choice
	// Shown is what the input shows first: the server's value, as the
	// label of its choice or as text.
	Shown string
}

// Choice is one entry of a pick list: what it says, and the value it sets.
type Choice struct {
	Label string
	Value string
}

// ValueFields are the inputs for typing a value to settle a review item:
// one per field of its group, by name, each showing the server's value.
func (a *App) ValueFields(rv Review) []ValueField {
	rr := a.currentRules().Record(rv.RecordType)
	var out []ValueField
	for _, name := range slices.Sorted(maps.Keys(rv.Server.Values)) {
		raw := rv.Server.Values[name]
		vf := ValueField{Field: name, Shown: shortJSON(raw)}
		var f *rulebook.FieldRule
		if rr != nil {
			f = rr.Field(name)
		}
		switch {
		case f != nil && f.Type == rulebook.TypeState && rr.Machine != nil:
			for _, st := range rr.Machine.States {
				vf.Choices = append(vf.Choices, Choice{Label: words(st), Value: st})
			}
			vf.Shown = a.ValueWords(rv.RecordType, name, raw)
		case f != nil && f.Type == rulebook.TypeUser:
			for _, u := range a.Users() {
				vf.Choices = append(vf.Choices, Choice{Label: u.Name, Value: u.ID})
			}
			vf.Shown = a.ValueWords(rv.RecordType, name, raw)
		}
		out = append(out, vf)
	}
	return out
}

// shortJSON is a raw value as short text to type over.
func shortJSON(b []byte) string {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		return "—"
	}
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}
