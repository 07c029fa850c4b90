package syncqueue

import (
	"slices"
	"time"

	"fieldsync/contract"
)

// Round is what the last sync round that moved something did, as data:
// the kinds of edit that reached the server, those held for review and
// why, those not sent, and how its photos fared in the media rounds
// since. The app says it in one line.
type Round struct {
	Synced  []Edit    // kinds of edit that reached the server, in the order first seen
	Held    []Held    // edits held for review, each kind and reason once
	Refused []Refused // edits not sent, each kind and message once
	// Photos counts photo records the server took: the photos are synced
	// only once their content follows, in a media round (PhotosUp).
	Photos   int
	PhotosUp bool
	// Unfinished counts photos whose content failed to upload in the last
	// media round; Retry is when the media lane tries them again, as seen
	// at At, the end of that round.
	Unfinished int
	Retry      time.Time
	At         time.Time
}

// Edit is a kind of edit: the type of record, the action, and for an
// update the field group it changed.
type Edit struct {
	RecordType string
	Action     contract.Action
	Group      string
}

// Held is a kind of edit the server held for review, with why (its code)
// and who made the version it was held against, as the server names them.
type Held struct {
	Edit
	Code   contract.Code
	ByID   string
	ByName string
}

// Refused is a kind of edit the server refused, with its message.
type Refused struct {
	Edit
	Message string
}

// editOf is the kind of edit an operation is.
func editOf(op contract.Operation) Edit {
	e := Edit{RecordType: op.RecordType, Action: op.Action}
	if op.Action == contract.ActionUpdate {
		for g := range op.Bases { // an update changes one group
			e.Group = g
		}
	}
	return e
}

// Add notes one operation's result.
func (r *Round) Add(op contract.Operation, res contract.Result) {
	edit := editOf(op)
	final := res.Final()
	switch final.Outcome {
	case contract.Applied:
		if op.RecordType == "photo" {
			r.Photos++
			break
		}
		if !slices.Contains(r.Synced, edit) {
			r.Synced = append(r.Synced, edit)
		}
	case contract.Held:
		h := Held{Edit: edit, Code: final.Code}
		if final.Server != nil {
			h.ByID, h.ByName = final.Server.UserID, final.Server.UserName
		}
		if !slices.Contains(r.Held, h) {
			r.Held = append(r.Held, h)
		}
	case contract.Refused:
		rf := Refused{Edit: edit, Message: final.Message}
		if !slices.Contains(r.Refused, rf) {
			r.Refused = append(r.Refused, rf)
		}
	}
}

// moved reports whether the round changed anything on the server.
func (r *Round) moved() bool {
	return len(r.Synced)+len(r.Held)+len(r.Refused)+r.Photos > 0
}

// Empty reports whether there is nothing to say about the round: nothing
// synced, held or refused, and no photo that failed to finish.
func (r Round) Empty() bool {
	return len(r.Synced)+len(r.Held)+len(r.Refused)+r.Unfinished == 0 && !r.PhotosUp
}
