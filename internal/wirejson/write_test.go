package wirejson

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"fieldsync/contract"
)

// The fast record encoder must give exactly encoding/json's bytes, or hand
// over to it.
func TestMarshalRecordMatchesEncodingJSON(t *testing.T) {
	texts := []string{"", "Replace pump seal", "a<b & c>d", "line\nbreak", `quote " and \ slash`, "café ☕", "\u2028", "tab\t"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return texts[rng.IntN(len(texts))] }
	for i := 0; i < 2000; i++ {
		r := &contract.Record{Type: "job", ID: "0909d7f1-e5fe-4449-bc5e-883b1b0283b5", Author: pick(), DeviceID: pick(),
			DeviceTime: time.Date(2026, 11, 24, 9, rng.IntN(60), 0, rng.IntN(1e9), time.UTC),
			CreatedAt:  time.Unix(rng.Int64N(2e9), 0).UTC(), UpdatedAt: time.Unix(0, rng.Int64N(2e18)).In(time.FixedZone("x", 3600)),
			Seq: rng.Int64N(1 << 40)}
		if rng.IntN(2) == 0 {
			r.Fields = map[string]json.RawMessage{"title": contract.Text(pick()), "labor_minutes": contract.Int(rng.Int64N(500)), "voided": contract.Bool(rng.IntN(2) == 0)}
			if rng.IntN(4) == 0 {
				r.Fields["lines"] = json.RawMessage(`[{"description": "x"}]`) // not compact
			}
			r.Versions = map[string]int64{"summary": rng.Int64N(9), "work": 1}
		}
		if rng.IntN(2) == 0 {
			r.Number, r.ParentID, r.Owner, r.OwnerName, r.AuthorName, r.DuplicateOf = "J-1001", pick(), pick(), pick(), pick(), pick()
			r.PastOwners, r.OpenReviews = []string{pick(), pick()}, []string{"status"}
			r.Streaks = map[string]contract.Streak{"status": {DeviceID: pick(), Base: 3}, "work": {DeviceID: "d", Base: 0}}
			r.AfterSignoff, r.ContentReady = true, rng.IntN(2) == 0
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := MarshalRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestMarshalResultMatchesEncodingJSON(t *testing.T) {
	first := &contract.Result{OpID: "a", Outcome: contract.Held, ReviewID: "r", Code: contract.CodeConflict, Message: "Another update changed status."}
	for i, r := range []*contract.Result{
		{OpID: "0909d7f1-e5fe-4449-bc5e-883b1b0283b5", Outcome: contract.Applied, RecordType: "job", RecordID: "x", Versions: map[string]int64{"summary": 2, "status": 1}, Number: "J-1001"},
		{OpID: "b", Outcome: contract.Applied, Notice: "Added after sign-off."},
		{OpID: "c", Outcome: contract.Refused, Code: contract.CodeLocked, Message: "This job is signed off.", Retry: false},
		{OpID: "c", Outcome: contract.Refused, Code: contract.CodeInternal, Message: "The server failed <again> & again", Retry: true},
		{OpID: "d", Outcome: contract.AlreadyApplied, RecordType: "note", First: first},
		{OpID: "e", Outcome: contract.Held, ReviewID: "r", Server: &contract.GroupState{Group: "status", Version: 3}},
		{OpID: "f", Outcome: contract.AlreadyApplied, First: &contract.Result{OpID: "f", Outcome: contract.Held, Server: &contract.GroupState{Group: "work"}}},
		{},
	} {
		want, _ := json.Marshal(r)
		got, err := MarshalResult(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("result %d:\n got %s (%v)\nwant %s", i, got, err, want)
		}
	}
}

func BenchmarkMarshalRecord(b *testing.B) {
	r := &contract.Record{Type: "job", ID: "0909d7f1-e5fe-4449-bc5e-883b1b0283b5", Number: "J-1001",
		Fields:   map[string]json.RawMessage{"title": contract.Text("Replace pump seal"), "status": contract.Text("in_progress"), "assignee": contract.Text("eeb30dc8-ebfe-4bee-b997-721c68126404")},
		Versions: map[string]int64{"summary": 3, "status": 2, "work": 1, "assignment": 1, "scheduling": 1},
		Author:   "0623b830-efd6-4a47-987a-07f4967a2ccf", DeviceID: "office", DeviceTime: time.Now(), CreatedAt: time.Now(), UpdatedAt: time.Now()}
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			MarshalRecord(r)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(r)
		}
	})
}
