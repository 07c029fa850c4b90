package app_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync/app"
	"fieldsync/server"
)

// openAt opens a device's app that reaches the server at url, with its
// own clock, and signs user in.
func (e *env) openAt(url, user string, now func() time.Time) *app.App {
	e.t.Helper()
	a, err := app.Open(e.t.TempDir(), app.Config{ServerURL: url, Now: now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { a.Close(context.Background()) })
	if _, err := a.Login(context.Background(), "", user, server.DemoPassword); err != nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	syncRound(e.t, a)
	return a
}

// proxy is a reverse proxy in front of the env's server; while refuse
// returns true for a request, it answers 503 instead of passing it on.
func (e *env) proxy(refuse func(*http.Request) bool) *httptest.Server {
	e.t.Helper()
	target, err := url.Parse(e.ts.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse(r) {
			http.Error(w, `{"error":{"code":"unavailable","message":"busy"}}`, http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	e.t.Cleanup(ps.Close)
	return ps
}

// TestTheSummarySaysWhatTheRoundDid: the last round's line names what
// synced and what was held, and who changed the record first.
func TestTheSummarySaysWhatTheRoundDid(t *testing.T) {
	t.Run("the office moved the job first", func(t *testing.T) {
		e := newEnv(t)
		alex, dana := e.device("alex"), e.device("dana")
		pump := job(t, alex, "Replace pump seal")

		// Alex adds a note, a part and a photo and completes the job...
		if _, err := alex.AddNote(pump.ID, "", "Seal replaced"); err != nil {
			t.Fatal(err)
		}
		if _, err := alex.AddPart(pump.ID, "", "SEAL-40", "", 1); err != nil {
			t.Fatal(err)
		}
		if _, err := alex.AddPhoto(pump.ID, "", "seal.jpg", "image/jpeg", bytes.NewReader([]byte("jpeg"))); err != nil {
			t.Fatal(err)
		}
		if _, err := alex.Move(pump.ID, "completed"); err != nil {
			t.Fatal(err)
		}
		// ...while the office asks for approval first.
		if _, err := dana.Move(pump.ID, "waiting_for_approval"); err != nil {
			t.Fatal(err)
		}
		syncRound(t, dana)
		syncRound(t, alex)
		want := "Your notes, parts, and photos synced. Job status needs review because dana changed it in the office."
		if got := alex.State().Summary; got != want {
			t.Errorf("summary %q\nwant    %q", got, want)
		}
		if got := alex.State().Words(pump.ID, time.Now()); got != "Another update changed this record. Review before sending again." {
			t.Errorf("job: %q", got)
		}
	})
	t.Run("the user moved it first on another device", func(t *testing.T) {
		e := newEnv(t)
		phone, tablet := e.device("alex"), e.device("alex")
		pump := job(t, phone, "Replace pump seal")
		if _, err := tablet.Move(pump.ID, "paused"); err != nil {
			t.Fatal(err)
		}
		syncRound(t, tablet)
		if _, err := phone.Move(pump.ID, "completed"); err != nil {
			t.Fatal(err)
		}
		syncRound(t, phone)
		want := "Job status needs review because you changed it on another device."
		if got := phone.State().Summary; got != want {
			t.Errorf("summary %q\nwant    %q", got, want)
		}
	})
}

// TestAFailedUploadIsSaidAsSuchNotAsSynced: the photo's record reached
// the server but its content did not: the summary says the photo did not
// finish and when it is tried again, the photo and its job say the upload
// failed, and once the content is up the photos synced.
func TestAFailedUploadIsSaidAsSuchNotAsSynced(t *testing.T) {
	e := newEnv(t)
	var busy atomic.Bool
	ps := e.proxy(func(r *http.Request) bool {
		return busy.Load() && r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/photos/")
	})
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	alex := e.openAt(ps.URL, "alex", func() time.Time { return now })
	pump := job(t, alex, "Replace pump seal")
	if _, err := alex.AddNote(pump.ID, "", "Seal replaced"); err != nil {
		t.Fatal(err)
	}
	photo, err := alex.AddPhoto(pump.ID, "", "seal.jpg", "image/jpeg", bytes.NewReader([]byte("jpeg of the seal")))
	if err != nil {
		t.Fatal(err)
	}
	busy.Store(true)
	if err := alex.SyncRound(context.Background()); err == nil {
		t.Fatal("the round reported success while the server took no photo content")
	}
	st := alex.State()
	wait := st.Media.NextTry.Sub(now)
	if wait < 10*time.Second || wait > 20*time.Second {
		t.Fatalf("the media lane tries again in %v, want about 15 s", wait)
	}
	next := fmt.Sprintf("retrying in %d seconds", int(math.Ceil(wait.Seconds())))
	if want := "Your notes synced. 1 photo did not finish uploading; " + next + "."; st.Summary != want {
		t.Errorf("summary %q\nwant    %q", st.Summary, want)
	}
	for what, id := range map[string]string{"the photo": photo.ID, "its job": pump.ID} {
		if got, want := st.Words(id, now), "Upload failed, "+next; got != want {
			t.Errorf("%s says %q, want %q", what, got, want)
		}
	}
	if got, want := st.Line(now), "Saved on this device (1 photo). Upload failed, "+next+"."; got != want {
		t.Errorf("line %q, want %q", got, want)
	}

	busy.Store(false)
	syncRound(t, alex)
	st = alex.State()
	if got := st.Words(photo.ID, now); got != "Synced" {
		t.Errorf("the photo says %q once it is up", got)
	}
	// The last round that sent something is still the one with the note;
	// its photo is now up.
	if want := "Your notes and photos synced."; st.Summary != want {
		t.Errorf("summary %q\nwant    %q", st.Summary, want)
	}
}
