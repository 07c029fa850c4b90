package syncqueue

import (
	"math"
	"time"
)

// Status is where a record stands with the server, from best to worst.
type Status int

// The statuses a user sees, in rules.md's words.
const (
	Synced    Status = iota // Synced
	Saved                   // Saved on this device
	Waiting                 // Waiting to sync
	Uploading               // Uploading photo 2 of 3 (43%)
	Failed                  // Sync failed, retrying in 5 minutes
	Review                  // Another update changed this record. Review before sending again.
	NotSent                 // Not sent: this job is closed. Your text was kept as a draft note.
)

func (s Status) String() string {
	return [...]string{"synced", "saved", "waiting", "uploading", "failed", "review", "not_sent"}[s]
}

// RecordState is one record's sync status.
type RecordState struct {
	Status Status
	Reason string // not sent: the server's reason
	// Upload marks a failure of the media lane: a photo whose content did
	// not upload, or a job whose worst problem is such a photo.
	Upload bool
}

// LaneState is how one lane is doing.
type LaneState struct {
	Running   bool      // a round is under way
	LastTry   time.Time // when the last round started
	LastOK    time.Time // when a round last went through
	NextTry   time.Time // when the next round is due after failures; zero when none is due
	Failures  int       // rounds failed in a row
	LastError string
}

// Upload is a photo on its way to the server.
type Upload struct {
	PhotoID string
	JobID   string
	Index   int // 1-based, among the photos waiting
	Of      int
	Sent    int64
	Size    int64
}

// Percent is how much of the photo has arrived.
func (u Upload) Percent() int {
	if u.Size <= 0 {
		return 0
	}
	return int(math.Floor(float64(u.Sent) * 100 / float64(u.Size)))
}

// State is everything the screens show about syncing, at one moment, as
// data: the app says it in words.
type State struct {
	At        time.Time
	Offline   bool // no signal is being simulated
	SignedOut bool // the server no longer accepts the sign-in
	Data      LaneState
	Media     LaneState
	Queued    int // edits waiting to reach the server
	Held      int // edits held for review
	Refused   int // edits not sent
	Photos    int // photos waiting to upload
	Records   map[string]RecordState
	Uploads   []Upload
	// LastRound is what the last round that moved something did.
	LastRound Round
}

// Record returns a record's status; records with nothing pending are Synced.
func (s State) Record(id string) RecordState {
	if rs, ok := s.Records[id]; ok {
		return rs
	}
	return RecordState{Status: Synced}
}
