package syncqueue_test

import (
	"testing"
	"time"

	"fieldsync/syncqueue"
)

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
			if got := tt.state.Line(now); got != tt.want {
				t.Errorf("Line = %q\nwant   %q", got, tt.want)
			}
		})
	}
}
