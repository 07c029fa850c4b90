package contract

import (
	"encoding/json"
	"testing"
)

func TestValidUUID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // empty: not a UUID
	}{
		{"a lower-case UUID", "10000000-0000-4000-8000-000000000001", "10000000-0000-4000-8000-000000000001"},
		{"an upper-case UUID reads in lower case", "ABCDEF00-0000-4000-8000-00000000000F", "abcdef00-0000-4000-8000-00000000000f"},
		{"the nil UUID", "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"},
		{"an empty string", "", ""},
		{"a relative path", "../../etc/passwd", ""},
		{"a path padded to the length of a UUID", "../../../../../../../../etc/passwd00", ""},
		{"a path in the shape of a UUID", "10000000-0000-4000-8000-/../../etc/p", ""},
		{"a Windows path in the shape of a UUID", `10000000-0000-4000-8000-..\..\..\..`, ""},
		{"an escaped path", "%2e%2e%2f%2e%2e%2f-0000-4000-8000-0000", ""},
		{"a UUID without dashes", "10000000000040008000000000000001", ""},
		{"a UUID in braces", "{10000000-0000-4000-8000-000000000001}", ""},
		{"a UUID as a URN", "urn:uuid:10000000-0000-4000-8000-000000000001", ""},
		{"dashes in the wrong places", "1000000-00000-4000-8000-000000000001", ""},
		{"a letter past f", "g0000000-0000-4000-8000-000000000001", ""},
		{"a trailing newline", "10000000-0000-4000-8000-00000000001\n", ""},
		{"a NUL byte", "10000000-0000-4000-8000-00000000000\x00", ""},
		{"a space", "10000000-0000-4000-8000-00000000000 ", ""},
		{"full-width digits", "１0000000-0000-4000-8000-0000000001", ""},
		{"one character too long", "10000000-0000-4000-8000-0000000000011", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ValidUUID(tt.in)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("ValidUUID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.want != "")
			}
		})
	}
}

func TestNullAndSame(t *testing.T) {
	tests := []struct {
		name string
		a, b json.RawMessage
		same bool
	}{
		{"absent and null are the same", nil, Null, true},
		{"null with spaces is null", json.RawMessage(" null "), nil, true},
		{"equal bytes are the same", Text("a"), Text("a"), true},
		{"a value is not null", Text("a"), Null, false},
		{"an empty string is not null", Text(""), nil, false},
		{"zero is not null", Int(0), nil, false},
		{"false is not null", Bool(false), nil, false},
		{"different values differ", Int(1), Int(2), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Same(tt.a, tt.b); got != tt.same {
				t.Errorf("Same(%s, %s) = %v", tt.a, tt.b, got)
			}
			if got := Same(tt.b, tt.a); got != tt.same {
				t.Errorf("Same(%s, %s) = %v", tt.b, tt.a, got)
			}
		})
	}
}
