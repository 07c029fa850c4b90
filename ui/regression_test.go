package ui

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"

	fsapp "fieldsync/app"
	"fieldsync/server"
)

// Regression tests of bugs found in the screens: each says what the user
// should see.

func TestOnAPhoneTheSameJobOpensAgainAfterBack(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	s.u.win.Resize(fyne.NewSize(400, 800))
	s.settle()
	s.openJob("J-1001")
	s.tap("Back")
	s.openJob("J-1001") // the same row, tapped again
	if split := s.tech().split; !split.detail.Visible() || split.list.Visible() {
		t.Error("tapping J-1001 again after Back leaves the list on screen: the job does not open")
	}
}

func TestAfterChangingTheFilterEveryRowOpens(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	s.openJob("J-1001") // row 0 of Today
	s.filter(filterAll) // row 0 is now J-1004, shown selected
	v := s.openJob("J-1004")
	if v.d.Number != "J-1004" {
		t.Errorf("tapping J-1004 after changing the filter leaves %s open", v.d.Number)
	}
}

func TestPhoneScreensFitAPhone(t *testing.T) {
	const phone = 400 // points; many phones are 360 to 412 wide
	w := newWorld(t)
	t.Run("sign-in", func(t *testing.T) {
		s := w.show(w.device("new"))
		if got := s.u.win.Content().MinSize().Width; got > phone {
			t.Errorf("sign-in needs %v points across (signin.go: a 420-wide GridWrap)", got)
		}
	})
	t.Run("a job", func(t *testing.T) {
		s := w.show(w.signedIn("alex"))
		s.u.win.Resize(fyne.NewSize(phone, 800))
		s.openJob("J-1001")
		if got := s.u.win.Content().MinSize().Width; got > phone {
			t.Errorf("a job needs %v points across (job.go: the status label does not wrap, nor do card subtitles such as %q)", got,
				"Office edits win if both change it · Only dispatcher can change this")
		}
	})
	t.Run("the review queue", func(t *testing.T) {
		s := w.show(w.signedIn("alex"))
		s.u.win.Resize(fyne.NewSize(phone, 800))
		s.tap("Reviews")
		if got := s.u.win.Canvas().Overlays().Top().MinSize().Width; got > phone {
			t.Errorf("the review dialog needs %v points across (reviews.go showReviews: a 900x560 GridWrap)", got)
		}
	})
}

func TestAnOfficeEntryFollowsTheServerUntilTheUserTypes(t *testing.T) {
	w := newWorld(t)
	dana := w.signedIn("dana")
	ada := w.signedIn("ada")
	d := w.show(dana)
	v := d.openJob("J-1002")
	if v.siteEntry.Text != "3 Northside Road" {
		t.Fatalf("site %q", v.siteEntry.Text)
	}
	if _, err := ada.SetFields("J-1002", map[string]any{"site_address": "5 Northside Road"}); err != nil {
		t.Fatal(err)
	}
	if err := ada.SyncRound(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.syncNow()
	d.waitFor("dana's device to have ada's site", func() bool {
		j, _ := dana.Job("J-1002")
		return j.Site == "5 Northside Road" && !dana.State().Data.Running
	})
	// The box follows once the screen hears of the new state, which comes
	// from the queue's own goroutine after the round.
	d.waitFor("dana's Site box to show ada's site, as her device has it", func() bool {
		return v.siteEntry.Text == "5 Northside Road"
	})
	// Dana changes only the start time and saves the card.
	d.typeInto(v.startEntry, "2026-11-24 14:00")
	d.tap("Save scheduling")
	d.syncNow()
	d.waitFor("dana's save to sync", func() bool { return d.u.bar.Line() == "Synced" })
	if err := ada.SyncRound(context.Background()); err != nil {
		t.Fatal(err)
	}
	if j, _ := ada.Job("J-1002"); j.Site != "5 Northside Road" {
		t.Errorf("dana only changed the time, but the site went back to %q: ada's change was silently undone", j.Site)
	}
}

func TestAReadOnlySchedulingGroupSaysWhy(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	s.openJob("J-1001")
	if !s.shows("Needs review if both change it. Only dispatcher can change this.") {
		t.Error("the technician's Customer and site card does not say why it is read only")
	}
}

func TestLockedPartsSayWhyAndOfferNoAddPart(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	s.filter(filterAll)
	v := s.openJob("J-1004")
	if !v.partSKU.Disabled() {
		t.Fatal("the part entries are enabled on a signed-off job")
	}
	if b := s.button("Add part"); b != nil && !b.Disabled() {
		t.Error("Add part is enabled on a signed-off job; tapping it says \"Type how many, as a whole number.\"")
	}
	if !s.shows("Locked: This job is signed off.") || strings.Count(strings.Join(s.texts(), "\n"), "Locked: This job is signed off.") < 4 {
		t.Errorf("the Parts card does not say it is locked; the cards say:\n%s", strings.Join(cards(s), "\n"))
	}
}

func cards(s *user) []string {
	var out []string
	for _, x := range s.texts() {
		if strings.HasPrefix(x, "# ") {
			out = append(out, x)
		}
	}
	return out
}

func TestTheOfficeBannerSaysAReviewIsWaiting(t *testing.T) {
	w := newWorld(t)
	alex := w.signedIn("alex")
	a := w.show(alex)
	dana := s1(t, w, alex, a) // dana's last round sent her status move
	alex.SetOffline(false)
	a.syncNow()
	a.waitFor("alex's banner", func() bool { return a.u.banner.Text() != "" })

	d := w.show(dana)
	d.syncNow() // brings the review, moves nothing of dana's
	d.waitFor("dana's banner", func() bool { return d.u.banner.Text() != "" })
	if got := d.u.banner.Text(); !strings.Contains(strings.ToLower(got), "review") {
		t.Errorf("dana's banner, red and with a Review button, says %q: nothing about the review waiting", got)
	}
}

func TestASettledReviewIsNotOfferedAgain(t *testing.T) {
	w := newWorld(t)
	alex := w.signedIn("alex")
	a := w.show(alex)
	s1(t, w, alex, a)
	alex.SetOffline(false)
	a.syncNow()
	a.waitFor("alex's banner", func() bool { return a.u.banner.Text() != "" })

	dana := w.signedIn("dana")
	d := w.show(dana)
	q := d.reviewsTab()
	q.list.Select(0)
	d.settle()
	d.tap("Take this one")
	d.closeDialogs()
	if b := d.button("Keep the server's"); b != nil && !b.Disabled() {
		t.Error("after taking alex's version, Keep the server's is still offered")
	}
	if b := d.button("Take this one"); b != nil && !b.Disabled() {
		d.tap("Take this one") // a second tap, as a user who saw nothing change would
		d.closeDialogs()
	}
	d.syncNow()
	d.waitFor("dana's round", func() bool {
		return !strings.HasPrefix(d.u.bar.Line(), "Waiting") && !strings.HasPrefix(d.u.bar.Line(), "Saved")
	})
	if got := d.u.bar.Line(); got != "Synced" {
		t.Errorf("after settling one review once, dana's bar says %q", got)
	}
}

func TestTheChosenMoveSurvivesASyncRefresh(t *testing.T) {
	w := newWorld(t)
	alex := w.signedIn("alex")
	s := w.show(alex)
	v := s.openJob("J-1001")
	v.move.SetSelected("completed")
	alex.Refresh() // what every round of the sync loop does
	s.settle()
	if v.move.Selected != "completed" {
		t.Errorf("the user's choice %q was cleared by a background refresh", "completed")
	}
}

func TestReviewValuesAreInWords(t *testing.T) {
	w := newWorld(t)
	alex := w.signedIn("alex")
	a := w.show(alex)
	s1(t, w, alex, a)
	alex.SetOffline(false)
	a.syncNow()
	a.waitFor("alex's banner", func() bool { return a.u.banner.Text() != "" })
	d := w.show(w.signedIn("dana"))
	q := d.reviewsTab()
	q.list.Select(0)
	d.settle()
	if slices.ContainsFunc(d.texts(), func(s string) bool { return strings.Contains(s, "waiting_for_approval") }) {
		t.Errorf("the review shows machine words:\n%s", strings.Join(d.texts(), "\n"))
	}
}

// movingClock is a clock the test moves by hand.
type movingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *movingClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *movingClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestEveryRetryCountdownOnScreenAgrees(t *testing.T) {
	w := newWorld(t)
	clk := &movingClock{t: t0}
	core, err := fsapp.Open(filepath.Join(w.dir, "moving"), fsapp.Config{ServerURL: w.url, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close(context.Background()) })
	if _, err := core.Login(context.Background(), w.url, "alex", server.DemoPassword); err != nil {
		t.Fatal(err)
	}
	core.SyncRound(context.Background())
	s := showUIAt(t, w.app, core, clk.now)
	v := s.openJob("J-1001")
	s.typeInto(v.noteText, "Seal was cracked.")
	s.tap("Add note")
	w.ts.Close()
	s.syncNow()
	s.waitFor("the failure", func() bool { return s.u.banner.Text() != "" })

	clk.add(time.Minute) // the retry is due now
	s.waitFor("a tick of the bar", func() bool { return strings.Contains(s.u.bar.Line(), "retrying now") })
	if got := s.u.banner.Text(); !strings.Contains(got, "retrying now") {
		t.Errorf("the bar says %q but the banner still says %q", s.u.bar.Line(), got)
	}
	if got := v.sync.Text; got != "Sync failed, retrying now" {
		t.Errorf("the bar says %q but the job says %q", s.u.bar.Line(), got)
	}
}

func TestTheFailureBannerSpeaksPlainWords(t *testing.T) {
	w := newWorld(t)
	alex := w.signedIn("alex")
	s := w.show(alex)
	v := s.openJob("J-1001")
	s.typeInto(v.noteText, "Seal was cracked.")
	s.tap("Add note")
	w.ts.Close()
	s.syncNow()
	s.waitFor("the failure banner", func() bool { return s.u.banner.Text() != "" })
	got := s.u.banner.Text()
	for _, jargon := range []string{"dial tcp", "http://", "/v1/push"} {
		if strings.Contains(got, jargon) {
			t.Errorf("the banner says %q", got)
			break
		}
	}
	if strings.Contains(got, s.u.bar.Line()) {
		t.Errorf("the banner repeats the bar's line %q", s.u.bar.Line())
	}
}

func TestSigningOutClosesTheSettings(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	s.tap("")
	s.tap("Sign out")
	s.waitFor("the sign-in screen", func() bool { return s.u.main == nil })
	if s.shows("Signed in as alex (technician)") {
		t.Errorf("after signing out the screen still says %q", "Signed in as alex (technician)")
	}
}

func TestHistoryNamesPeopleAndCustomers(t *testing.T) {
	w := newWorld(t)
	s := w.show(w.signedIn("alex"))
	s.openJob("J-1001")
	s.tap("History")
	s.waitFor("the history", func() bool { return s.shows("History of J-1001") })
	raw := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-|T\d\d:\d\d:\d\dZ|in_progress`)
	for _, l := range s.dialogTexts() {
		if raw.MatchString(l) {
			t.Errorf("the history says %q", l)
		}
	}
}
