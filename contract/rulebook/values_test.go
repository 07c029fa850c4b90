package rulebook

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// photoSum is the SHA-256 of "test".
const photoSum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestCanonical(t *testing.T) {
	lim := Limits{Batch: 1, Body: 1, Photo: 1, Text: 5, Page: 1}
	machine := Default().Record("job").Machine
	field := func(typ string) *FieldRule { return &FieldRule{Name: "f", Type: typ} }
	tests := []struct {
		name string
		typ  string
		raw  string
		want string // canonical form; empty when the value is refused
		says string // refused: a phrase of the error
	}{
		{"null clears any field", TypeText, "null", "null", ""},
		{"null with spaces clears a field", TypeCount, "  null\n", "null", ""},
		{"an empty value clears a field", TypeTime, "", "null", ""},

		{"text is kept", TypeText, `"Mill"`, `"Mill"`, ""},
		{"text in escapes reads the same as plain text", TypeText, `"\u004d\u00e9"`, `"Mé"`, ""},
		{"text around spaces is trimmed of them", TypeText, ` "Mill" `, `"Mill"`, ""},
		{"text at the limit is kept", TypeText, `"ééééé"`, `"ééééé"`, ""},
		{"text over the limit is refused", TypeText, `"éééééé"`, "", "field f: 6 characters; the limit is 5"},
		{"a number is not text", TypeText, `7`, "", "field f: want text, got 7"},
		{"a list is not text", TypeText, `["a"]`, "", `want text, got ["a"]`},

		{"a whole number is kept", TypeInt, `42`, `42`, ""},
		{"a negative int is kept", TypeInt, `-3`, `-3`, ""},
		{"an exponent that makes a whole number reads as one", TypeInt, `1e3`, `1000`, ""},
		{"a whole number with a point reads as one", TypeInt, `2.0`, `2`, ""},
		{"a large whole number keeps every digit", TypeInt, `9007199254740993`, `9007199254740993`, ""},
		{"a fraction is refused", TypeInt, `1.5`, "", "field f: want a whole number, got 1.5"},
		{"a number too large is refused", TypeInt, `1e300`, "", "want a whole number"},
		{"a number in quotes is refused", TypeInt, `"42"`, "", `want a whole number, got "42"`},
		{"a number followed by another is refused", TypeInt, `1 2`, "", "want a whole number"},
		{"a number followed by junk is refused", TypeCount, `1]`, "", "want a whole number"},
		{"a count of zero is kept", TypeCount, `0`, `0`, ""},
		{"a negative count is refused", TypeCount, `-1`, "", "field f: want zero or more, got -1"},

		{"true is kept", TypeBool, `true`, `true`, ""},
		{"false is kept", TypeBool, `false`, `false`, ""},
		{"true in quotes is refused", TypeBool, `"true"`, "", "want true or false"},
		{"one is not true", TypeBool, `1`, "", "want true or false"},

		{"a time is kept in UTC", TypeTime, `"2026-11-24T09:30:00Z"`, `"2026-11-24T09:30:00Z"`, ""},
		{"a time with an offset moves to UTC", TypeTime, `"2026-11-24T09:30:00+02:00"`, `"2026-11-24T07:30:00Z"`, ""},
		{"a time keeps its fraction without trailing zeros", TypeTime, `"2026-11-24T09:30:00.500Z"`, `"2026-11-24T09:30:00.5Z"`, ""},
		{"a date alone is refused", TypeTime, `"2026-11-24"`, "", "field f: want a time such as 2026-11-24T09:30:00Z"},
		{"a time without a zone is refused", TypeTime, `"2026-11-24T09:30:00"`, "", "want a time"},
		{"a number is not a time", TypeTime, `1764000000`, "", "want a time"},

		{"a user id is kept in lower case", TypeUser, `"A0000000-0000-4000-8000-00000000000F"`, `"a0000000-0000-4000-8000-00000000000f"`, ""},
		{"a user id that is a path is refused", TypeUser, `"../../etc/passwd"`, "", `field f: "../../etc/passwd" is not a UUID`},
		{"a number is not a user id", TypeUser, `5`, "", "want an id, got 5"},
		{"a list of users is sorted, without repeats, in lower case", TypeUsers,
			`["a0000000-0000-4000-8000-000000000002","A0000000-0000-4000-8000-000000000001","a0000000-0000-4000-8000-000000000002"]`,
			`["a0000000-0000-4000-8000-000000000001","a0000000-0000-4000-8000-000000000002"]`, ""},
		{"an empty list of users is kept", TypeUsers, `[]`, `[]`, ""},
		{"a list with something that is not a user id is refused", TypeUsers, `["a0000000-0000-4000-8000-000000000001","x"]`, "", `field f: "x" is not a user id`},
		{"a list with a null is refused", TypeUsers, `[null]`, "", `"" is not a user id`},
		{"a single id is not a list of users", TypeUsers, `"a0000000-0000-4000-8000-000000000001"`, "", "want a list of user ids"},

		{"a checksum is kept in lower case", TypeSHA256, `"` + strings.ToUpper(photoSum) + `"`, `"` + photoSum + `"`, ""},
		{"a short checksum is refused", TypeSHA256, `"` + photoSum[1:] + `"`, "", "field f: want 64 hex digits"},
		{"a checksum with a letter that is not hex is refused", TypeSHA256, `"` + photoSum[:30] + "g" + photoSum[31:] + `"`, "", "want 64 hex digits"},
		{"a checksum with a space inside is refused", TypeSHA256, `"` + photoSum[:30] + " " + photoSum[31:] + `"`, "", "want 64 hex digits"},

		{"invoice lines are written in one order", TypeLines, `[{"unit_cents":1500,"quantity":2,"description":"Valve"}]`,
			`[{"description":"Valve","quantity":2,"unit_cents":1500}]`, ""},
		{"missing parts of a line are zero", TypeLines, `[{"description":"Fee"}]`,
			`[{"description":"Fee","quantity":0,"unit_cents":0}]`, ""},
		{"a discount line may be negative", TypeLines, `[{"description":"Off","quantity":1,"unit_cents":-500}]`,
			`[{"description":"Off","quantity":1,"unit_cents":-500}]`, ""},
		{"no lines is an empty list", TypeLines, `[]`, `[]`, ""},
		{"a line with a setting lines do not have is refused", TypeLines, `[{"description":"Valve","tax":20}]`, "", "want a list of"},
		{"a line with a negative quantity is refused", TypeLines, `[{"description":"a"},{"description":"b","quantity":-1}]`, "",
			"field f: line 2 has a negative quantity"},
		{"a line with a long description is refused", TypeLines, `[{"description":"abcdef"}]`, "", "line 1's description is over 5 characters"},
		{"a line with a fractional quantity is refused", TypeLines, `[{"description":"a","quantity":1.5}]`, "", "want a list of"},
		{"lines followed by more lines are refused", TypeLines, `[] [{"description":"x"}]`, "", "want a list of"},

		{"a state of the machine is kept", TypeState, `"in_progress"`, `"in_progress"`, ""},
		{"a state the machine does not have is refused", TypeState, `"done"`, "", `field f: "done" is not a state; want one of assigned, opened, in_progress`},
		{"a number is not a state", TypeState, `3`, "", "want a state name"},

		{"a reference to a record is kept in lower case", "customer", `"20000000-0000-4000-8000-00000000000A"`, `"20000000-0000-4000-8000-00000000000a"`, ""},
		{"a reference that is a path is refused", "customer", `"..\\..\\windows"`, "", `is not a UUID`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonical(field(tt.typ), json.RawMessage(tt.raw), machine, lim)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Canonical(%s %s) = %s, want an error saying %q", tt.typ, tt.raw, got, tt.says)
				}
				if !strings.Contains(err.Error(), tt.says) {
					t.Errorf("error %q does not say %q", err, tt.says)
				}
				return
			}
			if err != nil {
				t.Fatalf("Canonical(%s %s): %v", tt.typ, tt.raw, err)
			}
			if string(got) != tt.want {
				t.Errorf("Canonical(%s %s) = %s, want %s", tt.typ, tt.raw, got, tt.want)
			}
			// Canonical forms are fixed points.
			again, err := Canonical(field(tt.typ), got, machine, lim)
			if err != nil || string(again) != string(got) {
				t.Errorf("Canonical of the canonical form %s = %s, %v", got, again, err)
			}
		})
	}
	t.Run("a state needs a machine", func(t *testing.T) {
		if _, err := Canonical(field(TypeState), json.RawMessage(`"opened"`), nil, lim); err == nil {
			t.Errorf("a state was taken without a machine")
		}
	})
	t.Run("a long value is clipped on a whole character", func(t *testing.T) {
		_, err := Canonical(field(TypeInt), json.RawMessage(`"`+strings.Repeat("é", 60)+`"`), nil, lim)
		if err == nil || !utf8.ValidString(err.Error()) {
			t.Errorf("error %q, want it in valid UTF-8", err)
		}
	})
	t.Run("a long value is shown clipped in the error", func(t *testing.T) {
		_, err := Canonical(field(TypeInt), json.RawMessage(`"`+strings.Repeat("9", 200)+`"`), nil, lim)
		if err == nil || len(err.Error()) > 100 || !strings.Contains(err.Error(), "…") {
			t.Errorf("error %q, want it clipped", err)
		}
	})
}
