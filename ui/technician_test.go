package ui

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	fsapp "fieldsync/app"
	"fieldsync/server"
)

const reviewWords = "Another update changed this record. Review before sending again."

// signInForm is the sign-in screen's server, user and password entries.
func (s *user) signInForm() (server, name, password *widget.Entry) {
	s.t.Helper()
	var plain []*widget.Entry
	for _, e := range s.entries() {
		if e.Password {
			password = e
		} else {
			plain = append(plain, e)
		}
	}
	if len(plain) != 2 || password == nil {
		s.t.Fatalf("not the sign-in screen; it shows:\n%s", strings.Join(s.texts(), "\n"))
	}
	return plain[0], plain[1], password
}

func TestSignIn(t *testing.T) {
	w := newWorld(t)
	// Like the app: the sync loops run once signed in.
	core, err := fsapp.Open(filepath.Join(w.dir, "device-new"), fsapp.Config{ServerURL: w.url, Now: clock, Background: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close(context.Background()) })
	s := w.show(core)
	addr, name, password := s.signInForm()
	if addr.Text != w.url {
		t.Errorf("the server field says %q, want the configured %q", addr.Text, w.url)
	}
	if s.button("Sync now") != nil {
		t.Error("the sync bar is on the sign-in screen")
	}

	t.Run("a wrong password shows the server's words and stays on sign-in", func(t *testing.T) {
		s.typeInto(name, "alex")
		s.typeInto(password, "not-the-password")
		s.tap("Sign in")
		s.waitFor("the sign-in to be refused", func() bool { return s.shows("wrong username or password") })
		if _, ok := core.Me(); ok {
			t.Error("signed in with a wrong password")
		}
		if s.label("My jobs · alex") != nil {
			t.Error("My jobs is on screen after a refused sign-in")
		}
		if s.button("Sign in").Disabled() {
			t.Error("Sign in stays disabled after a refusal: the user cannot try again")
		}
	})

	t.Run("an empty password asks for one without asking the server", func(t *testing.T) {
		s.typeInto(password, "")
		s.tap("Sign in")
		if !s.shows("Type your user name and password.") {
			t.Errorf("the screen shows:\n%s", strings.Join(s.texts(), "\n"))
		}
	})

	t.Run("the right password shows My jobs with today's jobs", func(t *testing.T) {
		s.typeInto(password, server.DemoPassword)
		s.tap("Sign in")
		s.waitFor("My jobs", func() bool { return s.label("My jobs · alex") != nil })
		s.waitFor("the first sync to bring the jobs", func() bool { return len(s.tech().jobs.jobs) == 2 })
		for _, want := range []string{"J-1001 · Replace pump seal", "J-1002 · Inspect boiler"} {
			if s.label(want) == nil {
				t.Errorf("the list has no %q; the screen shows:\n%s", want, strings.Join(s.texts(), "\n"))
			}
		}
		s.waitFor("the bar to say Synced", func() bool { return s.u.bar.Line() == "Synced" })
		if s.u.bar.btn.Disabled() {
			t.Error("Sync now is disabled while signed in")
		}
	})
}

func TestOpeningAJobShowsItsOwnerItsStatusAndOnlyTheAllowedMoves(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	v := s.openJob("J-1001")

	if got := v.title.Text; got != "J-1001 · Replace pump seal" {
		t.Errorf("title %q", got)
	}
	if got := v.owner.Text; got != "Owned by alex (you)" {
		t.Errorf("owner line %q, want %q", got, "Owned by alex (you)")
	}
	if got := v.status.Text; !strings.HasPrefix(got, "In progress. ") {
		t.Errorf("status %q, want it to start with In progress", got)
	}
	if got := v.sync.Text; got != "Synced" {
		t.Errorf("the job says %q, want Synced", got)
	}
	// in_progress → paused and completed are the owner's; waiting for
	// approval is the office's move, so it is not offered.
	if want := []string{"paused", "completed"}; !slices.Equal(v.move.Options, want) {
		t.Errorf("moves offered %q, want only %q", v.move.Options, want)
	}
	if v.move.Disabled() || v.moveBtn.Disabled() {
		t.Error("moving is disabled on the owner's job")
	}
	for _, want := range []string{"Seal is worn through; replacement in the van.", "1 × SEAL-40  Pump shaft seal 40 mm", "alex · 24 Nov 09:07"} {
		if !s.shows(want) {
			t.Errorf("the job does not show %q", want)
		}
	}

}

func TestASignedOffJobOffersNoMovesAndSaysWhy(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	s.filter(filterAll)
	v := s.openJob("J-1004")
	if len(v.move.Options) != 0 || !v.move.Disabled() || !v.moveBtn.Disabled() {
		t.Errorf("moves %q (disabled %v, button disabled %v), want none and disabled", v.move.Options, v.move.Disabled(), v.moveBtn.Disabled())
	}
	if got := v.move.PlaceHolder; got != "Locked: This job is signed off." {
		t.Errorf("the move list says %q, want why there are no moves", got)
	}
	if !s.shows("Signed by Morgan Lee on 24 Nov 2026 09:17") {
		t.Error("the signature is not shown")
	}
	for _, want := range []string{"Office edits win if both change it. Locked: This job is signed off.", "Needs review if both change it. Locked: This job is signed off."} {
		if !s.shows(want) {
			t.Errorf("a locked group does not say %q", want)
		}
	}
	if s.button("Save labour") != nil || s.button("Save signature") != nil {
		t.Error("a locked group offers to save")
	}
	if s.button("Add note") == nil {
		t.Error("notes are not offered on a signed-off job: they stay open")
	}
}

func TestMovingTheStatusSavesItOnTheDeviceAndOffersTheNextMoves(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	v := s.openJob("J-1001")
	s.moveTo(v, "completed")

	if got := v.status.Text; !strings.HasPrefix(got, "Completed. ") {
		t.Errorf("status %q after the move", got)
	}
	if got := v.sync.Text; got != "Saved on this device" {
		t.Errorf("the job says %q, want Saved on this device", got)
	}
	if want := []string{"signed off"}; !slices.Equal(v.move.Options, want) {
		t.Errorf("moves from completed %q, want %q", v.move.Options, want)
	}
	if !s.shows("Harbor Bakery · Tue 24 Nov 09:00 · completed") {
		t.Errorf("the list does not show the new status; the screen shows:\n%s", strings.Join(s.texts(), "\n"))
	}
	if got := s.u.bar.Line(); got != "Waiting to sync (1 change)" {
		t.Errorf("the bar says %q, want the change pending", got)
	}

	t.Run("signing off without a signature asks for one first", func(t *testing.T) {
		s.moveTo(v, "signed off")
		if got := s.dialogTexts(); !slices.Contains(got, "Signature needed") {
			t.Errorf("dialogs %q, want Signature needed", got)
		}
		s.closeDialogs()
		if got := v.status.Text; !strings.HasPrefix(got, "Completed. ") {
			t.Errorf("status %q: signing off went ahead without a signature", got)
		}
	})

	t.Run("Sync now sends the move to the server", func(t *testing.T) {
		s.syncNow()
		s.waitFor("the bar to say Synced", func() bool { return s.u.bar.Line() == "Synced" })
		dana := w.signedIn("dana")
		d, err := dana.Job("J-1001")
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != "completed" {
			t.Errorf("the office sees %s, want completed", d.Status)
		}
	})
}

func TestANoteAddedWithoutSignalIsSavedOnThisDevice(t *testing.T) {
	w := newWorld(t)
	alex := w.signedIn("alex")
	s := w.show(alex)
	v := s.openJob("J-1001")
	if err := alex.SetOffline(true); err != nil {
		t.Fatal(err)
	}
	s.settle()

	s.typeInto(v.noteText, "Seal was cracked; water on the floor.")
	s.tap("Add note")

	if v.noteText.Text != "" {
		t.Errorf("the note box still says %q after saving", v.noteText.Text)
	}
	if !s.shows("Seal was cracked; water on the floor.") {
		t.Fatal("the note is not on the job")
	}
	if !s.shows("alex · 24 Nov 12:00 · Saved on this device") {
		t.Errorf("the note's line does not say it is saved on this device; the screen shows:\n%s", strings.Join(s.texts(), "\n"))
	}
	if got := v.sync.Text; got != "Saved on this device" {
		t.Errorf("the job says %q, want Saved on this device", got)
	}
	const line = "Saved on this device (1 change). No signal: will sync when it is back."
	if got := s.u.bar.Line(); got != line {
		t.Errorf("the bar says %q, want %q", got, line)
	}
	if s.u.banner.Text() != "" {
		t.Errorf("a banner while simply offline: %q", s.u.banner.Text())
	}

	t.Run("Sync now without signal keeps the note on the device", func(t *testing.T) {
		s.syncNow()
		// Without signal there is nothing to retry yet: the note is saved here.
		s.waitFor("the round to end", func() bool { return s.u.state.Data.Failures > 0 })
		if got := v.sync.Text; got != "Saved on this device" {
			t.Errorf("after a round without signal the job says %q, want Saved on this device", got)
		}
		if got := s.u.bar.Line(); got != line {
			t.Errorf("the bar says %q, want %q", got, line)
		}
		if !s.shows("Seal was cracked; water on the floor.") {
			t.Error("the note went away")
		}
	})
}

func TestSyncNowSendsTheNoteAndTheBarSaysSynced(t *testing.T) {
	w := newWorld(t)
	alex := w.signedIn("alex")
	s := w.show(alex)
	v := s.openJob("J-1001")
	alex.SetOffline(true)
	s.typeInto(v.noteText, "Customer asked for a quote on the second pump.")
	s.tap("Add note")
	if err := alex.SetOffline(false); err != nil {
		t.Fatal(err)
	}
	s.settle()
	if got := s.u.bar.Line(); got != "Waiting to sync (1 change)" {
		t.Errorf("back online, before syncing, the bar says %q", got)
	}

	s.syncNow()
	s.waitFor("the bar to say Synced", func() bool { return s.u.bar.Line() == "Synced" })
	if got := v.sync.Text; got != "Synced" {
		t.Errorf("the job says %q, want Synced", got)
	}
	if s.shows("· Saved on this device") {
		t.Error("the note still says it is only on this device")
	}
	if s.u.banner.Text() != "" {
		t.Errorf("a banner after a clean sync: %q", s.u.banner.Text())
	}

	dana := w.signedIn("dana")
	d, err := dana.Job("J-1001")
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, n := range d.Notes {
		texts = append(texts, n.Record.Text("text"))
	}
	if !slices.Contains(texts, "Customer asked for a quote on the second pump.") {
		t.Errorf("the server's notes are %q, want the new one there", texts)
	}
	if len(texts) != 2 {
		t.Errorf("the server has %d notes, want the seeded one and the new one", len(texts))
	}
}

// s1 plays scenario S1 up to the collision: alex, without signal,
// completes J-1001 and adds a note, while dana, in the office, moves it
// to waiting for approval and syncs. It returns dana's device.
func s1(t *testing.T, w *world, alex *fsapp.App, s *user) *fsapp.App {
	t.Helper()
	dana := w.signedIn("dana")
	if err := alex.SetOffline(true); err != nil {
		t.Fatal(err)
	}
	s.settle()
	v := s.openJob("J-1001")
	s.moveTo(v, "completed")
	s.typeInto(v.noteText, "Seal was cracked; water on the floor.")
	s.tap("Add note")
	if _, err := dana.Move("J-1001", "waiting_for_approval"); err != nil {
		t.Fatal(err)
	}
	if err := dana.SyncRound(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dana
}

func TestS1TheTechnicianSeesTheReviewBannerWhenTheOfficeMovedTheJobToo(t *testing.T) {
	w := newWorld(t)
	alex := w.signedIn("alex")
	s := w.show(alex)
	s1(t, w, alex, s)

	alex.SetOffline(false)
	s.syncNow()
	// The banner may first say less, while the round is still under way
	// (a held answer arrives before the pull that names who moved it).
	const summary = "Your notes synced. Job status needs review because dana changed it in the office."
	s.waitFor("the review banner", func() bool { return s.u.banner.Text() == summary })
	if got := s.u.banner.Text(); got != summary {
		t.Errorf("the banner says %q, want %q", got, summary)
	}
	if !s.u.banner.review.Visible() {
		t.Error("the banner has no Review button")
	}
	if got := s.u.bar.Line(); got != "Another update changed a record. Review before sending again." {
		t.Errorf("the bar says %q", got)
	}
	v := s.view()
	if got := v.sync.Text; got != reviewWords {
		t.Errorf("the job says %q, want %q", got, reviewWords)
	}
	if !s.shows(reviewWords + " (status)") {
		t.Error("the job does not say which group needs review")
	}
	if got := v.status.Text; !strings.HasPrefix(got, "Waiting for approval. ") {
		t.Errorf("status %q, want the server's waiting for approval until the review is settled", got)
	}
	if !s.shows("Seal was cracked; water on the floor.") || s.shows("· Saved on this device") {
		t.Error("the note is not shown as synced")
	}
	if !s.shows("Harbor Bakery · Tue 24 Nov 09:00 · waiting for approval") {
		t.Error("the list row does not show the server's status")
	}

	t.Run("the Review button shows both versions, and the technician cannot settle it", func(t *testing.T) {
		s.tapObj(s.u.banner.review)
		if !s.shows("J-1001 status — alex changed status from an older version than the server's.") {
			t.Fatalf("the review list does not show the item; the screen shows:\n%s", strings.Join(s.texts(), "\n"))
		}
		rv, err := alex.Reviews()
		if err != nil || len(rv) != 1 {
			t.Fatalf("alex's device has reviews %v (%v), want one", rv, err)
		}
		s.dialogList().Select(0)
		s.settle()
		for _, want := range []string{"Status: waiting for approval", "Status: completed", "By dana on " + rv[0].Server.DeviceID, "By alex on " + alex.DeviceID(),
			"The office decides. Your version is kept in this review, and nothing you entered is lost."} {
			if !s.shows(want) {
				t.Errorf("the review does not show %q", want)
			}
		}
		for _, b := range []string{"Take this one", "Keep the server's", "Use these values"} {
			if s.button(b) != nil {
				t.Errorf("a technician is offered %q", b)
			}
		}
		s.closeDialogs()
	})
}

// dialogList is the list in the dialog on top, as the review queue's.
func (s *user) dialogList() *widget.List {
	s.t.Helper()
	var l *widget.List
	if top := s.u.win.Canvas().Overlays().Top(); top != nil {
		walk(top, func(o fyne.CanvasObject) {
			if x, ok := o.(*widget.List); ok && l == nil {
				l = x
			}
		})
	}
	if l == nil {
		s.t.Fatal("no list in a dialog")
	}
	return l
}

func TestATechnicianSeesWhyTheOfficesGroupsAreReadOnly(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	s.openJob("J-1001")
	if !s.shows("Office edits win if both change it. Only dispatcher can change this.") {
		t.Errorf("the summary does not say who may change it; the screen shows:\n%s", strings.Join(s.texts(), "\n"))
	}
	for _, b := range []string{"Save summary", "Save scheduling", "Reassign", "Void job"} {
		if s.button(b) != nil {
			t.Errorf("a technician is offered %q", b)
		}
	}
	if !s.shows("The basement pump leaks at the seal.") || !s.shows("12 Quay Street") {
		t.Error("the read-only groups do not show their values")
	}
	// The owner's groups stay editable.
	for _, b := range []string{"Save labour", "Add part", "Add note", "Save signature"} {
		if s.button(b) == nil {
			t.Errorf("the owner is not offered %q", b)
		}
	}
}

func TestOnAPhoneTheListTakesTheScreenAndAJobHasABackButton(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	s.u.win.Resize(fyne.NewSize(400, 800))
	s.settle()
	split := s.tech().split
	if !split.list.Visible() || split.detail.Visible() {
		t.Fatalf("list shown %v, detail shown %v; want the list alone", split.list.Visible(), split.detail.Visible())
	}
	if got, want := split.list.Size().Width, split.obj.Size().Width; got != want {
		t.Errorf("the list is %v wide on a %v-wide screen", got, want)
	}

	s.openJob("J-1001")
	if split.list.Visible() || !split.detail.Visible() {
		t.Fatalf("list shown %v, detail shown %v; want the job alone", split.list.Visible(), split.detail.Visible())
	}
	if got, want := split.detail.Size().Width, split.obj.Size().Width; got != want {
		t.Errorf("the job is %v wide on a %v-wide screen", got, want)
	}
	if s.button("Back") == nil {
		t.Fatal("no Back button over the job")
	}
	if s.label("Owned by alex (you)") == nil {
		t.Error("the job is not on screen")
	}

	s.tap("Back")
	if !split.list.Visible() || split.detail.Visible() {
		t.Errorf("after Back: list shown %v, detail shown %v", split.list.Visible(), split.detail.Visible())
	}

	t.Run("turned into a desktop window, the list and the job sit side by side", func(t *testing.T) {
		s.u.win.Resize(fyne.NewSize(1100, 720))
		s.settle()
		sideBySide(t, s)
	})
}

func TestOnADesktopTheListAndTheJobSitSideBySide(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	if got := s.u.win.Canvas().Size(); got != fyne.NewSize(1100, 720) {
		t.Errorf("the window opens at %v", got)
	}
	if !s.shows("Open a job to see it here.") {
		t.Error("the empty detail does not say what to do")
	}
	s.openJob("J-1001")
	sideBySide(t, s)
}

func sideBySide(t *testing.T, s *user) {
	t.Helper()
	split := s.tech().split
	if !split.list.Visible() || !split.detail.Visible() {
		t.Fatalf("list shown %v, detail shown %v; want both", split.list.Visible(), split.detail.Visible())
	}
	if s.button("Back") != nil {
		t.Error("a Back button on the desktop")
	}
	l, d := split.list, split.detail
	if l.Position().X != 0 || d.Position().X < l.Size().Width || d.Position().Y != l.Position().Y {
		t.Errorf("list at %v size %v, job at %v size %v: not side by side", l.Position(), l.Size(), d.Position(), d.Size())
	}
	if l.Size().Width >= d.Size().Width {
		t.Errorf("the list (%v) is wider than the job (%v)", l.Size().Width, d.Size().Width)
	}
}

func TestWhenTheServerIsGoneTheBannerSaysTheSyncFailedAndTheWorkIsKept(t *testing.T) {
	w := newWorld(t)
	alex := w.signedIn("alex")
	s := w.show(alex)
	v := s.openJob("J-1001")
	s.typeInto(v.noteText, "Seal was cracked; water on the floor.")
	s.tap("Add note")
	w.ts.Close()

	s.syncNow()
	s.waitFor("the failure banner", func() bool { return s.u.banner.Text() != "" })
	if got := s.u.banner.Text(); !strings.HasPrefix(got, "Sync failed. The server could not be reached.") || !strings.Contains(got, "Your work is saved on this device") {
		t.Errorf("the banner says %q", got)
	}
	if s.u.banner.review.Visible() {
		t.Error("a Review button on a failed sync")
	}
	if got := s.u.bar.Line(); !strings.HasPrefix(got, "Saved on this device (1 change). Sync failed, retrying in ") {
		t.Errorf("the bar says %q", got)
	}
	if got := v.sync.Text; !strings.HasPrefix(got, "Sync failed, retrying in ") {
		t.Errorf("the job says %q", got)
	}
	if !s.shows("Seal was cracked; water on the floor.") {
		t.Error("the note is gone")
	}
}

// newJobForHarborBakery picks Harbor Bakery in the open new-job form and
// returns its entries: title, site, start, description.
func newJobForHarborBakery(t *testing.T, s *user) []*widget.Entry {
	t.Helper()
	var customer *widget.Select
	s.visit(func(o fyne.CanvasObject) {
		if x, ok := o.(*widget.Select); ok && slices.Contains(x.Options, "Harbor Bakery") {
			customer = x
		}
	})
	if customer == nil {
		t.Fatalf("no Harbor Bakery in the form; the screen shows:\n%s", strings.Join(s.texts(), "\n"))
	}
	customer.SetSelected("Harbor Bakery")
	return s.entries()
}

func TestANewJobLikeAnExistingOneOffersThatOneBeforeCreating(t *testing.T) {
	w := newWorld(t)
	alex := w.signedIn("alex")
	s := w.show(alex)
	s.tap("New job")
	form := newJobForHarborBakery(t, s)
	if len(form) != 4 || form[2].Text != "2026-11-24 12:00" {
		t.Fatalf("the form's entries are %d, start %q", len(form), form[2].Text)
	}
	s.typeInto(form[0], "Pump still leaking")
	s.typeInto(form[1], "12 Quay Street")
	s.typeInto(form[2], "2026-11-24 15:00")
	s.tap("Create job")
	s.waitFor("the duplicate prompt", func() bool { return s.shows("This looks like a job that exists already:") })
	if !s.shows("J-1001 Replace pump seal — in progress, alex. Same customer and site on the same day") {
		t.Errorf("the prompt does not name the match; it says %q", s.dialogTexts())
	}
	if s.button("Create anyway") == nil {
		t.Error("no way to create it anyway")
	}
	s.tap("Open J-1001")
	if got := s.view().d.Number; got != "J-1001" {
		t.Errorf("Open J-1001 opened %s", got)
	}
	if n := len(s.u.win.Canvas().Overlays().List()); n != 0 {
		t.Errorf("%d dialogs still open after choosing the match", n)
	}
	if jobs, _ := alex.Jobs(); len(jobs) != 3 {
		t.Errorf("the device has %d jobs: a job was created", len(jobs))
	}

	t.Run("Create anyway makes the job and opens it", func(t *testing.T) {
		s.tap("New job")
		s.visit(func(o fyne.CanvasObject) {
			if x, ok := o.(*widget.Select); ok && slices.Contains(x.Options, "Harbor Bakery") {
				x.SetSelected("Harbor Bakery")
			}
		})
		form := s.entries()[len(s.entries())-4:]
		s.typeInto(form[0], "Pump still leaking")
		s.typeInto(form[1], "12 Quay Street")
		s.tap("Create job")
		s.waitFor("the duplicate prompt", func() bool { return s.button("Create anyway") != nil })
		s.tap("Create anyway")
		s.waitFor("the new job to open", func() bool { return s.view().d.Title == "Pump still leaking" })
		v := s.view()
		if v.d.Number != "" || !strings.HasPrefix(v.title.Text, "New job · ") {
			t.Errorf("a job the server has not numbered is called %q", v.title.Text)
		}
		if v.owner.Text != "Owned by alex (you)" {
			t.Errorf("owner line %q: a technician's follow-up job is theirs", v.owner.Text)
		}
		if jobs, _ := alex.Jobs(); len(jobs) != 4 {
			t.Errorf("the device has %d jobs, want 4", len(jobs))
		}
	})
}

func TestSigningOutWithWorkNotSentAsksFirst(t *testing.T) {
	w := newWorld(t)
	alex := w.signedIn("alex")
	s := w.show(alex)
	s.tap("") // the settings button has only an icon
	var noSignal *widget.Check
	s.visit(func(o fyne.CanvasObject) {
		if x, ok := o.(*widget.Check); ok && x.Text == "Simulate no signal (for testers)" {
			noSignal = x
		}
	})
	if noSignal == nil {
		t.Fatal("no Simulate no signal in the settings")
	}
	s.tapObj(noSignal)
	if !alex.Offline() {
		t.Error("Simulate no signal did not take")
	}
	s.closeDialogs()
	v := s.openJob("J-1001")
	s.typeInto(v.noteText, "Gate code 4411.")
	s.tap("Add note")

	s.tap("")
	s.tap("Sign out")
	s.waitFor("the warning", func() bool { return s.shows("Unsynced work") })
	if !s.shows("1 change(s) and 0 photo(s) have not reached the server") {
		t.Errorf("the warning says %q", s.dialogTexts())
	}
	s.tap("No")
	if _, ok := alex.Me(); !ok || s.u.main == nil {
		t.Fatal("signed out although the user said no")
	}
	s.tap("Sign out")
	s.waitFor("the warning", func() bool { return s.button("Yes") != nil })
	s.tap("Yes")
	s.waitFor("the sign-in screen", func() bool { return s.u.main == nil })
	if _, ok := alex.Me(); ok {
		t.Error("still signed in")
	}
	if s.button("Sign in") == nil {
		t.Error("no Sign in button after signing out")
	}
}

func TestTheCustomerSignsOnThePadAndTheJobIsSignedOff(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	v := s.openJob("J-1001")
	s.moveTo(v, "completed")

	s.tap("Save signature")
	if got := s.dialogTexts(); !slices.Contains(got, "Type the customer's name and ask them to sign on the pad.") {
		t.Errorf("saving an empty signature says %q", got)
	}
	s.closeDialogs()

	s.typeInto(v.signer, "Morgan Lee")
	// A stroke across the pad, as a finger draws it.
	for _, step := range []fyne.Position{{X: 20, Y: 70}, {X: 60, Y: 40}, {X: 100, Y: 90}, {X: 160, Y: 50}} {
		v.pad.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: step}, Dragged: fyne.Delta{DX: 10, DY: 5}})
	}
	v.pad.DragEnd()
	if v.pad.Empty() || len(v.pad.PNG()) == 0 {
		t.Fatal("the pad took no stroke")
	}
	s.tap("Save signature")
	if !s.shows("Signed by Morgan Lee on 24 Nov 2026 12:00") {
		t.Fatalf("the signature is not shown; the cards say:\n%s", strings.Join(cards(s), "\n"))
	}
	if s.button("Save signature") != nil {
		t.Error("a second signature is offered: it is set once")
	}
	s.moveTo(v, "signed off")
	if got := v.status.Text; !strings.HasPrefix(got, "Signed off. ") {
		t.Errorf("status %q", got)
	}
	if len(v.move.Options) != 0 {
		t.Errorf("moves after sign-off: %q", v.move.Options)
	}
	s.syncNow()
	s.waitFor("the bar to say Synced", func() bool { return s.u.bar.Line() == "Synced" })
	if j, _ := w.signedIn("dana").Job("J-1001"); j.Status != "signed_off" || j.Record.Text("signer_name") != "Morgan Lee" {
		t.Errorf("the server has %s signed by %q", j.Status, j.Record.Text("signer_name"))
	}
}

func TestAPartLineIsAddedOnce(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	v := s.openJob("J-1001")
	s.typeInto(v.partSKU, "GASKET-12")
	s.typeInto(v.partQty, "two")
	s.tap("Add part")
	if got := s.dialogTexts(); !slices.Contains(got, "Type how many, as a whole number.") {
		t.Errorf("a quantity in words says %q", got)
	}
	s.closeDialogs()
	s.typeInto(v.partQty, "2")
	s.typeInto(v.partDesc, "Flange gasket 12 mm")
	s.tap("Add part")
	if !s.shows("2 × GASKET-12  Flange gasket 12 mm · Saved on this device") {
		t.Errorf("the part line is not shown; the screen shows:\n%s", strings.Join(s.texts(), "\n"))
	}
	if v.partSKU.Text != "" || v.partQty.Text != "" || v.partDesc.Text != "" {
		t.Error("the part form is not cleared after saving")
	}
	s.tap("Add part") // an empty form: nothing new
	s.closeDialogs()
	j, _ := s.u.core.Job("J-1001")
	if len(j.Parts) != 2 {
		t.Errorf("J-1001 has %d part lines, want the seeded one and the new one", len(j.Parts))
	}
}

// A match the user cannot see is said to exist, nothing more: no number,
// no owner, no way to open it. Before, the prompt read "A job — , -."
func TestANewJobLikeOneTheUserCannotSeeSaysOnlyThatItExists(t *testing.T) {
	w := newWorld(t)
	sam := w.signedIn("sam") // alex's J-1001 is at 12 Quay Street today; sam cannot see it
	s := w.show(sam)
	s.tap("New job")
	form := newJobForHarborBakery(t, s)
	s.typeInto(form[0], "Pump still leaking")
	s.typeInto(form[1], "12 Quay Street")
	s.typeInto(form[2], "2026-11-24 15:00")
	s.tap("Create job")
	s.waitFor("the duplicate prompt", func() bool { return s.shows("This looks like a job that exists already:") })
	want := "A job you cannot see is booked for the same customer and site that day: ask the office."
	texts := s.dialogTexts()
	if !slices.Contains(texts, want) {
		t.Errorf("the prompt says %q, want a line %q", texts, want)
	}
	for _, txt := range texts {
		if strings.Contains(txt, "J-1001") || strings.Contains(txt, "alex") || strings.Contains(txt, " — ") {
			t.Errorf("the prompt tells sam more than that a job exists: %q", txt)
		}
	}
	if b := s.button("Open J-1001"); b != nil {
		t.Error("sam is offered to open a job he cannot see")
	}
	if s.button("Create anyway") == nil {
		t.Error("no way to create it anyway")
	}
}
