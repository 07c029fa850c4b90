package syncqueue

import (
	"encoding/json"

	"fieldsync/contract"
	"fieldsync/localstore"
)

// Store is what the queue needs of the device's store: the outbox it
// pushes, the feed it pulls into, and the photos it uploads.
// *localstore.Store is the one the app gives it.
type Store interface {
	Outbox
	Feed
	Media
}

// Outbox is the data lane's push side: the operations waiting, in the order
// they were made, and where the server's answers are kept.
type Outbox interface {
	// Outgoing returns up to limit queued operations after seq after, as
	// they were saved.
	Outgoing(after int64, limit int) ([]localstore.Outgoing, error)
	// NoteAttempt records a failed try of the operations with these seqs.
	NoteAttempt(seqs []int64, reason string) error
	// SaveResults keeps the server's answers and its copies of the records
	// they wrote.
	SaveResults(results []contract.Result, copies []json.RawMessage) error
	// PendingFor returns the outbox's operations on one record.
	PendingFor(recordID string) ([]localstore.Pending, error)
	// OutboxStates and NeedsReview say where each record's work stands,
	// for the state screens show.
	OutboxStates() ([]localstore.OutboxState, error)
	NeedsReview() (map[string]string, error)
}

// Feed is the data lane's pull side: where the device's copy of the
// server's changes stands, and where each page goes.
type Feed interface {
	// LastApplied is the last outbox seq the server has answered.
	LastApplied() (int64, error)
	Cursor() (string, error)
	// MayOmitAnswered reports whether the device holds every copy a push
	// answer gave it, so a pull may leave those records out.
	MayOmitAnswered() (bool, error)
	ApplyPull(page contract.PullResponse) error
	// PulledAll notes a pull that brought every change, answered or not.
	PulledAll() error
	// Settle clears answered operations up to seq upTo that the pull has
	// caught up with.
	Settle(upTo int64) (int, error)
	// CheckpointSoon folds the write-ahead log into the database off the
	// round's path.
	CheckpointSoon()
}

// Media is the media lane's side: photos waiting for their content to go
// up, and what became of each upload.
type Media interface {
	Photos(state string) ([]localstore.Photo, error)
	// Record returns a record as the device has it, nil if it has none.
	Record(id string) (*localstore.Entry, error)
	SetUploaded(id string, n int64) error
	PhotoAttempt(id, reason string) error
	PhotoDone(id string, size int64) error
	PhotoFailed(id, reason string) error
}

var _ Store = (*localstore.Store)(nil)
