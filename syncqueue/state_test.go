package syncqueue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"fieldsync/contract"
	"fieldsync/syncqueue"

	"github.com/google/uuid"
)

func TestRecordStatesFollowTheServersAnswers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.login("alex")
	d.sync()
	pump := d.job("Replace pump seal").View
	service := d.job("Annual service").View // signed off

	t.Run("an edit not yet sent is saved on this device", func(t *testing.T) {
		op := d.note(pump.ID, "saved")
		d.save(op)
		d.q.Refresh()
		st := d.q.State()
		if got := st.Record(pump.ID).Status; got != syncqueue.Saved {
			t.Errorf("job: %v", got)
		}
		if got := st.Record(op.RecordID).Status; got != syncqueue.Saved {
			t.Errorf("note: %v", got)
		}
		d.sync()
		st = d.q.State()
		if got := st.Record(pump.ID).Status; got != syncqueue.Synced {
			t.Errorf("job after the round: %v", got)
		}
		if st.Queued+st.Held+st.Refused+st.Photos != 0 || st.SignedOut || st.Data.Failures+st.Media.Failures != 0 {
			t.Errorf("device after the round: %+v", st)
		}
	})

	t.Run("an edit the server will take later is waiting to sync", func(t *testing.T) {
		op := d.note(pump.ID, "later")
		d.save(op)
		e.proxy.setIntercept(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			if r.URL.Path != "/v1/push" {
				return false
			}
			json.NewEncoder(w).Encode(contract.PushResponse{Results: []contract.Result{{OpID: op.ID, Outcome: contract.Refused, Code: contract.CodeInternal, Message: "later", Retry: true}}})
			return true
		})
		defer e.proxy.setIntercept(nil)
		d.sync()
		if got := d.q.State().Record(pump.ID).Status; got != syncqueue.Waiting {
			t.Errorf("job: %v", got)
		}
		e.proxy.setIntercept(nil)
		d.sync()
	})

	t.Run("an edit the rules refuse is not sent, with the server's reason", func(t *testing.T) {
		op := d.op("job", service.ID, contract.ActionUpdate, map[string]int64{"work": service.Versions["work"]}, map[string]any{"labor_minutes": 30})
		d.save(op)
		d.sync()
		st := d.q.State()
		if got := st.Record(service.ID); got.Status != syncqueue.NotSent || got.Reason != "This job is signed off." {
			t.Errorf("job: %+v", got)
		}
		if st.Refused != 1 || st.SignedOut {
			t.Errorf("device: %d not sent, signed out %v", st.Refused, st.SignedOut)
		}
		if !slices.ContainsFunc(st.LastRound.Refused, func(r syncqueue.Refused) bool { return r.Message == "This job is signed off." }) {
			t.Errorf("not sent in the last round: %+v", st.LastRound.Refused)
		}
		d.st.Drop(op.ID)
	})

	t.Run("an item the rules refuse shows on its job", func(t *testing.T) {
		op := d.op("part", uuid.NewString(), contract.ActionAppend, nil, map[string]any{"job_id": service.ID, "sku": "SEAL-40", "quantity": 1})
		d.save(op)
		d.sync()
		st := d.q.State()
		notSent := syncqueue.RecordState{Status: syncqueue.NotSent, Reason: "This job is signed off."}
		if got := st.Record(op.RecordID); got != notSent {
			t.Errorf("part: %+v", got)
		}
		got := st.Record(service.ID)
		d.st.Drop(op.ID)
		if got != notSent {
			t.Fatalf("a job whose part append was refused is %+v, not %+v: recordStates marks only the part, because localstore.OutboxStates has no parent for an item whose record row was removed when it was refused", got, notSent)
		}
	})

	t.Run("photos going up show which and how far", func(t *testing.T) {
		d := e.login("alex", withChunk(43))
		d.sync()
		for range 3 {
			d.addPhoto(pump.ID, bytes.Repeat([]byte("p"), 100))
		}
		d.sync()
		// What the job's words are made of: its status and, while a
		// photo goes up, which photo and how far (app.SyncState.Words).
		var mu sync.Mutex
		var seen []string
		cancel := d.q.Subscribe(func(st syncqueue.State) {
			said := st.Record(pump.ID).Status.String()
			for _, u := range st.Uploads {
				if u.JobID == pump.ID && st.Record(pump.ID).Status == syncqueue.Uploading {
					said = fmt.Sprintf("uploading %d of %d (%d%%)", u.Index, u.Of, u.Percent())
					break
				}
			}
			mu.Lock()
			seen = append(seen, said)
			mu.Unlock()
		})
		if err := d.q.RunMedia(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		mu.Lock()
		defer mu.Unlock()
		for _, want := range []string{"waiting", "uploading 1 of 3 (0%)", "uploading 2 of 3 (43%)", "uploading 3 of 3 (86%)", "synced"} {
			if !slices.Contains(seen, want) {
				t.Errorf("never said %q; said %q", want, slices.Compact(seen))
			}
		}
		if st := d.q.State(); len(st.Uploads) != 0 || st.Photos != 0 {
			t.Errorf("after the round: %d uploads shown, %d photos waiting", len(st.Uploads), st.Photos)
		}
	})
}

func TestTheRoundKeepsWhatHappened(t *testing.T) {
	e := newEnv(t)
	alex := e.login("alex")
	alex.sync()
	dana := e.login("dana")
	dana.sync()
	pump := alex.job("Replace pump seal").View

	// Offline, alex adds a note, a part and a photo and completes the job...
	alex.save(alex.note(pump.ID, "Seal replaced"),
		alex.op("part", uuid.NewString(), contract.ActionAppend, nil, map[string]any{"job_id": pump.ID, "sku": "SEAL-40", "quantity": 1}))
	alex.addPhoto(pump.ID, []byte("jpeg"))
	alex.save(alex.op("job", pump.ID, contract.ActionTransition, map[string]int64{"status": pump.Versions["status"]}, map[string]any{"status": "completed"}))
	// ...while the office asks for approval first.
	dpump := dana.job("Replace pump seal").View
	dana.save(dana.op("job", pump.ID, contract.ActionTransition, map[string]int64{"status": dpump.Versions["status"]}, map[string]any{"status": "waiting_for_approval"}))
	dana.sync()

	alex.sync()
	if err := alex.q.RunMedia(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := alex.q.State()
	// What app's summary says as "Your notes, parts, and photos synced.
	// Job status needs review because dana changed it in the office."
	round := st.LastRound
	for _, typ := range []string{"note", "part"} {
		if !slices.Contains(round.Synced, syncqueue.Edit{RecordType: typ, Action: contract.ActionAppend}) {
			t.Errorf("the round's synced edits %+v lack the %ss", round.Synced, typ)
		}
	}
	if !round.PhotosUp || round.Unfinished != 0 {
		t.Errorf("the round's photos: up %v, %d unfinished; want the photo up", round.PhotosUp, round.Unfinished)
	}
	held := syncqueue.Held{Edit: syncqueue.Edit{RecordType: "job", Action: contract.ActionTransition}, Code: contract.CodeConflict, ByID: dana.user.ID, ByName: "dana"}
	if !slices.Equal(round.Held, []syncqueue.Held{held}) {
		t.Errorf("held in the round %+v\nwant %+v", round.Held, held)
	}
	if got := st.Record(pump.ID).Status; got != syncqueue.Review {
		t.Errorf("job: %v", got)
	}
	if st.Held != 1 {
		t.Errorf("held %d", st.Held)
	}
}
