package app

import (
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/syncqueue"
)

// The queue keeps what a round did as data (syncqueue.Round); these say
// it in the summary's words.

func TestSummarySaysWhatTheRoundDid(t *testing.T) {
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
			var r syncqueue.Round
			for _, e := range tt.entries {
				r.Add(e.op, e.res)
			}
			if tt.photos {
				r.PhotosUp = true
			}
			if got := summaryWords(r, "", office); got != tt.want {
				t.Errorf("line %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSummaryBlamesTheJobForAnItemHeldAfterAReassign(t *testing.T) {
	var r syncqueue.Round
	r.Add(contract.Operation{RecordType: "note", Action: contract.ActionAppend}, contract.Result{Outcome: contract.Held, Code: contract.CodeOwnership})
	want := "Your note needs review because the job was reassigned."
	if got := summaryWords(r, "", func(string) bool { return false }); got != want {
		t.Fatalf("the summary says %q for a note held after its job was reassigned, want %q: the reason names the item's record type, not the job it hangs off", got, want)
	}
}

func TestHeldSummaryAgreesWithItsSubjectAndNamesWhoChangedIt(t *testing.T) {
	office := func(id string) bool { return id == "dana-id" }
	job := func(action contract.Action, groups ...string) contract.Operation {
		o := contract.Operation{RecordType: "job", Action: action, Bases: map[string]int64{}}
		for _, g := range groups {
			o.Bases[g] = 1
		}
		return o
	}
	by := func(id, name string) contract.Result {
		r := contract.Result{Outcome: contract.Held, Code: contract.CodeConflict}
		if id != "" || name != "" {
			r.Server = &contract.GroupState{UserID: id, UserName: name}
		}
		return r
	}
	tests := []struct {
		name string
		op   contract.Operation
		res  contract.Result
		want string
	}{
		{"changes of a job need review, in the plural",
			job(contract.ActionUpdate), by("sam-id", "sam"),
			"Job changes need review because sam changed it."},
		{"a job's status needs review, in the singular",
			job(contract.ActionTransition, "status"), by("sam-id", "sam"),
			"Job status needs review because sam changed it."},
		{"an invoice's amounts need review",
			contract.Operation{RecordType: "invoice", Action: contract.ActionUpdate, Bases: map[string]int64{"amounts": 1}}, by("fran-id", "fran"),
			"Invoice amounts need review because fran changed it."},
		{"a note needs review",
			contract.Operation{RecordType: "note", Action: contract.ActionAppend}, contract.Result{Outcome: contract.Held, Code: contract.CodeVoided},
			"Your note needs review because the job was voided."},
		{"someone in the office is named and placed there",
			job(contract.ActionTransition, "status"), by("dana-id", "dana"),
			"Job status needs review because dana changed it in the office."},
		{"a technician is not said to be in the office",
			job(contract.ActionUpdate, "work"), by("sam-id", "sam"),
			"Job work needs review because sam changed it."},
		{"the user's own change from another device is theirs",
			job(contract.ActionTransition, "status"), by("alex-id", "alex"),
			"Job status needs review because you changed it on another device."},
		{"someone the server does not name is someone else",
			job(contract.ActionTransition, "status"), by("", ""),
			"Job status needs review because someone else changed it."},
		{"an unnamed office user is still in the office",
			job(contract.ActionTransition, "status"), by("dana-id", ""),
			"Job status needs review because someone changed it in the office."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r syncqueue.Round
			r.Add(tt.op, tt.res)
			if got := summaryWords(r, "alex-id", office); got != tt.want {
				t.Errorf("line %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestPhotosAreSaidToSyncOnlyOnceTheirContentIsUp(t *testing.T) {
	applied := contract.Result{Outcome: contract.Applied}
	note := contract.Operation{RecordType: "note", Action: contract.ActionAppend}
	photo := contract.Operation{RecordType: "photo", Action: contract.ActionAppend}

	none := func(string) bool { return false }
	t.Run("a photo's metadata alone says nothing yet", func(t *testing.T) {
		var r syncqueue.Round
		r.Add(photo, applied)
		if got := summaryWords(r, "", none); got != "" {
			t.Errorf("line %q, want nothing until the content is up", got)
		}
	})
	t.Run("content that failed to upload is said, with the next try", func(t *testing.T) {
		var r syncqueue.Round
		r.Add(note, applied)
		r.Add(photo, applied)
		r.At = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
		r.Unfinished, r.Retry = 1, r.At.Add(15*time.Second)
		if got, want := summaryWords(r, "", none), "Your notes synced. 1 photo did not finish uploading; retrying in 15 seconds."; got != want {
			t.Errorf("line %q\nwant %q", got, want)
		}
	})
	t.Run("content that went up is photos synced", func(t *testing.T) {
		var r syncqueue.Round
		r.Add(note, applied)
		r.Add(photo, applied)
		r.PhotosUp = true
		if got, want := summaryWords(r, "", none), "Your notes and photos synced."; got != want {
			t.Errorf("line %q\nwant %q", got, want)
		}
	})
}
