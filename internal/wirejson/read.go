package wirejson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"fieldsync/contract"
)

// RecordHead is what a store needs to file a record: its type, id, parent
// and place in the change stream, read without decoding the rest.
type RecordHead struct {
	Type     string
	ID       string
	ParentID string
	Seq      int64
}

// ReadRecordHead reads the head of one record's JSON, whatever the order of
// its keys, checking that doc is a single well-formed JSON object. Keys
// match exactly; a null value leaves its field empty, and of a key given
// twice the last value counts, as encoding/json does.
func ReadRecordHead(doc []byte) (RecordHead, error) {
	var h RecordHead
	s := scanner{b: doc}
	s.space()
	if s.peek() != '{' {
		return h, errors.New("not a JSON object")
	}
	// The value each key had last, read once the whole object is.
	keys := [...]string{"type", "id", "parent_id", "seq"}
	var toks [len(keys)][]byte
	err := s.object(func(quoted []byte) error {
		key, err := unquote(quoted)
		if err != nil {
			return err
		}
		s.space()
		start := s.i
		if err := s.value(1); err != nil {
			return err
		}
		for i, k := range keys {
			if key == k {
				toks[i] = doc[start:s.i]
			}
		}
		return nil
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return h, err
	}
	for i, dst := range [...]*string{&h.Type, &h.ID, &h.ParentID} {
		tok := toks[i]
		switch {
		case tok == nil || string(tok) == "null":
		case tok[0] != '"':
			return h, fmt.Errorf("%s %s is not a string", keys[i], tok)
		default:
			v, err := unquote(tok)
			if err != nil {
				return h, err
			}
			*dst = v
		}
	}
	if tok := toks[3]; tok != nil && string(tok) != "null" {
		n, err := strconv.ParseInt(string(tok), 10, 64)
		if err != nil {
			return h, fmt.Errorf("seq %s is not a whole number", tok)
		}
		h.Seq = n
	}
	return h, nil
}

// SplitArray returns the elements of one JSON array as slices of raw (not
// copies), checking that raw is a single well-formed array.
func SplitArray(raw []byte) ([]json.RawMessage, error) {
	s := scanner{b: raw}
	s.space()
	if s.peek() != '[' {
		return nil, errors.New("not a JSON array")
	}
	var out []json.RawMessage
	err := s.array(func() error {
		s.space()
		start := s.i
		if err := s.value(1); err != nil {
			return err
		}
		out = append(out, raw[start:s.i])
		return nil
	})
	if err == nil {
		err = s.end()
	}
	return out, err
}

// DecodePushResponse reads a push answer in one pass: the results with
// encoding/json, the copies as slices of body (not copies), each checked
// to be well-formed JSON. Keys match exactly; others are skipped.
func DecodePushResponse(body []byte) (contract.PushResponse, error) {
	var out contract.PushResponse
	s := scanner{b: body}
	s.space()
	if s.peek() != '{' {
		return out, errors.New("a push answer is not a JSON object")
	}
	err := s.object(func(quoted []byte) error {
		key, err := unquote(quoted)
		if err != nil {
			return err
		}
		s.space()
		start := s.i
		switch key {
		case "results":
			if err := s.value(1); err != nil {
				return err
			}
			out.Results = nil
			return json.Unmarshal(body[start:s.i], &out.Results)
		case "copies":
			out.Copies = nil
			if s.peek() != '[' {
				if err := s.value(1); err != nil {
					return err
				}
				if string(body[start:s.i]) != "null" {
					return fmt.Errorf("copies is %.20s, not an array", body[start:s.i])
				}
				return nil
			}
			out.Copies = []json.RawMessage{}
			return s.array(func() error {
				s.space()
				at := s.i
				if err := s.value(2); err != nil {
					return err
				}
				out.Copies = append(out.Copies, body[at:s.i])
				return nil
			})
		}
		return s.value(1)
	})
	if err == nil {
		err = s.end()
	}
	return out, err
}

// unquote returns the text of a string read by scanner.str.
func unquote(quoted []byte) (string, error) {
	inner := quoted[1 : len(quoted)-1]
	for _, c := range inner {
		if c == '\\' || c >= utf8.RuneSelf {
			var s string
			err := json.Unmarshal(quoted, &s)
			return s, err
		}
	}
	return string(inner), nil
}

// scanner walks JSON text, checking it as encoding/json does, without
// building anything.
type scanner struct {
	b []byte
	i int
}

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at byte %d: %s", s.i, fmt.Sprintf(format, args...))
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) end() error {
	s.space()
	if s.i != len(s.b) {
		return s.errorf("data after the value")
	}
	return nil
}

// value skips one value of any kind, leading space included. depth is how
// many objects and arrays hold it: like encoding/json, no more than
// maxDepth may be open at once.
func (s *scanner) value(depth int) error {
	s.space()
	switch c := s.peek(); {
	case c == '"':
		_, err := s.str()
		return err
	case (c == '{' || c == '[') && depth >= maxDepth:
		return s.errorf("nested too deeply")
	case c == '{':
		return s.objectAt(depth, func([]byte) error { return s.value(depth + 1) })
	case c == '[':
		return s.arrayAt(depth, func() error { return s.value(depth + 1) })
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == 0 && s.i >= len(s.b):
		return s.errorf("unexpected end")
	default:
		return s.errorf("unexpected %q", c)
	}
}

func (s *scanner) object(member func(key []byte) error) error {
	return s.objectAt(0, member)
}

// objectAt reads an object; member reads the value after each key.
func (s *scanner) objectAt(depth int, member func(key []byte) error) error {
	s.i++ // {
	s.space()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		s.space()
		if s.peek() != '"' {
			return s.errorf("want a key")
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		s.space()
		if s.peek() != ':' {
			return s.errorf("want ':' after a key")
		}
		s.i++
		if err := member(key); err != nil {
			return err
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errorf("want ',' or '}' in an object")
		}
	}
}

func (s *scanner) array(elem func() error) error { return s.arrayAt(0, elem) }

func (s *scanner) arrayAt(depth int, elem func() error) error {
	s.i++ // [
	s.space()
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.errorf("want ',' or ']' in an array")
		}
	}
}

// str reads a string and returns it with its quotes, still escaped.
func (s *scanner) str() ([]byte, error) {
	start := s.i
	s.i++ // "
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start:s.i], nil
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return nil, s.errorf("unfinished escape")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return nil, s.errorf("unfinished \\u escape")
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return nil, s.errorf("bad \\u escape")
					}
				}
				s.i += 6
			default:
				return nil, s.errorf("bad escape")
			}
		case c < 0x20:
			return nil, s.errorf("control character in a string")
		case c < utf8.RuneSelf:
			s.i++
		default:
			s.i++ // encoding/json takes any bytes here, replacing bad UTF-8 on decode
		}
	}
	return nil, s.errorf("unfinished string")
}

// number reads a number in JSON's grammar.
func (s *scanner) number() error {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.peek() == '-' {
		s.i++
	}
	switch {
	case s.peek() == '0':
		s.i++
	case '1' <= s.peek() && s.peek() <= '9':
		digits()
	default:
		return s.errorf("bad number")
	}
	if s.peek() == '.' {
		s.i++
		if digits() == 0 {
			return s.errorf("bad number")
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if digits() == 0 {
			return s.errorf("bad number")
		}
	}
	return nil
}

func (s *scanner) literal(word string) error {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.errorf("bad literal")
	}
	s.i += len(word)
	return nil
}

// DecodePushRequest reads a push request in one pass, without reflection,
// when it has the shape devices send: each operation's members once, each
// of the type its field wants, no nulls. ok is false for anything else, and
// then the caller decodes body with encoding/json, whose answer (and error)
// is the one that counts. Where ok is true, the request equals what
// encoding/json with DisallowUnknownFields makes of body.
func DecodePushRequest(body []byte) (req contract.PushRequest, ok bool) {
	s := scanner{b: body}
	s.space()
	if s.peek() != '{' {
		return req, false
	}
	seen := false
	err := s.object(func(quoted []byte) error {
		if string(quoted) != `"ops"` || seen {
			return errFallBack
		}
		seen = true
		s.space()
		if s.peek() != '[' {
			return errFallBack
		}
		req.Ops = []contract.Operation{}
		return s.array(func() error {
			s.space()
			if s.peek() != '{' {
				return errFallBack
			}
			var op contract.Operation
			if err := s.operation(&op); err != nil {
				return err
			}
			req.Ops = append(req.Ops, op)
			return nil
		})
	})
	if err != nil || s.end() != nil || !seen {
		return contract.PushRequest{}, false
	}
	return req, true
}

// errFallBack stops the fast path of DecodePushRequest.
var errFallBack = errors.New("not the usual shape")

// operation reads one operation object for DecodePushRequest.
func (s *scanner) operation(op *contract.Operation) error {
	var seen uint8
	return s.object(func(quoted []byte) error {
		var bit uint8
		var dst *string
		switch string(quoted) {
		case `"id"`:
			bit, dst = 1, &op.ID
		case `"record_type"`:
			bit, dst = 2, &op.RecordType
		case `"record_id"`:
			bit, dst = 4, &op.RecordID
		case `"action"`:
			bit, dst = 8, (*string)(&op.Action)
		case `"device_id"`:
			bit, dst = 16, &op.DeviceID
		case `"bases"`:
			bit = 32
		case `"values"`:
			bit = 64
		case `"device_time"`:
			bit = 128
		default:
			return errFallBack // unknown, escaped or differently cased: encoding/json decides
		}
		if seen&bit != 0 {
			return errFallBack // a repeated member: encoding/json decides
		}
		seen |= bit
		s.space()
		switch {
		case dst != nil:
			if s.peek() != '"' {
				return errFallBack
			}
			q, err := s.str()
			if err != nil {
				return err
			}
			if *dst, err = unquote(q); err != nil {
				return err
			}
			return nil
		case bit == 128:
			if s.peek() != '"' {
				return errFallBack
			}
			q, err := s.str()
			if err != nil {
				return err
			}
			return op.DeviceTime.UnmarshalJSON(q)
		case bit == 32:
			if s.peek() != '{' {
				return errFallBack
			}
			op.Bases = map[string]int64{}
			return s.object(func(key []byte) error {
				k, err := unquote(key)
				if err != nil {
					return err
				}
				s.space()
				start := s.i
				if err := s.number(); err != nil {
					return err
				}
				n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
				if err != nil {
					return errFallBack // not a whole number that fits: encoding/json says why
				}
				op.Bases[k] = n
				return nil
			})
		default: // values
			if s.peek() != '{' {
				return errFallBack
			}
			op.Values = map[string]json.RawMessage{}
			return s.object(func(key []byte) error {
				k, err := unquote(key)
				if err != nil {
					return err
				}
				s.space()
				start := s.i
				// Four levels hold the value: the request, ops, the
				// operation and values.
				if err := s.value(4); err != nil {
					return err
				}
				// A copy, as encoding/json makes: nothing kept from an
				// operation holds on to the whole request.
				op.Values[k] = json.RawMessage(bytes.Clone(s.b[start:s.i]))
				return nil
			})
		}
	})
}
