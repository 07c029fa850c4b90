package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fieldsync/app"
	"fieldsync/internal/faultproxy"

	"github.com/google/uuid"
)

const reviewWords = "Another update changed this record. Review before sending again."

func TestS1OfflineTechnicianAndOfficeBothMoveTheStatus(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	alex := w.device("alex-phone", "alex", deviceOptions{chunk: 16 << 10})
	_, job := w.scene(dana, alex, "Replace pump seal")

	// Alex goes down to the basement: no signal.
	alex.offline()
	notes := []string{alex.note(job, "Seal was cracked; water on the floor."), alex.note(job, "Customer asked for a quote on the second pump.")}
	parts := []string{alex.part(job, "SEAL-40", 1), alex.part(job, "GASKET-12", 2)}
	content := map[string][]byte{}
	var photos []string
	for i, name := range []string{"before.jpg", "during.jpg", "after.jpg"} {
		b := photoBytes(uint64(100+i), 40_000+i*7_000)
		id := alex.photo(job, name, b)
		content[id] = b
		photos = append(photos, id)
	}
	alex.move(job, "completed")
	if err := alex.sync(); err == nil {
		t.Fatal("a sync in the basement went through")
	}
	if got := alex.words(job); !strings.HasPrefix(got, "Sync failed, retrying in ") {
		t.Errorf("offline, Alex's job says %q, want a failed sync with the time of the next try", got)
	}
	if d := alex.job(job); d.Status != "completed" || len(d.Notes) != 2 || len(d.Parts) != 2 || len(d.Photos) != 3 {
		t.Errorf("offline, Alex sees status %s, %d notes, %d parts, %d photos; want what he saved", d.Status, len(d.Notes), len(d.Parts), len(d.Photos))
	}

	// Meanwhile the office needs the customer's approval.
	dana.move(job, "waiting_for_approval")
	dana.mustSync()

	// Alex comes back up. His screen shows the uploads as they go.
	var mu sync.Mutex
	shown := map[string]bool{}
	cancel := alex.Subscribe(func(st app.SyncState) {
		mu.Lock()
		defer mu.Unlock()
		for _, u := range st.Uploads {
			shown[st.Words(u.PhotoID, st.At)] = true
		}
	})
	alex.online()
	alex.mustSync()
	cancel()
	mu.Lock()
	for _, want := range []string{"Uploading photo 1 of 3 (0%)", "Uploading photo 2 of 3 (34%)", "Uploading photo 3 of 3 (60%)"} {
		if !shown[want] {
			t.Errorf("Alex's screen never showed %q; it showed %v", want, shown)
		}
	}
	mu.Unlock()

	items := w.items(job)
	for typ, want := range map[string][]string{"note": notes, "part": parts, "photo": photos} {
		if got := ids(items[typ]); !slices.Equal(got, sorted(want)) {
			t.Errorf("server has %ss %v, want exactly %v", typ, got, sorted(want))
		}
	}
	for _, id := range photos {
		if got := w.download(id); !bytes.Equal(got, content[id]) || sha(got) != w.record(id).Text("sha256") {
			t.Errorf("photo %s: the server has %d bytes (sha256 %s), want the %d taken", id, len(got), sha(got), len(content[id]))
		}
	}
	j := w.record(job)
	if j.Text("status") != "waiting_for_approval" || !j.HasReview("status") {
		t.Errorf("server job: status %s, reviews %v; want the office's status with a review open", j.Text("status"), j.OpenReviews)
	}
	rv := alex.reviewOn(job, "status")
	if string(rv.Server.Values["status"]) != `"waiting_for_approval"` || rv.Server.UserName != "dana" ||
		len(rv.Device) != 1 || string(rv.Device[0].Values["status"]) != `"completed"` || rv.Device[0].UserName != "alex" ||
		rv.Device[0].DeviceID != alex.DeviceID() {
		t.Errorf("the review does not hold both versions: %+v", rv)
	}
	if got := alex.words(job); got != reviewWords {
		t.Errorf("Alex's job says %q, want %q", got, reviewWords)
	}
	const summary = "Your notes, parts, and photos synced. Job status needs review because dana changed it in the office."
	if got := alex.State().Summary; got != summary {
		t.Errorf("Alex's summary is %q, want %q", got, summary)
	}

	// The office resolves: it takes Alex's completed.
	dana.mustSync()
	drv := dana.reviewOn(job, "status")
	if drv.ID != rv.ID {
		t.Fatalf("the office sees review %s, Alex %s", drv.ID, rv.ID)
	}
	if err := dana.Resolve(drv.ID, "device", "", nil); err != nil {
		t.Fatal(err)
	}
	w.syncAll(dana, alex)
	if st := w.record(job).Text("status"); st != "completed" {
		t.Errorf("after the office took Alex's version the job is %s, want completed", st)
	}
	if rv := w.review(rv.ID); rv.Status != "resolved" {
		t.Errorf("review is %s, want resolved", rv.Status)
	}
	want := append(append(append([]string{job}, notes...), parts...), photos...)
	w.converged(want, dana, alex)
	for _, d := range []*device{dana, alex} {
		if got := d.job(job); got.Status != "completed" || len(got.Reviews) != 0 || len(got.Notes) != 2 || len(got.Parts) != 2 || len(got.Photos) != 3 {
			t.Errorf("%s shows status %s, %d reviews, %d notes, %d parts, %d photos", d, got.Status, len(got.Reviews), len(got.Notes), len(got.Parts), len(got.Photos))
		}
	}
	items = w.items(job)
	if len(items["note"]) != 2 || len(items["part"]) != 2 || len(items["photo"]) != 3 {
		t.Errorf("after converging the server has %d notes, %d parts, %d photos", len(items["note"]), len(items["part"]), len(items["photo"]))
	}
}

func TestS2TwoOfficeUsersChangeTheSamePhoneNumber(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	ada := w.device("ada-laptop", "ada")
	cust := dana.customer("Harbor Bakery")
	w.syncAll(dana, ada)

	// Both offline, each types a new number from the same version.
	dana.offline()
	ada.offline()
	if _, err := dana.SetFields(cust, map[string]any{"phone": "+44 20 7946 0101"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ada.SetFields(cust, map[string]any{"phone": "+44 20 7946 0202"}); err != nil {
		t.Fatal(err)
	}
	if got := dana.words(cust); got != "Saved on this device" {
		t.Errorf("offline, Dana's customer says %q, want Saved on this device", got)
	}

	// Dana reaches the server first, then Ada.
	dana.online()
	dana.mustSync()
	ada.online()
	ada.mustSync()

	if got := w.record(cust).Text("phone"); got != "+44 20 7946 0202" {
		t.Errorf("server phone %q, want Ada's, the later to arrive", got)
	}
	hist, stale, err := dana.History(w.ctx, cust)
	if err != nil || stale {
		t.Fatalf("history: %v (stale %v)", err, stale)
	}
	var phones []string
	for _, c := range hist {
		if c.Field == "phone" {
			phones = append(phones, c.UserName+":"+string(c.New))
		}
	}
	if want := []string{`dana:"+44 20 7946 0000"`, `dana:"+44 20 7946 0101"`, `ada:"+44 20 7946 0202"`}; !slices.Equal(phones, want) {
		t.Errorf("phone changes in the log %v, want %v", phones, want)
	}
	if n := len(w.reviews(false)); n != 0 {
		t.Errorf("last write wins made %d review items, want none", n)
	}
	w.syncAll(dana, ada)
	w.converged([]string{cust}, dana, ada)
	for _, d := range []*device{dana, ada} {
		if rvs, _ := d.Reviews(); len(rvs) != 0 {
			t.Errorf("%s shows %d reviews, want none", d, len(rvs))
		}
		if got := d.view(cust).Text("phone"); got != "+44 20 7946 0202" {
			t.Errorf("%s shows phone %q, want Ada's", d, got)
		}
	}
}

func TestS3TwoTechniciansOnOneJobAddNotesAndPhotosOffline(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	alex := w.device("alex-phone", "alex")
	sam := w.device("sam-phone", "sam")
	cust := dana.customer("Harbor Bakery")
	job := dana.newJob(cust, "alex", "Replace boiler", "12 Quay Street", today())
	dana.mustSync()
	if _, err := dana.SetFields(job, map[string]any{"crew": w.users["sam"].ID}); err != nil {
		t.Fatal(err)
	}
	w.syncAll(dana, alex, sam)
	if sam.view(job) == nil {
		t.Fatal("Sam is on the crew but his device does not have the job")
	}

	// Offline, they interleave: Sam's note, Alex's note, Sam's photo, Alex's photo.
	alex.offline()
	sam.offline()
	samPhoto, alexPhoto := photoBytes(1, 30_000), photoBytes(2, 50_000)
	samNote := sam.note(job, "Flue needs a new bracket.")
	alexNote := alex.note(job, "Old boiler disconnected.")
	samPic := sam.photo(job, "sam.jpg", samPhoto)
	alexPic := alex.photo(job, "alex.jpg", alexPhoto)

	// Alex reaches the server first.
	alex.online()
	alex.mustSync()
	sam.online()
	sam.mustSync()
	w.syncAll(dana, alex, sam)

	items := w.items(job)
	if got := ids(items["note"]); !slices.Equal(got, sorted([]string{samNote, alexNote})) {
		t.Errorf("server notes %v, want both", got)
	}
	if got := ids(items["photo"]); !slices.Equal(got, sorted([]string{samPic, alexPic})) {
		t.Errorf("server photos %v, want both", got)
	}
	for id, b := range map[string][]byte{samPic: samPhoto, alexPic: alexPhoto} {
		if got := w.download(id); !bytes.Equal(got, b) {
			t.Errorf("photo %s content differs on the server", id)
		}
	}
	for _, d := range []*device{dana, alex, sam} {
		j := d.job(job)
		if got := itemIDs(j.Notes); !slices.Equal(got, []string{samNote, alexNote}) {
			t.Errorf("%s shows notes %v, want Sam's then Alex's by device time", d, got)
		}
		if got := itemIDs(j.Photos); !slices.Equal(got, []string{samPic, alexPic}) {
			t.Errorf("%s shows photos %v, want Sam's then Alex's by device time", d, got)
		}
		for _, p := range j.Photos {
			if !p.Record.ContentReady || p.Uploaded != p.Size {
				t.Errorf("%s: photo %s shows %d of %d bytes uploaded, ready %v", d, p.Record.ID, p.Uploaded, p.Size, p.Record.ContentReady)
			}
		}
	}
	w.converged([]string{job, samNote, alexNote, samPic, alexPic}, dana, alex, sam)
}

func TestS4CreateWhoseReplyIsLostIsRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		who  string
	}{
		{name: "a dispatcher's new job", who: "dana"},
		{name: "a technician's follow-up job", who: "alex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			dana := w.device("dana-pc", "dana")
			alex := w.device("alex-phone", "alex")
			cust, first := w.scene(dana, alex, "Replace pump seal")
			d := map[string]*device{"dana": dana, "alex": alex}[tc.who]

			form := app.JobForm{CustomerID: cust, Title: "Service K", Site: "3 Mill Lane", Start: today().Add(24 * time.Hour)}
			if tc.who == "dana" {
				form.Assignee = "alex"
			} else {
				form.FollowsJob = first
				form.Site = ""
			}
			k, err := d.NewJob(w.ctx, form, false)
			if err != nil {
				t.Fatal(err)
			}
			if d.job(k.ID).Label() != "New job" {
				t.Errorf("before sync the job is labelled %q, want New job", d.job(k.ID).Label())
			}

			// The server stores K, but its reply never reaches the device.
			d.proxy.Add(faultproxy.Rule{Method: "POST", Path: "/v1/push", Fault: faultproxy.DropReply, Times: 1})
			if err := d.sync(); err == nil {
				t.Fatal("a sync whose reply was lost reported success")
			}
			if st := d.proxy.Stats(); st.DroppedReplies != 1 {
				t.Fatalf("proxy: %+v, want one dropped reply", st)
			}
			if w.record(k.ID) == nil {
				t.Fatal("the server does not have K though it handled the push")
			}
			if q, _, _, _ := d.pending(); q != 1 {
				t.Errorf("after the lost reply %d operations are queued, want the create still queued", q)
			}
			if got := d.words(k.ID); !strings.HasPrefix(got, "Sync failed, retrying in ") {
				t.Errorf("after the lost reply K says %q, want a failed sync and the next try", got)
			}

			// The device retries.
			d.mustSync()
			w.syncAll(dana, alex)
			if got := w.jobsTitled("Service K"); len(got) != 1 || got[0].ID != k.ID {
				t.Fatalf("server has %d jobs K, want exactly one", len(got))
			}
			kk := w.record(k.ID)
			for _, dev := range []*device{dana, alex} {
				jobs, err := dev.Jobs()
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, j := range jobs {
					if j.Title == "Service K" {
						n++
						if j.Number != kk.Number || j.Number == "" {
							t.Errorf("%s shows K as %q, want the server's number %s", dev, j.Number, kk.Number)
						}
					}
				}
				if n != 1 {
					t.Errorf("%s shows %d jobs K, want exactly one", dev, n)
				}
			}
			if tc.who == "alex" && (kk.Text("assignee") != w.users["alex"].ID || kk.Text("follows_job_id") != first) {
				t.Errorf("follow-up: assignee %s, follows %s; want Alex's, following %s", kk.Text("assignee"), kk.Text("follows_job_id"), first)
			}
			for _, c := range w.changes(k.ID) {
				if c.Group == "origin" && c.Field == "customer_id" && c.OpID == "" {
					t.Errorf("change without an operation: %+v", c)
				}
			}
			w.converged([]string{k.ID, first}, dana, alex)
		})
	}
}

func TestS5TheSameFormSavedTwiceMakesOneRecord(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	alex := w.device("alex-phone", "alex")
	cust, job := w.scene(dana, alex, "Replace pump seal")

	// Dana double-taps Save on a new job form: the form has its id from
	// when it opened.
	form := app.JobForm{ID: uuid.NewString(), CustomerID: cust, Title: "Double tap", Site: "3 Mill Lane", Assignee: "alex", Start: today()}
	k1, err := dana.NewJob(w.ctx, form, false)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := dana.NewJob(w.ctx, form, false)
	if err != nil || k2 == nil || k2.ID != k1.ID {
		t.Fatalf("second save: %v, %v; want the same job back", k2, err)
	}
	// A form that lost its id is caught by the device's duplicate check.
	var dup *app.DuplicateError
	if _, err := dana.NewJob(w.ctx, app.JobForm{CustomerID: cust, Title: "Double tap", Site: "3 Mill Lane", Assignee: "alex", Start: today()}, false); !errors.As(err, &dup) ||
		len(dup.Suspects) != 1 || dup.Suspects[0].ID != k1.ID {
		t.Errorf("a second form with the same job: %v, want a duplicate warning naming the first", err)
	}

	// Alex double-taps Save on a note, a part line and a status move.
	noteID, partID := uuid.NewString(), uuid.NewString()
	for range 2 {
		if _, err := alex.AddNote(job, noteID, "Gate code 4471."); err != nil {
			t.Fatal(err)
		}
		if _, err := alex.AddPart(job, partID, "SEAL-40", "", 1); err != nil {
			t.Fatal(err)
		}
		if _, err := alex.Move(job, "completed"); err != nil {
			t.Fatal(err)
		}
		if _, err := alex.SetFields(job, map[string]any{"labor_minutes": "45"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []*device{dana, alex} {
		out, err := d.local().Outbox()
		if err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, p := range out {
			per[p.Op.RecordID+" "+string(p.Op.Action)]++
		}
		for k, n := range per {
			if n != 1 {
				t.Errorf("%s: %d operations for %s, want one", d, n, k)
			}
		}
		if want := map[string]int{"dana-pc": 1, "alex-phone": 4}[d.name]; len(out) != want {
			t.Errorf("%s: %d operations in the outbox, want %d", d, len(out), want)
		}
	}

	w.syncAll(dana, alex)
	if got := w.jobsTitled("Double tap"); len(got) != 1 {
		t.Errorf("server has %d jobs from the double tap, want one", len(got))
	}
	items := w.items(job)
	if len(items["note"]) != 1 || len(items["part"]) != 1 {
		t.Errorf("server has %d notes and %d parts, want one of each", len(items["note"]), len(items["part"]))
	}
	for _, id := range []string{k1.ID, noteID, partID, job} {
		ops := map[string]bool{}
		for _, c := range w.changes(id) {
			ops[c.OpID] = true
		}
		if id != job && len(ops) != 1 {
			t.Errorf("record %s was changed by %d operations, want one", id, len(ops))
		}
	}
	var statuses []string
	for _, c := range w.changes(job) {
		if c.Field == "status" {
			statuses = append(statuses, string(c.New))
		}
	}
	if want := []string{`"assigned"`, `"opened"`, `"in_progress"`, `"completed"`}; !slices.Equal(statuses, want) {
		t.Errorf("status changes %v, want %v", statuses, want)
	}
	if v := w.record(job); v.Versions["work"] != 2 || v.Int("labor_minutes") != 45 {
		t.Errorf("work group at version %d with %d minutes, want one change to 45", v.Versions["work"], v.Int("labor_minutes"))
	}
	w.converged([]string{k1.ID, noteID, partID, job}, dana, alex)
}

func TestS6OfficeVoidsAJobWhileTheTechnicianWorksOffline(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	alex := w.device("alex-phone", "alex")
	_, job := w.scene(dana, alex, "Replace pump seal")

	// Alex offline: he finishes the job and writes a note.
	alex.offline()
	alex.move(job, "completed")
	note := alex.note(job, "Finished; pump running quietly.")

	// The customer cancelled; the office voids J.
	if _, err := dana.Void(job); err != nil {
		t.Fatal(err)
	}
	dana.mustSync()

	alex.online()
	alex.mustSync()
	dana.mustSync()

	j := w.record(job)
	if !j.Bool("voided") || j.Text("status") != "voided" || !j.HasReview("status") {
		t.Errorf("server job: voided %v, status %s, reviews %v; want voided with a status review", j.Bool("voided"), j.Text("status"), j.OpenReviews)
	}
	if w.record(note) == nil {
		t.Error("Alex's note was not kept")
	}
	if _, held, _, _ := alex.pending(); held != 1 {
		t.Errorf("Alex's device holds %d edits for review, want his status change", held)
	}
	for _, d := range []*device{alex, dana} {
		jd := d.job(job)
		if !jd.Voided || jd.Status != "voided" || len(jd.Reviews) != 1 || jd.Reviews[0].Kind != "voided" {
			t.Errorf("%s shows voided %v, status %s, %d reviews; want voided with a review pending", d, jd.Voided, jd.Status, len(jd.Reviews))
		}
		if got := itemIDs(jd.Notes); !slices.Equal(got, []string{note}) {
			t.Errorf("%s shows notes %v, want Alex's", d, got)
		}
		if got := d.words(job); got != reviewWords {
			t.Errorf("%s: job says %q, want %q", d, got, reviewWords)
		}
		w.sameAsServer([]string{note}, d)
	}
	rv := dana.reviewOn(job, "status")
	if string(rv.Server.Values["status"]) != `"voided"` || len(rv.Device) != 1 || string(rv.Device[0].Values["status"]) != `"completed"` {
		t.Errorf("review: %+v, want the server's voided and Alex's completed", rv)
	}
	if got := alex.State().Summary; !strings.Contains(got, "Your notes synced.") || !strings.Contains(got, "because the job was voided") {
		t.Errorf("Alex's summary %q, want his note synced and the status held because the job was voided", got)
	}

	// The office keeps the void.
	if err := dana.Resolve(rv.ID, "server", "", nil); err != nil {
		t.Fatal(err)
	}
	w.syncAll(dana, alex)
	if j := w.record(job); j.Text("status") != "voided" || len(j.OpenReviews) != 0 {
		t.Errorf("after keeping the void: status %s, reviews %v", j.Text("status"), j.OpenReviews)
	}
	w.converged([]string{job, note}, dana, alex)
}

func TestS7PhotoUploadCutThreeTimesResumes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	alex := w.device("alex-phone", "alex", deviceOptions{chunk: 64 << 10})
	_, job := w.scene(dana, alex, "Replace pump seal")

	const size, cut = 200_000, 10_000
	content := photoBytes(7, size)
	// The link cuts the next three uploads after 10 kB each.
	alex.proxy.Add(faultproxy.Rule{Method: "PUT", Path: "/v1/photos/", Fault: faultproxy.CutUpload, CutAfter: cut, Times: 3})
	alex.proxy.ResetLog()
	photo := alex.photo(job, "leak.jpg", content)
	if err := alex.sync(); err == nil {
		t.Fatal("round 1: the cut upload reported success")
	}
	// Meanwhile Alex finishes the job and writes a note; they go through
	// while the photo keeps failing.
	alex.move(job, "completed")
	note := alex.note(job, "Pump sealed; photo of the leak attached.")
	if err := alex.sync(); err == nil {
		t.Fatal("round 2: the cut upload reported success")
	}
	if w.record(job).Text("status") != "completed" || w.record(note) == nil {
		t.Fatalf("the status and note did not reach the server while the photo failed")
	}
	if w.record(photo).ContentReady {
		t.Fatal("the photo is complete on the server after two cuts")
	}
	if got := alex.line(); !strings.Contains(got, "Upload failed, retrying in ") {
		t.Errorf("while the upload fails the sync bar says %q, want the upload failure and the next try", got)
	}
	if got := alex.words(photo); !strings.HasPrefix(got, "Upload failed, retrying in ") {
		t.Errorf("the photo says %q, want the upload failure and the next try", got)
	}
	if err := alex.sync(); err == nil {
		t.Fatal("round 3: the cut upload reported success")
	}
	if ph, _ := alex.local().Photos(""); len(ph) != 1 || ph[0].Uploaded != 3*cut {
		t.Errorf("after three cuts the device records %+v, want %d bytes known to be on the server", ph, 3*cut)
	}

	// The network is back.
	var mu sync.Mutex
	var progress []string
	cancel := alex.Subscribe(func(st app.SyncState) {
		if len(st.Uploads) > 0 {
			mu.Lock()
			progress = append(progress, st.Words(photo, st.At))
			mu.Unlock()
		}
	})
	alex.mustSync()
	cancel()
	w.syncAll(dana, alex)

	p := w.record(photo)
	got := w.download(photo)
	if !p.ContentReady || !bytes.Equal(got, content) || sha(got) != sha(content) || p.Text("sha256") != sha(content) {
		t.Fatalf("server photo: ready %v, %d bytes, sha256 %s; want the %d bytes taken, sha256 %s", p.ContentReady, len(got), sha(got), size, sha(content))
	}
	var puts []faultproxy.Event
	var sent int64
	for _, ev := range alex.proxy.Events() {
		if ev.Method == "PUT" && strings.HasSuffix(ev.Path, "/content") {
			puts = append(puts, ev)
			sent += ev.BodyOut
		}
	}
	if sent != size {
		t.Errorf("%d bytes of the photo reached the server in %d uploads, want exactly %d: resumed, not restarted", sent, len(puts), size)
	}
	wantOffsets := []string{"offset=0", "offset=10000", "offset=20000", "offset=30000"}
	for i, ev := range puts {
		if i < len(wantOffsets) && ev.Query != wantOffsets[i] {
			t.Errorf("upload %d started at %s, want %s", i+1, ev.Query, wantOffsets[i])
		}
	}
	mu.Lock()
	if len(progress) == 0 || !strings.HasPrefix(progress[0], "Uploading photo 1 of 1 (15%)") {
		t.Errorf("progress shown while resuming: %q, want it to start at 15%%", progress)
	}
	mu.Unlock()
	if n := len(w.items(job)["photo"]); n != 1 {
		t.Errorf("the job has %d photos, want one", n)
	}
	w.converged([]string{job, note, photo}, dana, alex)
}

func TestS8AppKilledWhileAPushIsInFlight(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	alex := w.device("alex-phone", "alex")
	_, job := w.scene(dana, alex, "Replace pump seal")

	// Alex's app runs its sync loops from now on.
	alex.cfg.Background = true
	alex.restart()

	// Offline, Alex saves his work.
	alex.offline()
	notes := []string{alex.note(job, "Seal replaced."), alex.note(job, "Tested for ten minutes, no drips.")}
	part := alex.part(job, "SEAL-40", 1)
	content := photoBytes(8, 30_000)
	photo := alex.photo(job, "after.jpg", content)
	alex.move(job, "completed")
	if _, err := alex.SetFields(job, map[string]any{"labor_minutes": 50}); err != nil {
		t.Fatal(err)
	}
	queued, _, _, _ := alex.pending()

	// The network comes back; the push reaches the server, but before its
	// reply gets back the app is killed.
	alex.proxy.Add(faultproxy.Rule{Method: "POST", Path: "/v1/push", Fault: faultproxy.DelayReply, Times: 1})
	alex.online()
	if err := alex.SyncNow(w.ctx); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
	defer cancel()
	if !alex.proxy.Wait(ctx, func(s faultproxy.Stats) bool { return s.Holding == 1 }) {
		t.Fatalf("the push never reached the server: %+v", alex.proxy.Stats())
	}
	killed, kill := context.WithCancel(w.ctx)
	kill()
	alex.Close(killed) // the app stops at once, the push in flight
	alex.App = nil
	if !alex.proxy.Wait(ctx, func(s faultproxy.Stats) bool { return s.Holding == 0 }) {
		t.Fatal("the held reply never ended")
	}
	// The server applied the batch; the device never heard.
	if got := len(w.items(job)["note"]); got != 2 || w.record(job).Text("status") != "completed" {
		t.Fatalf("the server has %d notes and status %s; the push should have been applied", got, w.record(job).Text("status"))
	}

	// Restarted, the queue resumes from the store. (The link is slow to
	// answer the first push, so the media lane's first look comes before
	// the photo's metadata is back, as it may on any phone.)
	alex.proxy.Add(faultproxy.Rule{Method: "POST", Path: "/v1/push", Fault: faultproxy.DelayReply, Times: 1})
	alex.open()
	if q, _, _, _ := alex.pending(); q != queued {
		t.Errorf("after the restart %d operations are queued, want the %d saved before", q, queued)
	}
	if !alex.proxy.Wait(ctx, func(s faultproxy.Stats) bool { return s.Holding == 1 }) {
		t.Fatalf("after the restart the queue did not push: %+v", alex.State())
	}
	if !eventually(5*time.Second, func() bool { m := alex.State().Media; return !m.LastOK.IsZero() && !m.Running }) {
		t.Fatalf("after the restart the media lane did not run: %+v", alex.State())
	}
	alex.proxy.Release()
	if !eventually(10*time.Second, func() bool { q, _, _, _ := alex.pending(); return q == 0 }) {
		t.Fatalf("after the restart the data queue did not drain: %+v", alex.State())
	}
	// The photo's metadata is on the server now, so its content should go
	// up at once.
	if !eventually(5*time.Second, alex.quiet) {
		t.Errorf("device: after the restart the photo is still waiting 5 s after its metadata synced (%q): "+
			"the media lane is not woken when a data round brings photo metadata to the server, so it waits for PullEvery", alex.words(photo))
		alex.SyncNow(w.ctx) // the user taps Sync now
		if !eventually(10*time.Second, alex.quiet) {
			t.Fatalf("the photo did not upload even after Sync now: %+v", alex.State())
		}
	}
	alex.cfg.Background = false
	alex.restart()
	w.syncAll(dana, alex)

	items := w.items(job)
	if got := ids(items["note"]); !slices.Equal(got, sorted(notes)) {
		t.Errorf("server notes %v, want %v once each", got, sorted(notes))
	}
	if got := ids(items["part"]); !slices.Equal(got, []string{part}) {
		t.Errorf("server parts %v, want %v", got, part)
	}
	if got := ids(items["photo"]); !slices.Equal(got, []string{photo}) || !bytes.Equal(w.download(photo), content) {
		t.Errorf("server photos %v, want %v with its content", got, photo)
	}
	count := map[string]int{}
	for _, c := range w.changes(job) {
		count[c.Field+"="+string(c.New)]++
	}
	if count[`status="completed"`] != 1 || count[`labor_minutes=50`] != 1 {
		t.Errorf("change log of the job: %v; want completed and 50 minutes once each", count)
	}
	if v := w.record(job).Versions; v["status"] != 4 || v["work"] != 2 {
		t.Errorf("job versions %v; want status at 4 and work at 2: nothing applied twice", v)
	}
	w.converged(append([]string{job, part, photo}, notes...), dana, alex)
}

func TestS9DispatcherReassignsWhileTheOldOwnerWorksOffline(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	alex := w.device("alex-phone", "alex")
	sam := w.device("sam-phone", "sam")
	cust, job := w.scene(dana, alex, "Replace pump seal")

	// Alex offline: pauses the job, books his time, writes a note.
	alex.offline()
	alex.move(job, "paused")
	if _, err := alex.SetFields(job, map[string]any{"labor_minutes": "95"}); err != nil {
		t.Fatal(err)
	}
	note := alex.note(job, "Waiting on a part; Sam can finish.")

	// Meanwhile the dispatcher gives the job to Sam.
	if _, err := dana.Reassign(job, "sam"); err != nil {
		t.Fatal(err)
	}
	dana.mustSync()
	sam.mustSync()

	alex.online()
	alex.mustSync()
	dana.mustSync()

	j := w.record(job)
	if j.Text("status") != "in_progress" || j.Int("labor_minutes") != 0 || j.Text("assignee") != w.users["sam"].ID {
		t.Errorf("server job: status %s, labor %d, assignee %s; Alex's held edits must not be applied", j.Text("status"), j.Int("labor_minutes"), j.Text("assignee"))
	}
	if w.record(note) == nil {
		t.Error("Alex's note was not kept")
	}
	for _, group := range []string{"status", "work"} {
		rv := dana.reviewOn(job, group)
		if rv.Kind != "ownership" || !strings.Contains(strings.ToLower(rv.Reason), "ownership changed") ||
			len(rv.Device) != 1 || rv.Device[0].UserName != "alex" {
			t.Errorf("%s review: kind %s, reason %q, entries %+v; want Alex's edit held because ownership changed", group, rv.Kind, rv.Reason, rv.Device)
		}
		if arv := alex.reviewOn(job, group); arv.ID != rv.ID {
			t.Errorf("Alex's device shows review %s for %s, the office %s", arv.ID, group, rv.ID)
		}
	}
	if got := alex.words(job); got != reviewWords {
		t.Errorf("Alex's job says %q, want %q", got, reviewWords)
	}
	if got := alex.State().Summary; !strings.Contains(got, "Your notes synced.") || !strings.Contains(got, "Job status needs review because the job was reassigned.") ||
		!strings.Contains(got, "needs review because the job was reassigned") {
		t.Errorf("Alex's summary %q, want his note synced and his edits held because the job was reassigned", got)
	}

	// After pulling, the job is read-only on Alex's device and shows Sam.
	jd := alex.job(job)
	if jd.Mine || jd.OwnerName != "sam" || jd.OwnerLine != "Owned by sam: read only" || len(jd.Moves) != 0 {
		t.Errorf("Alex sees mine %v, owner %q, %q, moves %v; want Sam's job, read only", jd.Mine, jd.OwnerName, jd.OwnerLine, jd.Moves)
	}
	for _, g := range jd.Groups {
		if (g.Name == "status" || g.Name == "work" || g.Name == "parts") && g.Editable {
			t.Errorf("Alex may still edit %s of Sam's job", g.Name)
		}
	}
	if _, err := alex.SetFields(job, map[string]any{"labor_minutes": 20}); err == nil {
		t.Error("device: after hearing of the reassign, Alex's device still accepts a labor edit on Sam's job (it is queued and held again on the server)")
	}
	if _, err := alex.Move(job, "completed"); err == nil {
		t.Error("device: after hearing of the reassign, Alex's device still accepts a status move on Sam's job (it is queued and held again on the server)")
	}
	if _, err := alex.AddNote(job, "", "Left the old valve by the door."); err != nil {
		t.Errorf("a past owner may still add notes: %v", err)
	}
	if sd := sam.job(job); !sd.Mine || sd.OwnerLine != "Owned by sam (you)" {
		t.Errorf("Sam sees mine %v, %q; want his own job", sd.Mine, sd.OwnerLine)
	}

	// The office keeps the server's version of everything held.
	w.resolveAll(dana, alex, sam)
	if j := w.record(job); j.Text("status") != "in_progress" || j.Int("labor_minutes") != 0 {
		t.Errorf("after the office kept its version: status %s, labor %d", j.Text("status"), j.Int("labor_minutes"))
	}
	if n := len(w.items(job)["note"]); n != 2 {
		t.Errorf("the job has %d notes, want 2", n)
	}
	if sd := sam.job(job); sd.Status != "in_progress" || !sd.Mine {
		t.Errorf("Sam sees status %s, mine %v", sd.Status, sd.Mine)
	}
	w.converged([]string{job, cust, note}, dana, alex, sam)
}

func TestS10EditToASignedOffJobIsRefusedAndReopenKeepsHistory(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	sue := w.device("sue-tablet", "sue")
	phone := w.device("alex-phone", "alex")
	_, job := w.scene(dana, phone, "Replace pump seal")
	tablet := w.device("alex-tablet", "alex")

	// On his phone, offline, Alex books his time; on his tablet the
	// customer signs and the job is signed off.
	phone.offline()
	if _, err := phone.SetFields(job, map[string]any{"labor_minutes": "45"}); err != nil {
		t.Fatal(err)
	}
	tablet.move(job, "completed")
	if _, err := tablet.Sign(job, "Pat Okafor", bytes.NewReader(photoBytes(10, 2_000))); err != nil {
		t.Fatal(err)
	}
	tablet.move(job, "signed_off")
	tablet.mustSync()
	if st := w.record(job).Text("status"); st != "signed_off" {
		t.Fatalf("the tablet's sign-off did not reach the server: %s", st)
	}

	// The phone's edit reaches a signed-off job: refused, with the reason,
	// and the text kept.
	phone.online()
	phone.mustSync()
	const reason = "This job is signed off."
	if got := phone.words(job); got != "Not sent: "+reason {
		t.Errorf("the phone's job says %q, want %q", got, "Not sent: "+reason)
	}
	if got := phone.line(); got != "1 change not sent. Open it to see why; your input was kept." {
		t.Errorf("the phone's sync bar says %q", got)
	}
	if got := phone.State().Summary; !strings.Contains(got, "not sent: "+reason) {
		t.Errorf("the phone's summary %q does not give the reason", got)
	}
	if w.record(job).Int("labor_minutes") != 0 {
		t.Error("the refused edit was applied")
	}
	// The app is closed and opened again: the refused text is still there.
	phone.restart()
	jd := phone.job(job)
	if len(jd.Drafts) != 1 || !strings.Contains(jd.Drafts[0].Text, "labor minutes: 45") || jd.Drafts[0].Reason != reason {
		t.Fatalf("after a restart the phone shows drafts %+v, want the labor edit kept with the reason", jd.Drafts)
	}
	// A new edit to the signed-off job is refused at once on the device.
	if _, err := phone.SetFields(job, map[string]any{"labor_minutes": "50"}); err == nil || !strings.Contains(err.Error(), "signed off") {
		t.Errorf("an edit to the signed-off job on the device: %v, want it refused saying the job is signed off", err)
	}

	// Alex keeps his text as a note, which a signed-off job still takes.
	note, err := phone.KeepAsNote(jd.Drafts[0].OpID)
	if err != nil {
		t.Fatal(err)
	}
	phone.mustSync()
	if n := w.record(note.ID); n == nil || !n.AfterSignoff || !strings.Contains(n.Text("text"), "labor minutes: 45") {
		t.Fatalf("the kept note on the server: %+v, want it marked as added after sign-off", n)
	}
	if _, _, refused, _ := phone.pending(); refused != 0 {
		t.Errorf("%d refused edits left after keeping the text as a note", refused)
	}

	// A supervisor reopens the job.
	sue.mustSync()
	if _, err := phone.Reopen(job); err == nil {
		t.Error("Alex's device let him reopen the job himself")
	}
	if _, err := sue.Reopen(job); err != nil {
		t.Fatal(err)
	}
	sue.mustSync()
	phone.mustSync()
	if got := phone.job(job); got.Status != "reopened" || got.Record.Text("signer_name") != "" {
		t.Errorf("after reopen the phone shows status %s, signer %q", got.Status, got.Record.Text("signer_name"))
	}
	hist, stale, err := phone.History(w.ctx, job)
	if err != nil || stale {
		t.Fatalf("history: %v (stale %v)", err, stale)
	}
	var signed, cleared, signedAt bool
	var statuses []string
	for _, c := range hist {
		switch {
		case c.Field == "signer_name" && string(c.New) == `"Pat Okafor"` && c.DeviceID == tablet.DeviceID():
			signed = true
		case c.Field == "signer_name" && string(c.Old) == `"Pat Okafor"` && c.UserName == "sue":
			cleared = true
		case c.Field == "signed_at" && len(c.New) > 4:
			signedAt = true
		case c.Field == "status":
			statuses = append(statuses, strings.Trim(string(c.New), `"`))
		}
	}
	if !signed || !cleared || !signedAt {
		t.Errorf("history on the phone: signature given %v, its time %v, cleared by the reopen %v; want all", signed, signedAt, cleared)
	}
	if want := []string{"assigned", "opened", "in_progress", "completed", "signed_off", "reopened"}; !slices.Equal(statuses, want) {
		t.Errorf("status history %v, want %v", statuses, want)
	}
	if got := itemIDs(phone.job(job).Notes); !slices.Contains(got, note.ID) {
		t.Errorf("after reopen the job's notes %v do not include the kept note", got)
	}

	// Reopened, Alex can book his time.
	phone.move(job, "in_progress")
	if _, err := phone.SetFields(job, map[string]any{"labor_minutes": "45"}); err != nil {
		t.Fatal(err)
	}
	w.syncAll(dana, sue, phone, tablet)
	if w.record(job).Int("labor_minutes") != 45 {
		t.Errorf("labor after reopen: %d, want 45", w.record(job).Int("labor_minutes"))
	}
	w.converged([]string{job, note.ID}, dana, sue, phone, tablet)
}

func TestS11OfflineForHoursWithTheAppOpen(t *testing.T) {
	t.Parallel()
	const first, ceiling = 20 * time.Millisecond, time.Second
	w := newWorld(t, worldOptions{rulesText: rulesWith(map[string]string{
		"retry data":  "retry data first=20ms cap=1s",
		"retry media": "retry media first=20ms cap=1s",
	})})
	dana := w.device("dana-pc", "dana")
	cust := dana.customer("Harbor Bakery")
	job := dana.newJob(cust, "alex", "Replace pump seal", "12 Quay Street", today())
	dana.mustSync()

	alex := w.device("alex-phone", "alex", deviceOptions{background: true})
	if !eventually(5*time.Second, func() bool { return alex.view(job) != nil }) {
		t.Fatal("Alex's app did not pull his job")
	}
	if rt := alex.Rules().RetryFor("data"); time.Duration(rt.First) != first || time.Duration(rt.Cap) != ceiling {
		t.Fatalf("Alex's app has retry timing %v/%v, want the server's %v/%v", rt.First, rt.Cap, first, ceiling)
	}

	// No signal, as far as the app can tell: every request is lost, and the
	// proxy counts each attempt.
	alex.proxy.Add(faultproxy.Rule{Name: "no signal", Fault: faultproxy.DropRequest})
	alex.proxy.ResetLog()
	start := time.Now()
	var notes []string
	notes = append(notes, alex.note(job, "Arrived; no signal in the plant room."))
	if !eventually(5*time.Second, func() bool { return alex.State().Data.Failures >= 1 && !alex.State().Data.Running }) {
		t.Fatal("the first try never failed")
	}
	if st := alex.State().Data; st.NextTry.Sub(st.LastTry) > 10*first {
		t.Errorf("device: after the first failure the next try is %v away, want about the rules' first retry of %v: "+
			"the sync queue takes its retry timing from the rules it had when the app opened, not those fetched at sign-in",
			st.NextTry.Sub(st.LastTry).Round(time.Millisecond), first)
		// Get past it: opened again, the app uses the rules it saved.
		alex.restart()
		alex.proxy.ResetLog()
		start = time.Now()
		if !eventually(5*time.Second, func() bool { return alex.State().Data.Failures >= 1 }) {
			t.Fatal("after the restart the first try never failed")
		}
	}

	// While it fails, the screen always has the next retry time.
	var mu sync.Mutex
	var bad, stale []string
	failing := 0
	cancel := alex.Subscribe(func(st app.SyncState) {
		if st.Data.Failures == 0 || st.Data.Running {
			return
		}
		words, line := st.Words(job, st.At), st.Line(st.At)
		mu.Lock()
		defer mu.Unlock()
		failing++
		if st.Data.NextTry.IsZero() || !strings.Contains(line, "Sync failed, retrying ") {
			bad = append(bad, fmt.Sprintf("next %v: %q", st.Data.NextTry, line))
		}
		if !strings.HasPrefix(words, "Sync failed, retrying ") {
			// Refresh publishes record states computed outside its lock, so
			// an older computation can land after a newer lane state.
			stale = append(stale, fmt.Sprintf("%q while the bar says %q", words, line))
		}
	})
	defer cancel()

	// Offline for "hours": the app keeps trying, further and further apart,
	// and new edits do not set off a storm of tries.
	for i := range 5 {
		time.Sleep(500 * time.Millisecond)
		notes = append(notes, alex.note(job, fmt.Sprintf("Still no signal, note %d.", i+2)))
	}
	time.Sleep(500 * time.Millisecond)
	elapsed := time.Since(start)
	var tries []time.Time
	for _, ev := range alex.proxy.Events() {
		if ev.Path == "/v1/push" {
			tries = append(tries, ev.At)
		}
	}
	// The doublings up to the ceiling, then about one try per ceiling. A busy
	// machine can only make tries later, so these are the bounds.
	ramp := 1
	for d := first; d < ceiling; d *= 2 {
		ramp++
	}
	if most := ramp + int(elapsed/(ceiling*3/4)) + 1; len(tries) < 3 || len(tries) > most {
		t.Errorf("%d tries in %v offline, want between 3 and %d: backoff, no storm", len(tries), elapsed.Round(time.Millisecond), most)
	}
	// The wait after the n-th failure is at least three quarters of
	// first·2ⁿ⁻¹, up to the ceiling (the jitter is a quarter either way).
	wait := first
	for i := 1; i < len(tries); i++ {
		if gap := tries[i].Sub(tries[i-1]); gap < wait*3/4-5*time.Millisecond {
			t.Errorf("tries %d and %d only %v apart, want at least %v: the tries do not thin out", i, i+1, gap.Round(time.Millisecond), wait*3/4)
		}
		wait = min(wait*2, ceiling)
	}
	mu.Lock()
	if failing == 0 || len(bad) > 0 {
		t.Errorf("while failing (%d states) the screen did not show the next try: %q", failing, bad)
	}
	if len(stale) > 0 {
		t.Logf("device (race): %d of %d failing states showed a record's words from an older refresh: %q", len(stale), failing, stale)
	}
	mu.Unlock()
	if w.record(notes[0]) != nil {
		t.Fatal("a note reached the server with no signal")
	}

	// The network returns just after a failed try, while the next one is
	// still a while off: Sync now (the network-back signal) sends at once.
	if !eventually(5*time.Second, func() bool {
		st := alex.State().Data
		return !st.Running && st.Failures > 0 && time.Until(st.NextTry) > ceiling*6/10
	}) {
		t.Fatal("never caught the app between tries")
	}
	due := alex.State().Data.NextTry
	alex.proxy.Clear()
	back := time.Now()
	if err := alex.SyncNow(w.ctx); err != nil {
		t.Fatal(err)
	}
	if !eventually(5*time.Second, func() bool { return len(w.items(job)["note"]) == len(notes) }) {
		t.Fatalf("the queued notes did not reach the server after the network returned: %+v", alex.State())
	}
	arrived := time.Now()
	var pushed time.Time
	for _, ev := range alex.proxy.Events() {
		if ev.Path == "/v1/push" && ev.Fault == faultproxy.Forward && pushed.IsZero() {
			pushed = ev.At
		}
	}
	if pushed.IsZero() || !pushed.Before(due) {
		t.Errorf("the queued notes went at %v, not before the try already due at %v: Sync now did not send at once",
			pushed.Sub(back).Round(time.Millisecond), due.Sub(back).Round(time.Millisecond))
	}
	t.Logf("network back: sent %v later, on the server %v later (the next try was due in %v)",
		pushed.Sub(back).Round(time.Millisecond), arrived.Sub(back).Round(time.Millisecond), due.Sub(back).Round(time.Millisecond))
	if !eventually(5*time.Second, alex.quiet) {
		t.Fatalf("after the network returned the app still has work queued: %+v", alex.State())
	}
	if st := alex.State().Data; st.Failures != 0 || !st.NextTry.IsZero() {
		t.Errorf("after a good round the lane shows %d failures, next try %v", st.Failures, st.NextTry)
	}

	// A server that says Retry-After is honoured.
	alex.proxy.ResetLog()
	alex.proxy.Add(faultproxy.Rule{Method: "POST", Path: "/v1/push", Fault: faultproxy.Unavailable, RetryAfter: 2 * time.Second, Times: 1})
	notes = append(notes, alex.note(job, "Back up top."))
	if !eventually(5*time.Second, func() bool { return alex.State().Data.Failures == 1 && !alex.State().Data.Running }) {
		t.Fatal("the 503 never came")
	}
	alex.Refresh() // see the race noted above
	st := alex.State()
	if wait := st.Data.NextTry.Sub(st.Data.LastTry); wait < 1900*time.Millisecond {
		t.Errorf("after a 503 with Retry-After: 2 the next try is %v away, want at least 2 s", wait.Round(time.Millisecond))
	}
	if got := st.Words(job, st.At); got != "Sync failed, retrying in 2 seconds" {
		t.Errorf("after the 503 the job says %q", got)
	}
	time.Sleep(time.Second)
	pushes := 0
	for _, ev := range alex.proxy.Events() {
		if ev.Path == "/v1/push" {
			pushes++
		}
	}
	if pushes != 1 {
		t.Errorf("%d pushes within a second of a Retry-After of 2 s, want only the first: %+v", pushes, alex.proxy.Events())
	}
	if !eventually(5*time.Second, func() bool { return len(w.items(job)["note"]) == len(notes) }) {
		t.Fatal("the note did not go after the Retry-After")
	}
	cancel()
	w.syncAll(dana, alex)
	w.converged(append([]string{job}, notes...), dana, alex)
}

func TestS12ANewJobForASiteThatHasOneToday(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	alex := w.device("alex-phone", "alex")
	cust, existing := w.scene(dana, alex, "Replace pump seal")
	number := w.record(existing).Number

	// Alex starts a new job for the same customer and site today: the
	// device offers the existing one first, online and offline alike.
	form := app.JobForm{CustomerID: cust, Site: "12  quay street", Title: "Pump leaking", Start: today().Add(2 * time.Hour)}
	for _, offline := range []bool{false, true} {
		if offline {
			alex.offline()
		}
		_, err := alex.NewJob(w.ctx, form, false)
		var dup *app.DuplicateError
		if !errors.As(err, &dup) {
			t.Fatalf("offline %v: new job for a site with a job today: %v, want a duplicate warning", offline, err)
		}
		if len(dup.Suspects) != 1 || dup.Suspects[0].ID != existing || dup.Suspects[0].Number != number || dup.Suspects[0].Title != "Replace pump seal" {
			t.Errorf("offline %v: suspects %+v, want %s offered", offline, dup.Suspects, number)
		}
		if !strings.Contains(dup.Error(), number) {
			t.Errorf("the warning %q does not name %s", dup.Error(), number)
		}
	}
	if q, _, _, _ := alex.pending(); q != 0 {
		t.Fatalf("the warning saved %d operations, want none", q)
	}
	// Another day is not a match.
	other := form
	other.Start = today().Add(48 * time.Hour)
	if s, err := alex.Suspects(w.ctx, other); err != nil || len(s) != 0 {
		t.Errorf("suspects on another day: %+v %v, want none", s, err)
	}

	// Offline, Alex creates it anyway, and so does Dana on her PC.
	k1, err := alex.NewJob(w.ctx, form, true)
	if err != nil {
		t.Fatal(err)
	}
	note := alex.note(k1.ID, "Leak is at the seal.")
	dana.offline()
	k2, err := dana.NewJob(w.ctx, app.JobForm{CustomerID: cust, Site: "12 Quay Street", Title: "Pump leak call-out", Assignee: "sam", Start: today()}, true)
	if err != nil {
		t.Fatal(err)
	}
	alex.online()
	dana.online()
	w.syncAll(alex, dana)

	// The office sees the suspected duplicates.
	for _, k := range []string{k1.ID, k2.ID} {
		if r := w.record(k); r == nil || r.DuplicateOf == "" {
			t.Errorf("server job %s: %+v, want it marked as a suspected duplicate", k, r)
		}
	}
	rvs, err := dana.Reviews()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, rv := range rvs {
		if rv.Kind == "duplicate" {
			found[rv.RecordID] = rv.MatchID
		}
	}
	if found[k1.ID] != existing {
		t.Errorf("the office's review queue has duplicates %v, want Alex's new job matched to %s", found, number)
	}
	if _, ok := found[k2.ID]; !ok {
		t.Errorf("the office's review queue has duplicates %v, want Dana's new job too", found)
	}
	jobs, err := dana.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if (j.ID == k1.ID || j.ID == k2.ID) && (!j.Duplicate || j.Sync != reviewWords) {
			t.Errorf("the office's list shows %s duplicate %v, %q; want a suspected duplicate needing review", j.Label(), j.Duplicate, j.Sync)
		}
	}

	// The office merges Alex's job into the existing one and keeps Dana's.
	for _, rv := range rvs {
		if rv.Kind != "duplicate" {
			continue
		}
		choice := "keep_both"
		if rv.RecordID == k1.ID {
			choice = "merge"
		}
		if err := dana.Resolve(rv.ID, choice, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	w.syncAll(dana, alex)
	if k := w.record(k1.ID); !k.Bool("voided") || w.record(note).ParentID != existing {
		t.Errorf("after the merge: Alex's job voided %v, note on %s; want it voided and the note on %s", k.Bool("voided"), w.record(note).ParentID, number)
	}
	if k := w.record(k2.ID); k.DuplicateOf != "" || k.Bool("voided") {
		t.Errorf("kept job: duplicate_of %q, voided %v", k.DuplicateOf, k.Bool("voided"))
	}
	if got := itemIDs(alex.job(existing).Notes); !slices.Contains(got, note) {
		t.Errorf("Alex's device shows notes %v on %s, want the moved note", got, number)
	}
	w.converged([]string{existing, k1.ID, note}, dana, alex)
}

func TestS13SameJobEditedOfflineOnPhoneAndTablet(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	phone := w.device("alex-phone", "alex")
	_, job := w.scene(dana, phone, "Replace pump seal")
	tablet := w.device("alex-tablet", "alex")

	// The phone loses its signal; the tablet is put in no-signal mode.
	phone.offline()
	if err := tablet.SetOffline(true); err != nil {
		t.Fatal(err)
	}
	// The phone: a note, a part line, a photo, labor twice (he corrects
	// himself), and a pause.
	pNote := phone.note(job, "Phone: isolated the pump.")
	pPart := phone.part(job, "SEAL-40", 1)
	pPic := phone.photo(job, "phone.jpg", photoBytes(31, 20_000))
	for _, m := range []string{"30", "35"} {
		if _, err := phone.SetFields(job, map[string]any{"labor_minutes": m}); err != nil {
			t.Fatal(err)
		}
	}
	phone.move(job, "paused")
	// The tablet, from the same version: its own note, part, photo, labor
	// and status.
	tNote := tablet.note(job, "Tablet: customer signed the quote.")
	tPart := tablet.part(job, "GASKET-12", 2)
	tPic := tablet.photo(job, "tablet.jpg", photoBytes(32, 25_000))
	if _, err := tablet.SetFields(job, map[string]any{"labor_minutes": "45"}); err != nil {
		t.Fatal(err)
	}
	tablet.move(job, "completed")
	if err := tablet.sync(); err == nil {
		t.Error("the tablet synced in no-signal mode")
	}
	if got := tablet.line(); got != "Saved on this device (5 changes). No signal: will sync when it is back." {
		t.Errorf("the tablet's sync bar says %q", got)
	}
	// The tablet's app is closed and opened again with its work queued: the
	// work and the no-signal setting are kept.
	tablet.restart()
	if q, _, _, ph := tablet.pending(); q != 5 || ph != 1 || !tablet.Offline() {
		t.Fatalf("after a restart the tablet has %d queued, %d photos, offline %v; want 5, 1 and still offline", q, ph, tablet.Offline())
	}

	phone.online()
	phone.mustSync()
	if err := tablet.SetOffline(false); err != nil {
		t.Fatal(err)
	}
	tablet.mustSync()
	w.syncAll(phone, tablet, dana)

	// Appends: everything kept once. Review groups: the phone's own run of
	// edits applies; the tablet's older edits are held for review.
	items := w.items(job)
	for typ, want := range map[string][]string{"note": {pNote, tNote}, "part": {pPart, tPart}, "photo": {pPic, tPic}} {
		if got := ids(items[typ]); !slices.Equal(got, sorted(want)) {
			t.Errorf("server %ss %v, want both devices' once each", typ, got)
		}
	}
	j := w.record(job)
	if j.Int("labor_minutes") != 35 || j.Text("status") != "paused" {
		t.Errorf("server job: labor %d, status %s; want the phone's 35 and paused", j.Int("labor_minutes"), j.Text("status"))
	}
	for group, want := range map[string]string{"work": "45", "status": `"completed"`} {
		rv := dana.reviewOn(job, group)
		if len(rv.Device) != 1 || rv.Device[0].DeviceID != tablet.DeviceID() {
			t.Errorf("%s review: %+v, want the tablet's edit", group, rv.Device)
			continue
		}
		field := map[string]string{"work": "labor_minutes", "status": "status"}[group]
		if got := string(rv.Device[0].Values[field]); got != want {
			t.Errorf("%s review holds %s, want the tablet's %s", group, got, want)
		}
	}
	if _, held, _, _ := tablet.pending(); held != 2 {
		t.Errorf("the tablet holds %d edits for review, want 2", held)
	}
	for _, d := range []*device{phone, tablet} {
		if got := d.words(job); got != reviewWords {
			t.Errorf("%s: the job says %q, want %q", d, got, reviewWords)
		}
		jd := d.job(job)
		if len(jd.Notes) != 2 || len(jd.Parts) != 2 || len(jd.Photos) != 2 || len(jd.Reviews) != 2 {
			t.Errorf("%s shows %d notes, %d parts, %d photos, %d reviews", d, len(jd.Notes), len(jd.Parts), len(jd.Photos), len(jd.Reviews))
		}
		w.sameAsServer(nil, d)
	}

	// The office takes the tablet's labor and types the status.
	if err := dana.Resolve(dana.reviewOn(job, "work").ID, "device", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := dana.Resolve(dana.reviewOn(job, "status").ID, "value", "", map[string]any{"status": "in_progress"}); err != nil {
		t.Fatal(err)
	}
	w.syncAll(dana, phone, tablet)
	if j := w.record(job); j.Int("labor_minutes") != 45 || j.Text("status") != "in_progress" {
		t.Errorf("after review: labor %d, status %s; want 45 and in_progress", j.Int("labor_minutes"), j.Text("status"))
	}
	var labor []string
	for _, c := range w.changes(job) {
		if c.Field == "labor_minutes" {
			labor = append(labor, string(c.New))
		}
	}
	if want := []string{"30", "35", "45"}; !slices.Equal(labor, want) {
		t.Errorf("labor changes %v, want %v: nothing lost, nothing doubled", labor, want)
	}
	w.converged([]string{job, pNote, tNote, pPart, tPart, pPic, tPic}, dana, phone, tablet)
}

func TestS14FiveHundredChangesOverALossyLink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		rules string
		seed  uint64 // one that loses both pushes and replies to pushes
	}{
		{name: "in one push of 500", seed: 27},
		{name: "in pushes of 50", seed: 3, rules: rulesWith(map[string]string{"limits": "limits batch=50 body=8MiB photo=25MiB text=20000 page=500"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, worldOptions{rulesText: tc.rules})
			dana := w.device("dana-pc", "dana")
			alex := w.device("alex-phone", "alex", deviceOptions{seed: tc.seed, fresh: true})
			_, job := w.scene(dana, alex, "Replace pump seal")

			// 500 changes saved offline: 300 notes, 150 part lines, 48 labor
			// corrections and 2 status moves.
			alex.offline()
			var notes, parts []string
			for i := range 300 {
				notes = append(notes, alex.note(job, fmt.Sprintf("Note %03d", i)))
				if i%2 == 0 {
					parts = append(parts, alex.part(job, fmt.Sprintf("SKU-%03d", i), int64(i%7+1)))
				}
				if i%6 == 5 && i/6 < 48 {
					if _, err := alex.SetFields(job, map[string]any{"labor_minutes": i/6 + 1}); err != nil {
						t.Fatal(err)
					}
				}
				if i == 100 {
					alex.move(job, "paused")
				}
				if i == 200 {
					alex.move(job, "in_progress")
				}
			}
			if q, _, _, _ := alex.pending(); q != 500 {
				t.Fatalf("%d changes queued, want 500", q)
			}

			// The link drops 30% of requests and 30% of replies.
			alex.proxy.ResetLog()
			alex.proxy.Add(faultproxy.Rule{Name: "lost request", Fault: faultproxy.DropRequest, Chance: 0.3})
			alex.proxy.Add(faultproxy.Rule{Name: "lost reply", Fault: faultproxy.DropReply, Chance: 0.3})
			alex.online()
			rounds := 0
			for ; rounds < 100; rounds++ {
				err := alex.sync()
				if q, _, _, _ := alex.pending(); q == 0 && err == nil {
					break
				}
			}
			faults := map[string]int{}
			for _, ev := range alex.proxy.Events() {
				faults[ev.Path+" "+ev.Fault.String()]++
			}
			t.Logf("synced in %d rounds; what the link did: %v", rounds+1, faults)
			if faults["/v1/push drop-request"] == 0 || faults["/v1/push drop-reply"] == 0 {
				t.Errorf("the link lost %d pushes and %d replies to pushes; the test needs both", faults["/v1/push drop-request"], faults["/v1/push drop-reply"])
			}

			if q, h, r, _ := alex.pending(); q+h+r != 0 {
				t.Fatalf("after %d rounds: %d queued, %d held, %d refused", rounds+1, q, h, r)
			}
			alex.proxy.Clear()
			w.syncAll(dana, alex)

			items := w.items(job)
			if got := ids(items["note"]); !slices.Equal(got, sorted(notes)) {
				t.Errorf("server has %d notes, want the %d made, once each", len(got), len(notes))
			}
			if got := ids(items["part"]); !slices.Equal(got, sorted(parts)) {
				t.Errorf("server has %d part lines, want the %d made, once each", len(got), len(parts))
			}
			var labor, statuses []string
			for _, c := range w.changes(job) {
				switch c.Field {
				case "labor_minutes":
					labor = append(labor, string(c.New))
				case "status":
					statuses = append(statuses, strings.Trim(string(c.New), `"`))
				}
			}
			if len(labor) != 48 || labor[0] != "1" || labor[47] != "48" {
				t.Errorf("labor changes %v, want 1 to 48 once each", labor)
			}
			if want := []string{"assigned", "opened", "in_progress", "paused", "in_progress"}; !slices.Equal(statuses, want) {
				t.Errorf("status changes %v, want %v", statuses, want)
			}
			if v := w.record(job).Versions; v["work"] != 49 || v["status"] != 5 {
				t.Errorf("job versions %v, want work 49 and status 5", v)
			}
			if jd := alex.job(job); len(jd.Notes) != 300 || len(jd.Parts) != 150 || jd.Record.Int("labor_minutes") != 48 {
				t.Errorf("Alex sees %d notes, %d parts, labor %d", len(jd.Notes), len(jd.Parts), jd.Record.Int("labor_minutes"))
			}
			w.converged(append(append([]string{job}, notes...), parts...), dana, alex)
		})
	}
}
