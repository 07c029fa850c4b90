package syncqueue

import (
	"fmt"
	"slices"
	"strings"

	"fieldsync/contract"
)

// roundLog collects what a sync round did, for the one-line summary. The
// media round adds to the data round's before it.
type roundLog struct {
	synced  []string // kinds of edits that reached the server
	held    []string // sentences about edits held for review
	refused []string // sentences about edits not sent
	// photos counts photo metadata the server took: the photos are synced
	// only once their content follows, in the media round.
	photos int
	// unfinished counts photos whose content failed to upload in the last
	// media round, and retry says when the next try is.
	unfinished int
	retry      string
	// me is the user signed in on this device, for the reasons of held
	// edits.
	me string
}

// add notes one operation's result; office says who works in the office.
func (l *roundLog) add(op contract.Operation, r contract.Result, office func(userID string) bool) {
	kind := opKind(op)
	final := r.Final()
	switch final.Outcome {
	case contract.Applied:
		if op.RecordType == "photo" {
			l.photos++
			break
		}
		if !slices.Contains(l.synced, kind) {
			l.synced = append(l.synced, kind)
		}
	case contract.Held:
		var why string
		record := op.RecordType
		if record == "note" || record == "photo" || record == "part" {
			record = "job" // items are held for what happened to their job
		}
		switch final.Code {
		case contract.CodeOwnership:
			why = "the " + record + " was reassigned"
		case contract.CodeVoided:
			why = "the " + record + " was voided"
		case contract.CodeReviewOpen:
			why = "it is already under review"
		default:
			why = changedBy(final.Server, l.me, office)
		}
		subject := heldSubject(op, kind)
		s := fmt.Sprintf("%s %s review because %s.", capital(subject), needs(subject), why)
		if !slices.Contains(l.held, s) {
			l.held = append(l.held, s)
		}
	case contract.Refused:
		s := fmt.Sprintf("%s not sent: %s", capital(kind), final.Message)
		if !slices.Contains(l.refused, s) {
			l.refused = append(l.refused, s)
		}
	}
}

// changedBy says who made the server's version of a group an edit was
// held against: by name, in the office or not, or the user themselves on
// another device.
func changedBy(gs *contract.GroupState, me string, office func(userID string) bool) string {
	switch {
	case gs == nil || gs.UserID == "" && gs.UserName == "":
		return "someone else changed it"
	case gs.UserID != "" && gs.UserID == me:
		return "you changed it on another device"
	case gs.UserName == "" && office(gs.UserID):
		return "someone changed it in the office"
	case gs.UserName == "":
		return "someone else changed it"
	case office(gs.UserID):
		return gs.UserName + " changed it in the office"
	}
	return gs.UserName + " changed it"
}

// needs agrees with its subject: "job status needs", "job changes need".
func needs(subject string) string {
	if strings.HasSuffix(subject, "s") && !strings.HasSuffix(subject, "ss") && !strings.HasSuffix(subject, "us") {
		return "need"
	}
	return "needs"
}

// photoUploaded notes a photo whose content is now on the server.
func (l *roundLog) photoUploaded() {
	if !slices.Contains(l.synced, "photos") {
		l.synced = append(l.synced, "photos")
	}
}

// moved reports whether the round changed anything on the server.
func (l *roundLog) moved() bool {
	return len(l.synced)+len(l.held)+len(l.refused)+l.photos > 0
}

// line is the summary, or "" when there is nothing to say.
func (l *roundLog) line() string {
	var parts []string
	if len(l.synced) > 0 {
		parts = append(parts, "Your "+andList(l.synced)+" synced.")
	}
	if l.unfinished > 0 {
		retry := l.retry
		if retry == "" {
			retry = "retrying soon"
		}
		parts = append(parts, fmt.Sprintf("%s did not finish uploading; %s.", plural(l.unfinished, "photo"), retry))
	}
	parts = append(parts, l.held...)
	parts = append(parts, l.refused...)
	return strings.Join(parts, " ")
}

// opKind names what an operation changed, in the words of the summary.
func opKind(op contract.Operation) string {
	switch op.RecordType {
	case "note":
		return "notes"
	case "photo":
		return "photos"
	case "part":
		return "parts"
	case contract.ReviewType:
		return "review decisions"
	}
	switch op.Action {
	case contract.ActionCreate:
		return "new " + op.RecordType + "s"
	case contract.ActionTransition:
		return op.RecordType + " status"
	case contract.ActionVoid:
		return "voids"
	case contract.ActionReassign:
		return "assignments"
	case contract.ActionReopen:
		return "reopened " + op.RecordType + "s"
	}
	for g := range op.Bases {
		return op.RecordType + " " + strings.ReplaceAll(g, "_", " ")
	}
	return op.RecordType + " changes"
}

// heldSubject names what was held: "your note" for an item, else its kind
// ("job status", "invoice amounts").
func heldSubject(op contract.Operation, kind string) string {
	switch op.RecordType {
	case "note", "photo", "part":
		return "your " + strings.TrimSuffix(kind, "s")
	}
	return kind
}

func andList(words []string) string {
	switch len(words) {
	case 1:
		return words[0]
	case 2:
		return words[0] + " and " + words[1]
	}
	return strings.Join(words[:len(words)-1], ", ") + ", and " + words[len(words)-1]
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
