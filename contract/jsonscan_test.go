package contract

import (
	"bytes"
	"encoding/json"
	"testing"
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
	rec := Record{Type: "note", ID: "507d832c-ee20-47de-ac8e-eda3302ff445", ParentID: "b349735d-2dee-48b5-87ab-6b6dda38b740",
		Fields: map[string]json.RawMessage{"text": Text("Seal \"replaced\"\n{not a key}: \u00e9")}, Versions: map[string]int64{"body": 1}, Seq: 231}
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
	rec := Record{Type: "job", ID: "0d1487d9-2774-43f4-bc45-c1119aea652c", Fields: map[string]json.RawMessage{"title": Text("Pump ]} \"seal\"")},
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
		var want PushResponse
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
