package wirejson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"fieldsync/contract"
)

// referenceHead reads a record head the slow way: encoding/json, exact keys.
func referenceHead(doc []byte) (RecordHead, bool) {
	var h RecordHead
	if !json.Valid(doc) || !bytes.HasPrefix(bytes.TrimLeft(doc, " \t\r\n"), []byte("{")) {
		return h, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(doc, &m) != nil {
		return h, false
	}
	for key, dst := range map[string]*string{"type": &h.Type, "id": &h.ID, "parent_id": &h.ParentID} {
		if v, ok := m[key]; ok && json.Unmarshal(v, dst) != nil {
			return h, false
		}
	}
	if v, ok := m["seq"]; ok && json.Unmarshal(v, &h.Seq) != nil {
		return h, false
	}
	return h, true
}

func TestReadRecordHeadOfARecord(t *testing.T) {
	rec := contract.Record{Type: "note", ID: "507d832c-ee20-47de-ac8e-eda3302ff445", ParentID: "b349735d-2dee-48b5-87ab-6b6dda38b740",
		Fields: map[string]json.RawMessage{"text": contract.Text("Seal \"replaced\"\n{not a key}: \u00e9")}, Versions: map[string]int64{"body": 1}, Seq: 231}
	doc, err := MarshalRecord(&rec)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ReadRecordHead(doc)
	if err != nil || h != (RecordHead{Type: "note", ID: rec.ID, ParentID: rec.ParentID, Seq: 231}) {
		t.Fatalf("head of %s: %+v %v", doc, h, err)
	}
}

func TestReadRecordHeadRefusesWhatIsNotOneRecord(t *testing.T) {
	for _, doc := range []string{``, `null`, `[1]`, `"job"`, `{"type":"job"`, `{"type":"job"} {}`, `{"id":5}`,
		`{"seq":1.5}`, `{"seq":"7"}`, `{"type":"job","fields":{"a":tru}}`, `{"type":"j\qb"}`, `{"a":"x` + "\x01" + `"}`} {
		if h, err := ReadRecordHead([]byte(doc)); err == nil {
			t.Errorf("%q: read as %+v, want an error", doc, h)
		}
	}
}

func TestSplitArrayKeepsEachElementAsSent(t *testing.T) {
	raw := []byte(` [ {"a":[1,{"b":"]"}]} , "x\"y" ,-1.5e3,true,null,[] ] `)
	got, err := SplitArray(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"a":[1,{"b":"]"}]}`, `"x\"y"`, `-1.5e3`, `true`, `null`, `[]`}
	if len(got) != len(want) {
		t.Fatalf("got %d elements %q, want %q", len(got), got, want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("element %d: %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{`[1,]`, `[1 2]`, `{}`, `[`, `[01]`, `[1] x`} {
		if _, err := SplitArray([]byte(bad)); err == nil {
			t.Errorf("%s: split, want an error", bad)
		}
	}
}

func FuzzReadRecordHead(f *testing.F) {
	for _, seed := range []string{`{"type":"job","id":"x","parent_id":"p","seq":3,"fields":{"a":[1,2,{"b":null}]}}`,
		`{"seq":null,"type":null}`, `{"type":"a","type":"b"}`, `{"Type":"job"}`, `{"id":"\u00e9\ud83d\ude00"}`, `{"seq":-0}`,
		`{"seq":12345678901234567890}`, ` {} `, `{"a":1e5,"b":-0.0E-1,"c":"\/"}`, `[]`, `{"a":"\x"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, err := ReadRecordHead(doc)
		want, ok := referenceHead(doc)
		if ok != (err == nil) {
			t.Fatalf("%q: ReadRecordHead says %v, encoding/json says ok=%v", doc, err, ok)
		}
		if ok && got != want {
			t.Fatalf("%q: head %+v, encoding/json reads %+v", doc, got, want)
		}
		// SplitArray takes exactly what encoding/json takes as an array.
		wrapped := append(append([]byte("["), doc...), ']')
		if _, err := SplitArray(wrapped); (err == nil) != json.Valid(wrapped) {
			t.Fatalf("%s: SplitArray says %v, encoding/json says valid=%v", wrapped, err, json.Valid(wrapped))
		}
	})
}

func TestDecodePushResponseReadsWhatEncodingJSONReads(t *testing.T) {
	rec := contract.Record{Type: "job", ID: "0d1487d9-2774-43f4-bc45-c1119aea652c", Fields: map[string]json.RawMessage{"title": contract.Text("Pump ]} \"seal\"")},
		Versions: map[string]int64{"work": 3}, Seq: 9}
	doc, _ := MarshalRecord(&rec)
	for _, body := range []string{
		`{"results":[{"op_id":"a","outcome":"applied","record_id":"` + rec.ID + `","versions":{"work":3}},{"op_id":"b","outcome":"already_applied","first":{"op_id":"b","outcome":"held","review_id":"r"}}],"copies":[` + string(doc) + `,` + string(doc) + `]}` + "\n",
		` { "copies" : [ ] , "results" : [ ] , "later" : {"x":[1,2]} } `,
		`{"results":[{"op_id":"a","outcome":"refused","code":"locked","message":"signed off","retry":true}],"copies":null}`,
		`{"results":[],"copies":[],"results":[{"op_id":"a","outcome":"applied"}]}`,
	} {
		got, err := DecodePushResponse([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		var want contract.PushResponse
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatal(err)
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if !bytes.Equal(gb, wb) {
			t.Errorf("%s:\n got %s\nwant %s", body, gb, wb)
		}
	}
	for _, bad := range []string{``, `[]`, `{"results":[{"op_id":5}]}`, `{"copies":5}`, `{"copies":[{"a":}]}`, `{"results":[]} {}`, `{"results":[]`} {
		if got, err := DecodePushResponse([]byte(bad)); err == nil {
			t.Errorf("%q: decoded as %+v, want an error", bad, got)
		}
	}
}

// referencePushRequest reads a push request the slow way, as the server's
// fallback does: encoding/json, no unknown members, nothing after the value.
func referencePushRequest(body []byte) (contract.PushRequest, error) {
	var req contract.PushRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, err
	}
	if dec.More() {
		return req, errors.New("data after the JSON value")
	}
	return req, nil
}

// acceptedPushBodies are push requests of the shape devices send; the fast
// path must read every one of them.
func acceptedPushBodies(tb testing.TB) []string {
	tb.Helper()
	west := time.FixedZone("", -7*3600)
	india := time.FixedZone("IST", 5*3600+30*60)
	job := contract.Operation{ID: "4b0f2f0e-8a41-4d8e-9d2c-3f1a8c1e7d10", RecordType: "job", RecordID: "0d1487d9-2774-43f4-bc45-c1119aea652c",
		Action: contract.ActionUpdate, Bases: map[string]int64{"work": 3, "customer": 0, "schedule": math.MaxInt64, "odd": math.MinInt64},
		Values: map[string]json.RawMessage{"title": contract.Text("Pump ]} \"seal\""), "hours": json.RawMessage(`2.5`), "urgent": json.RawMessage(`true`),
			"visits": json.RawMessage(`-12`), "ratio": json.RawMessage(`1.5e-3`)},
		DeviceID: "tablet-7", DeviceTime: time.Date(2024, 3, 5, 14, 7, 9, 123456789, west)}
	note := contract.Operation{ID: "507d832c-ee20-47de-ac8e-eda3302ff445", RecordType: "note", RecordID: "b349735d-2dee-48b5-87ab-6b6dda38b740",
		Action: contract.ActionAppend, Values: map[string]json.RawMessage{
			"text":   contract.Text("He said \"done\" [ok] {x}: \\ / <b>&amp; \u2028\u2029 na\u00efve \u65e5\u672c \U0001F600 \t\r\n\x00\x1f end"),
			"job_id": contract.Text("0d1487d9-2774-43f4-bc45-c1119aea652c")},
		DeviceID: "phone \u00e9\"1\"", DeviceTime: time.Date(2023, 12, 31, 23, 59, 59, 999999999, india)}
	create := contract.Operation{ID: "c1", RecordType: "job", RecordID: "r1", Action: contract.ActionCreate,
		Values: map[string]json.RawMessage{
			"lines":   json.RawMessage(`[{"part":"P-1","qty":2},{"part":"P-\"2\"","qty":1.5e2,"tags":[]},[],{}]`),
			"address": json.RawMessage(`{"street":"1 Main St","geo":[51.5,-0.12],"flat":null,"ok":false,"deep":{"a":{"b":[[["c"]]]}}}`),
			"empty":   json.RawMessage(`""`)},
		DeviceID: "d", DeviceTime: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)}
	nulls := contract.Operation{ID: "n1", RecordType: "customer", RecordID: "r2", Action: contract.ActionUpdate, Bases: map[string]int64{"contact": 1},
		Values:   map[string]json.RawMessage{"phone": json.RawMessage(`null`), "email": json.RawMessage(`null`), "name": contract.Text("A")},
		DeviceID: "d", DeviceTime: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)}
	bare := contract.Operation{ID: "v1", RecordType: "invoice", RecordID: "r3", Action: contract.ActionVoid, DeviceID: "d", DeviceTime: time.Date(2024, 6, 1, 12, 0, 0, 500000000, west)}
	var out []string
	for _, req := range []contract.PushRequest{{Ops: []contract.Operation{job}}, {Ops: []contract.Operation{note}}, {Ops: []contract.Operation{create}},
		{Ops: []contract.Operation{nulls}}, {Ops: []contract.Operation{bare}}, {Ops: []contract.Operation{job, note, create, nulls, bare}}, {Ops: []contract.Operation{}}} {
		body, err := json.Marshal(req)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, string(body))
		var indented bytes.Buffer
		if err := json.Indent(&indented, body, " ", "\t"); err != nil {
			tb.Fatal(err)
		}
		out = append(out, indented.String()+"\r\n")
	}
	return append(out,
		`{"ops":[{"id":"a","record_type":"job","record_id":"r","action":"update","bases":{},"values":{},"device_id":"d","device_time":"2024-01-02T03:04:05Z"}]}`,
		`{"ops":[]}`,
		" \t\r\n{ \"ops\" :\n[ { \"device_time\" : \"2024-01-02T03:04:05.000000001+14:00\" ,\t\"bases\" : { \"work\" : -0 , \"x\" : 7 } , "+
			"\"values\" : { \"v\" : [ 1 , { \"a\" : null } ] , \"w\" : \"\\u00e9\\ud83d\\ude00\\/\" } , \"id\" : \"\\u0041\\n\" } , { } ]\r\n}\n ",
		`{"ops":[{"values":{"a":1,"a":2},"bases":{"g":1,"g":2}}]}`,
		`{"ops":[{"id":"x","device_time":"2024-01-02T03:04:05.5-00:00"}]}`,
	)
}

// declinedPushBodies are bodies the fast path must leave to encoding/json:
// some encoding/json refuses, others it reads in ways the fast path does not
// copy (nulls, merged repeats, case-insensitive keys).
var declinedPushBodies = []string{
	`{"ops":[],"extra":1}`,
	`{"extra":1,"ops":[]}`,
	`{"ops":[{"id":"a","extra":1}]}`,
	`{"ops":[{"ID":"a"}]}`,
	`{"OPS":[]}`,
	`{"ops":[{"Device_Time":"2024-01-02T03:04:05Z"}]}`,
	`{"ops":[{"id":"a","id":"b"}]}`,
	`{"ops":[{"bases":{"a":1},"bases":{"b":2}}]}`,
	`{"ops":[{"values":{"a":1},"values":{"b":2}}]}`,
	`{"ops":[{"device_time":"2024-01-02T03:04:05Z","device_time":"2025-01-02T03:04:05Z"}]}`,
	`{"ops":[],"ops":[{"id":"a"}]}`,
	`{"ops":[{"id":"a","record_id":"r"}],"ops":[{"id":"b"}]}`, // encoding/json decodes into the first op again
	`{"ops":null}`,
	`{}`,
	`{"ops":[null]}`,
	`{"ops":[{"id":"a"},null]}`,
	`{"ops":[{"record_id":null}]}`,
	`{"ops":[{"action":null}]}`,
	`{"ops":[{"bases":null}]}`,
	`{"ops":[{"values":null}]}`,
	`{"ops":[{"device_time":null}]}`,
	`{"ops":[{"id":5}]}`,
	`{"ops":[{"action":true}]}`,
	`{"ops":[{"bases":{"work":"3"}}]}`,
	`{"ops":[{"bases":{"work":null}}]}`,
	`{"ops":[{"bases":{"work":1.5}}]}`,
	`{"ops":[{"bases":{"work":1e3}}]}`,
	`{"ops":[{"bases":{"work":1.0}}]}`,
	`{"ops":[{"bases":{"work":9223372036854775808}}]}`,
	`{"ops":[{"bases":{"work":-9223372036854775809}}]}`,
	`{"ops":[{"bases":[1]}]}`,
	`{"ops":[{"values":[]}]}`,
	`{"ops":[{"device_time":"yesterday"}]}`,
	`{"ops":[{"device_time":"2024-13-01T00:00:00Z"}]}`,
	`{"ops":[{"device_time":"2024-01-02 03:04:05Z"}]}`,
	`{"ops":[{"device_time":"2024-01-02T03:04:05"}]}`,
	`{"ops":[{"device_time":"2024-01-02T03:04:05\u005a"}]}`,
	`{"ops":[{"device_time":1704164645}]}`,
	`{"ops":[]} {}`,
	`{"ops":[]}x`,
	`{"ops":[]}]`, // encoding/json's dec.More() is false here, so the reference takes it
	`{"ops":[]}}`,
	``,
	` `,
	`null`,
	`[]`,
	`"ops"`,
	`{"ops":[`,
	`{"ops":[]`,
	`{"ops":[{"id":"a",}]}`,
	`{"ops":[{"id":"a"]}`,
	`{"ops":[{"id":"a"},]}`,
	`{"ops":[{"id" "a"}]}`,
	`{"ops":[{"values":{"a":tru}}]}`,
	`{"ops":[{"values":{"a":}}]}`,
	`{"ops":[{"values":{"a":01}}]}`,
	`{"ops":[{"values":{"a":"x` + "\x01" + `"}}]}`,
	`{"ops":[{"id":"\x"}]}`,
	`{"ops":[{"id":"\ud83"}]}`,
	`{"ops":[{"bases":{"work":+1}}]}`,
	`{"ops":[{"\u0069d":"a"}]}`,
	`{"\u006fps":[]}`,
	`{"ops":[{"i\u0064":"a","id":"b"}]}`,
}

func TestDecodePushRequestReadsWhatEncodingJSONReads(t *testing.T) {
	for _, body := range acceptedPushBodies(t) {
		want, err := referencePushRequest([]byte(body))
		if err != nil {
			t.Fatalf("%q: encoding/json refuses a body the test means as usual: %v", body, err)
		}
		got, ok := DecodePushRequest([]byte(body))
		if !ok {
			t.Errorf("%q: the fast path declined the usual shape", body)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %#v\nwant %#v", body, got, want)
		}
		if got.Ops == nil {
			t.Errorf("%q: ops read as nil, want a slice", body)
		}
	}
}

func TestDecodePushRequestLeavesOddShapesToEncodingJSON(t *testing.T) {
	for _, body := range declinedPushBodies {
		got, ok := DecodePushRequest([]byte(body))
		if ok {
			t.Errorf("%q: the fast path read %#v, want it left to encoding/json", body, got)
		}
		// The server decodes into the request the fast path returned, and
		// encoding/json keeps what is already in a slice's elements: a
		// declined request must come back empty.
		if !reflect.DeepEqual(got, contract.PushRequest{}) {
			t.Errorf("%q: declined but returned %#v", body, got)
		}
		// Whether encoding/json takes it does not matter: declining is
		// always allowed. Say which, to show the list is not all errors.
		if want, err := referencePushRequest([]byte(body)); err == nil {
			t.Logf("%q: encoding/json takes it as %+v", body, want)
		}
	}
}

// usualPushShape reports whether req is what a device sends, so that its
// canonical encoding must go the fast way: a non-nil ops list (json.Marshal
// writes a nil one as "ops":null, which the fast path leaves to
// encoding/json by design), and in each op a set device time that encodes
// and reads back to itself, and text that is valid UTF-8.
func usualPushShape(req contract.PushRequest) bool {
	if req.Ops == nil {
		return false
	}
	for _, op := range req.Ops {
		if op.DeviceTime.IsZero() {
			return false
		}
		b, err := op.DeviceTime.MarshalJSON()
		if err != nil {
			return false
		}
		var back time.Time
		if back.UnmarshalJSON(b) != nil || !reflect.DeepEqual(back, op.DeviceTime) {
			return false
		}
		for _, s := range []string{op.ID, op.RecordType, op.RecordID, string(op.Action), op.DeviceID} {
			if !utf8.ValidString(s) {
				return false
			}
		}
		for k := range op.Bases {
			if !utf8.ValidString(k) {
				return false
			}
		}
		for k, v := range op.Values {
			if !utf8.ValidString(k) || !utf8.Valid(v) {
				return false
			}
		}
	}
	return true
}

func FuzzDecodePushRequest(f *testing.F) {
	for _, seed := range acceptedPushBodies(f) {
		// The indented five-op body is read by the test above; as a seed
		// it only makes the fuzzer spend its time minimizing.
		if len(seed) < 1000 {
			f.Add([]byte(seed))
		}
	}
	for _, seed := range declinedPushBodies {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := DecodePushRequest(body)
		want, err := referencePushRequest(body)
		switch {
		case ok && err != nil:
			t.Fatalf("%q: the fast path read %#v, encoding/json refuses: %v", body, got, err)
		case ok && !reflect.DeepEqual(got, want):
			t.Fatalf("%q:\n fast path %#v\nencoding/json %#v", body, got, want)
		case !ok && !reflect.DeepEqual(got, contract.PushRequest{}):
			t.Fatalf("%q: declined but returned %#v", body, got)
		}
		if ok || err != nil || !usualPushShape(want) {
			return
		}
		// What json.Marshal writes for a device's request never falls back.
		if canon, err := json.Marshal(want); err == nil && bytes.Equal(body, canon) {
			t.Fatalf("%q is json.Marshal's own encoding of %#v, yet the fast path declined it", body, want)
		}
	})
}

// A value nested as deep as encoding/json allows is read; one level more
// is left to encoding/json, which refuses it.
func TestDecodePushRequestNestingLimit(t *testing.T) {
	body := func(k int) []byte {
		return []byte(`{"ops":[{"values":{"v":` + strings.Repeat("[", k) + strings.Repeat("]", k) + `}}]}`)
	}
	deepest := maxDepth - 4 // the request, ops, the operation and values hold it
	if _, err := referencePushRequest(body(deepest)); err != nil {
		t.Fatalf("encoding/json refuses nesting %d: %v", deepest, err)
	}
	if _, ok := DecodePushRequest(body(deepest)); !ok {
		t.Errorf("nesting %d was not read", deepest)
	}
	if _, err := referencePushRequest(body(deepest + 1)); err == nil {
		t.Fatalf("encoding/json takes nesting %d", deepest+1)
	}
	if _, ok := DecodePushRequest(body(deepest + 1)); ok {
		t.Errorf("nesting %d, which encoding/json refuses, was read", deepest+1)
	}
}

// ReadRecordHead and SplitArray refuse nesting exactly where encoding/json
// does.
func TestScannerNestingLimit(t *testing.T) {
	nest := func(k int) string { return strings.Repeat("[", k) + strings.Repeat("]", k) }
	for k := maxDepth - 2; k <= maxDepth+1; k++ {
		doc := []byte(`{"type":"job","x":` + nest(k) + `}`) // k+1 levels
		if _, err := ReadRecordHead(doc); (err == nil) != json.Valid(doc) {
			t.Errorf("record nested %d deep: ReadRecordHead says %v, encoding/json says valid=%v", k+1, err, json.Valid(doc))
		}
		arr := []byte(nest(k)) // k levels
		if _, err := SplitArray(arr); (err == nil) != json.Valid(arr) {
			t.Errorf("array nested %d deep: SplitArray says %v, encoding/json says valid=%v", k, err, json.Valid(arr))
		}
	}
}
