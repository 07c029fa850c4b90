package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"fieldsync/contract"
)

// The acceptance scenarios of ../shared/spec/scenarios.md at the protocol
// level: a real server over a real SQLite file, and plain HTTP clients
// playing the devices. "Offline" means a device builds its operations from
// what it last pulled and sends them later.

// day is the working day the scenarios happen on.
var day = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)

// wantResult fails the test unless r has the outcome and code.
func wantResult(t *testing.T, what string, r contract.Result, outcome contract.Outcome, code contract.Code) {
	t.Helper()
	if r.Outcome != outcome || r.Code != code {
		t.Fatalf("%s: got %s %s (%s), want %s %s", what, r.Outcome, r.Code, r.Message, outcome, code)
	}
	if outcome == contract.Held || outcome == contract.Refused {
		if strings.TrimSpace(r.Message) == "" {
			t.Errorf("%s: %s without a message saying why", what, outcome)
		}
	}
}

// status returns a job's status as the server holds it.
func (e *env) status(job string) string {
	e.t.Helper()
	rec := e.stored(job)
	if rec == nil {
		e.t.Fatalf("job %s is not on the server", job)
	}
	return rec.Text("status")
}

// itemsOf returns the items of a type hanging off a job on a device.
func (d *device) itemsOf(job, typ string) []contract.Record {
	var out []contract.Record
	for _, r := range d.records {
		if r.ParentID == job && r.Type == typ {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b contract.Record) int { return a.DeviceTime.Compare(b.DeviceTime) })
	return out
}

// nothingNew fails the test if a pull brings anything the device has not seen.
func (d *device) nothingNew(what string) {
	d.t.Helper()
	var page contract.PullResponse
	if code := d.call("GET", "/v1/pull?cursor="+d.cursor, nil, &page); code != http.StatusOK {
		d.t.Fatalf("%s pull: status %d", d, code)
	}
	if len(page.Records) > 0 || len(page.Reviews) > 0 {
		d.t.Errorf("%s: %d records and %d reviews changed, want none", what, len(page.Records), len(page.Reviews))
	}
}

// s1 is job J after Alex's basement batch reached the server.
type s1 struct {
	e                *env
	dana, sue, alex  *device
	job              string
	statusOp         contract.Operation
	review           string
	items            []string
	officeStatusVers int64
}

// basement plays S1 up to the point where the office has to resolve.
func basement(t *testing.T) *s1 {
	e := newEnv(t)
	s := &s1{e: e, dana: e.login("dana", "office-pc"), sue: e.login("sue", "supervisor-tablet"), alex: e.login("alex", "alex-phone")}
	cust := e.customer(s.dana, "Harbor Bakery")
	s.job = e.job(s.dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	s.alex.move(s.job, "opened", "in_progress")

	// Alex goes down to the basement: no signal. He works from what he pulled.
	stale := s.alex.bases(s.job, "status")
	photos := map[string][]byte{}
	batch := []contract.Operation{
		s.alex.note(s.job, "Seal was cracked; water on the floor."),
		s.alex.note(s.job, "Customer asked for a quote on the second pump."),
		s.alex.part(s.job, "SEAL-40", 1),
		s.alex.part(s.job, "GASKET-12", 2),
	}
	for i, name := range []string{"before.jpg", "during.jpg", "after.jpg"} {
		content := fakeJPEG(byte(i+1), 3000+i*500)
		op := s.alex.photo(s.job, name, content)
		photos[op.RecordID] = content
		batch = append(batch, op)
	}
	s.statusOp = s.alex.op("job", s.job, contract.ActionTransition, stale, map[string]any{"status": "completed"})
	batch = append(batch, s.statusOp)

	// Meanwhile the office needs the customer's approval for the extra pump.
	s.dana.pull()
	s.dana.must(s.dana.op("job", s.job, contract.ActionTransition, s.dana.bases(s.job, "status"), map[string]any{"status": "waiting_for_approval"}))
	s.officeStatusVers = e.stored(s.job).Versions["status"]

	// Alex comes back up and his device pushes the whole queue.
	first := s.alex.push(batch...)
	for i, r := range first[:len(first)-1] {
		wantResult(t, batch[i].RecordType+" "+batch[i].RecordID, r, contract.Applied, "")
		s.items = append(s.items, batch[i].RecordID)
	}
	held := first[len(first)-1]
	wantResult(t, "the stale status move", held, contract.Held, contract.CodeConflict)
	if held.ReviewID == "" || held.Server == nil || string(held.Server.Values["status"]) != `"waiting_for_approval"` {
		t.Fatalf("held status: want a review id and the server's waiting_for_approval, got %+v", held)
	}
	s.review = held.ReviewID

	// The media lane sends each photo's content in two chunks.
	for id, content := range photos {
		half := int64(len(content) / 2)
		if code, st, ed := s.alex.upload(id, 0, content[:half]); code != http.StatusOK || st.Received != half || st.Complete {
			t.Fatalf("first half of photo %s: status %d, %+v, %s", id, code, st, ed.Message)
		}
		if code, st, ed := s.alex.upload(id, half, content[half:]); code != http.StatusOK || !st.Complete {
			t.Fatalf("second half of photo %s: status %d, %+v, %s", id, code, st, ed.Message)
		}
	}
	s.alex.pull()

	// The reply to the push was lost, so the device sends the batch again:
	// every result is the stored first one, and nothing changes.
	again := s.alex.push(batch...)
	for i, r := range again {
		if r.Outcome != contract.AlreadyApplied || r.First == nil || r.First.Outcome != first[i].Outcome || r.First.ReviewID != first[i].ReviewID {
			t.Errorf("replayed %s %s: got %+v, want already_applied with the first result %s", batch[i].Action, batch[i].RecordType, r, first[i].Outcome)
		}
	}
	s.alex.nothingNew("after replaying the batch")

	items := e.items(s.job)
	for typ, n := range map[string]int{"note": 2, "part": 2, "photo": 3} {
		if got := len(items[typ]); got != n {
			t.Errorf("job has %d %ss on the server, want exactly %d", got, typ, n)
		}
	}
	for _, p := range items["photo"] {
		if !p.ContentReady {
			t.Errorf("photo %s: content not marked ready after a complete upload", p.Text("filename"))
		}
		if code, body := s.alex.download(p.ID); code != http.StatusOK || !bytes.Equal(body, photos[p.ID]) {
			t.Errorf("photo %s: download status %d, %d bytes, want the %d bytes uploaded", p.Text("filename"), code, len(body), len(photos[p.ID]))
		}
	}
	return s
}

func TestS1OfflineTechnicianAndOfficeBothMoveTheStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		choice string
		value  string // for a typed value
		want   string
	}{
		{name: "the office keeps the server's status", choice: contract.KeepServer, want: "waiting_for_approval"},
		{name: "the office takes Alex's status", choice: contract.TakeDevice, want: "completed"},
		{name: "the office types a status", choice: contract.TypeValue, value: "in_progress", want: "in_progress"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := basement(t)
			e, alex, sue, dana := s.e, s.alex, s.sue, s.dana

			if got := e.status(s.job); got != "waiting_for_approval" {
				t.Fatalf("before review the job is %s, want the office's waiting_for_approval", got)
			}
			// Alex's device shows the record needs review, with both versions.
			if j := alex.rec(s.job); !j.HasReview("status") {
				t.Errorf("Alex's job does not show that its status needs review")
			}
			rv, ok := alex.reviews[s.review]
			if !ok {
				t.Fatalf("Alex's device did not pull review %s", s.review)
			}
			if rv.Status != "open" || rv.Kind != contract.KindConflict || string(rv.Server.Values["status"]) != `"waiting_for_approval"` ||
				rv.Server.UserName != "dana" || rv.Server.DeviceID != "office-pc" {
				t.Errorf("review: want open conflict with dana's waiting_for_approval from office-pc as the server's version, got %+v", rv)
			}
			if len(rv.Device) != 1 || string(rv.Device[0].Values["status"]) != `"completed"` || rv.Device[0].UserName != "alex" ||
				rv.Device[0].DeviceID != "alex-phone" || !rv.Device[0].DeviceTime.Equal(s.statusOp.DeviceTime) {
				t.Errorf("review: want Alex's completed from alex-phone at %v as the device version, got %+v", s.statusOp.DeviceTime, rv.Device)
			}
			if open := sue.openReviews(); len(open) != 1 || open[0].ID != s.review {
				t.Errorf("the office's review queue: got %d items, want review %s", len(open), s.review)
			}

			req := contract.ResolveRequest{Choice: tc.choice}
			if tc.choice == contract.TakeDevice {
				req.Entry = s.statusOp.ID
			}
			if tc.value != "" {
				req.Values = map[string]json.RawMessage{"status": contract.Text(tc.value)}
			}
			code, res, ed := sue.resolve(s.review, req)
			if code != http.StatusOK || res.Outcome != contract.Applied {
				t.Fatalf("resolve: status %d, %+v, %s", code, res, ed.Message)
			}
			if got := e.status(s.job); got != tc.want {
				t.Errorf("after resolving, the job is %s, want %s", got, tc.want)
			}
			j := e.stored(s.job)
			if j.HasReview("status") {
				t.Errorf("the job still shows a status review after it was resolved")
			}
			if j.Versions["status"] <= s.officeStatusVers {
				t.Errorf("status version %d after resolving, want above %d so devices learn it is settled", j.Versions["status"], s.officeStatusVers)
			}
			done := e.storedReview(s.review)
			if done.Status != "resolved" || done.Resolution == nil || done.Resolution.Choice != tc.choice || done.Resolution.UserName != "sue" {
				t.Errorf("review after resolving: want resolved by sue with %s, got %s %+v", tc.choice, done.Status, done.Resolution)
			}
			hist := dana.history("job", s.job)
			if last := hist[len(hist)-1]; !strings.HasPrefix(last.Note, "Review resolved") || last.UserName != "sue" {
				t.Errorf("the change log does not end with sue's resolution: %+v", last)
			}
			if len(dana.openReviews()) != 0 {
				t.Errorf("the review queue is not empty after resolving")
			}

			e.converged(append([]string{s.job}, s.items...), alex, dana, sue)
			if got := alex.text(s.job, "status"); got != tc.want {
				t.Errorf("Alex's device shows %s, want %s", got, tc.want)
			}
			if alex.reviews[s.review].Status != "resolved" {
				t.Errorf("Alex's device still shows the review as %s", alex.reviews[s.review].Status)
			}
		})
	}
}

func TestS2TwoOfficeUsersChangeTheSamePhoneNumber(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		adaTypedFor time.Duration // when Ada typed, relative to Dana
	}{
		{name: "the later arrival wins when it was also typed later", adaTypedFor: 5 * time.Minute},
		{name: "the later arrival wins even though it was typed earlier", adaTypedFor: -5 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			dana := e.login("dana", "office-pc")
			ada := e.login("ada", "admin-laptop")
			cust := e.customer(dana, "Harbor Bakery")
			dana.pull()
			ada.pull()

			// Both offline, from the same version of the contact details.
			fromDana := dana.op("customer", cust, contract.ActionUpdate, dana.bases(cust, "contact"), map[string]any{"phone": "+44 20 7946 0101"})
			fromAda := ada.op("customer", cust, contract.ActionUpdate, ada.bases(cust, "contact"), map[string]any{"phone": "+44 20 7946 0202"})
			fromAda.DeviceTime = fromDana.DeviceTime.Add(tc.adaTypedFor)

			wantResult(t, "Dana's phone", dana.push(fromDana)[0], contract.Applied, "")
			wantResult(t, "Ada's phone", ada.push(fromAda)[0], contract.Applied, "")

			if got := e.stored(cust).Text("phone"); got != "+44 20 7946 0202" {
				t.Errorf("phone is %q, want Ada's, the later to reach the server", got)
			}
			var phones []contract.Change
			for _, c := range dana.history("customer", cust) {
				if c.Field == "phone" {
					phones = append(phones, c)
				}
			}
			if len(phones) != 3 {
				t.Fatalf("change log has %d phone changes, want 3 (create, Dana, Ada): %+v", len(phones), phones)
			}
			if string(phones[1].New) != `"+44 20 7946 0101"` || phones[1].UserName != "dana" {
				t.Errorf("Dana's phone is not in the change log: %+v", phones[1])
			}
			if string(phones[2].Old) != `"+44 20 7946 0101"` || string(phones[2].New) != `"+44 20 7946 0202"` || phones[2].UserName != "ada" {
				t.Errorf("Ada's change should record Dana's number as the old value: %+v", phones[2])
			}
			if open := dana.openReviews(); len(open) != 0 {
				t.Errorf("last write wins made %d review items, want none", len(open))
			}
			e.converged([]string{cust}, dana, ada)
			if c := dana.rec(cust); len(c.OpenReviews) != 0 {
				t.Errorf("customer shows reviews %v, want none", c.OpenReviews)
			}
		})
	}
}

func TestS3TwoTechniciansOnOneJobAddNotesAndPhotosOffline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dana := e.login("dana", "office-pc")
	alex := e.login("alex", "alex-phone")
	sam := e.login("sam", "sam-phone")
	cust := e.customer(dana, "Harbor Bakery")
	job := e.job(dana, cust, "alex", "Replace boiler", "12 Quay Street", day)
	dana.pull()
	dana.must(dana.op("job", job, contract.ActionReassign, dana.bases(job, "assignment"),
		map[string]any{"assignee": e.users["alex"].ID, "crew": []string{e.users["sam"].ID}}))
	alex.pull()
	sam.pull()
	if _, ok := sam.records[job]; !ok {
		t.Fatalf("Sam is on the crew but did not pull the job")
	}

	// Offline, they interleave: Sam 10:01 note, Alex 10:02 note, Sam 10:03
	// photo, Alex 10:04 photo. Alex reaches the server first.
	at := func(min int) time.Time { return time.Date(2026, 11, 24, 10, min, 0, 0, time.UTC) }
	alexPhoto, samPhoto := fakeJPEG(1, 2048), fakeJPEG(2, 4096)
	alexOps := []contract.Operation{alex.note(job, "Old boiler disconnected."), alex.photo(job, "alex.jpg", alexPhoto)}
	samOps := []contract.Operation{sam.note(job, "Flue needs a new bracket."), sam.photo(job, "sam.jpg", samPhoto)}
	samOps[0].DeviceTime, alexOps[0].DeviceTime, samOps[1].DeviceTime, alexOps[1].DeviceTime = at(1), at(2), at(3), at(4)
	for i, r := range alex.push(alexOps...) {
		wantResult(t, "Alex's "+alexOps[i].RecordType, r, contract.Applied, "")
	}
	for i, r := range sam.push(samOps...) {
		wantResult(t, "Sam's "+samOps[i].RecordType, r, contract.Applied, "")
	}
	if code, st, ed := alex.upload(alexOps[1].RecordID, 0, alexPhoto); code != http.StatusOK || !st.Complete {
		t.Fatalf("Alex's photo content: %d %s", code, ed.Message)
	}
	if code, st, ed := sam.upload(samOps[1].RecordID, 0, samPhoto); code != http.StatusOK || !st.Complete {
		t.Fatalf("Sam's photo content: %d %s", code, ed.Message)
	}

	ids := []string{job, alexOps[0].RecordID, alexOps[1].RecordID, samOps[0].RecordID, samOps[1].RecordID}
	e.converged(ids, dana, alex, sam)
	for _, d := range []*device{dana, alex, sam} {
		notes, photos := d.itemsOf(job, "note"), d.itemsOf(job, "photo")
		if len(notes) != 2 || len(photos) != 2 {
			t.Fatalf("%s sees %d notes and %d photos, want both of each", d, len(notes), len(photos))
		}
		if notes[0].ID != samOps[0].RecordID || notes[1].ID != alexOps[0].RecordID {
			t.Errorf("%s: notes by device time are %s then %s, want Sam's then Alex's", d, notes[0].AuthorName, notes[1].AuthorName)
		}
		if photos[0].ID != samOps[1].RecordID || photos[1].ID != alexOps[1].RecordID {
			t.Errorf("%s: photos by device time are %s then %s, want Sam's then Alex's", d, photos[0].AuthorName, photos[1].AuthorName)
		}
		for _, it := range append(notes, photos...) {
			if it.Type == "photo" && !it.ContentReady {
				t.Errorf("%s: %s's photo content is not marked ready", d, it.AuthorName)
			}
		}
	}
	for _, op := range append(alexOps, samOps...) {
		if got := e.stored(op.RecordID).DeviceTime; !got.Equal(op.DeviceTime) {
			t.Errorf("%s %s: device time %v on the server, want %v as typed", op.RecordType, op.RecordID, got, op.DeviceTime)
		}
	}
}

func TestS4CreateWhoseReplyIsLostIsRetried(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		who    string
		values func(e *env, cust, job string) map[string]any
	}{
		{name: "a dispatcher's new job", who: "dana", values: func(e *env, cust, _ string) map[string]any {
			return map[string]any{"title": "Service K", "customer_id": cust, "assignee": e.users["alex"].ID, "site_address": "3 Mill Lane"}
		}},
		{name: "a technician's follow-up job", who: "alex", values: func(e *env, cust, job string) map[string]any {
			return map[string]any{"title": "Service K", "customer_id": cust, "follows_job_id": job}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			dana := e.login("dana", "office-pc")
			alex := e.login("alex", "alex-phone")
			cust := e.customer(dana, "Harbor Bakery")
			first := e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
			alex.pull()
			d := map[string]*device{"dana": dana, "alex": alex}[tc.who]

			create := d.op("job", newID(), contract.ActionCreate, nil, tc.values(e, cust, first))
			d.push(create) // stored, but the reply never reaches the device
			retry := d.push(create)[0]
			if retry.Outcome != contract.AlreadyApplied || retry.First == nil || retry.First.Outcome != contract.Applied {
				t.Fatalf("retry: got %+v, want already_applied with the first result", retry)
			}
			k := e.stored(create.RecordID)
			if k == nil || retry.First.Number == "" || retry.First.Number != k.Number {
				t.Fatalf("retry: job number %q, want the number the server gave K", retry.First.Number)
			}
			if retry.RecordID != create.RecordID {
				t.Errorf("retry names record %s, want %s", retry.RecordID, create.RecordID)
			}
			e.converged([]string{create.RecordID}, dana, alex)
			for _, dev := range []*device{dana, alex} {
				n := 0
				for _, r := range dev.records {
					if r.Type == "job" && r.Text("title") == "Service K" {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%s sees %d jobs K, want exactly one", dev, n)
				}
			}
			if tc.who == "alex" && (k.Text("assignee") != e.users["alex"].ID || k.Text("follows_job_id") != first) {
				t.Errorf("follow-up: assignee %s, follows %s; want Alex's, following %s", k.Text("assignee"), k.Text("follows_job_id"), first)
			}
		})
	}
}

func TestS5TheSameFormSavedTwiceMakesOneRecord(t *testing.T) {
	t.Parallel()
	// newJob is the job form Dana saves; newNote the note form Alex saves.
	newJob := func(e *env, d *device, cust, _ string) contract.Operation {
		return d.op("job", newID(), contract.ActionCreate, nil, map[string]any{"title": "Double tap",
			"customer_id": cust, "assignee": e.users["alex"].ID, "site_address": "3 Mill Lane"})
	}
	newNote := func(_ *env, d *device, _, job string) contract.Operation { return d.note(job, "Gate code 4471.") }
	again := func(op contract.Operation) contract.Operation {
		op.ID = newID()
		op.DeviceTime = op.DeviceTime.Add(400 * time.Millisecond)
		return op
	}
	cases := []struct {
		name  string
		who   string
		form  func(e *env, d *device, cust, job string) contract.Operation
		saves func(op contract.Operation) [][]contract.Operation // the batches sent
		want  [][]contract.Outcome
	}{
		{
			name: "one create operation twice in one batch", who: "dana", form: newJob,
			saves: func(op contract.Operation) [][]contract.Operation { return [][]contract.Operation{{op, op}} },
			want:  [][]contract.Outcome{{contract.Applied, contract.AlreadyApplied}},
		},
		{
			name: "one create operation in two batches", who: "dana", form: newJob,
			saves: func(op contract.Operation) [][]contract.Operation { return [][]contract.Operation{{op}, {op}} },
			want:  [][]contract.Outcome{{contract.Applied}, {contract.AlreadyApplied}},
		},
		{
			name: "two create operations for one job with the same values", who: "dana", form: newJob,
			saves: func(op contract.Operation) [][]contract.Operation { return [][]contract.Operation{{op, again(op)}} },
			want:  [][]contract.Outcome{{contract.Applied, contract.Applied}},
		},
		{
			name: "one note operation twice in one batch", who: "alex", form: newNote,
			saves: func(op contract.Operation) [][]contract.Operation { return [][]contract.Operation{{op, op}} },
			want:  [][]contract.Outcome{{contract.Applied, contract.AlreadyApplied}},
		},
		{
			name: "two note operations for one note with the same text", who: "alex", form: newNote,
			saves: func(op contract.Operation) [][]contract.Operation { return [][]contract.Operation{{op}, {again(op)}} },
			want:  [][]contract.Outcome{{contract.Applied}, {contract.Applied}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			dana := e.login("dana", "office-pc")
			alex := e.login("alex", "alex-phone")
			cust := e.customer(dana, "Harbor Bakery")
			job := e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
			d := map[string]*device{"dana": dana, "alex": alex}[tc.who]
			d.pull()

			op := tc.form(e, d, cust, job)
			var number string
			for i, batch := range tc.saves(op) {
				for j, r := range d.push(batch...) {
					if r.Outcome != tc.want[i][j] {
						t.Fatalf("batch %d, result %d: got %s %s (%s), want %s", i+1, j+1, r.Outcome, r.Code, r.Message, tc.want[i][j])
					}
					if n := r.Final().Number; number != "" && n != number {
						t.Errorf("a later save answered job number %q, the first %q", n, number)
					} else if number == "" {
						number = n
					}
				}
			}

			rec := e.stored(op.RecordID)
			if rec == nil {
				t.Fatalf("%s %s is not on the server", op.RecordType, op.RecordID)
			}
			for g, v := range rec.Versions {
				if v != 1 {
					t.Errorf("group %s is at version %d after a double save, want 1", g, v)
				}
			}
			for _, c := range d.history(rec.Type, op.RecordID) {
				if c.OpID != op.ID {
					t.Errorf("change log row %s.%s comes from operation %s, want only the first save's", c.Group, c.Field, c.OpID)
				}
			}
			e.converged([]string{op.RecordID, job}, dana, alex)
			n := 0
			for _, r := range dana.records {
				if r.Type == rec.Type && (r.Text("title") == "Double tap" || r.Text("text") == "Gate code 4471.") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("there are %d such %ss, want one", n, rec.Type)
			}
		})
	}
}

// reviewOf returns the open review item on a group of a record, from the
// office's queue.
func reviewOf(t *testing.T, office *device, record, group string) contract.Review {
	t.Helper()
	for _, rv := range office.openReviews() {
		if rv.RecordID == record && rv.Group == group {
			return rv
		}
	}
	t.Fatalf("no open review of %s on %s in the office's queue", group, record)
	return contract.Review{}
}

func TestS6OfficeVoidsAJobWhileTheTechnicianWorksOffline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dana := e.login("dana", "office-pc")
	alex := e.login("alex", "alex-phone")
	cust := e.customer(dana, "Harbor Bakery")
	job := e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	alex.move(job, "opened", "in_progress")

	// Alex offline: he finishes the job and writes a note.
	statusOp := alex.op("job", job, contract.ActionTransition, alex.bases(job, "status"), map[string]any{"status": "completed"})
	noteOp := alex.note(job, "Finished; pump running quietly.")

	// The customer cancelled; the office voids J.
	dana.pull()
	dana.must(dana.op("job", job, contract.ActionVoid, dana.bases(job, "lifecycle"), nil))

	got := alex.push(statusOp, noteOp)
	wantResult(t, "the status change to a voided job", got[0], contract.Held, contract.CodeVoided)
	wantResult(t, "the note", got[1], contract.Applied, "")
	if got[0].ReviewID == "" {
		t.Fatalf("held status has no review id")
	}

	j := e.stored(job)
	if !j.Bool("voided") || j.Text("status") != "voided" || !j.HasReview("status") {
		t.Errorf("job: voided=%v status=%s reviews=%v, want voided with a status review pending", j.Bool("voided"), j.Text("status"), j.OpenReviews)
	}
	if e.stored(noteOp.RecordID) == nil {
		t.Errorf("Alex's note was not kept")
	}
	rv := reviewOf(t, dana, job, "status")
	if rv.ID != got[0].ReviewID || rv.Kind != contract.KindVoided || string(rv.Server.Values["status"]) != `"voided"` ||
		len(rv.Device) != 1 || string(rv.Device[0].Values["status"]) != `"completed"` {
		t.Errorf("review: want a voided-kind item with the server's voided and Alex's completed, got %+v", rv)
	}

	e.converged([]string{job, noteOp.RecordID}, dana, alex)
	if a := alex.rec(job); a.Text("status") != "voided" || !a.HasReview("status") {
		t.Errorf("Alex's device shows the job %s with reviews %v, want voided with a review pending", a.Text("status"), a.OpenReviews)
	}
	if _, ok := alex.reviews[rv.ID]; !ok {
		t.Errorf("Alex's device did not pull the review of his status change")
	}
}

func TestS9DispatcherReassignsWhileTheOldOwnerWorksOffline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dana := e.login("dana", "office-pc")
	alex := e.login("alex", "alex-phone")
	sam := e.login("sam", "sam-phone")
	cust := e.customer(dana, "Harbor Bakery")
	job := e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	alex.move(job, "opened", "in_progress")

	// Alex offline: pauses the job, books his time, writes a note.
	offline := []contract.Operation{
		alex.op("job", job, contract.ActionTransition, alex.bases(job, "status"), map[string]any{"status": "paused"}),
		alex.op("job", job, contract.ActionUpdate, alex.bases(job, "work"), map[string]any{"labor_minutes": 95}),
		alex.note(job, "Waiting on a part; Sam can finish."),
		alex.part(job, "VALVE-7", 1),
	}

	// Meanwhile the dispatcher gives the job to Sam.
	dana.pull()
	dana.must(dana.op("job", job, contract.ActionReassign, dana.bases(job, "assignment"), map[string]any{"assignee": e.users["sam"].ID}))

	got := alex.push(offline...)
	wantResult(t, "Alex's status change", got[0], contract.Held, contract.CodeOwnership)
	wantResult(t, "Alex's labor minutes", got[1], contract.Held, contract.CodeOwnership)
	wantResult(t, "Alex's note", got[2], contract.Applied, "")
	wantResult(t, "Alex's part line", got[3], contract.Held, contract.CodeOwnership)

	for _, group := range []string{"status", "work", "parts"} {
		rv := reviewOf(t, dana, job, group)
		if rv.Kind != contract.KindOwnership || !strings.Contains(strings.ToLower(rv.Reason), "ownership changed") {
			t.Errorf("%s review: kind %s, reason %q; want ownership with the reason \"ownership changed\"", group, rv.Kind, rv.Reason)
		}
		if len(rv.Device) != 1 || rv.Device[0].UserName != "alex" {
			t.Errorf("%s review: want Alex's edit as the device version, got %+v", group, rv.Device)
		}
	}
	j := e.stored(job)
	if j.Text("status") != "in_progress" || j.Int("labor_minutes") != 0 {
		t.Errorf("job: status %s, labor %d; Alex's held edits must not be applied", j.Text("status"), j.Int("labor_minutes"))
	}
	if e.stored(offline[2].RecordID) == nil {
		t.Errorf("Alex's note was not kept")
	}
	if e.stored(offline[3].RecordID) != nil {
		t.Errorf("Alex's part line was added though it is held for review")
	}

	e.converged([]string{job, cust, offline[2].RecordID}, dana, alex, sam)
	a := alex.rec(job)
	if a.Owner != e.users["sam"].ID || a.OwnerName != "sam" || a.Text("assignee") != e.users["sam"].ID {
		t.Errorf("Alex's device shows owner %s (%s), want Sam", a.OwnerName, a.Owner)
	}
	if !slices.Contains(a.PastOwners, e.users["alex"].ID) {
		t.Errorf("Alex is not among the past owners: %v", a.PastOwners)
	}

	// The job is read-only for Alex now: what he sends is not applied.
	fresh := []contract.Operation{
		alex.op("job", job, contract.ActionUpdate, alex.bases(job, "work"), map[string]any{"labor_minutes": 20}),
		alex.op("job", job, contract.ActionUpdate, alex.bases(job, "summary"), map[string]any{"title": "Alex was here"}),
	}
	late := alex.push(fresh...)
	if late[0].Outcome == contract.Applied {
		t.Errorf("Alex's labor edit after hearing of the reassign was applied")
	}
	wantResult(t, "Alex's title edit", late[1], contract.Refused, contract.CodeForbidden)
	if j := e.stored(job); j.Int("labor_minutes") != 0 || j.Text("title") != "Replace pump seal" {
		t.Errorf("job changed by Alex after the reassign: labor %d, title %q", j.Int("labor_minutes"), j.Text("title"))
	}
	// Sam, the new owner, can work on it.
	wantResult(t, "Sam's note", sam.push(sam.note(job, "On my way."))[0], contract.Applied, "")

	// The office takes Alex's part line: it is added once, and is Sam's now.
	parts := reviewOf(t, dana, job, "parts")
	if code, _, ed := dana.resolve(parts.ID, contract.ResolveRequest{Choice: contract.TakeDevice}); code != http.StatusOK {
		t.Fatalf("taking Alex's part line: status %d %s", code, ed.Message)
	}
	p := e.stored(offline[3].RecordID)
	if p == nil || p.Text("sku") != "VALVE-7" || p.Author != e.users["alex"].ID || p.Owner != e.users["sam"].ID {
		t.Fatalf("part line after taking it: %+v, want VALVE-7 by Alex, owned by Sam with the job", p)
	}
	if n := len(e.items(job)["part"]); n != 1 {
		t.Errorf("job has %d part lines, want 1", n)
	}
	e.converged([]string{job, offline[3].RecordID}, dana, alex, sam)
}

func TestS10EditToASignedOffJobIsRefusedAndReopenKeepsHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dana := e.login("dana", "office-pc")
	sue := e.login("sue", "supervisor-tablet")
	alex := e.login("alex", "alex-phone")
	cust := e.customer(dana, "Harbor Bakery")
	job := e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	alex.move(job, "opened", "in_progress", "completed")
	signedAt := day.Add(3 * time.Hour).Format(time.RFC3339)
	alex.must(alex.op("job", job, contract.ActionUpdate, alex.bases(job, "signature"), map[string]any{"signer_name": "Pat Okafor", "signed_at": signedAt}))
	alex.move(job, "signed_off")

	// Alex remembers he forgot his time and edits the signed-off job.
	r := alex.push(alex.op("job", job, contract.ActionUpdate, alex.bases(job, "work"), map[string]any{"labor_minutes": 45}))[0]
	wantResult(t, "an edit to a signed-off job", r, contract.Refused, contract.CodeLocked)
	if !strings.Contains(r.Message, "signed off") || r.Retry {
		t.Errorf("refusal: message %q retry %v; want it to say the job is signed off, not to retry", r.Message, r.Retry)
	}
	// His text is kept as a note, which a locked job still takes.
	noteOp := alex.note(job, "Labor was 45 minutes.")
	n := alex.push(noteOp)[0]
	wantResult(t, "a note after sign-off", n, contract.Applied, "")
	if n.Notice == "" {
		t.Errorf("a note after sign-off has no notice saying so")
	}
	if note := e.stored(noteOp.RecordID); note == nil || !note.AfterSignoff {
		t.Errorf("the note is not marked as added after sign-off: %+v", note)
	}

	// Alex cannot reopen it himself; a supervisor does.
	wantResult(t, "Alex reopening", alex.push(alex.op("job", job, contract.ActionReopen, nil, nil))[0], contract.Refused, contract.CodeForbidden)
	sue.pull()
	sue.must(sue.op("job", job, contract.ActionReopen, nil, nil))
	j := e.stored(job)
	if j.Text("status") != "reopened" || j.Text("signer_name") != "" {
		t.Errorf("after reopen: status %s, signer %q; want reopened with the signature cleared", j.Text("status"), j.Text("signer_name"))
	}
	var signed, cleared bool
	var statuses []string
	for _, c := range alex.history("job", job) {
		switch {
		case c.Field == "signer_name" && string(c.New) == `"Pat Okafor"`:
			signed = true
		case c.Field == "signer_name" && string(c.Old) == `"Pat Okafor"` && contract.IsNull(c.New) && c.UserName == "sue":
			cleared = true
		case c.Field == "status":
			var s string
			_ = json.Unmarshal(c.New, &s)
			statuses = append(statuses, s)
		}
	}
	if !signed || !cleared {
		t.Errorf("history: signature given %v, cleared by sue's reopen %v; want both", signed, cleared)
	}
	if want := []string{"assigned", "opened", "in_progress", "completed", "signed_off", "reopened"}; !slices.Equal(statuses, want) {
		t.Errorf("status history %v, want %v", statuses, want)
	}

	// Reopened, Alex can book his time.
	alex.move(job, "in_progress")
	alex.must(alex.op("job", job, contract.ActionUpdate, alex.bases(job, "work"), map[string]any{"labor_minutes": 45}))
	e.converged([]string{job, noteOp.RecordID}, dana, sue, alex)
	if !alex.rec(noteOp.RecordID).AfterSignoff {
		t.Errorf("Alex's device does not show the note as added after sign-off")
	}
}

// matches asks the server for jobs a new job may repeat.
func (d *device) matches(cust, site, date string) []contract.Match {
	d.t.Helper()
	q := url.Values{"customer_id": {cust}, "site_address": {site}, "date": {date}}
	var resp contract.MatchesResponse
	if code := d.call("GET", "/v1/jobs/matches?"+q.Encode(), nil, &resp); code != http.StatusOK {
		d.t.Fatalf("%s matches: status %d", d, code)
	}
	return resp.Matches
}

func TestS12ANewJobForASiteThatHasOneToday(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		choice string
		check  func(t *testing.T, e *env, existing, dup, note string)
	}{
		{name: "the office keeps both jobs", choice: contract.KeepBoth, check: func(t *testing.T, e *env, existing, dup, note string) {
			k := e.stored(dup)
			if k.DuplicateOf != "" || k.Bool("voided") || len(k.OpenReviews) != 0 {
				t.Errorf("kept duplicate: duplicate_of %q, voided %v, reviews %v; want a plain open job", k.DuplicateOf, k.Bool("voided"), k.OpenReviews)
			}
			if p := e.stored(note).ParentID; p != dup {
				t.Errorf("the note moved to %s, want it to stay on its job", p)
			}
		}},
		{name: "the office merges the new job into the existing one", choice: contract.Merge, check: func(t *testing.T, e *env, existing, dup, note string) {
			k := e.stored(dup)
			if !k.Bool("voided") || k.Text("status") != "voided" || len(k.OpenReviews) != 0 {
				t.Errorf("merged duplicate: voided %v, status %s, reviews %v; want voided with no review", k.Bool("voided"), k.Text("status"), k.OpenReviews)
			}
			if p := e.stored(note).ParentID; p != existing {
				t.Errorf("the note is on %s after the merge, want it moved to the surviving job %s", p, existing)
			}
			if items := e.items(existing); len(items["note"]) != 1 {
				t.Errorf("the surviving job has %d notes, want the moved one", len(items["note"]))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			dana := e.login("dana", "office-pc")
			alex := e.login("alex", "alex-phone")
			sam := e.login("sam", "sam-phone")
			cust := e.customer(dana, "Harbor Bakery")
			existing := e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
			alex.pull()
			number := alex.rec(existing).Number

			// Before creating, Alex's device asks for likely matches; the
			// site is typed differently but is the same.
			m := alex.matches(cust, "12  quay street", "2026-11-24")
			if len(m) != 1 || m[0].ID != existing || m[0].Number != number || !m[0].Visible || m[0].Title != "Replace pump seal" {
				t.Fatalf("matches for Alex: %+v, want %s offered with its title", m, number)
			}
			if m := alex.matches(cust, "12 Quay Street", "2026-11-25"); len(m) != 0 {
				t.Errorf("matches on another day: %+v, want none", m)
			}
			// Sam works for none of this customer's jobs: he learns nothing
			// about them, not even that they exist.
			q := url.Values{"customer_id": {cust}, "site_address": {"12 Quay Street"}, "date": {"2026-11-24"}}
			if code := sam.call("GET", "/v1/jobs/matches?"+q.Encode(), nil, nil); code != http.StatusNotFound {
				t.Errorf("matches for Sam, who sees nothing of this customer: status %d, want 404", code)
			}

			// Offline, Alex creates it anyway and writes a note on it.
			create := alex.op("job", newID(), contract.ActionCreate, nil, map[string]any{"title": "Pump leaking",
				"customer_id": cust, "site_address": "12 Quay Street", "scheduled_start": day.Add(5 * time.Hour).Format(time.RFC3339)})
			noteOp := alex.note(create.RecordID, "Leak is at the seal.")
			got := alex.push(create, noteOp)
			wantResult(t, "Alex's new job", got[0], contract.Applied, "")
			wantResult(t, "Alex's note on it", got[1], contract.Applied, "")
			if !strings.Contains(got[0].Notice, number) {
				t.Errorf("notice %q does not name the suspected original %s", got[0].Notice, number)
			}
			dup := create.RecordID
			if k := e.stored(dup); k.DuplicateOf != existing {
				t.Errorf("new job duplicate_of %q, want %s", k.DuplicateOf, existing)
			}
			var rv contract.Review
			for _, r := range dana.openReviews() {
				if r.Kind == contract.KindDuplicate {
					rv = r
				}
			}
			if rv.ID == "" || rv.RecordID != dup || rv.MatchID != existing || !strings.Contains(rv.Reason, number) {
				t.Fatalf("office review queue: want a duplicate item on the new job matching %s, got %+v", number, rv)
			}

			code, res, ed := dana.resolve(rv.ID, contract.ResolveRequest{Choice: tc.choice})
			if code != http.StatusOK || res.Outcome != contract.Applied {
				t.Fatalf("resolve %s: status %d, %s", tc.choice, code, ed.Message)
			}
			if done := e.storedReview(rv.ID); done.Status != "resolved" {
				t.Errorf("the duplicate review is %s after resolving", done.Status)
			}
			tc.check(t, e, existing, dup, noteOp.RecordID)
			if j := e.stored(existing); j.Bool("voided") || j.DuplicateOf != "" {
				t.Errorf("the existing job was changed by the resolution: %+v", j)
			}
			e.converged([]string{existing, dup, noteOp.RecordID}, dana, alex)
		})
	}
}
