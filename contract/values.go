package contract

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// Null is the JSON null: an unset field.
var Null = json.RawMessage("null")

// InvoiceLine is one line of an invoice.
type InvoiceLine struct {
	Description string `json:"description"`
	Quantity    int64  `json:"quantity"`
	UnitCents   int64  `json:"unit_cents"`
}

// ValidUUID reports whether s is a UUID in its canonical 8-4-4-4-12 form and
// returns it in lower case. Anything else, including path tricks such as
// "../x", is rejected.
func ValidUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	upper := false
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			if 'A' <= c && c <= 'F' {
				upper = true
			} else if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return "", false
			}
		}
	}
	if upper {
		return strings.ToLower(s), true
	}
	return s, true
}

// IsNull reports whether a raw value is absent or JSON null.
func IsNull(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || bytes.Equal(v, Null)
}

// Same reports whether two canonical values are equal, treating absent as null.
func Same(a, b json.RawMessage) bool {
	if IsNull(a) || IsNull(b) {
		return IsNull(a) && IsNull(b)
	}
	return bytes.Equal(a, b)
}

// Text returns the JSON of a string.
func Text(s string) json.RawMessage { b, _ := json.Marshal(s); return b }

// Int returns the JSON of a whole number.
func Int(n int64) json.RawMessage { b, _ := json.Marshal(n); return b }

// Bool returns the JSON of a boolean.
func Bool(v bool) json.RawMessage { b, _ := json.Marshal(v); return b }

// Time returns the canonical JSON of a time.
func Time(t time.Time) json.RawMessage { return Text(t.UTC().Format(time.RFC3339Nano)) }
