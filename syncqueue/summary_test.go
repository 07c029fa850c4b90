package syncqueue

import (
	"testing"

	"fieldsync/contract"
)

func TestRoundLogLine(t *testing.T) {
	office := func(id string) bool { return id == "dana" }
	op := func(typ string, action contract.Action, groups ...string) contract.Operation {
		o := contract.Operation{RecordType: typ, Action: action, Bases: map[string]int64{}}
		for _, g := range groups {
			o.Bases[g] = 1
		}
		return o
	}
	applied := contract.Result{Outcome: contract.Applied}
	held := func(code contract.Code, by string) contract.Result {
		r := contract.Result{Outcome: contract.Held, Code: code}
		if by != "" {
			r.Server = &contract.GroupState{UserID: by}
		}
		return r
	}
	refused := func(msg string) contract.Result {
		return contract.Result{Outcome: contract.Refused, Code: contract.CodeLocked, Message: msg}
	}
	type entry struct {
		op  contract.Operation
		res contract.Result
	}
	tests := []struct {
		name    string
		entries []entry
		photos  bool // a photo's content went up
		want    string
	}{
		{"a round that moved nothing says nothing", nil, false, ""},
		{"the rules' example",
			[]entry{{op("note", contract.ActionAppend), applied}, {op("part", contract.ActionAppend), applied},
				{op("photo", contract.ActionAppend), applied}, {op("job", contract.ActionTransition, "status"), held(contract.CodeConflict, "dana")}},
			true, "Your notes, parts, and photos synced. Job status needs review because someone changed it in the office."},
		{"two kinds are joined by and, and repeats count once",
			[]entry{{op("note", contract.ActionAppend), applied}, {op("note", contract.ActionAppend), applied}, {op("job", contract.ActionUpdate, "work"), applied}},
			false, "Your notes and job work synced."},
		{"a replay counts as what it was the first time",
			[]entry{{op("job", contract.ActionCreate), contract.Result{Outcome: contract.AlreadyApplied, First: &applied}}},
			false, "Your new jobs synced."},
		{"uploaded photo content counts as photos",
			nil, true, "Your photos synced."},
		{"a conflict with someone outside the office",
			[]entry{{op("job", contract.ActionTransition, "status"), held(contract.CodeConflict, "sam")}},
			false, "Job status needs review because someone else changed it."},
		{"a change to a reassigned job",
			[]entry{{op("job", contract.ActionUpdate, "work"), held(contract.CodeOwnership, "")}},
			false, "Job work needs review because the job was reassigned."},
		{"a change to a voided job",
			[]entry{{op("job", contract.ActionUpdate, "work"), held(contract.CodeVoided, "")}},
			false, "Job work needs review because the job was voided."},
		{"a change joining an open review",
			[]entry{{op("job", contract.ActionUpdate, "scheduling"), held(contract.CodeReviewOpen, "dana")}},
			false, "Job scheduling needs review because it is already under review."},
		{"a refusal gives the server's reason",
			[]entry{{op("note", contract.ActionAppend), applied}, {op("job", contract.ActionUpdate, "work"), refused("This job is signed off.")}},
			false, "Your notes synced. Job work not sent: This job is signed off."},
		{"review decisions",
			[]entry{{op(contract.ReviewType, contract.ActionResolve), applied}},
			false, "Your review decisions synced."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l roundLog
			for _, e := range tt.entries {
				l.add(e.op, e.res, office)
			}
			if tt.photos {
				l.photoUploaded()
			}
			if got := l.line(); got != tt.want {
				t.Errorf("line %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestRoundLogBlamesTheJobForAnItemHeldAfterAReassign(t *testing.T) {
	var l roundLog
	l.add(contract.Operation{RecordType: "note", Action: contract.ActionAppend}, contract.Result{Outcome: contract.Held, Code: contract.CodeOwnership}, func(string) bool { return false })
	want := "Your note needs review because the job was reassigned."
	if got := l.line(); got != want {
		t.Fatalf("roundLog.add says %q for a note held after its job was reassigned, want %q: the reason names op.RecordType, the item, not the job it hangs off", got, want)
	}
}
