package syncqueue_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/localstore"
	"fieldsync/server"
	"fieldsync/syncqueue"
)

// busyStore is the server's real SQLite store, refusing every write while
// busy is set, as a store under load does, but for the next pass writes.
// Uploading a chunk writes its part to the store; the write after it marks
// a photo's content ready.
type busyStore struct {
	server.Store
	busy atomic.Bool
	pass atomic.Int32
}

func (b *busyStore) Write(ctx context.Context, fn func(server.Tx) error) error {
	if n := b.pass.Load(); n > 0 && b.pass.CompareAndSwap(n, n-1) {
		return b.Store.Write(ctx, fn)
	}
	if b.busy.Load() {
		return fmt.Errorf("write: %w", server.ErrBusy)
	}
	return b.Store.Write(ctx, fn)
}

// newBusyEnv is newEnv over a store that can be made busy.
func newBusyEnv(t *testing.T) (*env, *busyStore) {
	var bs *busyStore
	e := newEnvOver(t, func(st server.Store) server.Store {
		bs = &busyStore{Store: st}
		return bs
	})
	return e, bs
}

// photoState is the device's own record of a photo's upload.
func photoState(t *testing.T, d *device, id string) localstore.Photo {
	t.Helper()
	all, err := d.st.Photos("")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("%s's device has no photo %s", d.user.Name, id)
	return localstore.Photo{}
}

// contentReady reports whether a device heard that a photo's content is
// on the server.
func contentReady(t *testing.T, d *device, id string) bool {
	t.Helper()
	e, err := d.st.Record(id)
	if err != nil {
		t.Fatal(err)
	}
	return e != nil && e.Server != nil && e.Server.ContentReady
}

// TestAPhotoWhoseLastStepFailedIsFinishedByTheDevice: the server stores a
// photo's last chunk but cannot record the content as ready (its store is
// busy). The status must not say complete from the file alone, or the
// device stops and every other device shows the photo as not uploaded for
// ever. The device keeps asking the server to finish, at the media lane's
// pace, until the photo is ready for everyone.
func TestAPhotoWhoseLastStepFailedIsFinishedByTheDevice(t *testing.T) {
	e, store := newBusyEnv(t)
	ctx := context.Background()
	alex, dana := e.login("alex"), e.login("dana")
	alex.sync()
	dana.sync()
	pump := alex.job("Replace pump seal").View
	content := bytes.Repeat([]byte("seal "), 2000)
	size := int64(len(content))
	photo := alex.addPhoto(pump.ID, content).RecordID
	alex.sync() // the metadata reaches the server

	store.pass.Store(1) // the write that records the photo's one chunk
	store.busy.Store(true)
	if err := alex.q.RunMedia(ctx); err == nil {
		t.Fatal("the media round reported success while the server could not record the photo")
	}
	st, err := alex.c.UploadStatus(ctx, photo)
	if err != nil {
		t.Fatal(err)
	}
	if st.Received != size || st.Complete {
		t.Errorf("with the file whole but not recorded, the status says %d of %d bytes, complete %v; want all bytes, not complete",
			st.Received, size, st.Complete)
	}
	dana.sync()
	if contentReady(t, dana, photo) {
		t.Errorf("Dana's device shows the photo's content as ready before the server recorded it")
	}

	// The device tries again while the store is still busy: it asks the
	// server to finish (an empty chunk at the photo's end) and keeps the
	// photo waiting.
	e.proxy.take("")
	if err := alex.q.RunMedia(ctx); err == nil {
		t.Fatal("a media round while the store is still busy reported success: the device took the file alone for a finished photo")
	}
	var finishes int
	for _, r := range e.proxy.take("/v1/photos/") {
		if r.Method == http.MethodPut && r.Query == fmt.Sprintf("offset=%d", size) && len(r.Body) == 0 {
			finishes++
		}
	}
	if finishes != 1 {
		t.Errorf("the retry sent %d empty chunks at offset %d, want 1 asking the server to finish", finishes, size)
	}
	if p := photoState(t, alex, photo); p.State != localstore.PhotoWaiting {
		t.Fatalf("after the server failed to finish the photo, Alex's device has it %q, want %q: it stopped trying", p.State, localstore.PhotoWaiting)
	}

	// The store works again: the next round finishes the photo for everyone.
	store.busy.Store(false)
	if err := alex.q.RunMedia(ctx); err != nil {
		t.Fatalf("the media round once the store works: %v", err)
	}
	if p := photoState(t, alex, photo); p.State != localstore.PhotoUploaded || p.Uploaded != size {
		t.Errorf("Alex's device has the photo %q with %d bytes up, want %q with %d", p.State, p.Uploaded, localstore.PhotoUploaded, size)
	}
	if st, err := alex.c.UploadStatus(ctx, photo); err != nil || !st.Complete {
		t.Errorf("the status after finishing: %+v, %v; want complete", st, err)
	}
	dana.sync()
	if !contentReady(t, dana, photo) {
		t.Errorf("Dana's device does not show the photo's content as ready after the device finished it")
	}
	var got bytes.Buffer
	if err := dana.c.Download(ctx, photo, &got); err != nil || !bytes.Equal(got.Bytes(), content) {
		t.Errorf("Dana's download: %d bytes, %v; want the %d bytes Alex took", got.Len(), err, size)
	}
}

// TestAFailedUploadIsSaidAsSuchNotAsSynced: a round whose photo metadata
// reached the server but whose content did not upload must not say the
// photos synced. The summary says the photo did not finish and when it
// is tried again; the photo, and its job, say "Upload failed, retrying in
// N"; and when a review is open too, the device's line names both, the
// review first.
func TestAFailedUploadIsSaidAsSuchNotAsSynced(t *testing.T) {
	e, store := newBusyEnv(t)
	ctx := context.Background()
	alex, dana := e.login("alex"), e.login("dana")
	alex.sync()
	dana.sync()
	pump := alex.job("Replace pump seal").View

	alex.save(alex.note(pump.ID, "Seal replaced"))
	photo := alex.addPhoto(pump.ID, []byte("jpeg of the seal")).RecordID
	alex.sync()
	store.pass.Store(1) // the write that records the photo's one chunk
	store.busy.Store(true)
	if err := alex.q.RunMedia(ctx); err == nil {
		t.Fatal("the media round reported success while the server could not record the photo")
	}
	st := alex.q.State()
	now := alex.clock.Now()
	// The media lane's first retry is about 15 s, with jitter.
	wait := st.Media.NextTry.Sub(now)
	if wait < 10*time.Second || wait > 20*time.Second {
		t.Fatalf("the media lane tries again in %v, want about 15 s", wait)
	}

	// What app's summary says as "Your notes synced. 1 photo did not
	// finish uploading; retrying in N seconds."
	if r := st.LastRound; !slices.Equal(r.Synced, []syncqueue.Edit{{RecordType: "note", Action: contract.ActionAppend}}) ||
		r.PhotosUp || r.Unfinished != 1 || !r.Retry.Equal(st.Media.NextTry) || !r.At.Equal(now) {
		t.Errorf("the round %+v: want the notes synced and 1 photo unfinished, tried again at %v as of %v", r, st.Media.NextTry, now)
	}
	uploadFailed := syncqueue.RecordState{Status: syncqueue.Failed, Upload: true}
	for what, id := range map[string]string{"the photo": photo, "its job": pump.ID} {
		if got := st.Record(id); got != uploadFailed {
			t.Errorf("%s is %+v, want %+v", what, got, uploadFailed)
		}
	}
	if st.Photos != 1 || st.Queued != 0 || st.Media.Failures == 0 || len(st.Uploads) != 0 {
		t.Errorf("device: %d photos and %d changes waiting, %d media failures, %d uploads under way; want a failed upload of 1 photo",
			st.Photos, st.Queued, st.Media.Failures, len(st.Uploads))
	}

	// The office moves the job while Alex, who has not heard, completes
	// it: a review, and the upload still failing (no media round has run
	// since).
	store.busy.Store(false)
	dview := dana.job("Replace pump seal").View
	dana.save(dana.op("job", pump.ID, contract.ActionTransition, map[string]int64{"status": dview.Versions["status"]}, map[string]any{"status": "waiting_for_approval"}))
	dana.sync()
	alex.save(alex.op("job", pump.ID, contract.ActionTransition, map[string]int64{"status": pump.Versions["status"]}, map[string]any{"status": "completed"}))
	alex.sync()
	st = alex.q.State()
	if st.Held != 1 {
		t.Fatalf("%d edits held, want the status change", st.Held)
	}
	if st.Photos != 1 || st.Media.Failures == 0 || !st.Media.NextTry.Equal(now.Add(wait)) || len(st.Uploads) != 0 {
		t.Errorf("device: %d photos waiting, %d media failures, next try %v; want the failed upload as before",
			st.Photos, st.Media.Failures, st.Media.NextTry)
	}
	if got := st.Record(pump.ID).Status; got != syncqueue.Review {
		t.Errorf("the job is %v, want the review, its worst problem", got)
	}
	if got := st.Record(photo); got != uploadFailed {
		t.Errorf("the photo is %+v, want %+v", got, uploadFailed)
	}
	if st.LastRound.PhotosUp {
		t.Errorf("the round %+v says the photos went up while the photo's content is not on the server", st.LastRound)
	}

	// The next media round finishes the photo: now the photos synced.
	if err := alex.q.RunMedia(ctx); err != nil {
		t.Fatal(err)
	}
	st = alex.q.State()
	if got := st.Record(photo).Status; got != syncqueue.Synced {
		t.Errorf("the photo is %v once it is up", got)
	}
	// "Your photos synced. Job status needs review because dana changed
	// it in the office."
	held := syncqueue.Held{Edit: syncqueue.Edit{RecordType: "job", Action: contract.ActionTransition}, Code: contract.CodeConflict, ByID: dana.user.ID, ByName: "dana"}
	if r := st.LastRound; len(r.Synced) != 0 || !r.PhotosUp || r.Unfinished != 0 || !slices.Equal(r.Held, []syncqueue.Held{held}) {
		t.Errorf("the round %+v: want the photos up and the status held because dana changed it", r)
	}
}
