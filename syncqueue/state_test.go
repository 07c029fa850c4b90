package syncqueue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/syncqueue"

	"github.com/google/uuid"
)

func TestWordsSayEachStatusInTheRulesWords(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	const job, photo = "job-1", "photo-1"
	failing := syncqueue.LaneState{Failures: 2, NextTry: now.Add(5 * time.Minute)}
	tests := []struct {
		name  string
		state syncqueue.State
		want  string
	}{
		{"a record with nothing pending is synced", syncqueue.State{}, "Synced"},
		{"an edit not yet tried is saved on this device",
			syncqueue.State{Records: map[string]syncqueue.RecordState{job: {Status: syncqueue.Saved}}}, "Saved on this device"},
		{"an edit tried before is waiting to sync",
			syncqueue.State{Records: map[string]syncqueue.RecordState{job: {Status: syncqueue.Waiting}}}, "Waiting to sync"},
		{"a failing lane says when it tries again, in minutes",
			syncqueue.State{Data: failing, Records: map[string]syncqueue.RecordState{job: {Status: syncqueue.Failed}}}, "Sync failed, retrying in 5 minutes"},
		{"one minute is singular",
			syncqueue.State{Data: syncqueue.LaneState{Failures: 1, NextTry: now.Add(61 * time.Second)}, Records: map[string]syncqueue.RecordState{job: {Status: syncqueue.Failed}}}, "Sync failed, retrying in 1 minute"},
		{"under a minute it says seconds",
			syncqueue.State{Data: syncqueue.LaneState{Failures: 1, NextTry: now.Add(1500 * time.Millisecond)}, Records: map[string]syncqueue.RecordState{job: {Status: syncqueue.Failed}}}, "Sync failed, retrying in 2 seconds"},
		{"a try that is due says now",
			syncqueue.State{Data: syncqueue.LaneState{Failures: 1, NextTry: now}, Records: map[string]syncqueue.RecordState{job: {Status: syncqueue.Failed}}}, "Sync failed, retrying now"},
		{"a failing media lane gives its own time",
			syncqueue.State{Media: syncqueue.LaneState{Failures: 1, NextTry: now.Add(15 * time.Minute)}, Records: map[string]syncqueue.RecordState{job: {Status: syncqueue.Failed}}}, "Sync failed, retrying in 15 minutes"},
		{"a record under review asks for a review",
			syncqueue.State{Records: map[string]syncqueue.RecordState{job: {Status: syncqueue.Review}}}, "Another update changed this record. Review before sending again."},
		{"an edit not sent gives the real reason",
			syncqueue.State{Records: map[string]syncqueue.RecordState{job: {Status: syncqueue.NotSent, Reason: "this job is closed. Your text was kept as a draft note."}}},
			"Not sent: this job is closed. Your text was kept as a draft note."},
		{"a job whose photo is going up shows the upload",
			syncqueue.State{Records: map[string]syncqueue.RecordState{job: {Status: syncqueue.Uploading}},
				Uploads: []syncqueue.Upload{{PhotoID: photo, JobID: job, Index: 2, Of: 3, Sent: 43, Size: 100}}}, "Uploading photo 2 of 3 (43%)"},
		{"the percentage is rounded down",
			syncqueue.State{Records: map[string]syncqueue.RecordState{job: {Status: syncqueue.Uploading}},
				Uploads: []syncqueue.Upload{{PhotoID: photo, JobID: job, Index: 1, Of: 1, Sent: 999, Size: 1000}}}, "Uploading photo 1 of 1 (99%)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.state.Words(job, now); got != tt.want {
				t.Errorf("Words = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLineSaysHowTheWholeDeviceStands(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		state syncqueue.State
		want  string
	}{
		{"nothing pending", syncqueue.State{}, "Synced"},
		{"one change waiting", syncqueue.State{Queued: 1}, "Waiting to sync (1 change)"},
		{"changes and photos waiting count the changes", syncqueue.State{Queued: 3, Photos: 2}, "Waiting to sync (3 changes)"},
		{"only photos waiting", syncqueue.State{Photos: 2}, "Waiting to sync (2 photos)"},
		{"no signal", syncqueue.State{Queued: 2, Offline: true}, "Saved on this device (2 changes). No signal: will sync when it is back."},
		{"the data lane failing", syncqueue.State{Queued: 2, Data: syncqueue.LaneState{Failures: 3, NextTry: now.Add(5 * time.Minute)}},
			"Saved on this device (2 changes). Sync failed, retrying in 5 minutes."},
		{"the media lane failing", syncqueue.State{Photos: 1, Media: syncqueue.LaneState{Failures: 1, NextTry: now.Add(15 * time.Second)}},
			"Saved on this device (1 photo). Upload failed, retrying in 15 seconds."},
		{"an upload under way", syncqueue.State{Photos: 3, Uploads: []syncqueue.Upload{{Index: 2, Of: 3, Sent: 43, Size: 100}}}, "Uploading photo 2 of 3 (43%)"},
		{"an edit not sent", syncqueue.State{Refused: 1, Queued: 4}, "1 change not sent. Open it to see why; your input was kept."},
		{"edits not sent", syncqueue.State{Refused: 2}, "2 changes not sent. Open them to see why; your input was kept."},
		{"an edit held for review", syncqueue.State{Held: 1}, "Another update changed a record. Review before sending again."},
		{"signed out on the server", syncqueue.State{SignedOut: true, Queued: 5}, "Signed out on the server: sign in again to sync."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.state.Line(now); got != tt.want {
				t.Errorf("Line = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLineAfterAFailedPullWithNothingPendingReadsAsASentence(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	st := syncqueue.State{Data: syncqueue.LaneState{Failures: 1, NextTry: now.Add(2 * time.Second)}}
	want := "Synced as far as this device knows; the server did not answer, retrying in 2 seconds."
	if got := st.Line(now); got != want {
		t.Errorf("State.Line says %q, want %q", got, want)
	}
}

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
		if got := st.Words(pump.ID, d.clock.Now()); got != "Saved on this device" {
			t.Errorf("job: %q", got)
		}
		if got := st.Words(op.RecordID, d.clock.Now()); got != "Saved on this device" {
			t.Errorf("note: %q", got)
		}
		d.sync()
		st = d.q.State()
		if got := st.Words(pump.ID, d.clock.Now()); got != "Synced" {
			t.Errorf("job after the round: %q", got)
		}
		if got := st.Line(d.clock.Now()); got != "Synced" {
			t.Errorf("device after the round: %q", got)
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
		if got := d.q.State().Words(pump.ID, d.clock.Now()); got != "Waiting to sync" {
			t.Errorf("job: %q", got)
		}
		e.proxy.setIntercept(nil)
		d.sync()
	})

	t.Run("an edit the rules refuse is not sent, with the server's reason", func(t *testing.T) {
		op := d.op("job", service.ID, contract.ActionUpdate, map[string]int64{"work": service.Versions["work"]}, map[string]any{"labor_minutes": 30})
		d.save(op)
		d.sync()
		st := d.q.State()
		if got := st.Words(service.ID, d.clock.Now()); got != "Not sent: This job is signed off." {
			t.Errorf("job: %q", got)
		}
		if got := st.Line(d.clock.Now()); got != "1 change not sent. Open it to see why; your input was kept." {
			t.Errorf("device: %q", got)
		}
		if !strings.Contains(st.Summary, "not sent: This job is signed off.") {
			t.Errorf("summary %q", st.Summary)
		}
		d.st.Drop(op.ID)
	})

	t.Run("an item the rules refuse shows on its job", func(t *testing.T) {
		op := d.op("part", uuid.NewString(), contract.ActionAppend, nil, map[string]any{"job_id": service.ID, "sku": "SEAL-40", "quantity": 1})
		d.save(op)
		d.sync()
		st := d.q.State()
		if got := st.Words(op.RecordID, d.clock.Now()); got != "Not sent: This job is signed off." {
			t.Errorf("part: %q", got)
		}
		got := st.Words(service.ID, d.clock.Now())
		d.st.Drop(op.ID)
		if got != "Not sent: This job is signed off." {
			t.Fatalf("a job whose part append was refused says %q, not \"Not sent: This job is signed off.\": recordStates marks only the part, because localstore.OutboxStates has no parent for an item whose record row was removed when it was refused", got)
		}
	})

	t.Run("photos going up show which and how far", func(t *testing.T) {
		d := e.login("alex", withChunk(43))
		d.sync()
		for range 3 {
			d.addPhoto(pump.ID, bytes.Repeat([]byte("p"), 100))
		}
		d.sync()
		var mu sync.Mutex
		var seen []string
		cancel := d.q.Subscribe(func(st syncqueue.State) {
			mu.Lock()
			seen = append(seen, st.Words(pump.ID, d.clock.Now()))
			mu.Unlock()
		})
		if err := d.q.RunMedia(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		mu.Lock()
		defer mu.Unlock()
		for _, want := range []string{"Waiting to sync", "Uploading photo 1 of 3 (0%)", "Uploading photo 2 of 3 (43%)", "Uploading photo 3 of 3 (86%)", "Synced"} {
			if !slices.Contains(seen, want) {
				t.Errorf("never said %q; said %q", want, slices.Compact(seen))
			}
		}
		if st := d.q.State(); len(st.Uploads) != 0 || st.Photos != 0 {
			t.Errorf("after the round: %d uploads shown, %d photos waiting", len(st.Uploads), st.Photos)
		}
	})
}

func TestTheRoundSummaryTellsWhatHappened(t *testing.T) {
	e := newEnv(t)
	alex := e.login("alex")
	alex.sync()
	dana := e.login("dana")
	dana.sync()
	alex.office[dana.user.ID] = true
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
	want := "Your notes, parts, and photos synced. Job status needs review because dana changed it in the office."
	if st.Summary != want {
		t.Errorf("summary %q\nwant    %q", st.Summary, want)
	}
	if got := st.Words(pump.ID, alex.clock.Now()); got != "Another update changed this record. Review before sending again." {
		t.Errorf("job: %q", got)
	}
	if st.Held != 1 {
		t.Errorf("held %d", st.Held)
	}
}
