package engine

import (
	"encoding/json"
	"testing"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

// TestRulesDecideAlikeAfterTheTrip checks that rules sent to a device as JSON
// decide every situation as the server's own copy does.
func TestRulesDecideAlikeAfterTheTrip(t *testing.T) {
	orig := rulebook.Default()
	b, err := json.Marshal(orig)
	if err != nil {
		t.Fatal(err)
	}
	back := new(rulebook.Rules)
	if err := json.Unmarshal(b, back); err != nil {
		t.Fatal(err)
	}
	if err := back.Compile(); err != nil {
		t.Fatalf("the rules do not compile after a JSON round trip: %v", err)
	}
	e1, e2 := New(orig), New(back)
	situations := []Situation{
		{Actor: alex, Op: move("completed", 1), Current: jobAt("in_progress", at("status", 2))},
		{Actor: alex, Op: move("signed_off", 1), Current: jobAt("completed")},
		{Actor: dana, Op: move("closed", 1), Current: jobAt("signed_off", signed)},
		{Actor: pat, Op: partOp(2), Parent: jobAt("in_progress")},
		{Actor: alex, Op: noteOp("x"), Parent: jobAt("closed")},
		{Actor: dana, Op: op(contract.ActionVoid, "job", jobID, bases{"lifecycle": 1}, nil), Current: jobAt("paused")},
		{Actor: finn, Op: op(contract.ActionUpdate, "invoice", invoiceID, bases{"amounts": 1}, values{"total": contract.Int(5)}), Current: invoiceAt("sent")},
	}
	for i, s := range situations {
		s.Now = now
		d1, d2 := e1.Decide(s), e2.Decide(s)
		if d1.Outcome != d2.Outcome || d1.Code != d2.Code || d1.Message != d2.Message || d1.Notice != d2.Notice {
			t.Errorf("situation %d: %s %s %q, after the round trip %s %s %q", i, d1.Outcome, d1.Code, d1.Message, d2.Outcome, d2.Code, d2.Message)
		}
	}
}
