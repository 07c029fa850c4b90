package ui

import (
	"encoding/json"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

// valueWords says a stored value the way a person reads it: names for
// people and customers, job numbers, local times, states in words.
func (u *UI) valueWords(typ, field string, raw json.RawMessage) string {
	if contract.IsNull(raw) {
		return "—"
	}
	var f *rulebook.FieldRule
	if rr := u.core.Rules().Record(typ); rr != nil {
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
						names = append(names, u.personName(id))
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
		return u.personName(s)
	case rulebook.TypeTime:
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.Local().Format("2 Jan 2006 15:04")
		}
	case rulebook.TypeState:
		return words(s)
	case "customer":
		if cs, err := u.core.Customers(); err == nil {
			for _, c := range cs {
				if c.ID == s {
					return c.Text("name")
				}
			}
		}
		return "a customer"
	case "job":
		if d, err := u.core.Job(s); err == nil {
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
func (u *UI) personName(id string) string {
	for _, p := range u.core.Users() {
		if p.ID == id {
			return p.Name
		}
	}
	return "someone"
}
