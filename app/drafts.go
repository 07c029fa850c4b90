package app

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"fieldsync/contract"
	"fieldsync/localstore"
)

// KeepAsNote sends the text of an edit the server refused as a note on its
// job, which a locked job still takes, and clears the refusal.
func (a *App) KeepAsNote(opID string) (*contract.Record, error) {
	d, err := a.draft(opID)
	if err != nil {
		return nil, err
	}
	note, err := a.AddNote(d.JobID, "", d.Text)
	if err != nil {
		return nil, err
	}
	err = a.store.Drop(d.OpID)
	a.queue.Refresh()
	return note, err
}

// Discard drops an edit the server refused, after the user read why.
func (a *App) Discard(opID string) error {
	d, err := a.draft(opID)
	if err != nil {
		return err
	}
	err = a.store.Drop(d.OpID)
	a.queue.Refresh()
	return err
}

// Draft is the text of an edit the server refused, kept for the user.
type Draft struct {
	OpID   string
	JobID  string
	Text   string
	Reason string
}

func (a *App) draft(opID string) (Draft, error) {
	drafts, err := a.Drafts("")
	if err != nil {
		return Draft{}, err
	}
	for _, d := range drafts {
		if d.OpID == opID || strings.HasPrefix(d.OpID, opID) && len(opID) >= 8 {
			return d, nil
		}
	}
	return Draft{}, fmt.Errorf("no refused edit %q on this device", opID)
}

// Drafts returns the edits the server refused, with their text, for one
// job (all jobs for ""). Nothing the user typed is lost: it waits here.
func (a *App) Drafts(jobID string) ([]Draft, error) {
	out, err := a.store.Outbox()
	if err != nil {
		return nil, err
	}
	var drafts []Draft
	for _, p := range out {
		if p.State != localstore.Refused {
			continue
		}
		job := p.Op.RecordID
		if e, _ := a.store.Record(p.Op.RecordID); e != nil && e.View.ParentID != "" {
			job = e.View.ParentID
		} else if pid := a.parentID(p.Op, nil); pid != "" {
			job = pid
		}
		if jobID != "" && job != jobID {
			continue
		}
		reason := p.LastError
		if p.Result != nil {
			reason = p.Result.Message
		}
		drafts = append(drafts, Draft{OpID: p.Op.ID, JobID: job, Text: describeOp(p.Op), Reason: reason})
	}
	return drafts, nil
}

// describeOp says what an operation carried, as a note would.
func describeOp(op contract.Operation) string {
	if raw, ok := op.Values["text"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(op.Values)) {
		if strings.HasSuffix(k, "_id") {
			continue
		}
		var v any
		_ = json.Unmarshal(op.Values[k], &v)
		parts = append(parts, fmt.Sprintf("%s: %v", strings.ReplaceAll(k, "_", " "), v))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%s of this %s", op.Action, op.RecordType)
	}
	return "Not sent (" + string(op.Action) + "): " + strings.Join(parts, ", ")
}
