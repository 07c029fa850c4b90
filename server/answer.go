package server

import (
	"encoding/json"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/internal/wirejson"
)

// resultDoc returns the JSON stored for a result this batch decided, or nil.
func (a *applier) resultDoc(res *contract.Result) []byte {
	if res.Outcome == contract.AlreadyApplied {
		return nil
	}
	return a.resultDocs[res.OpID]
}

// copyAgain adds to the answer of a replayed operation the record it names,
// as it stands now: the record it applied to, or the one under the review
// it joined (its first answer may not have carried that one).
func (a *applier) copyAgain(first *contract.Result) error {
	switch first.Outcome {
	case contract.Applied:
		if first.RecordID != "" {
			a.copied = append(a.copied, first.RecordID)
		}
	case contract.Held:
		if first.ReviewID == "" {
			return nil
		}
		// Reviews go to the store as they are written, so the transaction
		// has this one without sending the batch's waiting writes.
		rv, err := a.tx.Review(first.ReviewID)
		if err != nil || rv == nil {
			return err
		}
		a.copied = append(a.copied, rv.RecordID)
	}
	return nil
}

// copies returns the records the answer carries, as they stand after the
// batch: those written for the caller's device and those replayed
// operations name, each once, when the caller may see them. A record the
// caller no longer sees is not marked as answered to it.
func (a *applier) copies(actor engine.Actor) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(a.copied))
	seen := make(map[string]bool, len(a.copied))
	var hidden []string
	matches := matchSeer{visible: func(id string) (bool, error) {
		rec, err := a.record(id)
		if err != nil || rec == nil {
			return false, err
		}
		return a.visible(actor, rec)
	}}
	for _, id := range a.copied {
		if seen[id] {
			continue
		}
		seen[id] = true
		rec, err := a.record(id)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			continue
		}
		var parent *contract.Record
		if rec.ParentID != "" {
			if parent, err = a.record(rec.ParentID); err != nil {
				return nil, err
			}
		}
		if !a.s.engine.CanSee(actor, rec, parent) {
			hidden = append(hidden, id)
			continue
		}
		doc := a.docs[id]
		if rec.DuplicateOf != "" {
			// The job it seems to repeat may be one the caller cannot see.
			shown := rec.Clone()
			if unseen, err := matches.hideRecordMatch(shown); err != nil {
				return nil, err
			} else if unseen {
				rec, doc = shown, nil
			}
		}
		if doc == nil || a.touched {
			if doc, err = wirejson.MarshalRecord(rec); err != nil {
				return nil, err
			}
		}
		out = append(out, doc)
	}
	if len(hidden) > 0 {
		if err := a.tx.ClearAnswered(hidden...); err != nil {
			return nil, err
		}
	}
	return out, nil
}
