package app_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"fieldsync/app"
	"fieldsync/contract"
	"fieldsync/internal/apiclient"
	"fieldsync/server"

	"github.com/google/uuid"
)

func TestNewJobLooksForDuplicatesFirst(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dana := e.device("dana")
	harbor := customer(t, dana, "Harbor Bakery")
	pump := job(t, dana, "Replace pump seal") // Harbor Bakery, 12 Quay Street, today
	today := pump.Start

	// Offline: only the device's own check runs.
	dana.SetOffline(true)
	pending, err := dana.NewJob(ctx, app.JobForm{Assignee: "alex", CustomerID: harbor, Title: "Fix the oven door", Site: "Bakery back door"}, false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		form    app.JobForm
		suspect string // the title of the suspected match; "" for none
		why     string
	}{
		{"the same customer and site on the same day", app.JobForm{Assignee: "alex", CustomerID: harbor, Title: "Pump noise", Site: " 12 quay  STREET", Start: today.Add(3 * time.Hour)},
			"Replace pump seal", "same customer and site on the same day"},
		{"a new job with the title of one waiting to sync", app.JobForm{Assignee: "alex", CustomerID: harbor, Title: "fix the  OVEN door", Site: "Front"},
			"Fix the oven door", "a new job with the same title is waiting to sync"},
		{"the same site another day is no match", app.JobForm{Assignee: "alex", CustomerID: harbor, Title: "Pump follow-up", Site: "12 Quay Street", Start: today.Add(48 * time.Hour)}, "", ""},
		{"another customer at the same site is no match", app.JobForm{Assignee: "alex", CustomerID: customer(t, dana, "Northside Clinic"), Title: "Pump", Site: "12 Quay Street", Start: today}, "", ""},
		{"a synced job's title is no match", app.JobForm{Assignee: "alex", CustomerID: harbor, Title: "Replace pump seal", Site: "Somewhere else"}, "", ""},
		{"a closed or signed-off job is no match", app.JobForm{Assignee: "alex", CustomerID: customer(t, dana, "Elm Street Flats"), Title: "Service", Site: "1 Elm Street", Start: job(t, dana, "Annual service").Start}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(outbox(t, dana))
			tt.form.ID = uuid.NewString()
			rec, err := dana.NewJob(ctx, tt.form, false)
			var dup *app.DuplicateError
			if tt.suspect == "" {
				if err != nil {
					t.Fatalf("err %v, want the job made", err)
				}
				if rec == nil || rec.Text("title") != tt.form.Title {
					t.Fatalf("view %+v", rec)
				}
				return
			}
			if !errors.As(err, &dup) {
				t.Fatalf("err %v, want a *DuplicateError", err)
			}
			if len(dup.Suspects) != 1 || dup.Suspects[0].Title != tt.suspect || dup.Suspects[0].Why != tt.why {
				t.Fatalf("suspects %+v", dup.Suspects)
			}
			if !strings.Contains(err.Error(), tt.suspect) {
				t.Errorf("message %q does not name the match", err)
			}
			if after := len(outbox(t, dana)); after != before {
				t.Fatalf("a suspected duplicate was saved")
			}
			// Going ahead anyway makes it, once however often it is saved.
			for range 2 {
				if _, err := dana.NewJob(ctx, tt.form, true); err != nil {
					t.Fatal(err)
				}
			}
			if after := len(outbox(t, dana)); after != before+1 {
				t.Fatalf("forcing it saved %d operations", after-before)
			}
		})
	}
	if pending.Text("title") != "Fix the oven door" {
		t.Errorf("pending view %s", pending.Fields)
	}

	t.Run("online, the server's matches count too", func(t *testing.T) {
		fresh := e.open() // a second device that has pulled nothing
		if _, err := fresh.Login(ctx, "", "dana", server.DemoPassword); err != nil {
			t.Fatal(err)
		}
		_, err := fresh.NewJob(ctx, app.JobForm{Assignee: "alex", CustomerID: harbor, Title: "Pump again", Site: "12 Quay Street", Start: today}, false)
		var dup *app.DuplicateError
		if !errors.As(err, &dup) || len(dup.Suspects) != 1 || dup.Suspects[0].Number != pump.Number || !strings.Contains(dup.Suspects[0].Why, "on the server") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestATechniciansNewJobIsTheirs(t *testing.T) {
	e := newEnv(t)
	alex := e.device("alex")
	pump := job(t, alex, "Replace pump seal")
	me, _ := alex.Me()
	rec, err := alex.NewJob(context.Background(), app.JobForm{CustomerID: pump.Record.Text("customer_id"), Title: "Follow-up: pump bearing", FollowsJob: pump.Number}, false)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Text("assignee") != me.ID || rec.Text("follows_job_id") != pump.ID || rec.Text("status") != "assigned" {
		t.Fatalf("new job %s", rec.Fields)
	}
	if j := job(t, alex, "Follow-up: pump bearing"); j.Label() != "New job" || !j.Mine || j.Sync != "Saved on this device" {
		t.Errorf("listed as %q mine=%v sync=%q", j.Label(), j.Mine, j.Sync)
	}
	syncRound(t, alex)
	if j := job(t, alex, "Follow-up: pump bearing"); !strings.HasPrefix(j.Number, "J-") || j.Sync != "Synced" {
		t.Errorf("after sync: %q %q", j.Number, j.Sync)
	}
}

func TestLogoutRefusesWhileWorkIsUnsynced(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name          string
		work          func(a *app.App, jobID string) error
		changes, pics int
	}{
		{"a note not yet sent", func(a *app.App, jobID string) error { _, err := a.AddNote(jobID, "", "unsent"); return err }, 1, 0},
		{"a photo not yet sent", func(a *app.App, jobID string) error {
			_, err := a.AddPhoto(jobID, "", "p.jpg", "image/jpeg", bytes.NewReader([]byte("jpeg")))
			return err
		}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.device("alex")
			j := job(t, a, "Replace pump seal")
			a.SetOffline(true)
			if err := tt.work(a, j.ID); err != nil {
				t.Fatal(err)
			}
			err := a.Logout(ctx, false)
			var ue *app.UnsyncedError
			if !errors.As(err, &ue) || ue.Changes != tt.changes || ue.Photos != tt.pics {
				t.Fatalf("logout: %v (%+v)", err, ue)
			}
			if _, signed := a.Me(); !signed {
				t.Fatal("a refused logout signed out")
			}
			if q, _, _, _ := app.StoreOf(a).Counts(); q != tt.changes {
				t.Fatalf("a refused logout lost work: %d queued", q)
			}
			// Once it has synced, signing out is allowed and clears the device.
			a.SetOffline(false)
			syncRound(t, a)
			if err := a.Logout(ctx, false); err != nil {
				t.Fatalf("logout after sync: %v", err)
			}
			if _, signed := a.Me(); signed {
				t.Error("still signed in")
			}
			if jobs, _ := a.Jobs(); len(jobs) != 0 {
				t.Errorf("%d jobs left after logout", len(jobs))
			}
			if err := a.SyncNow(ctx); !errors.Is(err, app.ErrNotSignedIn) {
				t.Errorf("sync after logout: %v", err)
			}
			if _, err := a.AddNote(j.ID, "", "x"); err == nil {
				t.Error("an edit after logout")
			}
		})
	}
	t.Run("forced, it signs out and clears the unsynced work", func(t *testing.T) {
		a := e.device("alex")
		a.SetOffline(true)
		if _, err := a.AddNote(job(t, a, "Replace pump seal").ID, "", "given up"); err != nil {
			t.Fatal(err)
		}
		if err := a.Logout(ctx, true); err != nil {
			t.Fatal(err)
		}
		if out, _ := app.StoreOf(a).Outbox(); len(out) != 0 {
			t.Errorf("%d operations kept after a forced logout", len(out))
		}
		if a.ServerURL() != e.ts.URL {
			t.Errorf("server address %q forgotten", a.ServerURL())
		}
	})
}

func TestLoginAsAnotherUserStartsFromAnEmptyDevice(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.device("alex")
	alexJobs, _ := a.Jobs()
	if len(alexJobs) == 0 {
		t.Fatal("alex has no jobs")
	}
	device := a.DeviceID()
	if err := app.StoreOf(a).SetHistory(alexJobs[0].ID, nil); err != nil {
		t.Fatal(err)
	}

	sam, err := a.Login(ctx, "", "sam", server.DemoPassword)
	if err != nil {
		t.Fatal(err)
	}
	if me, _ := a.Me(); me.ID != sam.ID {
		t.Fatalf("signed in as %+v", me)
	}
	if jobs, _ := a.Jobs(); len(jobs) != 0 {
		t.Fatalf("the device shows %d jobs right after sam signs in, before any sync", len(jobs))
	}
	if c, _ := app.StoreOf(a).Cursor(); c != "" {
		t.Errorf("alex's cursor %q kept", c)
	}
	syncRound(t, a)
	jobs, _ := a.Jobs()
	for _, j := range jobs {
		if j.OwnerID != sam.ID {
			t.Errorf("sam's device shows %s, owned by %s", j.Title, j.OwnerName)
		}
	}
	if len(jobs) == 0 {
		t.Error("sam sees no jobs")
	}
	// The server keeps alex's device id bound to alex: sam's start here is
	// a new device, so nothing of alex's passes as sam's.
	if a.DeviceID() == device {
		t.Error("sam signed in on alex's device id")
	}

	t.Run("the same user signing in again keeps the data", func(t *testing.T) {
		before, _ := a.Jobs()
		if _, err := a.Login(ctx, "", "sam", server.DemoPassword); err != nil {
			t.Fatal(err)
		}
		if after, _ := a.Jobs(); len(after) != len(before) {
			t.Errorf("jobs %d then %d", len(before), len(after))
		}
	})
}

func TestLoginAsAnotherUserDoesNotDropUnsyncedWork(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.device("alex")
	a.SetOffline(true)
	if _, err := a.AddNote(job(t, a, "Replace pump seal").ID, "", "alex's unsent note"); err != nil {
		t.Fatal(err)
	}
	a.SetOffline(false)
	_, err := a.Login(ctx, "", "sam", server.DemoPassword)
	var ue *app.UnsyncedError
	if errors.As(err, &ue) {
		return // refused, as Logout does
	}
	if q, _, _, _ := app.StoreOf(a).Counts(); q == 0 {
		t.Fatalf("Login as another user (err %v) reset the store and silently dropped alex's unsynced note: Login calls store.Reset without the unsynced-work check Logout makes", err)
	}
}

func TestAWrongPasswordChangesNothing(t *testing.T) {
	e := newEnv(t)
	a := e.device("alex")
	before, _ := a.Jobs()
	if _, err := a.Login(context.Background(), "", "sam", "wrong"); err == nil {
		t.Fatal("signed in with a wrong password")
	}
	if me, signed := a.Me(); !signed || me.Name != "alex" {
		t.Errorf("after a failed login: %+v %v", me, signed)
	}
	if after, _ := a.Jobs(); len(after) != len(before) {
		t.Errorf("jobs %d then %d", len(before), len(after))
	}
}

func TestReopenKeepsSignedInStateAndOfflineSetting(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	a, err := app.Open(dir, app.Config{ServerURL: e.ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login(context.Background(), "", "alex", server.DemoPassword); err != nil {
		t.Fatal(err)
	}
	syncRound(t, a)
	a.SetOffline(true)
	j := job(t, a, "Replace pump seal")
	if _, err := a.AddNote(j.ID, "", "before the restart"); err != nil {
		t.Fatal(err)
	}
	a.Close(context.Background())

	b, err := app.Open(dir, app.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	if me, signed := b.Me(); !signed || me.Name != "alex" || !b.Offline() || b.ServerURL() != e.ts.URL {
		t.Fatalf("after reopening: %+v signed=%v offline=%v url=%q", me, signed, b.Offline(), b.ServerURL())
	}
	if w, _ := b.StatusWords(j.ID); w != "Saved on this device" {
		t.Errorf("job words %q", w)
	}
	b.SetOffline(false)
	syncRound(t, b)
	if w, _ := b.StatusWords(j.ID); w != "Synced" {
		t.Errorf("after sync %q", w)
	}
}

func TestASignInTheServerEndedIsShownAfterASyncRound(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.device("alex")
	sess, _, err := app.StoreOf(a).Session()
	if err != nil {
		t.Fatal(err)
	}
	// The session ends on the server (signed out elsewhere, or revoked).
	c, _ := apiclient.New(e.ts.URL, nil)
	c.SetToken(sess.Token)
	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddNote(job(t, a, "Replace pump seal").ID, "", "kept for later"); err != nil {
		t.Fatal(err)
	}
	err = a.SyncRound(ctx)
	if !apiclient.IsUnauthorized(err) {
		t.Fatalf("round: %v, want unauthorized", err)
	}
	if q, _, _, _ := app.StoreOf(a).Counts(); q != 1 {
		t.Errorf("%d queued after the 401, want the note kept", q)
	}
	st := a.State()
	if !st.SignedOut {
		t.Fatalf("after app.SyncRound got %v the state says SignedOut=false and the line %q: Queue.run sets SignedOut from each lane's own result, so the media round that follows (nothing to upload, no error) clears what the data round's 401 set", err, st.Line(time.Now()))
	}
}

func TestLogoutWithAnEditHeldForReview(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alex, dana := e.device("alex"), e.device("dana")
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
	if _, held, _, _ := app.StoreOf(alex).Counts(); held != 1 {
		t.Fatalf("held %d", held)
	}
	err := alex.Logout(ctx, false)
	var ue *app.UnsyncedError
	if errors.As(err, &ue) && strings.Contains(ue.Error(), "have not reached the server") {
		t.Fatalf("Logout counts an edit held for review as unsynced and says %q, though the server has it in the review item", ue.Error())
	}
}

// The server binds a device id to the first user who signs in with it. A
// device that changes hands therefore starts under a new id: after a sign
// out, and when the server says its id is someone else's (a store from
// before ids were bound, or copied from another device).
func TestADeviceThatChangesHandsSignsInUnderANewID(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	t.Run("signing out gives the device a new id", func(t *testing.T) {
		a := e.device("alex")
		alexDevice := a.DeviceID()
		if err := a.Logout(ctx, false); err != nil {
			t.Fatal(err)
		}
		if a.DeviceID() == alexDevice || a.DeviceID() == "" {
			t.Fatalf("after signing out the device id is %q, was %q", a.DeviceID(), alexDevice)
		}
		if _, err := a.Login(ctx, "", "sam", server.DemoPassword); err != nil {
			t.Fatalf("sam signing in after alex signed out: %v", err)
		}
		syncRound(t, a)
		// Alex's old id is still his: a client claiming it as sam is refused.
		c, err := apiclient.New(e.ts.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(ctx, "sam", server.DemoPassword, alexDevice); apiclient.ErrorCode(err) != contract.CodeDeviceTaken {
			t.Errorf("sam signing in with alex's old device id: %v, want %s", err, contract.CodeDeviceTaken)
		}
	})

	t.Run("a device whose id the server gives to someone else takes a new one", func(t *testing.T) {
		a := e.open()
		taken := a.DeviceID()
		// Alex signed in with this id before, from somewhere else.
		c, err := apiclient.New(e.ts.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(ctx, "alex", server.DemoPassword, taken); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Login(ctx, "", "sam", server.DemoPassword); err != nil {
			t.Fatalf("sam signing in on a device whose id is alex's: %v", err)
		}
		if a.DeviceID() == taken {
			t.Fatalf("sam signed in under alex's device id %s", taken)
		}
		// Sam's work goes out under the new id.
		syncRound(t, a)
		jobs, err := a.Jobs()
		if err != nil || len(jobs) == 0 {
			t.Fatalf("sam's jobs: %v %v", len(jobs), err)
		}
		if _, err := a.AddNote(jobs[0].ID, "", "Checked the valves"); err != nil {
			t.Fatal(err)
		}
		syncRound(t, a)
		if st := a.State(); st.Queued+st.Refused != 0 {
			t.Errorf("sam's note did not go through: %+v", st)
		}
	})
}
