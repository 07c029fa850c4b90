package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
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
// match exactly; a null value leaves its field empty, as encoding/json does.
func ReadRecordHead(doc []byte) (RecordHead, error) {
	var h RecordHead
	s := scanner{b: doc}
	s.space()
	if s.peek() != '{' {
		return h, errors.New("not a JSON object")
	}
	err := s.object(func(quoted []byte) error {
		key, err := unquote(quoted)
		if err != nil {
			return err
		}
		var dst *string
		switch key {
		case "type":
			dst = &h.Type
		case "id":
			dst = &h.ID
		case "parent_id":
			dst = &h.ParentID
		case "seq":
			s.space()
			start := s.i
			if err := s.value(0); err != nil {
				return err
			}
			tok := doc[start:s.i]
			if string(tok) == "null" {
				return nil
			}
			n, err := strconv.ParseInt(string(tok), 10, 64)
			if err != nil {
				return fmt.Errorf("seq %s is not a whole number", tok)
			}
			h.Seq = n
			return nil
		default:
			return s.value(0)
		}
		s.space()
		start := s.i
		if err := s.value(0); err != nil {
			return err
		}
		tok := doc[start:s.i]
		switch {
		case string(tok) == "null":
		case tok[0] != '"':
			return fmt.Errorf("%s %s is not a string", key, tok)
		default:
			v, err := unquote(tok)
			if err != nil {
				return err
			}
			*dst = v
		}
		return nil
	})
	if err == nil {
		err = s.end()
	}
	return h, err
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
		if err := s.value(0); err != nil {
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
func DecodePushResponse(body []byte) (PushResponse, error) {
	var out PushResponse
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
			if err := s.value(0); err != nil {
				return err
			}
			out.Results = nil
			return json.Unmarshal(body[start:s.i], &out.Results)
		case "copies":
			out.Copies = nil
			if s.peek() != '[' {
				if err := s.value(0); err != nil {
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
				if err := s.value(0); err != nil {
					return err
				}
				out.Copies = append(out.Copies, body[at:s.i])
				return nil
			})
		}
		return s.value(0)
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

// value skips one value of any kind, leading space included.
func (s *scanner) value(depth int) error {
	s.space()
	if depth > maxDepth {
		return s.errorf("nested too deeply")
	}
	switch c := s.peek(); {
	case c == '"':
		_, err := s.str()
		return err
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
