package e2e_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"fieldsync/app"
	"fieldsync/internal/faultproxy"
)

// Beyond S1–S14: behaviour the scenarios lean on, checked on its own.

// A technician with the app open takes a photo while online: its content
// should reach the server within moments, not at the next periodic pull.
func TestBackgroundPhotoUploadsSoonAfterItsMetadataSyncs(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	alex := w.device("alex-phone", "alex")
	_, job := w.scene(dana, alex, "Replace pump seal")
	alex.cfg.Background = true
	alex.restart()

	// The link is a little slow to answer the push, so the media lane
	// looks before the photo's metadata is on the server, as it may on any
	// phone.
	alex.proxy.Add(faultproxy.Rule{Method: "POST", Path: "/v1/push", Fault: faultproxy.DelayReply, Times: 1})
	content := photoBytes(21, 40_000)
	added := time.Now()
	photo := alex.photo(job, "leak.jpg", content)
	ctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
	defer cancel()
	if !alex.proxy.Wait(ctx, func(s faultproxy.Stats) bool { return s.Holding == 1 }) {
		t.Fatal("the photo's metadata was not pushed")
	}
	if !eventually(5*time.Second, func() bool { m := alex.State().Media; return m.LastTry.After(added) && !m.Running }) {
		t.Fatalf("the media lane did not look for the photo: %+v", alex.State())
	}
	alex.proxy.Release()
	if !eventually(10*time.Second, func() bool { e, _ := alex.local().Record(photo); return e != nil && e.Server != nil }) {
		t.Fatal("the photo's metadata did not reach the server and back")
	}
	if !eventually(5*time.Second, func() bool { return alex.quiet() }) {
		t.Errorf("device: the photo's metadata reached the server but its content is still waiting 5 s later (%q, %+v): "+
			"the media lane looked before the metadata was on the server, found nothing to upload, and sleeps until PullEvery (1 minute); "+
			"nothing wakes it when a data round brings photo metadata to the server", alex.words(photo), alex.State().Media)
		alex.SyncNow(w.ctx)
		if !eventually(10*time.Second, alex.quiet) {
			t.Fatal("the photo did not upload even after Sync now")
		}
	}
	alex.cfg.Background = false
	alex.restart()
	w.syncAll(dana, alex)
	if got := w.download(photo); sha(got) != sha(content) {
		t.Errorf("the server's photo does not match")
	}
	w.converged([]string{job, photo}, dana, alex)
}

// On a shared tablet, Alex's work is still queued when Sam signs in: it
// must not be thrown away without asking, as Logout would not.
func TestSigningInAsSomeoneElseKeepsUnsyncedWork(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	tablet := w.device("shared-tablet", "alex")
	_, job := w.scene(dana, tablet, "Replace pump seal")

	tablet.offline()
	note := tablet.note(job, "Seal replaced; written on the shared tablet.")
	var unsynced *app.UnsyncedError
	if err := tablet.Logout(w.ctx, false); !errors.As(err, &unsynced) {
		t.Fatalf("logout with unsynced work: %v, want it refused", err)
	}
	tablet.online()

	// Without signing out, Sam signs in on the same tablet.
	_, err := tablet.Login(w.ctx, "", "sam", password)
	q, _, _, _ := tablet.pending()
	if err == nil && q == 0 && w.record(note) == nil {
		t.Errorf("device: signing in as sam silently deleted alex's unsynced note (app.Login calls store.Reset when the user changes, " +
			"without the unsynced check Logout makes): nothing a user saved may be silently lost")
	}
}

// With the loops running, a photo upload stuck on a slow link never holds
// up the data lane: a note saved meanwhile reaches the server.
func TestMediaLaneNeverBlocksTheDataLane(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dana := w.device("dana-pc", "dana")
	alex := w.device("alex-phone", "alex", deviceOptions{chunk: 16 << 10})
	_, job := w.scene(dana, alex, "Replace pump seal")
	alex.cfg.Background = true
	alex.restart()

	// The link holds the answer to every upload until released.
	hold := alex.proxy.Add(faultproxy.Rule{Method: "PUT", Path: "/v1/photos/", Fault: faultproxy.DelayReply})
	photo := alex.photo(job, "slow.jpg", photoBytes(22, 60_000))
	if !eventually(10*time.Second, func() bool { e, _ := alex.local().Record(photo); return e != nil && e.Server != nil }) {
		t.Fatal("the photo's metadata did not reach the server and back")
	}
	alex.SyncNow(w.ctx) // see TestBackgroundPhotoUploadsSoonAfterItsMetadataSyncs
	ctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
	defer cancel()
	if !alex.proxy.Wait(ctx, func(s faultproxy.Stats) bool { return s.Holding == 1 }) {
		t.Fatal("the upload never started")
	}
	alex.Refresh() // see the Refresh race noted in S11
	if got := alex.words(photo); got != "Uploading photo 1 of 1 (0%)" {
		t.Errorf("while the first chunk is on its way the photo says %q", got)
	}
	note := alex.note(job, "Photo is slow to send; note goes first.")
	if !eventually(5*time.Second, func() bool { return w.record(note) != nil }) {
		t.Fatalf("the note did not reach the server while an upload was stuck: %+v", alex.State())
	}
	alex.proxy.Remove(hold)
	alex.proxy.Release()
	if !eventually(10*time.Second, alex.quiet) {
		t.Fatalf("the photo did not finish: %+v", alex.State())
	}
	alex.cfg.Background = false
	alex.restart()
	w.syncAll(dana, alex)
	w.converged([]string{job, note, photo}, dana, alex)
}
