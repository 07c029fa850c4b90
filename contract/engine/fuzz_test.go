package engine

import (
	"encoding/json"
	"flag"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"fieldsync/contract"
	"fieldsync/internal/fuzzcorpus"
)

var update = flag.Bool("update", false, "rewrite the seed corpus under testdata/fuzz")

// The actors FuzzDecide picks from.
var fuzzActors = []Actor{alex, sam, pat, cara, dana, suzy, finn, ada}

// fuzzJob is the job of FuzzDecide in one of several states.
func fuzzJob(state uint8) *contract.Record {
	switch state % 7 {
	case 1:
		return jobAt("completed", signed, at("work", 3))
	case 2:
		return jobAt("signed_off", signed)
	case 3:
		return jobAt("closed", signed)
	case 4:
		return jobAt("in_progress", voidedJob)
	case 5:
		return jobAt("waiting_for_approval", reviewOpen("work"), reviewOpen("status"))
	case 6: // reassigned from Alex to Sam; Alex's phone had been writing the work
		return jobAt("in_progress", with("assignee", contract.Text(samID)), at("work", 4), func(r *contract.Record) {
			r.Owner = samID
			r.PastOwners = append(r.PastOwners, alexID)
			r.Streaks = map[string]contract.Streak{"work": {DeviceID: "alex-phone", Base: 2}}
		})
	}
	return jobAt("in_progress")
}

// fuzzDir knows the fixture people and records.
var fuzzDir = fakeDir{
	userRole: func(id string) (string, bool) {
		for _, a := range fuzzActors {
			if a.UserID == id {
				return a.Role, true
			}
		}
		return "", false
	},
	lookup: func(actor Actor, typ, id string) (bool, bool) {
		switch {
		case typ == "customer" && id == customerID, typ == "job" && id == jobID:
			return true, actor.UserID != samID
		case typ == "job" && id == otherJobID:
			return true, false
		}
		return false, false
	},
}

// fuzzSituation puts an operation against the fixture: the stored record its
// id names, if any, and the job as parent.
func fuzzSituation(o *contract.Operation, who, state uint8) Situation {
	job := fuzzJob(state)
	s := Situation{Actor: fuzzActors[int(who)%len(fuzzActors)], Op: o, Parent: job, Now: now}
	switch strings.ToLower(o.RecordID) {
	case jobID:
		s.Current = job
	case noteID:
		s.Current = noteRec(alexID, "Replaced the valve")
	case partID:
		s.Current = partRec()
	case customerID:
		s.Current = customerRec()
	case invoiceID:
		s.Current = invoiceAt("draft")
	}
	if state&0x80 != 0 {
		s.Dir = fuzzDir
	}
	return s
}

type decideSeed struct {
	op         *contract.Operation
	who, state uint8
}

func decideSeeds() map[string]decideSeed {
	const (
		iAlex, iSam, iPat, iCara, iDana, iSuzy, iFinn, iAda uint8 = 0, 1, 2, 3, 4, 5, 6, 7
	)
	withID := func(o *contract.Operation, id string) *contract.Operation { o.ID = id; return o }
	return map[string]decideSeed{
		"update_work":         {op(contract.ActionUpdate, "job", jobID, bases{"work": 1}, values{"labor_minutes": contract.Int(45)}), iAlex, 0},
		"update_work_stale":   {op(contract.ActionUpdate, "job", jobID, bases{"work": 1}, values{"labor_minutes": contract.Int(45)}), iAlex, 1},
		"update_work_streak":  {fromDevice(op(contract.ActionUpdate, "job", jobID, bases{"work": 2}, values{"labor_minutes": contract.Int(45)}), "alex-phone"), iAlex, 6},
		"update_summary":      {op(contract.ActionUpdate, "job", jobID, bases{"summary": 1}, values{"title": contract.Text("Boiler repair")}), iDana, 0},
		"update_two_groups":   {op(contract.ActionUpdate, "job", jobID, bases{"summary": 1, "work": 1}, values{"title": contract.Text("x"), "labor_minutes": contract.Int(1)}), iDana, 0},
		"update_signature":    {op(contract.ActionUpdate, "job", jobID, bases{"signature": 1}, values{"signer_name": contract.Text("Dana Customer")}), iAlex, 0},
		"update_crew_dir":     {op(contract.ActionUpdate, "job", jobID, bases{"assignment": 1}, values{"crew": users(samID, caraID)}), iDana, 0x80},
		"transition":          {move("completed", 1), iAlex, 0},
		"transition_sign_off": {move("signed_off", 1), iAlex, 1},
		"transition_close":    {move("closed", 1), iDana, 2},
		"transition_voided":   {move("completed", 1), iAlex, 4},
		"reassign":            {op(contract.ActionReassign, "job", jobID, bases{"assignment": 1}, values{"assignee": contract.Text(samID)}), iDana, 0x80},
		"void":                {op(contract.ActionVoid, "job", jobID, bases{"lifecycle": 1, "status": 1, "work": 1}, nil), iDana, 1},
		"reopen":              {op(contract.ActionReopen, "job", jobID, nil, nil), iSuzy, 3},
		"note":                {noteOp("Replaced the valve"), iCara, 2},
		"note_retry":          {noteOp("Replaced the valve"), iAlex, 0},
		"photo":               {photoOp(1 << 20), iPat, 0},
		"part_former_owner":   {partOp(2), iAlex, 6},
		"part_update":         {op(contract.ActionUpdate, "part", partID, bases{"line": 1}, values{"quantity": contract.Int(3)}), iAlex, 0},
		"note_void":           {op(contract.ActionVoid, "note", noteID, bases{"lifecycle": 1}, nil), iAlex, 2},
		"create_job":          {op(contract.ActionCreate, "job", otherJobID, nil, values{"title": contract.Text("x"), "customer_id": contract.Text(customerID), "follows_job_id": contract.Text(jobID)}), iSam, 0x80},
		"create_customer":     {op(contract.ActionCreate, "customer", "20000000-0000-4000-8000-0000000000ff", nil, values{"name": contract.Text("Acme")}), iDana, 0},
		"update_customer":     {op(contract.ActionUpdate, "customer", customerID, bases{"contact": 1}, values{"phone": contract.Text("1")}), iAda, 0},
		"invoice_send":        {op(contract.ActionTransition, "invoice", invoiceID, bases{"status": 1}, values{"status": contract.Text("sent")}), iFinn, 0},
		"invoice_lines":       {op(contract.ActionUpdate, "invoice", invoiceID, bases{"amounts": 1}, values{"lines": json.RawMessage(`[{"description":"Valve","quantity":2,"unit_cents":1500}]`)}), iFinn, 0},
		"path_record_id":      {op(contract.ActionUpdate, "job", "../../etc/passwd", bases{"summary": 1}, values{"title": contract.Text("x")}), iSuzy, 0},
		"bad_op_id":           {withID(op(contract.ActionUpdate, "job", jobID, bases{"summary": 1}, values{"title": contract.Text("x")}), "1"), iDana, 0},
		"resolve":             {op(contract.ActionResolve, contract.ReviewType, jobID, nil, nil), iSuzy, 5},
		"unknown_action":      {op("delete", "job", jobID, nil, nil), iDana, 0},
	}
}

func FuzzDecide(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, who, state uint8) {
		var o contract.Operation
		if json.Unmarshal(data, &o) != nil {
			return
		}
		s := fuzzSituation(&o, who, state)
		cur, par, opBefore := s.Current.Clone(), s.Parent.Clone(), o
		d := engine.Decide(s)

		if !reflect.DeepEqual(cur, s.Current) || !reflect.DeepEqual(par, s.Parent) {
			t.Fatalf("Decide changed the records it was given")
		}
		if !reflect.DeepEqual(opBefore, o) {
			t.Fatalf("Decide changed the operation it was given")
		}
		if utf8.Valid(data) && !utf8.ValidString(d.Message) {
			t.Fatalf("message %q is not valid UTF-8", d.Message)
		}
		switch d.Outcome {
		case contract.Refused:
			if d.Message == "" || d.Code == "" {
				t.Fatalf("refused without a code or message: %+v", d)
			}
			if d.Record != nil {
				t.Fatalf("refused with a record")
			}
		case contract.Held:
			if d.Message == "" || contract.KindOf(d.Code) != contract.Conflict || d.Kind == "" || d.Group == "" || d.ReviewOn == nil {
				t.Fatalf("held without a conflict code, message, kind, group or record: %+v", d)
			}
			if d.ReviewOn != s.Current && d.ReviewOn != s.Parent {
				t.Fatalf("held on %s %s, neither the record nor its parent", d.ReviewOn.Type, d.ReviewOn.ID)
			}
			if d.Record != nil {
				t.Fatalf("held with a changed record")
			}
		case contract.Applied:
			if d.Record == nil {
				if len(d.Changes) > 0 {
					t.Fatalf("changes without a record: %v", changeList(d.Changes))
				}
				return
			}
			checkFuzzApplied(t, &o, s.Current, d)
		default:
			t.Fatalf("outcome %q", d.Outcome)
		}
	})
}

// checkFuzzApplied checks that an applied change touches only what the
// operation names, and that its change list says what changed.
func checkFuzzApplied(t *testing.T, o *contract.Operation, cur *contract.Record, d Decision) {
	t.Helper()
	rec := d.Record
	rr := engine.Rules.Record(rec.Type)
	if rr == nil || rec.Type != o.RecordType || rec.ID != strings.ToLower(o.RecordID) {
		t.Fatalf("applied %s %s for an operation on %s %s", rec.Type, rec.ID, o.RecordType, o.RecordID)
	}
	if cur == nil { // a new record: every group with fields starts at version 1
		for _, g := range rr.Groups {
			if len(g.Fields) > 0 && rec.Versions[g.Name] != 1 {
				t.Fatalf("new %s's group %s at version %d", rec.Type, g.Name, rec.Versions[g.Name])
			}
		}
		return
	}
	touched := map[string]bool{}
	for name := range o.Values {
		if g := rr.GroupOf(name); g != nil {
			touched[g.Name] = true
		}
	}
	switch o.Action {
	case contract.ActionVoid:
		touched[rr.Lifecycle().Name] = true
		if sg := rr.StatusGroup(); sg != nil {
			touched[sg.Name] = true
		}
	case contract.ActionReopen:
		touched[rr.StatusGroup().Name] = true
		for _, mv := range rr.Machine.Moves {
			if mv.Action == contract.ActionReopen {
				for _, g := range mv.Clears {
					touched[g] = true
				}
			}
		}
	}
	changed := map[string]bool{}
	for _, c := range d.Changes {
		changed[c.Field] = true
		if !contract.Same(cur.Fields[c.Field], c.Old) || !contract.Same(rec.Fields[c.Field], c.New) {
			t.Fatalf("change of %s from %s to %s, but the field went from %s to %s",
				c.Field, c.Old, c.New, cur.Fields[c.Field], rec.Fields[c.Field])
		}
	}
	for _, g := range rr.Groups {
		groupChanged := false
		for _, f := range g.Fields {
			if !contract.Same(cur.Fields[f.Name], rec.Fields[f.Name]) {
				groupChanged = true
				if !changed[f.Name] {
					t.Fatalf("field %s changed without a change entry", f.Name)
				}
			}
		}
		dv := rec.Versions[g.Name] - cur.Versions[g.Name]
		if dv != 0 && dv != 1 || groupChanged != (dv == 1) {
			t.Fatalf("group %s: version %d → %d, values changed: %v", g.Name, cur.Versions[g.Name], rec.Versions[g.Name], groupChanged)
		}
		if groupChanged && !touched[g.Name] {
			t.Fatalf("a %s of %v changed group %s, which it does not touch", o.Action, slices.Sorted(maps.Keys(o.Values)), g.Name)
		}
	}
}

// TestFuzzCorpus checks that testdata/fuzz holds the seeds defined here;
// go test -run TestFuzzCorpus -update rewrites them.
func TestFuzzCorpus(t *testing.T) {
	want := map[string][]byte{}
	for name, s := range decideSeeds() {
		b, err := json.Marshal(s.op)
		if err != nil {
			t.Fatal(err)
		}
		want[filepath.Join("FuzzDecide", name)] = fuzzcorpus.File(b, s.who, s.state)
	}
	fuzzcorpus.Check(t, want, *update)
}

// TestFuzzSeedsDecide runs the seeds of FuzzDecide as plain tests, so a
// seed that stops reaching the engine's deeper paths shows up here.
func TestFuzzSeedsDecide(t *testing.T) {
	outcomes := map[contract.Outcome]int{}
	for name, s := range decideSeeds() {
		d := engine.Decide(fuzzSituation(s.op, s.who, s.state))
		outcomes[d.Outcome]++
		if d.Code == contract.CodeInvalid && !strings.Contains(name, "id") && !strings.Contains(name, "action") &&
			!strings.Contains(name, "two_groups") && name != "resolve" {
			t.Errorf("seed %s is refused as invalid: %s", name, d.Message)
		}
	}
	for _, o := range []contract.Outcome{contract.Applied, contract.Held, contract.Refused} {
		if outcomes[o] < 3 {
			t.Errorf("only %d seeds are %s; the seeds should reach every outcome", outcomes[o], o)
		}
	}
}
