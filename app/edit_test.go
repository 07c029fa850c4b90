package app_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"fieldsync/app"
	"fieldsync/contract"

	"github.com/google/uuid"
)

func TestTheDeviceRefusesWhatTheServerWouldWithTheServersWords(t *testing.T) {
	e := newEnv(t)
	devices := map[string]*app.App{"alex": e.device("alex"), "dana": e.device("dana")}
	tests := []struct {
		name string
		user string
		job  string
		// edit tries the edit through the app; probe is the same edit made
		// by hand, sent to the server directly.
		edit  func(a *app.App, j app.Job) error
		probe func(j app.Job) contract.Operation
		code  contract.Code
		words string
	}{
		{"a technician may not change the scheduling", "alex", "Replace pump seal",
			func(a *app.App, j app.Job) error {
				_, err := a.SetFields(j.ID, map[string]any{"site_address": "14 Quay Street"})
				return err
			},
			func(j app.Job) contract.Operation {
				return probeOp("job", j.ID, contract.ActionUpdate, map[string]int64{"scheduling": j.Record.Versions["scheduling"]}, map[string]any{"site_address": "14 Quay Street"})
			}, contract.CodeForbidden, "Only dispatcher"},
		{"a technician may not reassign a job", "alex", "Replace pump seal",
			func(a *app.App, j app.Job) error { _, err := a.Reassign(j.ID, "sam"); return err },
			nil, contract.CodeForbidden, "Only dispatcher"},
		{"a move the status machine does not allow lists the moves that are", "alex", "Replace pump seal",
			func(a *app.App, j app.Job) error { _, err := a.Move(j.ID, "opened"); return err },
			func(j app.Job) contract.Operation {
				return probeOp("job", j.ID, contract.ActionTransition, map[string]int64{"status": j.Record.Versions["status"]}, map[string]any{"status": "opened"})
			}, contract.CodeIllegalMove, "A job cannot move from in progress to opened; from in progress it can move to paused, completed, waiting for approval."},
		{"closing is the office's move", "alex", "Replace pump seal",
			func(a *app.App, j app.Job) error { _, err := a.Move(j.ID, "closed"); return err },
			func(j app.Job) contract.Operation {
				return probeOp("job", j.ID, contract.ActionTransition, map[string]int64{"status": j.Record.Versions["status"]}, map[string]any{"status": "closed"})
			}, contract.CodeForbidden, "Only dispatcher or supervisor can move a job to closed."},
		{"a move the office makes is not the technician's", "alex", "Replace pump seal",
			func(a *app.App, j app.Job) error { _, err := a.Move(j.ID, "waiting_for_approval"); return err },
			func(j app.Job) contract.Operation {
				return probeOp("job", j.ID, contract.ActionTransition, map[string]int64{"status": j.Record.Versions["status"]}, map[string]any{"status": "waiting_for_approval"})
			}, contract.CodeForbidden, "Only"},
		{"an edit to a signed-off job is locked", "alex", "Annual service",
			func(a *app.App, j app.Job) error {
				_, err := a.SetFields(j.ID, map[string]any{"labor_minutes": 30})
				return err
			},
			func(j app.Job) contract.Operation {
				return probeOp("job", j.ID, contract.ActionUpdate, map[string]int64{"work": j.Record.Versions["work"]}, map[string]any{"labor_minutes": 30})
			}, contract.CodeLocked, "This job is signed off."},
		{"a part on a signed-off job is locked", "alex", "Annual service",
			func(a *app.App, j app.Job) error { _, err := a.AddPart(j.ID, "", "SEAL-40", "", 1); return err },
			func(j app.Job) contract.Operation {
				return probeOp("part", uuid.NewString(), contract.ActionAppend, nil, map[string]any{"job_id": j.ID, "sku": "SEAL-40", "quantity": 1})
			}, contract.CodeLocked, "This job is signed off."},
		{"a dispatcher may not log the technician's work", "dana", "Replace pump seal",
			func(a *app.App, j app.Job) error {
				_, err := a.SetFields(j.ID, map[string]any{"labor_minutes": 30})
				return err
			},
			func(j app.Job) contract.Operation {
				return probeOp("job", j.ID, contract.ActionUpdate, map[string]int64{"work": j.Record.Versions["work"]}, map[string]any{"labor_minutes": 30})
			}, contract.CodeForbidden, "Only"},
		{"a signed-off job cannot be voided before it is reopened", "dana", "Annual service",
			func(a *app.App, j app.Job) error { _, err := a.Void(j.ID); return err },
			nil, contract.CodeLocked, "Reopen it before voiding"},
		{"a note must have text", "alex", "Replace pump seal",
			func(a *app.App, j app.Job) error { _, err := a.AddNote(j.ID, "", "   "); return err },
			nil, contract.CodeBadValue, "a note needs some text"},
		{"a field the job does not have is named", "dana", "Replace pump seal",
			func(a *app.App, j app.Job) error {
				_, err := a.SetFields(j.ID, map[string]any{"colour": "red"})
				return err
			},
			nil, contract.CodeUnknownField, `job has no field "colour"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := devices[tt.user]
			j := job(t, a, tt.job)
			before := len(outbox(t, a))
			err := tt.edit(a, j)
			var ce *contract.Error
			if !errors.As(err, &ce) {
				t.Fatalf("edit: %v, want a *contract.Error", err)
			}
			if tt.code != "" && ce.Code != tt.code {
				t.Errorf("code %s, want %s", ce.Code, tt.code)
			}
			if !strings.Contains(ce.Message, tt.words) {
				t.Errorf("message %q, want it to contain %q", ce.Message, tt.words)
			}
			if after := len(outbox(t, a)); after != before {
				t.Errorf("a refused edit was saved: outbox went from %d to %d", before, after)
			}
			if tt.probe == nil {
				return
			}
			op := tt.probe(j)
			op.DeviceID = "probe-" + tt.user // the device e.client signs in from
			ans, err := e.client(tt.user).Push(context.Background(), []contract.Operation{op})
			if err != nil {
				t.Fatal(err)
			}
			res := ans.Results
			if res[0].Outcome != contract.Refused || res[0].Code != ce.Code || res[0].Message != ce.Message {
				t.Errorf("the server says %s %s %q; the device said %s %q", res[0].Outcome, res[0].Code, res[0].Message, ce.Code, ce.Message)
			}
		})
	}
}

func TestANoteOnASignedOffJobIsAllowed(t *testing.T) {
	e := newEnv(t)
	a := e.device("alex")
	j := job(t, a, "Annual service")
	note, err := a.AddNote(j.ID, "", "Customer asked about the thermostat")
	if err != nil {
		t.Fatalf("a note on a signed-off job: %v", err)
	}
	syncRound(t, a)
	got, _ := app.StoreOf(a).Record(note.ID)
	if got == nil || got.Server == nil || !got.Server.AfterSignoff {
		t.Fatalf("the note after sync: %+v, want it marked added after sign-off", got)
	}
}

func TestSetFieldsSendsOneOperationPerGroup(t *testing.T) {
	tests := []struct {
		name   string
		user   string
		job    string
		fields map[string]any
		want   []string // action:group:fields, in rules order
	}{
		{"a dispatcher's title, site and assignee go as summary, scheduling and a reassign", "dana", "Inspect boiler",
			map[string]any{"title": "Inspect boiler and flue", "site_address": "3 Northside Road, plant room", "assignee": "sam-id"},
			[]string{"update:summary:title", "update:scheduling:site_address", "reassign:assignment:assignee"}},
		{"a technician's status and minutes go as a transition and an update", "alex", "Replace pump seal",
			map[string]any{"status": "completed", "labor_minutes": "45"},
			[]string{"transition:status:status", "update:work:labor_minutes"}},
		{"two fields of one group go together", "dana", "Inspect boiler",
			map[string]any{"title": "Boiler", "description": "Annual"},
			[]string{"update:summary:description,title"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newEnv(t).device(tt.user)
			if v, ok := tt.fields["assignee"]; ok && v == "sam-id" {
				for _, u := range a.Users() {
					if u.Name == "sam" {
						tt.fields["assignee"] = u.ID
					}
				}
			}
			j := job(t, a, tt.job)
			view, err := a.SetFields(j.ID, tt.fields)
			if err != nil {
				t.Fatal(err)
			}
			ops := outbox(t, a)
			var got []string
			for _, op := range ops {
				var groups, fields []string
				for g, v := range op.Bases {
					groups = append(groups, g)
					if v != j.Record.Versions[g] {
						t.Errorf("%s names version %d of %s, the device has %d", op.Action, v, g, j.Record.Versions[g])
					}
				}
				for f := range op.Values {
					fields = append(fields, f)
				}
				slices.Sort(fields)
				got = append(got, string(op.Action)+":"+strings.Join(groups, ",")+":"+strings.Join(fields, ","))
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("operations %v\nwant       %v", got, tt.want)
			}
			for k := range tt.fields {
				if k == "labor_minutes" {
					if view.Int(k) != 45 {
						t.Errorf("view %s = %s", k, view.Fields[k])
					}
					continue
				}
				if view.Text(k) != tt.fields[k] {
					t.Errorf("view %s = %s, want %v", k, view.Fields[k], tt.fields[k])
				}
			}
			syncRound(t, a)
			if out, _ := app.StoreOf(a).Outbox(); len(out) != 0 {
				t.Errorf("%d operations not settled after sync: %+v", len(out), out[0].Result)
			}
		})
	}
}

func TestSetFieldsSavesNothingWhenAnyGroupIsRefused(t *testing.T) {
	e := newEnv(t)
	a := e.device("dana")
	j := job(t, a, "Replace pump seal")
	_, err := a.SetFields(j.ID, map[string]any{"title": "Pump seal", "labor_minutes": 20})
	var ce *contract.Error
	if !errors.As(err, &ce) || ce.Code != contract.CodeForbidden {
		t.Fatalf("err %v", err)
	}
	if ops := outbox(t, a); len(ops) != 0 {
		t.Fatalf("saved %d operations of a half-refused edit", len(ops))
	}
	if got := job(t, a, "Replace pump seal"); got.Title != "Replace pump seal" {
		t.Errorf("title changed to %q", got.Title)
	}
}

func TestUnchangedValuesChangeNothing(t *testing.T) {
	e := newEnv(t)
	a := e.device("alex")
	j := job(t, a, "Replace pump seal")
	if _, err := a.SetFields(j.ID, map[string]any{"labor_minutes": 45}); err != nil {
		t.Fatal(err)
	}
	syncRound(t, a)
	tests := []struct {
		name string
		edit func() error
	}{
		{"the same number again", func() error { _, err := a.SetFields(j.ID, map[string]any{"labor_minutes": 45}); return err }},
		{"the same number typed as text", func() error { _, err := a.SetFields(j.ID, map[string]any{"labor_minutes": " 45 "}); return err }},
		{"a title the job already has", func() error { _, err := a.SetFields(j.ID, map[string]any{"title": j.Title}); return err }},
		{"the status it is in", func() error { _, err := a.Move(j.ID, "in_progress"); return err }},
		{"no fields at all", func() error { _, err := a.SetFields(j.ID, map[string]any{}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.edit(); err != nil {
				t.Fatalf("err %v", err)
			}
			if ops := outbox(t, a); len(ops) != 0 {
				t.Fatalf("saved %d operations for an unchanged value", len(ops))
			}
		})
	}
	t.Run("the same note form saved twice makes one note", func(t *testing.T) {
		id := uuid.NewString()
		for range 2 {
			if _, err := a.AddNote(j.ID, id, "Replaced the seal"); err != nil {
				t.Fatal(err)
			}
		}
		if ops := outbox(t, a); len(ops) != 1 {
			t.Fatalf("%d operations for one note form", len(ops))
		}
	})
	t.Run("a second tap on a move changes nothing", func(t *testing.T) {
		for range 2 {
			if _, err := a.Move(j.ID, "paused"); err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		for _, op := range outbox(t, a) {
			if op.Action == contract.ActionTransition {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d transitions for two taps", n)
		}
	})
}

func TestTheOwnerMayChangeAPartLine(t *testing.T) {
	e := newEnv(t)
	a := e.device("alex")
	j := job(t, a, "Replace pump seal")
	part, err := a.AddPart(j.ID, "", "VALVE-12", "Check valve", 1)
	if err != nil {
		t.Fatal(err)
	}
	syncRound(t, a)
	_, err = a.SetFields(part.ID, map[string]any{"quantity": 2})
	if err == nil {
		return
	}
	// Ask the server whether it would take the same change.
	e2, _ := app.StoreOf(a).Record(part.ID)
	res, perr := e.client("alex").Push(context.Background(), []contract.Operation{
		probeOp("part", part.ID, contract.ActionUpdate, map[string]int64{"line": e2.Server.Versions["line"]}, map[string]any{"quantity": 2})})
	if perr == nil && res.Results[0].Outcome == contract.Applied {
		t.Fatalf("SetFields refuses the job owner's change to a part's quantity (%q) though the server applies it: submitAll decides without the part's parent job, so the engine finds no owner for an item owned by its parent", err)
	}
	t.Fatalf("SetFields on a part line: %v (the server: %+v %v)", err, res, perr)
}

func TestARefusedPhotoLeavesNoFileBehind(t *testing.T) {
	e := newEnv(t)
	a := e.device("alex")
	j := job(t, a, "Annual service") // signed off: photos are locked
	_, err := a.AddPhoto(j.ID, "", "meter.jpg", "image/jpeg", bytes.NewReader([]byte("jpeg bytes")))
	var ce *contract.Error
	if !errors.As(err, &ce) || ce.Code != contract.CodeLocked {
		t.Fatalf("err %v, want locked", err)
	}
	if ph, _ := app.StoreOf(a).Photos(""); len(ph) != 0 {
		t.Fatalf("%d photo rows after a refusal", len(ph))
	}
	if files := photoFiles(t, a); len(files) != 0 {
		t.Fatalf("AddPhoto copies the file into the store before the rules check, and a refused photo leaves %v in the photos directory with no row", files)
	}
}

func TestARefusedSignatureAddsNoPhoto(t *testing.T) {
	e := newEnv(t)
	a := e.device("dana") // the office may add photos but only the owner signs
	j := job(t, a, "Replace pump seal")
	_, err := a.Sign(j.ID, "Morgan Lee", bytes.NewReader([]byte("png bytes")))
	var ce *contract.Error
	if !errors.As(err, &ce) || ce.Code != contract.CodeForbidden {
		t.Fatalf("err %v, want forbidden", err)
	}
	if ops := outbox(t, a); len(ops) != 0 {
		t.Fatalf("Sign saves the signature image as a photo (%d operation(s): %s %s) before SetFields refuses the signature, so a refused signature still sends a photo", len(ops), ops[0].Action, ops[0].RecordType)
	}
}

func TestSignThenSignOff(t *testing.T) {
	e := newEnv(t)
	a := e.device("alex")
	j := job(t, a, "Replace pump seal")
	if _, err := a.Move(j.ID, "completed"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Move(j.ID, "signed_off"); err == nil || !strings.Contains(err.Error(), "needs the signature") {
		t.Fatalf("signing off without a signature: %v", err)
	}
	v, err := a.Sign(j.ID, "Morgan Lee", bytes.NewReader([]byte("png")))
	if err != nil {
		t.Fatal(err)
	}
	if v.Text("signer_name") != "Morgan Lee" || v.Text("signature_photo") == "" {
		t.Errorf("view after signing: %s", v.Fields)
	}
	if _, err := a.Move(j.ID, "signed_off"); err != nil {
		t.Fatal(err)
	}
	if err := a.SyncRound(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, _ := a.Job(j.ID)
	if d.Status != "signed_off" || len(d.Photos) != 1 || d.Photos[0].Uploaded != d.Photos[0].Size {
		t.Errorf("after sync: status %s, %d photos", d.Status, len(d.Photos))
	}
	if _, err := a.Sign(j.ID, "Someone Else", nil); err == nil {
		t.Error("a second signature was accepted")
	}
}

func TestDraftsAndKeepAsNote(t *testing.T) {
	e := newEnv(t)
	phone := e.device("alex")  // alex's phone, about to go offline
	tablet := e.device("alex") // alex's tablet, online
	j := job(t, phone, "Replace pump seal")

	if err := phone.SetOffline(true); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.SetFields(j.ID, map[string]any{"labor_minutes": 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.SetFields(j.ID, map[string]any{"completed_at": "2026-11-24T11:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	// Meanwhile the job is completed and signed off on the tablet.
	for _, step := range []func() error{
		func() error { _, err := tablet.Move(j.ID, "completed"); return err },
		func() error { _, err := tablet.Sign(j.ID, "Morgan Lee", nil); return err },
		func() error { _, err := tablet.Move(j.ID, "signed_off"); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	syncRound(t, tablet)

	phone.SetOffline(false)
	syncRound(t, phone)
	drafts, err := phone.Drafts(j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(drafts) != 2 {
		t.Fatalf("%d drafts, want the two refused edits", len(drafts))
	}
	if drafts[0].Text != "Not sent (update): labor minutes: 30" || drafts[0].Reason != "This job is signed off." || drafts[0].JobID != j.ID {
		t.Errorf("draft %+v", drafts[0])
	}
	if w, _ := phone.StatusWords(j.ID); w != "Not sent: This job is signed off." {
		t.Errorf("job words %q", w)
	}
	detail, _ := phone.Job(j.ID)
	if len(detail.Drafts) != 2 {
		t.Errorf("the job screen shows %d drafts", len(detail.Drafts))
	}
	if all, _ := phone.Drafts(""); len(all) != 2 {
		t.Errorf("all drafts: %d", len(all))
	}

	note, err := phone.KeepAsNote(drafts[0].OpID)
	if err != nil {
		t.Fatal(err)
	}
	if note.Text("text") != drafts[0].Text || note.ParentID != j.ID {
		t.Errorf("note %s", note.Fields)
	}
	if _, err := phone.KeepAsNote(drafts[0].OpID); err == nil {
		t.Error("the same draft was kept as a note twice")
	}
	if err := phone.Discard(drafts[1].OpID); err != nil {
		t.Fatal(err)
	}
	if left, _ := phone.Drafts(""); len(left) != 0 {
		t.Errorf("%d drafts left", len(left))
	}
	syncRound(t, phone)
	got, _ := app.StoreOf(phone).Record(note.ID)
	if got == nil || got.Server == nil || !got.Server.AfterSignoff {
		t.Fatalf("the kept note did not sync as added after sign-off: %+v", got)
	}
	if w, _ := phone.StatusWords(j.ID); w != "Synced" {
		t.Errorf("job words after all %q", w)
	}
}

func TestReviewsAndResolve(t *testing.T) {
	e := newEnv(t)
	alex, dana, sue := e.device("alex"), e.device("dana"), e.device("sue")
	j := job(t, alex, "Replace pump seal")
	alex.SetOffline(true)
	if _, err := alex.Move(j.ID, "completed"); err != nil {
		t.Fatal(err)
	}
	if _, err := dana.Move(j.ID, "waiting_for_approval"); err != nil {
		t.Fatal(err)
	}
	syncRound(t, dana)
	alex.SetOffline(false)
	syncRound(t, alex)
	if w, _ := alex.StatusWords(j.ID); w != "Another update changed this record. Review before sending again." {
		t.Errorf("alex's job: %q", w)
	}
	if s := alex.State().Summary; s != "Job status needs review because dana changed it in the office." {
		t.Errorf("alex's summary %q", s)
	}
	syncRound(t, sue)
	reviews, err := sue.Reviews()
	if err != nil || len(reviews) != 1 || reviews[0].Group != "status" {
		t.Fatalf("sue's reviews: %+v %v", reviews, err)
	}
	if err := alex.Resolve(reviews[0].ID, contract.KeepServer, "", nil); err == nil {
		t.Error("a technician resolved a review")
	}

	t.Run("an empty review id names no review", func(t *testing.T) {
		if err := sue.Resolve("", contract.KeepServer, "", nil); err == nil {
			ops := outbox(t, sue)
			for _, op := range ops {
				app.StoreOf(sue).Drop(op.ID)
			}
			t.Fatalf("Resolve(\"\") resolved review %s: it matches ids with strings.HasPrefix(r.ID, reviewID), and every id starts with \"\"", reviews[0].ID)
		}
	})
	t.Run("an unknown review id is refused", func(t *testing.T) {
		if err := sue.Resolve(uuid.NewString(), contract.KeepServer, "", nil); err == nil {
			t.Fatal("resolving an unknown review succeeded")
		}
	})
	t.Run("a start of an id that two items share is refused", func(t *testing.T) {
		tablet := e.device("sue") // the twin stays on this device
		twin := reviews[0]
		twin.ID = twin.ID[:9] + "0000-4000-8000-000000000000"
		twin.RecordID = uuid.NewString()
		twin.Seq += 1000
		cursor, _ := app.StoreOf(tablet).Cursor()
		if err := app.StoreOf(tablet).ApplyPull(contract.PullResponse{Reviews: []contract.Review{twin}, Cursor: cursor}); err != nil {
			t.Fatal(err)
		}
		err := tablet.Resolve(reviews[0].ID[:8], contract.TakeDevice, "", nil)
		if err == nil || !strings.Contains(err.Error(), "2 review items") {
			t.Fatalf("resolving by a shared start: %v, want a refusal saying two items match", err)
		}
		if n := len(outbox(t, tablet)); n != 0 {
			t.Errorf("%d operations saved for an ambiguous id", n)
		}
	})
	t.Run("the supervisor takes the device's version", func(t *testing.T) {
		if err := sue.Resolve(reviews[0].ID, contract.TakeDevice, "", nil); err != nil {
			t.Fatal(err)
		}
		syncRound(t, sue)
		if open, _ := sue.Reviews(); len(open) != 0 {
			t.Fatalf("%d reviews still open", len(open))
		}
		syncRound(t, alex)
		if got := job(t, alex, "Replace pump seal"); got.Status != "completed" || got.Sync != "Synced" {
			t.Errorf("alex's job after the review: %s %q", got.Status, got.Sync)
		}
		if q, h, r, _ := app.StoreOf(alex).Counts(); q+h+r != 0 {
			t.Errorf("alex's outbox after the review: %d/%d/%d", q, h, r)
		}
	})
}

// Ids made on a device are UUIDv7 by the app's clock: version 7, the time
// in their leading bits, so later ids sort after earlier ones, and unique.
func TestNewIDIsTimeOrdered(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 2000 {
		now := at.Add(time.Duration(i) * time.Millisecond)
		id := app.NewID(now)
		u, err := uuid.Parse(id)
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("%s: version %d, variant %s", id, u.Version(), u.Variant())
		}
		var ms int64
		for _, b := range u[:6] {
			ms = ms<<8 | int64(b)
		}
		if ms != now.UnixMilli() {
			t.Fatalf("%s carries %v, made at %v", id, time.UnixMilli(ms).UTC(), now)
		}
		if id <= prev {
			t.Fatalf("%s, made later, sorts before %s", id, prev)
		}
		if seen[id] {
			t.Fatalf("%s made twice", id)
		}
		seen[id], prev = true, id
	}
}

// A held edit's summary names who made the server's version: the user
// themself, on another device, is "you".
func TestAHeldEditMadeAgainstYourOtherDeviceSaysSo(t *testing.T) {
	e := newEnv(t)
	phone, tablet := e.device("alex"), e.device("alex")
	j := job(t, phone, "Replace pump seal")
	phone.SetOffline(true)
	if _, err := phone.Move(j.ID, "completed"); err != nil {
		t.Fatal(err)
	}
	if _, err := tablet.Move(j.ID, "paused"); err != nil {
		t.Fatal(err)
	}
	syncRound(t, tablet)
	phone.SetOffline(false)
	syncRound(t, phone)
	if s := phone.State().Summary; s != "Job status needs review because you changed it on another device." {
		t.Errorf("the phone's summary %q", s)
	}
}
