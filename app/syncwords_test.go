package app_test

import (
	"testing"
	"time"

	"fieldsync/app"
	"fieldsync/syncqueue"
)

// The queue keeps the sync state as data; these say it in words.

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
		{"a photo whose content did not upload says so, with the media lane's time",
			syncqueue.State{Data: failing, Media: syncqueue.LaneState{Failures: 1, NextTry: now.Add(15 * time.Second)},
				Records: map[string]syncqueue.RecordState{job: {Status: syncqueue.Failed, Upload: true}}}, "Upload failed, retrying in 15 seconds"},
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
			if got := (app.SyncState{State: tt.state}).Words(job, now); got != tt.want {
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
			if got := (app.SyncState{State: tt.state}).Line(now); got != tt.want {
				t.Errorf("Line = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLineAfterAFailedPullWithNothingPendingReadsAsASentence(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	st := syncqueue.State{Data: syncqueue.LaneState{Failures: 1, NextTry: now.Add(2 * time.Second)}}
	want := "Synced as far as this device knows; the server did not answer, retrying in 2 seconds."
	if got := (app.SyncState{State: st}).Line(now); got != want {
		t.Errorf("State.Line says %q, want %q", got, want)
	}
}

func TestLineNamesEveryProblemMostUrgentFirst(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	dataFailing := syncqueue.LaneState{Failures: 3, NextTry: now.Add(5 * time.Minute)}
	mediaFailing := syncqueue.LaneState{Failures: 2, NextTry: now.Add(2 * time.Minute)}
	tests := []struct {
		name  string
		state syncqueue.State
		want  string
	}{
		{"a review and a failing upload",
			syncqueue.State{Held: 1, Photos: 1, Media: mediaFailing},
			"Another update changed a record. Review before sending again. 1 photo did not upload: retrying in 2 minutes."},
		{"edits not sent, a review, failing data and uploads",
			syncqueue.State{Refused: 1, Held: 2, Queued: 2, Photos: 3, Data: dataFailing, Media: mediaFailing},
			"1 change not sent. Open it to see why; your input was kept. Another update changed a record. Review before sending again. " +
				"2 changes did not sync: retrying in 5 minutes. 3 photos did not upload: retrying in 2 minutes."},
		{"failing data and uploads at once",
			syncqueue.State{Queued: 1, Photos: 1, Data: dataFailing, Media: mediaFailing},
			"1 change did not sync: retrying in 5 minutes. 1 photo did not upload: retrying in 2 minutes."},
		{"a failing upload while edits wait is still named",
			syncqueue.State{Queued: 2, Photos: 1, Media: mediaFailing},
			"Saved on this device (1 photo). Upload failed, retrying in 2 minutes."},
		{"a pull that fails while a review is open",
			syncqueue.State{Held: 1, Data: syncqueue.LaneState{Failures: 1, NextTry: now.Add(2 * time.Second)}},
			"Another update changed a record. Review before sending again. The server did not answer: retrying in 2 seconds."},
		{"no signal and a review: the lanes fail because of the signal",
			syncqueue.State{Held: 1, Queued: 2, Photos: 1, Offline: true, Data: dataFailing, Media: mediaFailing},
			"Another update changed a record. Review before sending again. No signal: 2 changes and 1 photo will sync when it is back."},
		{"signed out with edits not sent: the lanes fail because of the sign-in",
			syncqueue.State{SignedOut: true, Refused: 2, Queued: 1, Data: dataFailing},
			"Signed out on the server: sign in again to sync. 2 changes not sent. Open them to see why; your input was kept."},
		{"an upload under way is not a failing upload",
			syncqueue.State{Held: 1, Photos: 2, Media: mediaFailing, Uploads: []syncqueue.Upload{{Index: 1, Of: 2, Sent: 10, Size: 100}}},
			"Another update changed a record. Review before sending again."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (app.SyncState{State: tt.state}).Line(now); got != tt.want {
				t.Errorf("Line = %q\nwant   %q", got, tt.want)
			}
		})
	}
}
