package syncqueue

import (
	"testing"

	"fieldsync/contract"
)

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
			l := roundLog{me: "alex-id"}
			l.add(tt.op, tt.res, office)
			if got := l.line(); got != tt.want {
				t.Errorf("line %q\nwant %q", got, tt.want)
			}
		})
	}
}
