package wirejson

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"fieldsync/contract"
)

// MarshalRecord encodes r exactly as json.Marshal does, several times
// faster for the plain text records are made of. The server stores every
// record it writes, so this sits on the push path.
func MarshalRecord(r *contract.Record) ([]byte, error) {
	if b, ok := appendRecord(make([]byte, 0, 1024), r); ok {
		return b, nil
	}
	return json.Marshal(r)
}

// appendRecord appends r's JSON, or reports false for anything it does not
// encode exactly like encoding/json (characters that need escaping, values
// that are not compact, times outside years 0-9999).
func appendRecord(b []byte, r *contract.Record) ([]byte, bool) {
	ok := true
	str := func(key, s string, omitEmpty bool) {
		if omitEmpty && s == "" {
			return
		}
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, '"', ':')
		b, ok = appendString(b, s, ok)
	}
	tm := func(key string, t time.Time) {
		if y := t.Year(); y < 0 || y > 9999 {
			ok = false
			return
		}
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, `":"`...)
		b = t.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	strs := func(key string, list []string) {
		if len(list) == 0 {
			return
		}
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, `":[`...)
		for i, s := range list {
			if i > 0 {
				b = append(b, ',')
			}
			b, ok = appendString(b, s, ok)
		}
		b = append(b, ']')
	}
	flag := func(key string, v bool) {
		if v {
			b = append(b, ',', '"')
			b = append(b, key...)
			b = append(b, `":true`...)
		}
	}

	b = append(b, `{"type":`...)
	b, ok = appendString(b, r.Type, ok)
	str("id", r.ID, false)
	str("number", r.Number, true)
	str("parent_id", r.ParentID, true)
	b = append(b, `,"fields":`...)
	if r.Fields == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		var kb [24]string
		for i, k := range keysInOrder(kb[:0], r.Fields) {
			if i > 0 {
				b = append(b, ',')
			}
			b, ok = appendString(b, k, ok)
			b = append(b, ':')
			v := r.Fields[k]
			if !plainJSON(v) {
				return nil, false
			}
			b = append(b, v...)
		}
		b = append(b, '}')
	}
	b = append(b, `,"versions":`...)
	if r.Versions == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		var kb [24]string
		for i, k := range keysInOrder(kb[:0], r.Versions) {
			if i > 0 {
				b = append(b, ',')
			}
			b, ok = appendString(b, k, ok)
			b = append(b, ':')
			b = strconv.AppendInt(b, r.Versions[k], 10)
		}
		b = append(b, '}')
	}
	str("owner", r.Owner, true)
	str("owner_name", r.OwnerName, true)
	str("author", r.Author, false)
	str("author_name", r.AuthorName, true)
	str("device_id", r.DeviceID, false)
	tm("device_time", r.DeviceTime)
	strs("past_owners", r.PastOwners)
	if len(r.Streaks) > 0 {
		b = append(b, `,"streaks":{`...)
		var kb [24]string
		for i, k := range keysInOrder(kb[:0], r.Streaks) {
			if i > 0 {
				b = append(b, ',')
			}
			b, ok = appendString(b, k, ok)
			b = append(b, `:{"device_id":`...)
			b, ok = appendString(b, r.Streaks[k].DeviceID, ok)
			b = append(b, `,"base":`...)
			b = strconv.AppendInt(b, r.Streaks[k].Base, 10)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	strs("open_reviews", r.OpenReviews)
	str("duplicate_of", r.DuplicateOf, true)
	flag("after_signoff", r.AfterSignoff)
	flag("content_ready", r.ContentReady)
	tm("created_at", r.CreatedAt)
	tm("updated_at", r.UpdatedAt)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, r.Seq, 10)
	b = append(b, '}')
	return b, ok
}

// MarshalResult encodes r exactly as json.Marshal does, faster for the
// common results; the server stores one per operation and sends it back.
func MarshalResult(r *contract.Result) ([]byte, error) {
	if b, ok := appendResult(make([]byte, 0, 256), r); ok {
		return b, nil
	}
	return json.Marshal(r)
}

func appendResult(b []byte, r *contract.Result) ([]byte, bool) {
	if r.Server != nil {
		return nil, false
	}
	ok := true
	str := func(key, s string) {
		if s == "" {
			return
		}
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, '"', ':')
		b, ok = appendString(b, s, ok)
	}
	b = append(b, `{"op_id":`...)
	b, ok = appendString(b, r.OpID, ok)
	b = append(b, `,"outcome":`...)
	b, ok = appendString(b, string(r.Outcome), ok)
	str("record_type", r.RecordType)
	str("record_id", r.RecordID)
	if len(r.Versions) > 0 {
		b = append(b, `,"versions":{`...)
		var kb [24]string
		for i, k := range keysInOrder(kb[:0], r.Versions) {
			if i > 0 {
				b = append(b, ',')
			}
			b, ok = appendString(b, k, ok)
			b = append(b, ':')
			b = strconv.AppendInt(b, r.Versions[k], 10)
		}
		b = append(b, '}')
	}
	str("number", r.Number)
	str("notice", r.Notice)
	str("review_id", r.ReviewID)
	str("code", string(r.Code))
	str("message", r.Message)
	if r.Retry {
		b = append(b, `,"retry":true`...)
	}
	if r.First != nil {
		b = append(b, `,"first":`...)
		var fok bool
		if b, fok = appendResult(b, r.First); !fok {
			return nil, false
		}
	}
	b = append(b, '}')
	return b, ok
}

// appendString quotes s when it needs no escaping beyond what any encoder
// agrees on; otherwise it reports false.
func appendString(b []byte, s string, ok bool) ([]byte, bool) {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			return b, false
		}
	}
	b = append(b, s...)
	return append(b, '"'), ok
}

// plainJSON reports whether v is compact JSON that encoding/json would
// copy unchanged: canonical values made by Canonical always are.
func plainJSON(v json.RawMessage) bool {
	if len(v) == 0 {
		return false
	}
	inString := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&':
			return false // HTML escaping and U+2028/U+2029 are encoding/json's business
		case inString && c == '\\':
			i++ // an escape sequence: both characters stay as they are
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return json.Valid(v)
}

// keysInOrder appends m's keys to dst in ascending order, as encoding/json
// writes them. Records have a handful of keys: an insertion sort into a
// buffer on the caller's stack costs less than a sorted new slice.
func keysInOrder[V any](dst []string, m map[string]V) []string {
	for k := range m {
		i := len(dst)
		dst = append(dst, k)
		for i > 0 && dst[i-1] > k {
			dst[i] = dst[i-1]
			i--
		}
		dst[i] = k
	}
	return dst
}
