package engine

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

// The people in the fixtures.
const (
	alexID = "a0000000-0000-4000-8000-000000000001" // technician who owns the job
	samID  = "a0000000-0000-4000-8000-000000000002" // technician not on the job
	patID  = "a0000000-0000-4000-8000-000000000003" // technician who owned the job before
	caraID = "a0000000-0000-4000-8000-000000000004" // technician on the job's crew
	danaID = "d0000000-0000-4000-8000-000000000001" // dispatcher
	suzyID = "d0000000-0000-4000-8000-000000000002" // supervisor
	finnID = "f0000000-0000-4000-8000-000000000001" // finance
	adaID  = "e0000000-0000-4000-8000-000000000001" // admin
)

var (
	alex = Actor{UserID: alexID, Role: "technician", DeviceID: "alex-phone"}
	sam  = Actor{UserID: samID, Role: "technician", DeviceID: "sam-phone"}
	pat  = Actor{UserID: patID, Role: "technician", DeviceID: "pat-phone"}
	cara = Actor{UserID: caraID, Role: "technician", DeviceID: "cara-phone"}
	dana = Actor{UserID: danaID, Role: "dispatcher", DeviceID: "dana-desk"}
	suzy = Actor{UserID: suzyID, Role: "supervisor", DeviceID: "suzy-desk"}
	finn = Actor{UserID: finnID, Role: "finance", DeviceID: "finn-desk"}
	ada  = Actor{UserID: adaID, Role: "admin", DeviceID: "ada-desk"}
)

// The records in the fixtures.
const (
	jobID      = "10000000-0000-4000-8000-000000000001"
	otherJobID = "10000000-0000-4000-8000-000000000002"
	customerID = "20000000-0000-4000-8000-000000000001"
	invoiceID  = "30000000-0000-4000-8000-000000000001"
	noteID     = "40000000-0000-4000-8000-000000000001"
	photoID    = "50000000-0000-4000-8000-000000000001"
	partID     = "60000000-0000-4000-8000-000000000001"
	opID       = "90000000-0000-4000-8000-000000000001"
	photoSum   = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

var (
	now        = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	deviceTime = now.Add(-time.Hour)
	engine     = New(rulebook.Default())
)

// values and bases keep operation literals short.
type (
	values map[string]json.RawMessage
	bases  map[string]int64
)

func users(ids ...string) json.RawMessage {
	slices.Sort(ids)
	b, _ := json.Marshal(ids)
	return b
}

func op(action contract.Action, typ, id string, b bases, v values) *contract.Operation {
	return &contract.Operation{ID: opID, RecordType: typ, RecordID: id, Action: action,
		Bases: b, Values: v, DeviceID: "device", DeviceTime: deviceTime}
}

// fromDevice returns a copy of o sent from another device.
func fromDevice(o *contract.Operation, device string) *contract.Operation {
	c := *o
	c.DeviceID = device
	return &c
}

// recordOpt changes a fixture record.
type recordOpt func(*contract.Record)

func at(group string, version int64) recordOpt {
	return func(r *contract.Record) { r.Versions[group] = version }
}

func with(field string, v json.RawMessage) recordOpt {
	return func(r *contract.Record) { r.Fields[field] = v }
}

func reviewOpen(group string) recordOpt {
	return func(r *contract.Record) { r.OpenReviews = append(r.OpenReviews, group) }
}

// signed gives the job a customer's signature.
func signed(r *contract.Record) {
	r.Fields["signer_name"] = contract.Text("Dana Customer")
	r.Fields["signed_at"] = contract.Time(now.Add(-2 * time.Hour))
	r.Versions["signature"] = 2
}

// voidedJob marks the job voided, as a dispatcher's void leaves it.
func voidedJob(r *contract.Record) {
	r.Fields["voided"] = contract.Bool(true)
	r.Fields["status"] = contract.Text("voided")
	r.Versions["lifecycle"]++
	r.Versions["status"]++
}

// jobAt returns job J-1001 at a status: owned by Alex, Cara on the crew, Pat
// its owner before Alex, every group at version 1.
func jobAt(status string, opts ...recordOpt) *contract.Record {
	r := &contract.Record{Type: "job", ID: jobID, Number: "J-1001",
		Fields: map[string]json.RawMessage{
			"title":         contract.Text("Boiler service"),
			"site_address":  contract.Text("1 Mill Lane"),
			"assignee":      contract.Text(alexID),
			"crew":          users(caraID),
			"status":        contract.Text(status),
			"labor_minutes": contract.Int(30),
			"customer_id":   contract.Text(customerID),
		},
		Versions: map[string]int64{"summary": 1, "scheduling": 1, "assignment": 1, "status": 1,
			"work": 1, "signature": 1, "lifecycle": 1, "origin": 1},
		Owner: alexID, Author: danaID, DeviceID: "dana-desk", DeviceTime: deviceTime,
		PastOwners: []string{patID}, CreatedAt: now.Add(-24 * time.Hour), UpdatedAt: now.Add(-24 * time.Hour)}
	for _, o := range opts {
		o(r)
	}
	return r
}

func customerRec(opts ...recordOpt) *contract.Record {
	r := &contract.Record{Type: "customer", ID: customerID,
		Fields:   map[string]json.RawMessage{"name": contract.Text("Acme Ltd"), "phone": contract.Text("+44 20 7946 0000")},
		Versions: map[string]int64{"profile": 1, "contact": 1},
		Owner:    "dispatcher", Author: danaID, DeviceID: "dana-desk"}
	for _, o := range opts {
		o(r)
	}
	return r
}

func invoiceAt(status string, opts ...recordOpt) *contract.Record {
	r := &contract.Record{Type: "invoice", ID: invoiceID,
		Fields: map[string]json.RawMessage{"status": contract.Text(status), "total": contract.Int(10000),
			"customer_id": contract.Text(customerID), "job_id": contract.Text(jobID)},
		Versions: map[string]int64{"amounts": 1, "status": 1, "origin": 1},
		Owner:    "finance", Author: finnID, DeviceID: "finn-desk"}
	for _, o := range opts {
		o(r)
	}
	return r
}

func noteRec(author string, text string) *contract.Record {
	return &contract.Record{Type: "note", ID: noteID, ParentID: jobID,
		Fields:   map[string]json.RawMessage{"text": contract.Text(text)},
		Versions: map[string]int64{"body": 1, "lifecycle": 1},
		Owner:    author, Author: author, DeviceID: "device"}
}

func partRec(opts ...recordOpt) *contract.Record {
	r := &contract.Record{Type: "part", ID: partID, ParentID: jobID,
		Fields:   map[string]json.RawMessage{"sku": contract.Text("VLV-22"), "quantity": contract.Int(2)},
		Versions: map[string]int64{"line": 1, "lifecycle": 1},
		Author:   alexID, DeviceID: "alex-phone"}
	for _, o := range opts {
		o(r)
	}
	return r
}

func noteOp(text string) *contract.Operation {
	return op(contract.ActionAppend, "note", noteID, nil, values{"job_id": contract.Text(jobID), "text": contract.Text(text)})
}

func photoOp(size int64) *contract.Operation {
	return op(contract.ActionAppend, "photo", photoID, nil, values{"job_id": contract.Text(jobID), "filename": contract.Text("valve.jpg"),
		"content_type": contract.Text("image/jpeg"), "size": contract.Int(size), "sha256": contract.Text(photoSum)})
}

func partOp(qty int64) *contract.Operation {
	return op(contract.ActionAppend, "part", partID, nil, values{"job_id": contract.Text(jobID), "sku": contract.Text("VLV-22"), "quantity": contract.Int(qty)})
}

func move(to string, base int64) *contract.Operation {
	return op(contract.ActionTransition, "job", jobID, bases{"status": base}, values{"status": contract.Text(to)})
}

// want is what a decision must be.
type want struct {
	outcome contract.Outcome
	code    contract.Code
	kind    string   // held: the review's kind
	group   string   // held: the group the review goes on
	says    []string // phrases the message must contain
	notice  string

	// Applied: the fields that change with their new values (Null: cleared)
	// and the groups whose version goes up by one. No set: nothing changes.
	set    values
	bumped []string
}

func wantApplied(set values, bumped ...string) want {
	return want{outcome: contract.Applied, set: set, bumped: bumped}
}

// wantNoChange is an applied operation that changes nothing.
var wantNoChange = want{outcome: contract.Applied}

func wantRefused(code contract.Code, says ...string) want {
	return want{outcome: contract.Refused, code: code, says: says}
}

func wantHeld(code contract.Code, kind, group string, says ...string) want {
	return want{outcome: contract.Held, code: code, kind: kind, group: group, says: says}
}

// noAccess and onlyOwner are refusals many cases share.
var noAccess = func(typ string) want {
	return wantRefused(contract.CodeForbidden, "You do not have access to this "+typ+".")
}

// decide runs the engine and checks that it left its inputs alone.
func decide(t *testing.T, s Situation) Decision {
	t.Helper()
	if s.Now.IsZero() {
		s.Now = now
	}
	cur, par := s.Current.Clone(), s.Parent.Clone()
	var opCopy contract.Operation
	if s.Op != nil {
		opCopy = *s.Op
	}
	d := engine.Decide(s)
	if !reflect.DeepEqual(cur, s.Current) {
		t.Errorf("Decide changed the current record it was given")
	}
	if !reflect.DeepEqual(par, s.Parent) {
		t.Errorf("Decide changed the parent record it was given")
	}
	if s.Op != nil && !reflect.DeepEqual(opCopy, *s.Op) {
		t.Errorf("Decide changed the operation it was given")
	}
	return d
}

// check compares a decision with what it must be. before is the stored
// record the operation was decided against, nil for new records.
func check(t *testing.T, before *contract.Record, d Decision, w want) {
	t.Helper()
	if d.Outcome != w.outcome || d.Code != w.code {
		t.Fatalf("got %s %q (%s), want %s %q", d.Outcome, d.Code, d.Message, w.outcome, w.code)
	}
	for _, phrase := range w.says {
		if !strings.Contains(d.Message, phrase) {
			t.Errorf("message %q does not say %q", d.Message, phrase)
		}
	}
	if d.Notice != w.notice {
		t.Errorf("notice %q, want %q", d.Notice, w.notice)
	}
	switch d.Outcome {
	case contract.Refused:
		if d.Message == "" {
			t.Errorf("refused without a message")
		}
		if d.Record != nil {
			t.Errorf("refused but carries a record")
		}
	case contract.Held:
		if d.Message == "" {
			t.Errorf("held without a message")
		}
		if d.Kind != w.kind {
			t.Errorf("review kind %q, want %q", d.Kind, w.kind)
		}
		if d.Group != w.group {
			t.Errorf("review on group %q, want %q", d.Group, w.group)
		}
		if d.ReviewOn == nil {
			t.Errorf("held without the record the review goes on")
		}
		if contract.KindOf(d.Code) != contract.Conflict {
			t.Errorf("held with code %q of kind %q, want kind %q", d.Code, contract.KindOf(d.Code), contract.Conflict)
		}
		if d.Record != nil {
			t.Errorf("held but carries a changed record")
		}
	case contract.Applied:
		checkApplied(t, before, d, w)
	}
}

func checkApplied(t *testing.T, before *contract.Record, d Decision, w want) {
	t.Helper()
	if w.set == nil {
		if d.Record != nil || len(d.Changes) > 0 {
			t.Fatalf("want no change, got record with changes %v", changeList(d.Changes))
		}
		return
	}
	if d.Record == nil {
		t.Fatalf("want a changed record, got none")
	}
	got := map[string]string{}
	for _, c := range d.Changes {
		got[c.Field] = string(c.New)
		if g := engine.Rules.Record(d.Record.Type).GroupOf(c.Field); g == nil || g.Name != c.Group {
			t.Errorf("change of %s names group %q", c.Field, c.Group)
		}
		if before != nil && !contract.Same(before.Fields[c.Field], c.Old) {
			t.Errorf("change of %s: old %s, but the record held %s", c.Field, c.Old, before.Fields[c.Field])
		}
	}
	wantSet := map[string]string{}
	for f, v := range w.set {
		wantSet[f] = string(v)
		after, ok := d.Record.Fields[f]
		switch {
		case contract.IsNull(v) && ok && !contract.IsNull(after):
			t.Errorf("field %s is %s, want it cleared", f, after)
		case !contract.IsNull(v) && string(after) != string(v):
			t.Errorf("field %s is %s, want %s", f, after, v)
		}
	}
	if !reflect.DeepEqual(got, wantSet) {
		t.Errorf("changes %v, want %v", got, wantSet)
	}
	if before == nil {
		return
	}
	for f, v := range before.Fields {
		if _, changing := w.set[f]; !changing && string(d.Record.Fields[f]) != string(v) {
			t.Errorf("field %s changed from %s to %s", f, v, d.Record.Fields[f])
		}
	}
	groups := map[string]bool{}
	for g := range before.Versions {
		groups[g] = true
	}
	for g := range d.Record.Versions {
		groups[g] = true
	}
	for g := range groups {
		wantV := before.Versions[g]
		if slices.Contains(w.bumped, g) {
			wantV++
		}
		if got := d.Record.Versions[g]; got != wantV {
			t.Errorf("group %s at version %d, want %d (was %d)", g, got, wantV, before.Versions[g])
		}
	}
}

func changeList(cs []FieldChange) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s.%s=%s", c.Group, c.Field, c.New))
	}
	return out
}

// access is what a role may do with a field group.
type access int

const (
	cannotSee access = iota // does not see the record at all
	readOnly                // sees it; may not edit the group
	exOwner                 // owned the record before a reassign: edits are held
	editor                  // may edit the group
)

// TestPolicies runs every conflict policy against the three bases an edit can
// carry, for every role.
func TestPolicies(t *testing.T) {
	roles := []struct {
		key, name string
		actor     Actor
	}{
		{"owner", "the technician who owns it", alex},
		{"other", "a technician not on it", sam},
		{"former", "the technician who owned it before", pat},
		{"dispatcher", "a dispatcher", dana},
		{"supervisor", "a supervisor", suzy},
		{"finance", "finance", finn},
		{"admin", "an admin", ada},
	}
	// Finance reads jobs, to invoice them, and changes nothing on them.
	jobOffice := map[string]access{"owner": readOnly, "other": cannotSee, "former": readOnly,
		"dispatcher": editor, "supervisor": readOnly, "finance": readOnly, "admin": editor}
	jobOwner := map[string]access{"owner": editor, "other": cannotSee, "former": exOwner,
		"dispatcher": readOnly, "supervisor": readOnly, "finance": readOnly, "admin": readOnly}
	customer := map[string]access{"owner": cannotSee, "other": cannotSee, "former": cannotSee,
		"dispatcher": editor, "supervisor": readOnly, "finance": readOnly, "admin": editor}
	invoice := map[string]access{"owner": cannotSee, "other": cannotSee, "former": cannotSee,
		"dispatcher": readOnly, "supervisor": readOnly, "finance": editor, "admin": readOnly}

	// Each group's record holds the server's value at version 3.
	groups := []struct {
		name          string
		policy        string
		action        contract.Action
		group, field  string
		server, other json.RawMessage
		record        func() (current, parent *contract.Record)
		access        map[string]access
		onlyWho       string // the refusal to readOnly roles
	}{
		{
			name: "a job's summary", policy: rulebook.PolicyLastWriteWins, action: contract.ActionUpdate,
			group: "summary", field: "title", server: contract.Text("Boiler service"), other: contract.Text("Boiler repair"),
			record: func() (*contract.Record, *contract.Record) { return jobAt("in_progress", at("summary", 3)), nil },
			access: jobOffice, onlyWho: "Only dispatcher can change summary of this job.",
		},
		{
			name: "a job's scheduling", policy: rulebook.PolicyReview, action: contract.ActionUpdate,
			group: "scheduling", field: "site_address", server: contract.Text("1 Mill Lane"), other: contract.Text("2 Mill Lane"),
			record: func() (*contract.Record, *contract.Record) { return jobAt("in_progress", at("scheduling", 3)), nil },
			access: jobOffice, onlyWho: "Only dispatcher can change scheduling of this job.",
		},
		{
			name: "a job's assignment", policy: rulebook.PolicyReview, action: contract.ActionReassign,
			group: "assignment", field: "assignee", server: contract.Text(alexID), other: contract.Text(samID),
			record: func() (*contract.Record, *contract.Record) { return jobAt("in_progress", at("assignment", 3)), nil },
			access: jobOffice, onlyWho: "Only dispatcher can reassign a job.",
		},
		{
			name: "a job's work", policy: rulebook.PolicyReview, action: contract.ActionUpdate,
			group: "work", field: "labor_minutes", server: contract.Int(30), other: contract.Int(45),
			record: func() (*contract.Record, *contract.Record) { return jobAt("in_progress", at("work", 3)), nil },
			access: jobOwner, onlyWho: "Only the owner can change work of this job.",
		},
		{
			name: "a job's status", policy: rulebook.PolicyReview, action: contract.ActionTransition,
			group: "status", field: "status", server: contract.Text("in_progress"), other: contract.Text("paused"),
			record: func() (*contract.Record, *contract.Record) { return jobAt("in_progress", at("status", 3)), nil },
			access: jobOwner, onlyWho: "Only the owner can move a job to paused.",
		},
		{
			name: "a job's signature", policy: rulebook.PolicyWriteOnce, action: contract.ActionUpdate,
			group: "signature", field: "signer_name", server: contract.Text("Dana Customer"), other: contract.Text("D. Customer"),
			record: func() (*contract.Record, *contract.Record) {
				return jobAt("completed", signed, at("signature", 3)), nil
			},
			access: jobOwner, onlyWho: "Only the owner can change signature of this job.",
		},
		{
			name: "a part line's quantity", policy: rulebook.PolicyReview, action: contract.ActionUpdate,
			group: "line", field: "quantity", server: contract.Int(2), other: contract.Int(3),
			record: func() (*contract.Record, *contract.Record) { return partRec(at("line", 3)), jobAt("in_progress") },
			access: jobOwner, onlyWho: "Only the owner can change line of this part.",
		},
		{
			name: "a customer's profile", policy: rulebook.PolicyLastWriteWins, action: contract.ActionUpdate,
			group: "profile", field: "name", server: contract.Text("Acme Ltd"), other: contract.Text("Acme Limited"),
			record: func() (*contract.Record, *contract.Record) { return customerRec(at("profile", 3)), nil },
			access: customer, onlyWho: "Only dispatcher can change profile of this customer.",
		},
		{
			name: "a customer's contact", policy: rulebook.PolicyLastWriteWins, action: contract.ActionUpdate,
			group: "contact", field: "phone", server: contract.Text("+44 20 7946 0000"), other: contract.Text("+44 20 7946 0999"),
			record: func() (*contract.Record, *contract.Record) { return customerRec(at("contact", 3)), nil },
			access: customer, onlyWho: "Only dispatcher can change contact of this customer.",
		},
		{
			name: "an invoice's amounts", policy: rulebook.PolicyReview, action: contract.ActionUpdate,
			group: "amounts", field: "total", server: contract.Int(10000), other: contract.Int(12000),
			record: func() (*contract.Record, *contract.Record) { return invoiceAt("draft", at("amounts", 3)), nil },
			access: invoice, onlyWho: "Only finance can change amounts of this invoice.",
		},
	}
	edits := []struct {
		name  string
		base  int64
		same  bool // the edit carries the server's value
		stale bool
	}{
		{"from the current version", 3, false, false},
		{"from an older version with the value the server has", 2, true, true},
		{"from an older version with another value", 2, false, true},
	}

	// expect is the rules.md answer for one cell of the table.
	expect := func(policy string, action contract.Action, group, field string, value json.RawMessage, acc access,
		same, stale bool, typ, onlyWho, role string) want {
		// Asking for the status a job already has changes nothing for
		// anyone who may move it, or once owned it; others are refused.
		if action == contract.ActionTransition && same && acc != cannotSee {
			if acc == readOnly && role == "finance" {
				return wantRefused(contract.CodeForbidden, "can move a job to in progress")
			}
			return wantNoChange
		}
		switch acc {
		case cannotSee:
			return noAccess(typ)
		case readOnly:
			return wantRefused(contract.CodeForbidden, onlyWho)
		case exOwner:
			return wantHeld(contract.CodeOwnership, contract.KindOwnership, group, "moved to someone else")
		}
		switch {
		case same:
			return wantNoChange
		case policy == rulebook.PolicyWriteOnce:
			return wantRefused(contract.CodeWriteOnce, "already set and cannot change")
		case stale && policy == rulebook.PolicyReview:
			return wantHeld(contract.CodeConflict, contract.KindConflict, group, "Another update changed")
		}
		return wantApplied(values{field: value}, group)
	}

	for _, g := range groups {
		for _, e := range edits {
			for _, r := range roles {
				name := fmt.Sprintf("%s (%s) edited by %s %s", g.name, g.policy, r.name, e.name)
				t.Run(name, func(t *testing.T) {
					cur, parent := g.record()
					value := g.other
					if e.same {
						value = g.server
					}
					if !contract.Same(cur.Fields[g.field], g.server) {
						t.Fatalf("fixture: %s is %s, want %s", g.field, cur.Fields[g.field], g.server)
					}
					o := op(g.action, cur.Type, cur.ID, bases{g.group: e.base}, values{g.field: value})
					if parent != nil {
						o.Values[engine.Rules.Record(cur.Type).Via] = contract.Text(parent.ID)
					}
					d := decide(t, Situation{Actor: r.actor, Op: o, Current: cur, Parent: parent})
					check(t, cur, d, expect(g.policy, g.action, g.group, g.field, value, g.access[r.key],
						e.same, e.stale, cur.Type, g.onlyWho, r.key))
				})
			}
		}
	}
}

func TestWriteOnce(t *testing.T) {
	tests := []struct {
		name string
		job  *contract.Record
		op   *contract.Operation
		want want
	}{
		{
			name: "the first signature is taken",
			job:  jobAt("completed"),
			op:   op(contract.ActionUpdate, "job", jobID, bases{"signature": 1}, values{"signer_name": contract.Text("Dana Customer")}),
			want: wantApplied(values{"signer_name": contract.Text("Dana Customer")}, "signature"),
		},
		{
			name: "the first signature is taken from an older version too",
			job:  jobAt("completed", at("signature", 2)),
			op:   op(contract.ActionUpdate, "job", jobID, bases{"signature": 1}, values{"signer_name": contract.Text("Dana Customer")}),
			want: wantApplied(values{"signer_name": contract.Text("Dana Customer")}, "signature"),
		},
		{
			name: "a second signer name is refused",
			job:  jobAt("completed", signed),
			op:   op(contract.ActionUpdate, "job", jobID, bases{"signature": 2}, values{"signer_name": contract.Text("Someone Else")}),
			want: wantRefused(contract.CodeWriteOnce, "signature is already set and cannot change."),
		},
		{
			name: "clearing a given signature is refused",
			job:  jobAt("completed", signed),
			op:   op(contract.ActionUpdate, "job", jobID, bases{"signature": 2}, values{"signer_name": contract.Null}),
			want: wantRefused(contract.CodeWriteOnce, "already set"),
		},
		{
			name: "the same signature sent again changes nothing",
			job:  jobAt("completed", signed),
			op:   op(contract.ActionUpdate, "job", jobID, bases{"signature": 1}, values{"signer_name": contract.Text("Dana Customer")}),
			want: wantNoChange,
		},
		{
			name: "a job's origin is set at creation and never edited",
			job:  jobAt("in_progress"),
			op:   op(contract.ActionUpdate, "job", jobID, bases{"origin": 1}, values{"follows_job_id": contract.Text(otherJobID)}),
			want: wantRefused(contract.CodeForbidden, "change origin of this job"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.job, decide(t, Situation{Actor: alex, Op: tt.op, Current: tt.job}), tt.want)
		})
	}
}

func TestBaseVersions(t *testing.T) {
	tests := []struct {
		name string
		op   *contract.Operation
		want want
	}{
		{
			name: "an update without a base is refused",
			op:   op(contract.ActionUpdate, "job", jobID, nil, values{"labor_minutes": contract.Int(45)}),
			want: wantRefused(contract.CodeBadBase, "base version of group work is missing"),
		},
		{
			name: "an update with a base for another group only is refused",
			op:   op(contract.ActionUpdate, "job", jobID, bases{"summary": 1}, values{"labor_minutes": contract.Int(45)}),
			want: wantRefused(contract.CodeBadBase, "base version of group work is missing"),
		},
		{
			name: "a base newer than the server's is refused",
			op:   op(contract.ActionUpdate, "job", jobID, bases{"work": 4}, values{"labor_minutes": contract.Int(45)}),
			want: wantRefused(contract.CodeBadBase, "base version 4 of group work is newer than the server's 3"),
		},
		{
			name: "a negative base is refused",
			op:   op(contract.ActionUpdate, "job", jobID, bases{"work": -1}, values{"labor_minutes": contract.Int(45)}),
			want: wantRefused(contract.CodeBadBase, "negative"),
		},
		{
			name: "a base for a group the record does not have is refused",
			op:   op(contract.ActionUpdate, "job", jobID, bases{"work": 3, "weather": 1}, values{"labor_minutes": contract.Int(45)}),
			want: wantRefused(contract.CodeBadBase, `job has no field group "weather"`),
		},
		{
			name: "a transition without a base is refused",
			op:   op(contract.ActionTransition, "job", jobID, nil, values{"status": contract.Text("paused")}),
			want: wantRefused(contract.CodeBadBase, "base version of group status is missing"),
		},
		{
			name: "a reassign without a base is refused",
			op:   op(contract.ActionReassign, "job", jobID, nil, values{"assignee": contract.Text(samID)}),
			want: wantRefused(contract.CodeBadBase, "base version of group assignment is missing"),
		},
		{
			name: "a void without a base is refused",
			op:   op(contract.ActionVoid, "job", jobID, nil, nil),
			want: wantRefused(contract.CodeBadBase, "base version of group lifecycle is missing"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := jobAt("in_progress", at("work", 3))
			actor := alex
			if tt.op.Action == contract.ActionReassign || tt.op.Action == contract.ActionVoid {
				actor = dana
			}
			check(t, job, decide(t, Situation{Actor: actor, Op: tt.op, Current: job}), tt.want)
		})
	}
}

// step is one operation in a story; each applied step's record is the
// next step's current record.
type step struct {
	name  string
	actor Actor
	op    *contract.Operation
	want  want
}

// runStory decides the steps in order against job. Items are appended to
// the job as it stands at their step.
func runStory(t *testing.T, job *contract.Record, steps []step) *contract.Record {
	t.Helper()
	for i, st := range steps {
		ok := t.Run(fmt.Sprintf("%d %s", i+1, st.name), func(t *testing.T) {
			s := Situation{Actor: st.actor, Op: st.op, Current: job}
			if st.op.RecordType != "job" {
				s = Situation{Actor: st.actor, Op: st.op, Parent: job}
			}
			d := decide(t, s)
			before := s.Current
			check(t, before, d, st.want)
			if d.Record != nil && st.op.RecordType == "job" {
				job = d.Record
			}
		})
		if !ok {
			t.FailNow() // later steps depend on this one
		}
	}
	return job
}

func TestStreaks(t *testing.T) {
	labor := func(base, minutes int64, device string) *contract.Operation {
		o := op(contract.ActionUpdate, "job", jobID, bases{"work": base}, values{"labor_minutes": contract.Int(minutes)})
		return fromDevice(o, device)
	}
	t.Run("a device building on its own changes is not in conflict until another device writes", func(t *testing.T) {
		runStory(t, jobAt("in_progress"), []step{
			{"device A edits from base 1", alex, labor(1, 40, "A"),
				wantApplied(values{"labor_minutes": contract.Int(40)}, "work")},
			{"device A edits again from base 1", alex, labor(1, 50, "A"),
				wantApplied(values{"labor_minutes": contract.Int(50)}, "work")},
			{"device A edits a third time from base 2", alex, labor(2, 55, "A"),
				wantApplied(values{"labor_minutes": contract.Int(55)}, "work")},
			{"device B edits from the current base 4", alex, labor(4, 60, "B"),
				wantApplied(values{"labor_minutes": contract.Int(60)}, "work")},
			{"device A edits from base 1 again", alex, labor(1, 70, "A"),
				wantHeld(contract.CodeConflict, contract.KindConflict, "work", "Another update changed work")},
			{"device A sending what the server has is still fine", alex, labor(1, 60, "A"),
				wantNoChange},
		})
	})
	t.Run("another device on an older base is in conflict with the streak", func(t *testing.T) {
		runStory(t, jobAt("in_progress"), []step{
			{"device A edits from base 1", alex, labor(1, 40, "A"),
				wantApplied(values{"labor_minutes": contract.Int(40)}, "work")},
			{"device B edits from base 1", alex, labor(1, 45, "B"),
				wantHeld(contract.CodeConflict, contract.KindConflict, "work")},
		})
	})
	t.Run("a streak does not reach back before the version it started from", func(t *testing.T) {
		job := jobAt("in_progress", at("work", 3), func(r *contract.Record) {
			r.Streaks = map[string]contract.Streak{"work": {DeviceID: "A", Base: 2}}
		})
		runStory(t, job, []step{
			{"device A edits from base 1, before its streak", alex, labor(1, 40, "A"),
				wantHeld(contract.CodeConflict, contract.KindConflict, "work")},
			{"device A edits from base 2, where its streak began", alex, labor(2, 40, "A"),
				wantApplied(values{"labor_minutes": contract.Int(40)}, "work")},
		})
	})
	t.Run("a status move built on the device's own moves is not in conflict", func(t *testing.T) {
		mv := func(to string, base int64, device string) *contract.Operation {
			return fromDevice(move(to, base), device)
		}
		runStory(t, jobAt("opened"), []step{
			{"device A starts the job", alex, mv("in_progress", 1, "A"), wantApplied(values{"status": contract.Text("in_progress")}, "status")},
			{"device A pauses it from base 1", alex, mv("paused", 1, "A"), wantApplied(values{"status": contract.Text("paused")}, "status")},
			{"device B resumes it from base 3", alex, mv("in_progress", 3, "B"), wantApplied(values{"status": contract.Text("in_progress")}, "status")},
			{"device A completes it from base 1", alex, mv("completed", 1, "A"),
				wantHeld(contract.CodeConflict, contract.KindConflict, "status", "changed the status to in progress")},
		})
	})
}

func TestOwnershipChange(t *testing.T) {
	reassign := op(contract.ActionReassign, "job", jobID, bases{"assignment": 1}, values{"assignee": contract.Text(samID)})
	var job *contract.Record
	t.Run("a dispatcher reassigns the job from Alex to Sam", func(t *testing.T) {
		before := jobAt("in_progress")
		d := decide(t, Situation{Actor: dana, Op: reassign, Current: before})
		check(t, before, d, wantApplied(values{"assignee": contract.Text(samID)}, "assignment"))
		if d.Record.Owner != samID {
			t.Errorf("owner %q, want Sam", d.Record.Owner)
		}
		if !slices.Contains(d.Record.PastOwners, alexID) {
			t.Errorf("past owners %v do not include Alex", d.Record.PastOwners)
		}
		job = d.Record
	})
	if job == nil {
		t.FailNow()
	}
	// Alex's offline edits, made from the versions before the reassign.
	tests := []struct {
		name  string
		actor Actor
		op    *contract.Operation
		want  want
	}{
		{"Alex's status move is held", alex, move("completed", 1),
			wantHeld(contract.CodeOwnership, contract.KindOwnership, "status", "moved to someone else")},
		{"Alex's labor minutes are held", alex, op(contract.ActionUpdate, "job", jobID, bases{"work": 1}, values{"labor_minutes": contract.Int(90)}),
			wantHeld(contract.CodeOwnership, contract.KindOwnership, "work", "moved to someone else")},
		{"Alex's signature is held", alex, op(contract.ActionUpdate, "job", jobID, bases{"signature": 1}, values{"signer_name": contract.Text("Dana Customer")}),
			wantHeld(contract.CodeOwnership, contract.KindOwnership, "signature")},
		{"Alex's part line is held on the job's parts", alex, partOp(2),
			wantHeld(contract.CodeOwnership, contract.KindOwnership, "parts", "your part needs review")},
		{"Alex's note is kept", alex, noteOp("Replaced the valve"),
			wantApplied(values{"text": contract.Text("Replaced the valve")})},
		{"Alex's photo is kept", alex, photoOp(1000),
			wantApplied(values{"filename": contract.Text("valve.jpg"), "content_type": contract.Text("image/jpeg"), "size": contract.Int(1000), "sha256": contract.Text(photoSum)})},
		{"Sam's status move applies", sam, move("paused", 1),
			wantApplied(values{"status": contract.Text("paused")}, "status")},
		{"Sam's labor minutes apply", sam, op(contract.ActionUpdate, "job", jobID, bases{"work": 1}, values{"labor_minutes": contract.Int(90)}),
			wantApplied(values{"labor_minutes": contract.Int(90)}, "work")},
		{"Sam's part line applies", sam, partOp(2),
			wantApplied(values{"sku": contract.Text("VLV-22"), "quantity": contract.Int(2)})},
		{"a crew member still cannot change the work", cara,
			op(contract.ActionUpdate, "job", jobID, bases{"work": 1}, values{"labor_minutes": contract.Int(90)}),
			wantRefused(contract.CodeForbidden, "Only the owner can change work")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Situation{Actor: tt.actor, Op: tt.op, Current: job}
			var before *contract.Record = job
			if tt.op.RecordType != "job" {
				s = Situation{Actor: tt.actor, Op: tt.op, Parent: job}
				before = nil
			}
			d := decide(t, s)
			check(t, before, d, tt.want)
			if d.Outcome == contract.Held && d.ReviewOn.ID != jobID {
				t.Errorf("review goes on %s %s, want the job", d.ReviewOn.Type, d.ReviewOn.ID)
			}
		})
	}
	t.Run("reassigning back to a former owner takes them off the past owners", func(t *testing.T) {
		back := op(contract.ActionReassign, "job", jobID, bases{"assignment": 2}, values{"assignee": contract.Text(alexID)})
		d := decide(t, Situation{Actor: dana, Op: back, Current: job})
		check(t, job, d, wantApplied(values{"assignee": contract.Text(alexID)}, "assignment"))
		if slices.Contains(d.Record.PastOwners, alexID) || !slices.Contains(d.Record.PastOwners, samID) {
			t.Errorf("past owners %v, want Sam and not Alex", d.Record.PastOwners)
		}
	})
	t.Run("a reassign needs the new assignee", func(t *testing.T) {
		o := op(contract.ActionReassign, "job", jobID, bases{"assignment": 2}, values{"crew": users(caraID)})
		check(t, job, decide(t, Situation{Actor: dana, Op: o, Current: job}), wantRefused(contract.CodeBadValue, "needs the new assignee"))
	})
	t.Run("a reassign sets only assignment fields", func(t *testing.T) {
		o := op(contract.ActionReassign, "job", jobID, bases{"assignment": 2}, values{"assignee": contract.Text(alexID), "title": contract.Text("x")})
		check(t, job, decide(t, Situation{Actor: dana, Op: o, Current: job}), wantRefused(contract.CodeInvalid, "sets only assignment fields"))
	})
	t.Run("customers are not reassigned", func(t *testing.T) {
		cust := customerRec()
		o := op(contract.ActionReassign, "customer", customerID, bases{"profile": 1}, values{"name": contract.Text("x")})
		check(t, cust, decide(t, Situation{Actor: dana, Op: o, Current: cust}), wantRefused(contract.CodeInvalid, "not reassigned"))
	})
}

func TestLocks(t *testing.T) {
	signedOff := func() *contract.Record { return jobAt("signed_off", signed) }
	closed := func() *contract.Record { return jobAt("closed", signed) }
	note := values{"text": contract.Text("Customer called about the bill")}
	tests := []struct {
		name  string
		job   func() *contract.Record
		actor Actor
		op    *contract.Operation
		item  *contract.Record // the stored item the operation is on, if any
		want  want
	}{
		{"a summary edit on a signed-off job is refused", signedOff, dana,
			op(contract.ActionUpdate, "job", jobID, bases{"summary": 1}, values{"title": contract.Text("New")}),
			nil, wantRefused(contract.CodeLocked, "This job is signed off.")},
		{"a scheduling edit on a closed job is refused", closed, dana,
			op(contract.ActionUpdate, "job", jobID, bases{"scheduling": 1}, values{"site_address": contract.Text("2 Mill Lane")}),
			nil, wantRefused(contract.CodeLocked, "This job is closed.")},
		{"a reassign of a signed-off job is refused", signedOff, dana,
			op(contract.ActionReassign, "job", jobID, bases{"assignment": 1}, values{"assignee": contract.Text(samID)}),
			nil, wantRefused(contract.CodeLocked, "signed off")},
		{"a work edit on a signed-off job is refused", signedOff, alex,
			op(contract.ActionUpdate, "job", jobID, bases{"work": 1}, values{"labor_minutes": contract.Int(90)}),
			nil, wantRefused(contract.CodeLocked, "signed off")},
		{"the same work sent again to a signed-off job is refused too", signedOff, alex,
			op(contract.ActionUpdate, "job", jobID, bases{"work": 1}, values{"labor_minutes": contract.Int(30)}),
			nil, wantRefused(contract.CodeLocked, "signed off")},
		{"a signature edit on a closed job is refused", closed, alex,
			op(contract.ActionUpdate, "job", jobID, bases{"signature": 2}, values{"signed_at": contract.Time(now)}),
			nil, wantRefused(contract.CodeLocked, "closed")},
		{"a part line added to a signed-off job is refused", signedOff, alex, partOp(1),
			nil, wantRefused(contract.CodeLocked, "signed off")},
		{"a photo added to a closed job is refused", closed, alex, photoOp(1000),
			nil, wantRefused(contract.CodeLocked, "closed")},
		{"a part line's quantity on a signed-off job is refused", signedOff, alex,
			op(contract.ActionUpdate, "part", partID, bases{"line": 1}, values{"quantity": contract.Int(5)}),
			partRec(), wantRefused(contract.CodeLocked, "This job is signed off.")},
		{"a note added to a signed-off job is kept and marked", signedOff, alex,
			op(contract.ActionAppend, "note", noteID, nil, values{"job_id": contract.Text(jobID), "text": note["text"]}),
			nil, want{outcome: contract.Applied, set: note, notice: "Added after sign-off."}},
		{"a note added to a closed job by the office is kept and marked", closed, dana,
			op(contract.ActionAppend, "note", noteID, nil, values{"job_id": contract.Text(jobID), "text": note["text"]}),
			nil, want{outcome: contract.Applied, set: note, notice: "Added after sign-off."}},
		{"a note's author may still void it on a signed-off job", signedOff, alex,
			op(contract.ActionVoid, "note", noteID, bases{"lifecycle": 1}, nil),
			noteRec(alexID, "Typo"), wantApplied(values{"voided": contract.Bool(true)}, "lifecycle")},
		{"the owner cannot move a signed-off job back to work", signedOff, alex, move("in_progress", 1),
			nil, wantRefused(contract.CodeLocked, "signed off")},
		{"the office closes a signed-off job", signedOff, dana, move("closed", 1),
			nil, wantApplied(values{"status": contract.Text("closed")}, "status")},
		{"an admin closes a signed-off job", signedOff, ada, move("closed", 1),
			nil, wantApplied(values{"status": contract.Text("closed")}, "status")},
		{"the owner cannot close a job", signedOff, alex, move("closed", 1),
			nil, wantRefused(contract.CodeForbidden, "Only dispatcher or supervisor can move a job to closed.")},
		{"a supervisor reopens a closed job and clears its signature", closed, suzy,
			op(contract.ActionReopen, "job", jobID, nil, nil), nil,
			wantApplied(values{"status": contract.Text("reopened"), "signer_name": contract.Null, "signed_at": contract.Null}, "status", "signature")},
		{"a dispatcher reopens a signed-off job", signedOff, dana,
			op(contract.ActionReopen, "job", jobID, nil, nil), nil,
			wantApplied(values{"status": contract.Text("reopened"), "signer_name": contract.Null, "signed_at": contract.Null}, "status", "signature")},
		{"an admin reopens a signed-off job", signedOff, ada,
			op(contract.ActionReopen, "job", jobID, nil, nil), nil,
			wantApplied(values{"status": contract.Text("reopened"), "signer_name": contract.Null, "signed_at": contract.Null}, "status", "signature")},
		{"the owner cannot reopen a job", signedOff, alex,
			op(contract.ActionReopen, "job", jobID, nil, nil), nil,
			wantRefused(contract.CodeForbidden, "Only supervisor or dispatcher can reopen a job.")},
		{"a reopen carries no values", signedOff, dana,
			op(contract.ActionReopen, "job", jobID, nil, values{"title": contract.Text("x")}), nil,
			wantRefused(contract.CodeInvalid, "carries no values")},
		{"a job in progress cannot be reopened", func() *contract.Record { return jobAt("in_progress") }, dana,
			op(contract.ActionReopen, "job", jobID, nil, nil), nil,
			wantRefused(contract.CodeIllegalMove, "Only a signed-off or closed job can be reopened; this one is in progress.")},
		{"reopening a reopened job again changes nothing", func() *contract.Record { return jobAt("reopened") }, dana,
			op(contract.ActionReopen, "job", jobID, nil, nil), nil, wantNoChange},
		{"the owner takes a reopened job back to work", func() *contract.Record { return jobAt("reopened") }, alex,
			move("in_progress", 1), nil, wantApplied(values{"status": contract.Text("in_progress")}, "status")},
		{"a signed-off job cannot be voided", signedOff, dana,
			op(contract.ActionVoid, "job", jobID, bases{"lifecycle": 1}, nil),
			nil, wantRefused(contract.CodeLocked, "This job is signed off. Reopen it before voiding.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := tt.job()
			s := Situation{Actor: tt.actor, Op: tt.op, Current: job}
			before := job
			if tt.op.RecordType != "job" {
				s = Situation{Actor: tt.actor, Op: tt.op, Current: tt.item, Parent: job}
				before = tt.item
			}
			d := decide(t, s)
			check(t, before, d, tt.want)
			if tt.op.Action == contract.ActionAppend && d.Record != nil && !d.Record.AfterSignoff {
				t.Errorf("a note added to a %s job is not marked added after sign-off", job.Text("status"))
			}
		})
	}
	t.Run("a note added before sign-off is not marked", func(t *testing.T) {
		d := decide(t, Situation{Actor: alex, Op: noteOp("Fine"), Parent: jobAt("completed")})
		check(t, nil, d, wantApplied(values{"text": contract.Text("Fine")}))
		if d.Record.AfterSignoff {
			t.Errorf("marked added after sign-off")
		}
	})
}

func TestVoid(t *testing.T) {
	void := func(b bases) *contract.Operation { return op(contract.ActionVoid, "job", jobID, b, nil) }
	voids := wantApplied(values{"voided": contract.Bool(true), "status": contract.Text("voided")}, "lifecycle", "status")
	var tests []struct {
		name  string
		job   *contract.Record
		actor Actor
		op    *contract.Operation
		want  want
	}
	add := func(name string, job *contract.Record, actor Actor, o *contract.Operation, w want) {
		tests = append(tests, struct {
			name  string
			job   *contract.Record
			actor Actor
			op    *contract.Operation
			want  want
		}{name, job, actor, o, w})
	}
	for _, st := range []string{"assigned", "opened", "in_progress", "paused", "completed", "waiting_for_approval", "reopened"} {
		add("a dispatcher voids a job that is "+words(st), jobAt(st), dana, void(bases{"lifecycle": 1, "status": 1}), voids)
	}
	for _, st := range []string{"signed_off", "closed"} {
		add("a job that is "+words(st)+" cannot be voided", jobAt(st, signed), dana, void(bases{"lifecycle": 1}),
			wantRefused(contract.CodeLocked, "Reopen it before voiding."))
	}
	add("an admin voids a job", jobAt("in_progress"), ada, void(bases{"lifecycle": 1}), voids)
	add("a supervisor cannot void a job", jobAt("in_progress"), suzy, void(bases{"lifecycle": 1}),
		wantRefused(contract.CodeForbidden, "Only dispatcher can void this job."))
	add("the owner cannot void a job", jobAt("in_progress"), alex, void(bases{"lifecycle": 1}),
		wantRefused(contract.CodeForbidden, "Only dispatcher can void this job."))
	add("a void that had not seen a status change is held", jobAt("in_progress", at("status", 2)), dana,
		void(bases{"lifecycle": 1, "status": 1, "summary": 1}),
		wantHeld(contract.CodeConflict, contract.KindConflict, "lifecycle", "The job changed (status) after your version; voiding it needs review."))
	add("a void that had seen every change applies", jobAt("in_progress", at("status", 2), at("work", 4)), dana,
		void(bases{"lifecycle": 1, "status": 2, "work": 4}), voids)
	add("voiding a voided job again changes nothing", jobAt("in_progress", voidedJob), dana,
		void(bases{"lifecycle": 2}), wantNoChange)
	add("a void joins an open review of the job's void", jobAt("in_progress", reviewOpen("lifecycle")), dana,
		void(bases{"lifecycle": 1}), wantHeld(contract.CodeReviewOpen, contract.KindConflict, "lifecycle", "already open"))
	add("a void carries no values but voided", jobAt("in_progress"), dana,
		op(contract.ActionVoid, "job", jobID, bases{"lifecycle": 1}, values{"title": contract.Text("x")}),
		wantRefused(contract.CodeUnknownField, `a void carries no values but voided; got "title"`))
	add("a job cannot be voided with a status move", jobAt("in_progress"), dana, move("voided", 1),
		wantRefused(contract.CodeIllegalMove, "cannot move from in progress to voided"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.job, decide(t, Situation{Actor: tt.actor, Op: tt.op, Current: tt.job}), tt.want)
		})
	}

	t.Run("customers cannot be voided", func(t *testing.T) {
		c := customerRec()
		o := op(contract.ActionVoid, "customer", customerID, bases{"profile": 1}, nil)
		check(t, c, decide(t, Situation{Actor: dana, Op: o, Current: c}), wantRefused(contract.CodeInvalid, "customer records cannot be voided"))
	})
	items := []struct {
		name  string
		item  *contract.Record
		actor Actor
		want  want
	}{
		{"a note's author voids it", noteRec(alexID, "Wrong job"), alex, wantApplied(values{"voided": contract.Bool(true)}, "lifecycle")},
		{"someone else cannot void a note", noteRec(alexID, "Wrong job"), cara, wantRefused(contract.CodeForbidden, "Only the author can void this note.")},
		{"a dispatcher cannot void a technician's note", noteRec(alexID, "Wrong job"), dana, wantRefused(contract.CodeForbidden, "Only the author")},
		{"a part line's owner voids it", partRec(), alex, wantApplied(values{"voided": contract.Bool(true)}, "lifecycle")},
		{"a crew member cannot void a part line", partRec(), cara, wantRefused(contract.CodeForbidden, "Only the owner can void this part.")},
		{"a former owner's void of a part line is held", partRec(), pat, wantHeld(contract.CodeOwnership, contract.KindOwnership, "lifecycle", "your void needs review")},
	}
	for _, tt := range items {
		t.Run(tt.name, func(t *testing.T) {
			o := op(contract.ActionVoid, tt.item.Type, tt.item.ID, bases{"lifecycle": 1}, nil)
			d := decide(t, Situation{Actor: tt.actor, Op: o, Current: tt.item, Parent: jobAt("in_progress")})
			check(t, tt.item, d, tt.want)
		})
	}
}

func TestVoidedJob(t *testing.T) {
	job := jobAt("in_progress", voidedJob)
	tests := []struct {
		name  string
		actor Actor
		op    *contract.Operation
		want  want
	}{
		{"a late status move is held", alex, move("completed", 1),
			wantHeld(contract.CodeVoided, contract.KindVoided, "status", "This job was voided; your status change needs review.")},
		{"a late work edit is held", alex, op(contract.ActionUpdate, "job", jobID, bases{"work": 1}, values{"labor_minutes": contract.Int(90)}),
			wantHeld(contract.CodeVoided, contract.KindVoided, "work", "This job was voided; your change to work needs review.")},
		{"a late summary edit is held though the summary is last write wins", dana,
			op(contract.ActionUpdate, "job", jobID, bases{"summary": 1}, values{"title": contract.Text("New")}),
			wantHeld(contract.CodeVoided, contract.KindVoided, "summary", "voided")},
		{"a late reassign is held", dana, op(contract.ActionReassign, "job", jobID, bases{"assignment": 1}, values{"assignee": contract.Text(samID)}),
			wantHeld(contract.CodeVoided, contract.KindVoided, "assignment", "voided")},
		{"a late edit with the value the job has changes nothing", alex,
			op(contract.ActionUpdate, "job", jobID, bases{"work": 1}, values{"labor_minutes": contract.Int(30)}), wantNoChange},
		{"a late note is kept", alex, noteOp("Arrived, nobody home"), wantApplied(values{"text": contract.Text("Arrived, nobody home")})},
		{"a late note from the office is kept", dana, noteOp("Customer cancelled"), wantApplied(values{"text": contract.Text("Customer cancelled")})},
		{"a voided job is not reopened", dana, op(contract.ActionReopen, "job", jobID, nil, nil),
			wantRefused(contract.CodeIllegalMove, "this one is voided")},
		{"a voided job has no moves to a state nobody moves to", alex, move("assigned", 2),
			wantRefused(contract.CodeIllegalMove, "no moves are allowed from voided")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Situation{Actor: tt.actor, Op: tt.op, Current: job}
			before := job
			if tt.op.RecordType != "job" {
				s = Situation{Actor: tt.actor, Op: tt.op, Parent: job}
				before = nil
			}
			check(t, before, decide(t, s), tt.want)
		})
	}
}

func TestOpenReview(t *testing.T) {
	job := jobAt("in_progress", reviewOpen("work"), reviewOpen("status"))
	tests := []struct {
		name  string
		actor Actor
		op    *contract.Operation
		want  want
	}{
		{"an edit from the current version joins the open review", alex,
			op(contract.ActionUpdate, "job", jobID, bases{"work": 1}, values{"labor_minutes": contract.Int(90)}),
			wantHeld(contract.CodeReviewOpen, contract.KindConflict, "work", "A review of work is already open; your change joins it.")},
		{"a status move joins the open review of the status", alex, move("paused", 1),
			wantHeld(contract.CodeReviewOpen, contract.KindConflict, "status", "already open")},
		{"the value the server has changes nothing", alex,
			op(contract.ActionUpdate, "job", jobID, bases{"work": 1}, values{"labor_minutes": contract.Int(30)}), wantNoChange},
		{"another group is not held", dana,
			op(contract.ActionUpdate, "job", jobID, bases{"summary": 1}, values{"title": contract.Text("Boiler repair")}),
			wantApplied(values{"title": contract.Text("Boiler repair")}, "summary")},
		{"a note is not held", alex, noteOp("Waiting on the office"), wantApplied(values{"text": contract.Text("Waiting on the office")})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Situation{Actor: tt.actor, Op: tt.op, Current: job}
			before := job
			if tt.op.RecordType != "job" {
				s = Situation{Actor: tt.actor, Op: tt.op, Parent: job}
				before = nil
			}
			check(t, before, decide(t, s), tt.want)
		})
	}
}

// mentionsStates reports whether msg names every state, in plain words or
// as the state's name.
func mentionsStates(msg string, states ...string) bool {
	for _, s := range states {
		if !strings.Contains(msg, s) && !strings.Contains(msg, words(s)) {
			return false
		}
	}
	return true
}

func TestStatusMachine(t *testing.T) {
	tests := []struct {
		name    string
		job     *contract.Record
		actor   Actor
		to      string
		want    want
		allowed []string // illegal moves: the moves the message must list
	}{
		{name: "the owner opens an assigned job", job: jobAt("assigned"), actor: alex, to: "opened",
			want: wantApplied(values{"status": contract.Text("opened")}, "status")},
		{name: "the owner starts an opened job", job: jobAt("opened"), actor: alex, to: "in_progress",
			want: wantApplied(values{"status": contract.Text("in_progress")}, "status")},
		{name: "the owner pauses work", job: jobAt("in_progress"), actor: alex, to: "paused",
			want: wantApplied(values{"status": contract.Text("paused")}, "status")},
		{name: "the owner resumes work", job: jobAt("paused"), actor: alex, to: "in_progress",
			want: wantApplied(values{"status": contract.Text("in_progress")}, "status")},
		{name: "the owner completes work", job: jobAt("in_progress"), actor: alex, to: "completed",
			want: wantApplied(values{"status": contract.Text("completed")}, "status")},
		{name: "a dispatcher asks for approval of work in progress", job: jobAt("in_progress"), actor: dana, to: "waiting_for_approval",
			want: wantApplied(values{"status": contract.Text("waiting_for_approval")}, "status")},
		{name: "a supervisor asks for approval of completed work", job: jobAt("completed"), actor: suzy, to: "waiting_for_approval",
			want: wantApplied(values{"status": contract.Text("waiting_for_approval")}, "status")},
		{name: "an admin asks for approval", job: jobAt("completed"), actor: ada, to: "waiting_for_approval",
			want: wantApplied(values{"status": contract.Text("waiting_for_approval")}, "status")},
		{name: "the owner cannot ask for approval", job: jobAt("in_progress"), actor: alex, to: "waiting_for_approval",
			want: wantRefused(contract.CodeForbidden, "Only dispatcher or supervisor can move a job to waiting for approval.")},
		{name: "the office sends an approved job back to work", job: jobAt("waiting_for_approval"), actor: dana, to: "in_progress",
			want: wantApplied(values{"status": contract.Text("in_progress")}, "status")},
		{name: "the owner cannot end the wait for approval", job: jobAt("waiting_for_approval"), actor: alex, to: "in_progress",
			want: wantRefused(contract.CodeForbidden, "Only")},
		{name: "the owner signs off completed work with a signature", job: jobAt("completed", signed), actor: alex, to: "signed_off",
			want: wantApplied(values{"status": contract.Text("signed_off")}, "status")},
		{name: "the owner signs off approved work with a signature", job: jobAt("waiting_for_approval", signed), actor: alex, to: "signed_off",
			want: wantApplied(values{"status": contract.Text("signed_off")}, "status")},
		{name: "signing off needs the customer's signature", job: jobAt("completed"), actor: alex, to: "signed_off",
			want: wantRefused(contract.CodeNeeds, "Moving to signed off needs the signature first.")},
		{name: "a dispatcher cannot sign off for the owner", job: jobAt("completed", signed), actor: dana, to: "signed_off",
			want: wantRefused(contract.CodeForbidden, "Only the owner can move a job to signed off.")},
		{name: "a dispatcher cannot make the owner's moves", job: jobAt("in_progress"), actor: dana, to: "completed",
			want: wantRefused(contract.CodeForbidden, "Only the owner can move a job to completed.")},
		{name: "a crew member cannot make the owner's moves", job: jobAt("in_progress"), actor: cara, to: "completed",
			want: wantRefused(contract.CodeForbidden, "Only the owner")},
		{name: "finance cannot move a job", job: jobAt("in_progress"), actor: finn, to: "completed",
			want: wantRefused(contract.CodeForbidden, "Only the owner can move a job to completed.")},
		{name: "a technician not on the job cannot see it to move it", job: jobAt("in_progress"), actor: sam, to: "completed",
			want: noAccess("job")},
		{name: "an assigned job cannot skip to completed", job: jobAt("assigned"), actor: alex, to: "completed",
			want: wantRefused(contract.CodeIllegalMove, "cannot move from assigned to completed"), allowed: []string{"opened"}},
		{name: "an opened job cannot be paused", job: jobAt("opened"), actor: alex, to: "paused",
			want: wantRefused(contract.CodeIllegalMove, "cannot move from opened to paused"), allowed: []string{"in_progress"}},
		{name: "a paused job cannot be completed", job: jobAt("paused"), actor: alex, to: "completed",
			want: wantRefused(contract.CodeIllegalMove, "cannot move from paused to completed"), allowed: []string{"in_progress"}},
		{name: "a job in progress cannot go back to assigned", job: jobAt("in_progress"), actor: alex, to: "assigned",
			want:    wantRefused(contract.CodeIllegalMove, "cannot move from in progress to assigned"),
			allowed: []string{"paused", "completed", "waiting_for_approval"}},
		{name: "a job in progress cannot be signed off", job: jobAt("in_progress", signed), actor: alex, to: "signed_off",
			want:    wantRefused(contract.CodeIllegalMove, "cannot move from in progress to signed off"),
			allowed: []string{"paused", "completed", "waiting_for_approval"}},
		{name: "a completed job cannot be reopened with a move", job: jobAt("completed"), actor: dana, to: "reopened",
			want:    wantRefused(contract.CodeIllegalMove, "cannot move from completed to reopened"),
			allowed: []string{"waiting_for_approval", "signed_off"}},
		{name: "a status that is not a state is refused", job: jobAt("in_progress"), actor: alex, to: "done",
			want: wantRefused(contract.CodeBadValue, `"done" is not a state`)},
		{name: "moving to the status the job has changes nothing", job: jobAt("in_progress"), actor: alex, to: "in_progress",
			want: wantNoChange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(t, Situation{Actor: tt.actor, Op: move(tt.to, 1), Current: tt.job})
			check(t, tt.job, d, tt.want)
			if tt.allowed != nil {
				if !strings.Contains(d.Message, "it can move to") || !mentionsStates(d.Message, tt.allowed...) {
					t.Errorf("message %q does not list the allowed moves %v", d.Message, tt.allowed)
				}
			}
		})
	}
	t.Run("a transition sets only the status", func(t *testing.T) {
		job := jobAt("in_progress")
		o := op(contract.ActionTransition, "job", jobID, bases{"status": 1}, values{"status": contract.Text("paused"), "labor_minutes": contract.Int(5)})
		check(t, job, decide(t, Situation{Actor: alex, Op: o, Current: job}), wantRefused(contract.CodeInvalid, "a transition sets only status"))
	})
	t.Run("a transition needs the new status", func(t *testing.T) {
		job := jobAt("in_progress")
		o := op(contract.ActionTransition, "job", jobID, bases{"status": 1}, nil)
		check(t, job, decide(t, Situation{Actor: alex, Op: o, Current: job}), wantRefused(contract.CodeBadValue, "a transition needs the new status"))
	})
	t.Run("customers have no status", func(t *testing.T) {
		c := customerRec()
		o := op(contract.ActionTransition, "customer", customerID, bases{"profile": 1}, values{"name": contract.Text("x")})
		check(t, c, decide(t, Situation{Actor: dana, Op: o, Current: c}), wantRefused(contract.CodeInvalid, "customer records have no status"))
	})
}

func TestAppends(t *testing.T) {
	noteVals := values{"text": contract.Text("Replaced the valve")}
	photoVals := values{"filename": contract.Text("valve.jpg"), "content_type": contract.Text("image/jpeg"), "size": contract.Int(1000), "sha256": contract.Text(photoSum)}
	partVals := values{"sku": contract.Text("VLV-22"), "quantity": contract.Int(2)}
	limit := engine.Rules.Limits.Photo
	tests := []struct {
		name   string
		actor  Actor
		op     *contract.Operation
		stored *contract.Record // a record already stored under the operation's id
		parent *contract.Record
		want   want
	}{
		{name: "the owner adds a note", actor: alex, op: noteOp("Replaced the valve"), want: wantApplied(noteVals)},
		{name: "a crew member adds a note", actor: cara, op: noteOp("Replaced the valve"), want: wantApplied(noteVals)},
		{name: "the former owner adds a note", actor: pat, op: noteOp("Replaced the valve"), want: wantApplied(noteVals)},
		{name: "a dispatcher adds a note", actor: dana, op: noteOp("Replaced the valve"), want: wantApplied(noteVals)},
		{name: "a supervisor adds a note", actor: suzy, op: noteOp("Replaced the valve"), want: wantApplied(noteVals)},
		{name: "an admin adds a note", actor: ada, op: noteOp("Replaced the valve"), want: wantApplied(noteVals)},
		{name: "a technician not on the job cannot add a note", actor: sam, op: noteOp("x"), want: noAccess("job")},
		{name: "finance cannot add a note to a job it reads", actor: finn, op: noteOp("x"),
			want: wantRefused(contract.CodeForbidden, "Only the people on it, dispatcher or supervisor can add notes to this job.")},
		{name: "finance cannot add a photo to a job it reads", actor: finn, op: photoOp(10),
			want: wantRefused(contract.CodeForbidden, "can add photos to this job.")},
		{name: "finance cannot add a part line", actor: finn, op: partOp(1),
			want: wantRefused(contract.CodeForbidden, "Only the owner can add parts")},
		{name: "a crew member adds a photo", actor: cara, op: photoOp(1000), want: wantApplied(photoVals)},
		{name: "a photo at the size limit is taken", actor: alex, op: photoOp(limit),
			want: wantApplied(values{"filename": contract.Text("valve.jpg"), "content_type": contract.Text("image/jpeg"), "size": contract.Int(limit), "sha256": contract.Text(photoSum)})},
		{name: "a photo over the size limit is refused", actor: alex, op: photoOp(limit + 1),
			want: wantRefused(contract.CodeTooLarge, "the limit is 25.0 MB")},
		{name: "a photo without a checksum is refused", actor: alex,
			op:   op(contract.ActionAppend, "photo", photoID, nil, values{"job_id": contract.Text(jobID), "size": contract.Int(10)}),
			want: wantRefused(contract.CodeBadValue, "field sha256 is required for a new photo")},
		{name: "the owner adds a part line", actor: alex, op: partOp(2), want: wantApplied(partVals)},
		{name: "a crew member cannot add a part line", actor: cara, op: partOp(2),
			want: wantRefused(contract.CodeForbidden, "Only the owner can add parts to this job.")},
		{name: "a dispatcher cannot add a part line", actor: dana, op: partOp(2),
			want: wantRefused(contract.CodeForbidden, "Only the owner can add parts")},
		{name: "the former owner's part line is held", actor: pat, op: partOp(2),
			want: wantHeld(contract.CodeOwnership, contract.KindOwnership, "parts", "The job was moved to someone else; your part needs review.")},
		{name: "a retried note from its author changes nothing", actor: alex, op: noteOp("Replaced the valve"),
			stored: noteRec(alexID, "Replaced the valve"), want: wantNoChange},
		{name: "a note with the id of another note is refused", actor: alex, op: noteOp("Replaced the valve"),
			stored: noteRec(alexID, "Something else"), want: wantRefused(contract.CodeExists, "another note already has id "+noteID)},
		{name: "a note with the id of someone else's note is refused", actor: cara, op: noteOp("Replaced the valve"),
			stored: noteRec(alexID, "Replaced the valve"), want: wantRefused(contract.CodeExists, "another note already has id")},
		{name: "a note with the id of a note on another job is refused", actor: alex, op: noteOp("Replaced the valve"),
			stored: func() *contract.Record { n := noteRec(alexID, "Replaced the valve"); n.ParentID = otherJobID; return n }(),
			want:   wantRefused(contract.CodeExists, "another note already has id")},
		{name: "a note without its job is refused", actor: alex,
			op:   op(contract.ActionAppend, "note", noteID, nil, values{"text": contract.Text("x")}),
			want: wantRefused(contract.CodeBadValue, "field job_id is required")},
		{name: "a note whose job id is a path is refused", actor: alex,
			op:   op(contract.ActionAppend, "note", noteID, nil, values{"job_id": contract.Text("../../etc/passwd"), "text": contract.Text("x")}),
			want: wantRefused(contract.CodeBadValue, "field job_id: not a UUID")},
		{name: "a note whose job id is not text is refused", actor: alex,
			op:   op(contract.ActionAppend, "note", noteID, nil, values{"job_id": contract.Int(7), "text": contract.Text("x")}),
			want: wantRefused(contract.CodeBadValue, "field job_id: want the id of a job")},
		{name: "a note on a job that does not exist is refused", actor: alex,
			op:   op(contract.ActionAppend, "note", noteID, nil, values{"job_id": contract.Text(otherJobID), "text": contract.Text("x")}),
			want: wantRefused(contract.CodeNotFound, "no job with id "+otherJobID)},
		{name: "a note when the job is not in hand is refused", actor: alex, op: noteOp("x"),
			parent: &contract.Record{}, want: wantRefused(contract.CodeNotFound, "no job with id")},
		{name: "a note without text is refused", actor: alex,
			op:   op(contract.ActionAppend, "note", noteID, nil, values{"job_id": contract.Text(jobID)}),
			want: wantRefused(contract.CodeBadValue, "field text is required for a new note")},
		{name: "a note cannot start voided", actor: alex,
			op:   op(contract.ActionAppend, "note", noteID, nil, values{"job_id": contract.Text(jobID), "text": contract.Text("x"), "voided": contract.Bool(true)}),
			want: wantRefused(contract.CodeInvalid, "a new note cannot start voided")},
		{name: "a note with a field notes do not have is refused", actor: alex,
			op:   op(contract.ActionAppend, "note", noteID, nil, values{"job_id": contract.Text(jobID), "text": contract.Text("x"), "mood": contract.Text("sad")}),
			want: wantRefused(contract.CodeUnknownField, `note has no field "mood"; its fields are text, voided`)},
		{name: "a note is not made with create", actor: alex,
			op:   op(contract.ActionCreate, "note", noteID, nil, values{"job_id": contract.Text(jobID), "text": contract.Text("x")}),
			want: wantRefused(contract.CodeInvalid, "a note is added to its job with the append action")},
		{name: "a job is not made with append", actor: dana,
			op:   op(contract.ActionAppend, "job", otherJobID, nil, values{"title": contract.Text("x")}),
			want: wantRefused(contract.CodeInvalid, "a job is made with the create action")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := tt.parent
			if parent == nil {
				parent = jobAt("in_progress")
			} else if parent.Type == "" {
				parent = nil
			}
			d := decide(t, Situation{Actor: tt.actor, Op: tt.op, Current: tt.stored, Parent: parent})
			check(t, nil, d, tt.want)
			if d.Record == nil {
				return
			}
			rr := engine.Rules.Record(tt.op.RecordType)
			if d.Record.ID != tt.op.RecordID || d.Record.ParentID != jobID || d.Record.Author != tt.actor.UserID {
				t.Errorf("item %s on %s by %s, want %s on %s by %s", d.Record.ID, d.Record.ParentID, d.Record.Author,
					tt.op.RecordID, jobID, tt.actor.UserID)
			}
			for _, g := range rr.Groups {
				if d.Record.Versions[g.Name] != 1 {
					t.Errorf("new %s's group %s at version %d, want 1", rr.Type, g.Name, d.Record.Versions[g.Name])
				}
			}
			if rr.Owner == rulebook.WhoAuthor && d.Record.Owner != tt.actor.UserID {
				t.Errorf("owner %q, want the author", d.Record.Owner)
			}
			if _, ok := d.Record.Fields["job_id"]; ok {
				t.Errorf("the job's id is stored as a field as well as the parent")
			}
		})
	}
}

func TestCreate(t *testing.T) {
	const newJobID = "10000000-0000-4000-8000-0000000000ff"
	newJob := func(v values) *contract.Operation { return op(contract.ActionCreate, "job", newJobID, nil, v) }
	base := values{"title": contract.Text("Boiler service"), "customer_id": contract.Text(customerID)}
	plus := func(more values) values {
		out := values{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	stored := func(author, assignee string) *contract.Record {
		r := jobAt("assigned", with("assignee", contract.Text(assignee)))
		r.ID, r.Author = newJobID, author
		delete(r.Fields, "crew")
		delete(r.Fields, "site_address")
		delete(r.Fields, "labor_minutes")
		return r
	}
	tests := []struct {
		name   string
		actor  Actor
		op     *contract.Operation
		stored *contract.Record
		want   want
		owner  string
	}{
		{name: "a dispatcher creates a job for Alex", actor: dana, op: newJob(plus(values{"assignee": contract.Text(alexID)})),
			want: wantApplied(plus(values{"assignee": contract.Text(alexID), "status": contract.Text("assigned")})), owner: alexID},
		{name: "an admin creates a job for Alex", actor: ada, op: newJob(plus(values{"assignee": contract.Text(alexID)})),
			want: wantApplied(plus(values{"assignee": contract.Text(alexID), "status": contract.Text("assigned")})), owner: alexID},
		{name: "a technician's job becomes theirs", actor: sam, op: newJob(base),
			want: wantApplied(plus(values{"assignee": contract.Text(samID), "status": contract.Text("assigned")})), owner: samID},
		{name: "a technician's follow-up job links the job it follows", actor: alex,
			op:   newJob(plus(values{"follows_job_id": contract.Text(jobID)})),
			want: wantApplied(plus(values{"follows_job_id": contract.Text(jobID), "assignee": contract.Text(alexID), "status": contract.Text("assigned")})), owner: alexID},
		{name: "a technician cannot assign a new job to someone else", actor: sam, op: newJob(plus(values{"assignee": contract.Text(alexID)})),
			want: wantRefused(contract.CodeForbidden, "A job you create is assigned to you; only dispatcher can assign it to someone else.")},
		{name: "a dispatcher's job needs an assignee", actor: dana, op: newJob(base),
			want: wantRefused(contract.CodeBadValue, "field assignee is required for a new job")},
		{name: "a job needs a title", actor: dana, op: newJob(values{"assignee": contract.Text(alexID), "customer_id": contract.Text(customerID)}),
			want: wantRefused(contract.CodeBadValue, "field title is required for a new job")},
		{name: "a new job starts assigned", actor: dana, op: newJob(plus(values{"assignee": contract.Text(alexID), "status": contract.Text("in_progress")})),
			want: wantRefused(contract.CodeIllegalMove, "a new job starts as assigned")},
		{name: "a new job cannot start voided", actor: dana, op: newJob(plus(values{"assignee": contract.Text(alexID), "voided": contract.Bool(true)})),
			want: wantRefused(contract.CodeInvalid, "a new job cannot start voided")},
		{name: "a supervisor cannot create a job", actor: suzy, op: newJob(plus(values{"assignee": contract.Text(alexID)})),
			want: wantRefused(contract.CodeForbidden, "Only dispatcher or technician can create a job.")},
		{name: "finance cannot create a job", actor: finn, op: newJob(plus(values{"assignee": contract.Text(alexID)})),
			want: wantRefused(contract.CodeForbidden, "Only dispatcher or technician can create a job.")},
		{name: "a retried create changes nothing", actor: dana, op: newJob(plus(values{"assignee": contract.Text(alexID)})),
			stored: stored(danaID, alexID), want: wantNoChange},
		{name: "a create with the id of someone else's job is refused", actor: sam, op: newJob(base),
			stored: stored(danaID, samID), want: wantRefused(contract.CodeExists, "another job already has id "+newJobID)},
		{name: "a create with the id of a different job is refused", actor: dana, op: newJob(plus(values{"assignee": contract.Text(samID)})),
			stored: stored(danaID, alexID), want: wantRefused(contract.CodeExists, "another job already has id")},
		{name: "a create with the id of a customer is refused", actor: dana, op: newJob(plus(values{"assignee": contract.Text(alexID)})),
			stored: customerRec(), want: wantRefused(contract.CodeInvalid, "is a customer, not a job")},
		{name: "a dispatcher creates a customer", actor: dana,
			op:   op(contract.ActionCreate, "customer", customerID, nil, values{"name": contract.Text("Acme Ltd")}),
			want: wantApplied(values{"name": contract.Text("Acme Ltd")}), owner: "dispatcher"},
		{name: "a technician cannot create a customer", actor: alex,
			op:   op(contract.ActionCreate, "customer", customerID, nil, values{"name": contract.Text("Acme Ltd")}),
			want: wantRefused(contract.CodeForbidden, "Only dispatcher can create a customer.")},
		{name: "finance creates a draft invoice", actor: finn,
			op:   op(contract.ActionCreate, "invoice", invoiceID, nil, values{"customer_id": contract.Text(customerID), "total": contract.Int(100)}),
			want: wantApplied(values{"customer_id": contract.Text(customerID), "total": contract.Int(100), "status": contract.Text("draft")}), owner: "finance"},
		{name: "a dispatcher cannot create an invoice", actor: dana,
			op:   op(contract.ActionCreate, "invoice", invoiceID, nil, values{"customer_id": contract.Text(customerID)}),
			want: wantRefused(contract.CodeForbidden, "Only finance can create an invoice.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(t, Situation{Actor: tt.actor, Op: tt.op, Current: tt.stored})
			check(t, nil, d, tt.want)
			if d.Record == nil {
				return
			}
			if d.Record.Owner != tt.owner {
				t.Errorf("owner %q, want %q", d.Record.Owner, tt.owner)
			}
			if d.Record.Author != tt.actor.UserID || d.Record.DeviceID != tt.op.DeviceID || !d.Record.CreatedAt.Equal(now) {
				t.Errorf("made by %s on %s at %s, want %s on %s at %s", d.Record.Author, d.Record.DeviceID, d.Record.CreatedAt,
					tt.actor.UserID, tt.op.DeviceID, now)
			}
			for _, g := range engine.Rules.Record(tt.op.RecordType).Groups {
				want := int64(1)
				if len(g.Fields) == 0 {
					want = 0 // append groups hold items, not versions
				}
				if got := d.Record.Versions[g.Name]; got != want {
					t.Errorf("group %s at version %d, want %d", g.Name, got, want)
				}
			}
		})
	}
}

func TestInvoices(t *testing.T) {
	tests := []struct {
		name    string
		invoice *contract.Record
		actor   Actor
		op      *contract.Operation
		want    want
	}{
		{"finance sends a draft invoice", invoiceAt("draft"), finn,
			op(contract.ActionTransition, "invoice", invoiceID, bases{"status": 1}, values{"status": contract.Text("sent")}),
			wantApplied(values{"status": contract.Text("sent")}, "status")},
		{"finance marks a sent invoice paid", invoiceAt("sent"), finn,
			op(contract.ActionTransition, "invoice", invoiceID, bases{"status": 1}, values{"status": contract.Text("paid")}),
			wantApplied(values{"status": contract.Text("paid")}, "status")},
		{"a draft cannot be paid before it is sent", invoiceAt("draft"), finn,
			op(contract.ActionTransition, "invoice", invoiceID, bases{"status": 1}, values{"status": contract.Text("paid")}),
			wantRefused(contract.CodeIllegalMove, "cannot move from draft to paid")},
		{"a paid invoice cannot go back to sent", invoiceAt("paid"), finn,
			op(contract.ActionTransition, "invoice", invoiceID, bases{"status": 1}, values{"status": contract.Text("sent")}),
			wantRefused(contract.CodeLocked, "This invoice is paid.")},
		{"a sent invoice's amounts cannot change", invoiceAt("sent"), finn,
			op(contract.ActionUpdate, "invoice", invoiceID, bases{"amounts": 1}, values{"total": contract.Int(1)}),
			wantRefused(contract.CodeLocked, "This invoice is sent.")},
		{"a draft invoice's lines change", invoiceAt("draft"), finn,
			op(contract.ActionUpdate, "invoice", invoiceID, bases{"amounts": 1},
				values{"lines": json.RawMessage(`[{"description":"Valve","quantity":2,"unit_cents":1500}]`)}),
			wantApplied(values{"lines": json.RawMessage(`[{"description":"Valve","quantity":2,"unit_cents":1500}]`)}, "amounts")},
		{"a dispatcher cannot send an invoice", invoiceAt("draft"), dana,
			op(contract.ActionTransition, "invoice", invoiceID, bases{"status": 1}, values{"status": contract.Text("sent")}),
			wantRefused(contract.CodeForbidden, "Only finance can move a invoice to sent.")},
		{"a technician cannot see an invoice", invoiceAt("draft"), alex,
			op(contract.ActionUpdate, "invoice", invoiceID, bases{"amounts": 1}, values{"total": contract.Int(1)}),
			noAccess("invoice")},
		{"a stale status move on an invoice is held", invoiceAt("draft", at("status", 2)), finn,
			op(contract.ActionTransition, "invoice", invoiceID, bases{"status": 1}, values{"status": contract.Text("sent")}),
			wantHeld(contract.CodeConflict, contract.KindConflict, "status")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.invoice, decide(t, Situation{Actor: tt.actor, Op: tt.op, Current: tt.invoice}), tt.want)
		})
	}
}

// fakeDir is a Directory whose answers the test sets.
type fakeDir struct {
	userRole func(id string) (string, bool)
	lookup   func(actor Actor, typ, id string) (exists, visible bool)
}

func (f fakeDir) UserRole(id string) (string, bool) { return f.userRole(id) }
func (f fakeDir) Lookup(actor Actor, typ, id string) (bool, bool) {
	return f.lookup(actor, typ, id)
}

var _ Directory = fakeDir{}

func TestDirectory(t *testing.T) {
	known := map[string]string{alexID: "technician", samID: "technician", danaID: "dispatcher"}
	dir := fakeDir{
		userRole: func(id string) (string, bool) { r, ok := known[id]; return r, ok },
		lookup: func(actor Actor, typ, id string) (bool, bool) {
			switch {
			case typ == "customer" && id == customerID:
				return true, true // the customer of a technician's job
			case typ == "job" && id == jobID:
				return true, actor.Role != "finance"
			case typ == "job" && id == otherJobID:
				return true, false
			}
			return false, false
		},
	}
	const strangerID = "a0000000-0000-4000-8000-0000000000ff"
	const newJobID = "10000000-0000-4000-8000-0000000000ff"
	tests := []struct {
		name    string
		actor   Actor
		op      *contract.Operation
		current *contract.Record
		want    want
	}{
		{"a reassign to someone who is not a user is refused", dana,
			op(contract.ActionReassign, "job", jobID, bases{"assignment": 1}, values{"assignee": contract.Text(strangerID)}), jobAt("in_progress"),
			wantRefused(contract.CodeNotFound, "field assignee: no user with id "+strangerID)},
		{"a crew with someone who is not a user is refused", dana,
			op(contract.ActionUpdate, "job", jobID, bases{"assignment": 1}, values{"crew": users(samID, caraID)}), jobAt("in_progress"),
			wantRefused(contract.CodeNotFound, "field crew: no user with id "+caraID)},
		{"a reassign to a user applies", dana,
			op(contract.ActionReassign, "job", jobID, bases{"assignment": 1}, values{"assignee": contract.Text(samID)}), jobAt("in_progress"),
			wantApplied(values{"assignee": contract.Text(samID)}, "assignment")},
		{"a job for a customer that does not exist is refused", dana,
			op(contract.ActionCreate, "job", newJobID, nil, values{"title": contract.Text("x"), "assignee": contract.Text(alexID), "customer_id": contract.Text(strangerID)}), nil,
			wantRefused(contract.CodeNotFound, "field customer_id: no customer with id "+strangerID)},
		{"a follow-up of a job the technician cannot see is refused", alex,
			op(contract.ActionCreate, "job", newJobID, nil, values{"title": contract.Text("x"), "customer_id": contract.Text(customerID), "follows_job_id": contract.Text(otherJobID)}), nil,
			wantRefused(contract.CodeForbidden, "field follows_job_id: you cannot see job "+otherJobID)},
		{"a technician who sees a customer through a job still cannot edit it", alex,
			op(contract.ActionUpdate, "customer", customerID, bases{"contact": 1}, values{"phone": contract.Text("1")}), customerRec(),
			wantRefused(contract.CodeForbidden, "Only dispatcher can change contact of this customer.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(t, Situation{Actor: tt.actor, Op: tt.op, Current: tt.current, Dir: dir})
			check(t, tt.current, d, tt.want)
		})
	}
}

func TestBadInput(t *testing.T) {
	job := jobAt("in_progress")
	upd := func(v values) *contract.Operation {
		return op(contract.ActionUpdate, "job", jobID, bases{"work": 1, "summary": 1}, v)
	}
	tests := []struct {
		name string
		op   *contract.Operation
		want want
	}{
		{"no operation", nil, wantRefused(contract.CodeInvalid, "no operation")},
		{"an unknown record type", op(contract.ActionUpdate, "truck", jobID, nil, nil),
			wantRefused(contract.CodeUnknownType, `unknown record type "truck"; want job, customer, invoice, note, photo or part`)},
		{"the review record type is not an operation's", op(contract.ActionUpdate, contract.ReviewType, jobID, nil, nil),
			wantRefused(contract.CodeUnknownType, `unknown record type "review"`)},
		{"an unknown field", upd(values{"colour": contract.Text("red")}),
			wantRefused(contract.CodeUnknownField, `job has no field "colour"; its fields are title, description`)},
		{"text where a count goes", upd(values{"labor_minutes": contract.Text("ten")}),
			wantRefused(contract.CodeBadValue, `field labor_minutes: want a whole number, got "ten"`)},
		{"a negative count", upd(values{"labor_minutes": contract.Int(-5)}),
			wantRefused(contract.CodeBadValue, "field labor_minutes: want zero or more, got -5")},
		{"a fraction where a count goes", upd(values{"labor_minutes": json.RawMessage("1.5")}),
			wantRefused(contract.CodeBadValue, "want a whole number")},
		{"a time that is not a time", upd(values{"completed_at": contract.Text("yesterday")}),
			wantRefused(contract.CodeBadValue, "field completed_at: want a time such as 2026-11-24T09:30:00Z")},
		{"a number where text goes", upd(values{"title": contract.Int(7)}),
			wantRefused(contract.CodeBadValue, "field title: want text, got 7")},
		{"an operation id that is not a UUID", func() *contract.Operation { o := upd(values{"title": contract.Text("x")}); o.ID = "op-1"; return o }(),
			wantRefused(contract.CodeInvalid, `operation id "op-1" is not a UUID`)},
		{"a record id that is a path", op(contract.ActionUpdate, "job", "../../etc/passwd", bases{"summary": 1}, values{"title": contract.Text("x")}),
			wantRefused(contract.CodeInvalid, `record id "../../etc/passwd" is not a UUID`)},
		{"a record id with a path in UUID form", op(contract.ActionUpdate, "job", "10000000-0000-4000-8000-/../../etc/p", bases{"summary": 1}, values{"title": contract.Text("x")}),
			wantRefused(contract.CodeInvalid, "is not a UUID")},
		{"a record id with braces", op(contract.ActionUpdate, "job", "{"+jobID+"}", bases{"summary": 1}, values{"title": contract.Text("x")}),
			wantRefused(contract.CodeInvalid, "is not a UUID")},
		{"a customer reference that is a path", upd(values{"follows_job_id": contract.Text("../../etc/passwd")}),
			wantRefused(contract.CodeBadValue, `field follows_job_id: "../../etc/passwd" is not a UUID`)},
		{"an update touching two groups", upd(values{"title": contract.Text("x"), "labor_minutes": contract.Int(5)}),
			wantRefused(contract.CodeInvalid, "an update changes one field group at a time; this one touches summary and work")},
		{"an update with no values", upd(nil), wantRefused(contract.CodeInvalid, "an update needs at least one value")},
		{"an update of the status", upd(values{"status": contract.Text("paused")}),
			wantRefused(contract.CodeInvalid, "status changes use the transition action")},
		{"an update of the assignee", upd(values{"assignee": contract.Text(samID)}),
			wantRefused(contract.CodeInvalid, "assignee changes use the reassign action")},
		{"an update of voided", upd(values{"voided": contract.Bool(true)}),
			wantRefused(contract.CodeInvalid, "use the void action to void a job")},
		{"an unknown action", op("delete", "job", jobID, nil, nil),
			wantRefused(contract.CodeInvalid, `unknown action "delete"; want create, update, append, transition, void, reassign, reopen or resolve`)},
		{"a resolve sent as an operation on a job", op(contract.ActionResolve, "job", jobID, nil, nil),
			wantRefused(contract.CodeInvalid, `resolve operations name record type "review"`)},
		{"no device id", func() *contract.Operation { o := upd(values{"title": contract.Text("x")}); o.DeviceID = ""; return o }(),
			wantRefused(contract.CodeInvalid, "device_id must be 1 to 128 printable characters")},
		{"a device id with a newline", func() *contract.Operation {
			o := upd(values{"title": contract.Text("x")})
			o.DeviceID = "a\nb"
			return o
		}(),
			wantRefused(contract.CodeInvalid, "device_id")},
		{"a device id too long", func() *contract.Operation {
			o := upd(values{"title": contract.Text("x")})
			o.DeviceID = strings.Repeat("d", 129)
			return o
		}(), wantRefused(contract.CodeInvalid, "device_id")},
		{"no device time", func() *contract.Operation {
			o := upd(values{"title": contract.Text("x")})
			o.DeviceTime = time.Time{}
			return o
		}(),
			wantRefused(contract.CodeInvalid, "device_time is missing")},
		{"a text over the limit", upd(values{"title": contract.Text(strings.Repeat("é", engine.Rules.Limits.Text+1))}),
			wantRefused(contract.CodeBadValue, "20001 characters; the limit is 20000")},
		{"a long unknown type is clipped in the message", op(contract.ActionUpdate, strings.Repeat("x", 500), jobID, nil, nil),
			wantRefused(contract.CodeUnknownType, strings.Repeat("x", 64)+"…")},
	}
	for _, tt := range tests {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			d := decide(t, Situation{Actor: dana, Op: tt.op, Current: job})
			check(t, job, d, tt.want)
			if contract.KindOf(d.Code) != contract.Invalid && d.Code != contract.CodeUnknownType {
				t.Errorf("code %q is of kind %q, want %q", d.Code, contract.KindOf(d.Code), contract.Invalid)
			}
			if len(d.Message) > 300 {
				t.Errorf("message is %d bytes long", len(d.Message))
			}
		})
	}
	t.Run("clips a long name on a whole character", func(t *testing.T) {
		o := op(contract.ActionUpdate, "x"+strings.Repeat("é", 100), jobID, nil, nil)
		d := decide(t, Situation{Actor: dana, Op: o, Current: job})
		if d.Code != contract.CodeUnknownType || !utf8.ValidString(d.Message) || !strings.Contains(d.Message, "…") {
			t.Errorf("got %s %q, want unknown_type with a clipped name in valid UTF-8", d.Code, d.Message)
		}
	})
	t.Run("refuses an operation naming a job that does not exist", func(t *testing.T) {
		d := decide(t, Situation{Actor: dana, Op: upd(values{"title": contract.Text("x")})})
		check(t, nil, d, wantRefused(contract.CodeNotFound, "no job with id "+jobID))
	})
	t.Run("accepts a record id in upper case", func(t *testing.T) {
		o := op(contract.ActionUpdate, "job", strings.ToUpper(jobID), bases{"summary": 1}, values{"title": contract.Text("x")})
		check(t, job, decide(t, Situation{Actor: dana, Op: o, Current: job}), wantApplied(values{"title": contract.Text("x")}, "summary"))
	})
}

// TestParentOnlyForItems checks that a parent passed with an operation on a
// top-level record plays no part: it is not where the record's locks come from.
func TestParentOnlyForItems(t *testing.T) {
	tests := []struct {
		name   string
		actor  Actor
		op     *contract.Operation
		job    *contract.Record
		parent *contract.Record
		want   want
	}{
		{"an update of an open job applies whatever parent is passed", dana,
			op(contract.ActionUpdate, "job", jobID, bases{"summary": 1}, values{"title": contract.Text("x")}),
			jobAt("in_progress"), jobAt("closed"), wantApplied(values{"title": contract.Text("x")}, "summary")},
		{"a void of an open job applies whatever parent is passed", dana,
			op(contract.ActionVoid, "job", jobID, bases{"lifecycle": 1}, nil),
			jobAt("in_progress"), jobAt("closed"),
			wantApplied(values{"voided": contract.Bool(true), "status": contract.Text("voided")}, "lifecycle", "status")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(t, Situation{Actor: tt.actor, Op: tt.op, Current: tt.job, Parent: tt.parent})
			check(t, tt.job, d, tt.want)
		})
	}
}

func TestEngineHelpers(t *testing.T) {
	job := jobAt("in_progress")
	t.Run("who sees a job", func(t *testing.T) {
		for _, tt := range []struct {
			actor Actor
			sees  bool
		}{{alex, true}, {cara, true}, {pat, true}, {sam, false}, {dana, true}, {suzy, true}, {ada, true}, {finn, true}} {
			if got := engine.CanSee(tt.actor, job, nil); got != tt.sees {
				t.Errorf("%s (%s) sees the job: %v, want %v", tt.actor.UserID, tt.actor.Role, got, tt.sees)
			}
		}
	})
	t.Run("an item is seen by whoever sees its job", func(t *testing.T) {
		n := noteRec(alexID, "x")
		if !engine.CanSee(cara, n, job) || engine.CanSee(sam, n, job) || engine.CanSee(alex, n, nil) {
			t.Errorf("note visibility does not follow the job")
		}
	})
	t.Run("owners", func(t *testing.T) {
		for _, tt := range []struct {
			rec, parent *contract.Record
			want        string
		}{
			{job, nil, alexID},
			{partRec(), job, alexID},
			{partRec(), nil, ""},
			{noteRec(caraID, "x"), job, caraID},
			{customerRec(), nil, "dispatcher"},
			{invoiceAt("draft"), nil, "finance"},
		} {
			if got := engine.Owner(tt.rec, tt.parent); got != tt.want {
				t.Errorf("owner of %s is %q, want %q", tt.rec.Type, got, tt.want)
			}
		}
	})
	t.Run("who resolves reviews", func(t *testing.T) {
		for _, tt := range []struct {
			actor Actor
			typ   string
			want  bool
		}{
			{dana, "job", true}, {suzy, "job", true}, {ada, "job", true}, {alex, "job", false}, {finn, "job", false},
			{suzy, "part", true}, {alex, "part", false},
			{finn, "invoice", true}, {dana, "invoice", false},
			{dana, "truck", false},
		} {
			if got := engine.MayResolve(tt.actor, tt.typ); got != tt.want {
				t.Errorf("%s resolves %s reviews: %v, want %v", tt.actor.Role, tt.typ, got, tt.want)
			}
		}
	})
	t.Run("a resolution applies as an ordinary versioned change", func(t *testing.T) {
		next, changes := engine.Apply(suzy, now, job, map[string]json.RawMessage{"labor_minutes": contract.Int(90)})
		if len(changes) != 1 || next.Versions["work"] != 2 || next.Int("labor_minutes") != 90 || job.Int("labor_minutes") != 30 {
			t.Errorf("Apply: changes %v, work version %d, minutes %d (original %d)", changeList(changes),
				next.Versions["work"], next.Int("labor_minutes"), job.Int("labor_minutes"))
		}
		if next.Streaks["work"].DeviceID != suzy.DeviceID {
			t.Errorf("streak %+v, want the resolver's device", next.Streaks["work"])
		}
	})
	t.Run("GroupValues checks a typed value", func(t *testing.T) {
		if _, err := engine.GroupValues("job", "work", map[string]json.RawMessage{"title": contract.Text("x")}); err == nil {
			t.Errorf("a title was taken as a work value")
		}
		got, err := engine.GroupValues("job", "work", map[string]json.RawMessage{"completed_at": contract.Text("2026-11-24T11:30:00+01:00")})
		if err != nil || string(got["completed_at"]) != `"2026-11-24T10:30:00Z"` {
			t.Errorf("GroupValues = %s, %v", got["completed_at"], err)
		}
	})
}
