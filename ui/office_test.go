package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/widget"
)

// reviewsTab opens the office's Reviews tab.
func (s *user) reviewsTab() *reviewQueue {
	s.t.Helper()
	o := s.office()
	o.tabs.SelectIndex(1)
	s.settle()
	if got := o.tabs.Selected().Text; got != "Reviews" {
		s.t.Fatalf("the tab open is %q", got)
	}
	return o.reviews
}

func TestTheOfficeSettlesTheReviewAndBothSidesConverge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		choice string // the button dana taps
		status string // where J-1001 ends up
		words  string
	}{
		{"taking the technician's version completes the job", "Take this one", "completed", "Completed. "},
		{"keeping the server's leaves it waiting for approval", "Keep the server's", "waiting_for_approval", "Waiting for approval. "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			alex := w.signedIn("alex")
			a := w.show(alex)
			s1(t, w, alex, a)
			alex.SetOffline(false)
			a.syncNow()
			a.waitFor("alex's review banner", func() bool { return a.u.banner.Text() != "" })

			dana := w.signedIn("dana")
			d := w.show(dana)
			q := d.reviewsTab()
			if len(q.items) != 1 {
				t.Fatalf("the office's review queue has %d items, want 1", len(q.items))
			}
			if !d.shows("J-1001 status — alex changed status from an older version than the server's.") {
				t.Errorf("the queue does not list the item; the screen shows:\n%s", strings.Join(d.texts(), "\n"))
			}
			if d.u.banner.Text() == "" || !d.u.banner.review.Visible() {
				t.Error("the office has no review banner")
			}
			q.list.Select(0)
			d.settle()

			// Both versions side by side: what, who, on which device.
			rv := q.items[0]
			for _, want := range []string{
				"J-1001 Replace pump seal · status",
				"On the server", "Status: waiting for approval", "By dana on " + rv.Server.DeviceID,
				"From a device", "Status: completed", "By alex on " + alex.DeviceID(),
			} {
				if !d.shows(want) {
					t.Errorf("the review does not show %q", want)
				}
			}
			if rv.Server.DeviceID == alex.DeviceID() || rv.Server.DeviceID == "" {
				t.Errorf("the server's version names device %q", rv.Server.DeviceID)
			}
			if d.button("Use these values") == nil {
				t.Error("the office cannot type a value")
			}

			d.tap(tc.choice)
			if !d.shows("Your decision is saved on this device and goes to the server with the next sync.") {
				t.Errorf("after %s the review does not say the decision is saved", tc.choice)
			}
			for _, b := range []string{"Take this one", "Keep the server's", "Use these values"} {
				if d.button(b) != nil {
					t.Errorf("after %s the review still offers %q", tc.choice, b)
				}
			}

			d.syncNow()
			d.waitFor("dana's bar to say Synced", func() bool { return d.u.bar.Line() == "Synced" })
			if len(q.items) != 0 || !d.shows("Nothing to review.") {
				t.Errorf("after the sync the settled item is still in the queue: %d items", len(q.items))
			}
			a.syncNow()
			a.waitFor("alex's banner to go", func() bool { return a.u.banner.Text() == "" })

			for who, s := range map[string]*user{"alex": a, "dana": d} {
				if got := s.u.bar.Line(); got != "Synced" {
					t.Errorf("%s's bar says %q", who, got)
				}
				job, err := s.u.core.Job("J-1001")
				if err != nil {
					t.Fatal(err)
				}
				if job.Status != tc.status || len(job.Reviews) != 0 || len(job.Notes) != 2 {
					t.Errorf("%s's device has J-1001 %s with %d reviews and %d notes, want %s, none and 2", who, job.Status, len(job.Reviews), len(job.Notes), tc.status)
				}
			}
			v := a.view()
			if got := v.status.Text; !strings.HasPrefix(got, tc.words) {
				t.Errorf("alex's job says status %q, want %q…", got, tc.words)
			}
			if got := v.sync.Text; got != "Synced" {
				t.Errorf("alex's job says %q", got)
			}
			if a.shows(reviewWords) {
				t.Error("alex's job still asks for a review")
			}
			dv := d.openJob("J-1001")
			if got := dv.status.Text; !strings.HasPrefix(got, tc.words) {
				t.Errorf("dana's job says status %q, want %q…", got, tc.words)
			}
			// A third device, fresh from the server, agrees.
			sue := w.signedIn("sue")
			if job, _ := sue.Job("J-1001"); job.Status != tc.status {
				t.Errorf("the server has %s", job.Status)
			}
		})
	}
}

func TestTheOfficeFiltersTheJobsBoard(t *testing.T) {
	w := newWorld(t)
	d := w.show(w.signedIn("dana"))
	o := d.office()
	numbers := func() []string {
		var out []string
		for _, j := range o.jobs.jobs {
			out = append(out, j.Number)
		}
		return out
	}
	if got := strings.Join(numbers(), " "); got != "J-1004 J-1003 J-1001 J-1002 J-1005" {
		t.Errorf("the board has %s, want every job, soonest first", got)
	}
	o.state.SetSelected("waiting for approval")
	d.settle()
	if got := strings.Join(numbers(), " "); got != "J-1005" {
		t.Errorf("waiting for approval: %s", got)
	}
	o.state.SetSelected(anyChoice)
	o.tech.SetSelected("sam")
	d.settle()
	if got := strings.Join(numbers(), " "); got != "J-1003 J-1005" {
		t.Errorf("sam's jobs: %s (technicians offered %q)", got, o.tech.Options)
	}
	o.tech.SetSelected(anyChoice)
	o.attn.SetChecked(true)
	d.settle()
	if len(numbers()) != 0 || !o.jobs.empty.Visible() {
		t.Errorf("needs attention: %v, want none and the empty words", numbers())
	}
	var l *widget.Label = o.jobs.empty
	if l.Text != "No jobs here." {
		t.Errorf("the empty list says %q", l.Text)
	}
}
