package app

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/apiclient"
	"fieldsync/syncqueue"
)

// SyncState is the device's sync state at one moment, as the screens show
// it: the queue's counts, times and reasons (the embedded syncqueue.State),
// said in plain words by its methods, in the words of rules.md.
type SyncState struct {
	syncqueue.State
	// Summary says in one line what the last round that moved something
	// did, or "" when there is nothing to say.
	Summary string
}

// SyncStatus is where a record stands with the server, from best to worst.
type SyncStatus = syncqueue.Status

// The sync statuses a screen shows, best first.
const (
	Synced      = syncqueue.Synced    // Synced
	Saved       = syncqueue.Saved     // Saved on this device
	Waiting     = syncqueue.Waiting   // Waiting to sync
	Uploading   = syncqueue.Uploading // Uploading photo 2 of 3 (43%)
	Failed      = syncqueue.Failed    // Sync failed, retrying in 5 minutes
	NeedsReview = syncqueue.Review    // Another update changed this record. Review before sending again.
	NotSent     = syncqueue.NotSent   // Not sent: this job is closed. Your text was kept as a draft note.
)

// Words says a record's status in plain words, as rules.md has them.
func (s SyncState) Words(id string, now time.Time) string {
	rs := s.Record(id)
	switch rs.Status {
	case Saved:
		return "Saved on this device"
	case Waiting:
		return "Waiting to sync"
	case Uploading:
		for _, u := range s.Uploads {
			if u.JobID == id || u.PhotoID == id {
				return fmt.Sprintf("Uploading photo %d of %d (%d%%)", u.Index, u.Of, u.Percent())
			}
		}
		return "Waiting to sync"
	case Failed:
		if rs.Upload {
			return "Upload failed, " + retryWords(s.Media.NextTry, now)
		}
		return "Sync failed, " + retryWords(s.nextTry(), now)
	case NeedsReview:
		return "Another update changed this record. Review before sending again."
	case NotSent:
		if rs.Reason != "" {
			return "Not sent: " + rs.Reason
		}
		return "Not sent"
	}
	return "Synced"
}

// RetryWords says when the next try is due: "retrying in 5 minutes".
func (s SyncState) RetryWords(now time.Time) string { return retryWords(s.nextTry(), now) }

// Problem says in plain words why the last round failed, for a banner:
// never a URL or a Go error.
func (s SyncState) Problem() string {
	e := s.Data.LastError
	if e == "" {
		e = s.Media.LastError
	}
	switch {
	case e == "":
		return ""
	case strings.Contains(e, apiclient.ErrNoSignal.Error()):
		return "No signal."
	case strings.Contains(e, "no connection to the server"), strings.Contains(e, "no server address"):
		return "The server could not be reached."
	case strings.Contains(e, "the server answered"), strings.Contains(e, "busy"), strings.Contains(e, "failed"):
		return "The server had a problem."
	}
	return e
}

// nextTry is when the failing lane tries again: the data lane's, else the
// media lane's.
func (s SyncState) nextTry() time.Time {
	if s.Data.Failures > 0 {
		return s.Data.NextTry
	}
	return s.Media.NextTry
}

// Line is the one line the sync bar shows for the whole device. A single
// problem has a sentence of its own; when several hold at once, each is
// named, most urgent first, with what comes next. With no problem it says
// what is under way.
func (s SyncState) Line(now time.Time) string {
	problems := s.problems(now)
	switch len(problems) {
	case 0:
		return s.progress()
	case 1:
		return problems[0].alone
	}
	parts := make([]string, len(problems))
	for i, p := range problems {
		parts[i] = p.together
	}
	return strings.Join(parts, " ")
}

// problem is something the device cannot get past on its own, said alone
// or among others.
type problem struct{ alone, together string }

// problems lists what stands in the way of syncing, most urgent first:
// signed out, not sent, review, data sync failing, uploads failing, no
// signal.
func (s SyncState) problems(now time.Time) []problem {
	var out []problem
	add := func(alone, together string) { out = append(out, problem{alone, together}) }
	if s.SignedOut {
		const p = "Signed out on the server: sign in again to sync."
		add(p, p)
	}
	if s.Refused > 0 {
		p := fmt.Sprintf("%s not sent. Open %s to see why; your input was kept.", plural(s.Refused, "change"), them(s.Refused))
		add(p, p)
	}
	if s.Held > 0 {
		const p = "Another update changed a record. Review before sending again."
		add(p, p)
	}
	// No signal covers the lanes' failures: they fail because of it. A
	// sign-in the server refused does too.
	noSignal := s.Offline && s.Queued+s.Photos > 0
	waiting := plural(s.Queued, "change")
	if s.Queued == 0 {
		waiting = plural(s.Photos, "photo")
	}
	switch {
	case s.SignedOut || noSignal || s.Data.Failures == 0:
	case s.Queued > 0:
		next := retryWords(s.Data.NextTry, now)
		add(fmt.Sprintf("Saved on this device (%s). Sync failed, %s.", waiting, next),
			fmt.Sprintf("%s did not sync: %s.", capital(waiting), next))
	case s.Photos == 0:
		// Only the pull failed; photos go by the media lane, untouched by it.
		next := retryWords(s.Data.NextTry, now)
		add("Synced as far as this device knows; the server did not answer, "+next+".",
			"The server did not answer: "+next+".")
	}
	if !s.SignedOut && !noSignal && s.Media.Failures > 0 && s.Photos > 0 && len(s.Uploads) == 0 {
		photos, next := plural(s.Photos, "photo"), retryWords(s.Media.NextTry, now)
		add(fmt.Sprintf("Saved on this device (%s). Upload failed, %s.", photos, next),
			fmt.Sprintf("%s did not upload: %s.", capital(photos), next))
	}
	if noSignal {
		what := waiting
		if s.Queued > 0 && s.Photos > 0 {
			what = plural(s.Queued, "change") + " and " + plural(s.Photos, "photo")
		}
		add(fmt.Sprintf("Saved on this device (%s). No signal: will sync when it is back.", waiting),
			fmt.Sprintf("No signal: %s will sync when it is back.", what))
	}
	return out
}

// progress says how the device stands when nothing is wrong.
func (s SyncState) progress() string {
	if s.Queued+s.Photos == 0 {
		return "Synced"
	}
	if len(s.Uploads) > 0 {
		u := s.Uploads[0]
		return fmt.Sprintf("Uploading photo %d of %d (%d%%)", u.Index, u.Of, u.Percent())
	}
	waiting := plural(s.Queued, "change")
	if s.Queued == 0 {
		waiting = plural(s.Photos, "photo")
	}
	return fmt.Sprintf("Waiting to sync (%s)", waiting)
}

// summaryWords says what a round did in one line: "Your notes and photos
// synced. Job status needs review because dana changed it in the office."
// me is the user signed in here; office says who works in the office.
func summaryWords(r syncqueue.Round, me string, office func(userID string) bool) string {
	var synced []string
	for _, e := range r.Synced {
		if k := editKind(e); !slices.Contains(synced, k) {
			synced = append(synced, k)
		}
	}
	if r.PhotosUp && !slices.Contains(synced, "photos") {
		synced = append(synced, "photos")
	}
	var parts []string
	if len(synced) > 0 {
		parts = append(parts, "Your "+andList(synced)+" synced.")
	}
	if r.Unfinished > 0 {
		parts = append(parts, fmt.Sprintf("%s did not finish uploading; %s.", plural(r.Unfinished, "photo"), retryWords(r.Retry, r.At)))
	}
	var held []string
	for _, h := range r.Held {
		if s := heldWords(h, me, office); !slices.Contains(held, s) {
			held = append(held, s)
		}
	}
	parts = append(parts, held...)
	var refused []string
	for _, rf := range r.Refused {
		if s := fmt.Sprintf("%s not sent: %s", capital(editKind(rf.Edit)), rf.Message); !slices.Contains(refused, s) {
			refused = append(refused, s)
		}
	}
	parts = append(parts, refused...)
	return strings.Join(parts, " ")
}

// heldWords says why an edit was held: "Job status needs review because
// dana changed it in the office."
func heldWords(h syncqueue.Held, me string, office func(userID string) bool) string {
	record := h.RecordType
	if record == "note" || record == "photo" || record == "part" {
		record = "job" // items are held for what happened to their job
	}
	var why string
	switch h.Code {
	case contract.CodeOwnership:
		why = "the " + record + " was reassigned"
	case contract.CodeVoided:
		why = "the " + record + " was voided"
	case contract.CodeReviewOpen:
		why = "it is already under review"
	default:
		why = changedBy(h.ByID, h.ByName, me, office)
	}
	subject := heldSubject(h.Edit)
	return fmt.Sprintf("%s %s review because %s.", capital(subject), needs(subject), why)
}

// changedBy says who made the server's version of a group an edit was
// held against: by name, in the office or not, or the user themselves on
// another device.
func changedBy(id, name, me string, office func(userID string) bool) string {
	switch {
	case id == "" && name == "":
		return "someone else changed it"
	case id != "" && id == me:
		return "you changed it on another device"
	case name == "" && office(id):
		return "someone changed it in the office"
	case name == "":
		return "someone else changed it"
	case office(id):
		return name + " changed it in the office"
	}
	return name + " changed it"
}

// needs agrees with its subject: "job status needs", "job changes need".
func needs(subject string) string {
	if strings.HasSuffix(subject, "s") && !strings.HasSuffix(subject, "ss") && !strings.HasSuffix(subject, "us") {
		return "need"
	}
	return "needs"
}

// editKind names a kind of edit in the words of the summary: "notes",
// "job status", "new customers".
func editKind(e syncqueue.Edit) string {
	switch e.RecordType {
	case "note":
		return "notes"
	case "photo":
		return "photos"
	case "part":
		return "parts"
	case contract.ReviewType:
		return "review decisions"
	}
	switch e.Action {
	case contract.ActionCreate:
		return "new " + e.RecordType + "s"
	case contract.ActionTransition:
		return e.RecordType + " status"
	case contract.ActionVoid:
		return "voids"
	case contract.ActionReassign:
		return "assignments"
	case contract.ActionReopen:
		return "reopened " + e.RecordType + "s"
	}
	if e.Group != "" {
		return e.RecordType + " " + strings.ReplaceAll(e.Group, "_", " ")
	}
	return e.RecordType + " changes"
}

// heldSubject names what was held: "your note" for an item, else its kind
// ("job status", "invoice amounts").
func heldSubject(e syncqueue.Edit) string {
	switch e.RecordType {
	case "note", "photo", "part":
		return "your " + strings.TrimSuffix(editKind(e), "s")
	}
	return editKind(e)
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

// retryWords says when the next try is: "retrying in 5 minutes".
func retryWords(next, now time.Time) string {
	if next.IsZero() {
		return "retrying soon"
	}
	d := next.Sub(now)
	switch {
	case d <= time.Second:
		return "retrying now"
	case d < time.Minute:
		return "retrying in " + plural(int(math.Ceil(d.Seconds())), "second")
	case d < time.Hour:
		return "retrying in " + plural(int(math.Round(d.Minutes())), "minute")
	}
	return "retrying in " + plural(int(math.Round(d.Hours())), "hour")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
