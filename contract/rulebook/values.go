package rulebook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"fieldsync/contract"
)

// Value types a field can have. A field may also name a record type, such as
// customer: its value is the UUID of a record of that type.
const (
	TypeText   = "text"   // a string
	TypeInt    = "int"    // a whole number
	TypeCount  = "count"  // a whole number, zero or more
	TypeBool   = "bool"   // true or false
	TypeTime   = "time"   // an RFC 3339 time
	TypeUser   = "user"   // a user's id
	TypeUsers  = "users"  // a list of user ids
	TypeSHA256 = "sha256" // 64 hex digits
	TypeLines  = "lines"  // invoice lines
	TypeState  = "state"  // one of the record's status machine states
)

// ValueTypes lists the built-in value types.
var ValueTypes = []string{TypeText, TypeInt, TypeCount, TypeBool, TypeTime, TypeUser, TypeUsers,
	TypeSHA256, TypeLines, TypeState}

// Canonical checks raw against a field's type and returns it in canonical
// form, so that equal values have equal bytes. machine is the record's status
// machine, for state fields. Null clears a field.
func Canonical(f *FieldRule, raw json.RawMessage, machine *Machine, lim Limits) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if contract.IsNull(raw) {
		return contract.Null, nil
	}
	want := func(what string) error {
		return fmt.Errorf("field %s: want %s, got %s", f.Name, what, preview(raw))
	}
	switch f.Type {
	case TypeText:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, want("text")
		}
		if n := utf8.RuneCountInString(s); n > lim.Text {
			return nil, fmt.Errorf("field %s: %d characters; the limit is %d", f.Name, n, lim.Text)
		}
		return json.Marshal(s)
	case TypeInt, TypeCount:
		n, ok := wholeNumber(raw)
		if !ok {
			return nil, want("a whole number")
		}
		if f.Type == TypeCount && n < 0 {
			return nil, fmt.Errorf("field %s: want zero or more, got %d", f.Name, n)
		}
		return json.Marshal(n)
	case TypeBool:
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return nil, want("true or false")
		}
		return json.Marshal(b)
	case TypeTime:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, want("a time such as 2026-11-24T09:30:00Z")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, want("a time such as 2026-11-24T09:30:00Z")
		}
		return json.Marshal(t.UTC().Format(time.RFC3339Nano))
	case TypeUser:
		return canonicalID(f, raw, want)
	case TypeUsers:
		var ids []string
		if json.Unmarshal(raw, &ids) != nil {
			return nil, want("a list of user ids")
		}
		out := make([]string, 0, len(ids))
		for _, id := range ids {
			u, ok := contract.ValidUUID(id)
			if !ok {
				return nil, fmt.Errorf("field %s: %q is not a user id", f.Name, id)
			}
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
		slices.Sort(out)
		return json.Marshal(out)
	case TypeSHA256:
		var s string
		if json.Unmarshal(raw, &s) != nil || len(s) != 64 || strings.Trim(strings.ToLower(s), "0123456789abcdef") != "" {
			return nil, want("64 hex digits")
		}
		return json.Marshal(strings.ToLower(s))
	case TypeLines:
		var lines []contract.InvoiceLine
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if dec.Decode(&lines) != nil || dec.InputOffset() != int64(len(raw)) {
			return nil, want(`a list of {"description", "quantity", "unit_cents"}`)
		}
		for i, l := range lines {
			if l.Quantity < 0 {
				return nil, fmt.Errorf("field %s: line %d has a negative quantity", f.Name, i+1)
			}
			if utf8.RuneCountInString(l.Description) > lim.Text {
				return nil, fmt.Errorf("field %s: line %d's description is over %d characters", f.Name, i+1, lim.Text)
			}
		}
		if lines == nil {
			lines = []contract.InvoiceLine{}
		}
		return json.Marshal(lines)
	case TypeState:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, want("a state name")
		}
		if machine == nil || !machine.HasState(s) {
			states := ""
			if machine != nil {
				states = strings.Join(machine.States, ", ")
			}
			return nil, fmt.Errorf("field %s: %q is not a state; want one of %s", f.Name, s, states)
		}
		return json.Marshal(s)
	default: // a reference to a record type
		return canonicalID(f, raw, want)
	}
}

func canonicalID(f *FieldRule, raw json.RawMessage, want func(string) error) (json.RawMessage, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, want("an id")
	}
	id, ok := contract.ValidUUID(s)
	if !ok {
		return nil, fmt.Errorf("field %s: %q is not a UUID", f.Name, s)
	}
	return json.Marshal(id)
}

func wholeNumber(raw json.RawMessage) (int64, bool) {
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	// A number in quotes, or anything after the number, is not a number.
	if len(raw) == 0 || raw[0] == '"' || dec.Decode(&n) != nil || dec.InputOffset() != int64(len(raw)) {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	fl, err := n.Float64()
	if err != nil || fl != math.Trunc(fl) || math.Abs(fl) > 1<<53 {
		return 0, false
	}
	return int64(fl), true
}

func preview(raw json.RawMessage) string {
	const max = 40
	if len(raw) > max {
		return strings.ToValidUTF8(string(raw[:max]), "") + "…" // no half characters
	}
	return string(raw)
}
