package app

import (
	"encoding/json"
	"fmt"
	"strings"

	"fieldsync/contract"
)

// Resolve settles a review item: keep the server's version ("server"),
// take a device's ("device", entry naming which; the latest when empty),
// type a value ("value", with values), or for suspected duplicates
// "keep_both" or "merge". It goes through the queue like any edit, and
// at once: the sync loops, when they run, try now.
func (a *App) Resolve(reviewID, choice, entry string, values map[string]any) error {
	me, err := a.actor()
	if err != nil {
		return err
	}
	reviews, err := a.store.Reviews(false)
	if err != nil {
		return err
	}
	// The whole id, or a start of at least 8 characters that only one
	// item has.
	var hits []int
	for j, r := range reviews {
		if r.ID == reviewID {
			hits = []int{j}
			break
		}
		if len(reviewID) >= 8 && strings.HasPrefix(r.ID, reviewID) {
			hits = append(hits, j)
		}
	}
	switch {
	case len(hits) == 0:
		return fmt.Errorf("no review item %q on this device", reviewID)
	case len(hits) > 1:
		return fmt.Errorf("%d review items start with %q: give more of the id", len(hits), reviewID)
	}
	rv := reviews[hits[0]]
	if !a.eng().MayResolve(me, rv.RecordType) {
		rr := a.currentRules().Record(rv.RecordType)
		if rr.IsItem() {
			rr = a.currentRules().Record(rr.Parent)
		}
		return contract.Errorf(contract.CodeForbidden, "Only %s can resolve reviews of %ss.", a.currentRules().Expand(rr.Resolve), rr.Type)
	}
	if rv.Status != "open" {
		return contract.Errorf(contract.CodeResolved, "This review was already resolved.")
	}
	if a.Decided(rv.ID) {
		return contract.Errorf(contract.CodeResolved, "You have decided this review already; your decision is waiting to sync.")
	}
	vals := map[string]json.RawMessage{"choice": contract.Text(choice)}
	if entry != "" {
		vals["entry"] = contract.Text(entry)
	}
	if len(values) > 0 {
		typed, err := a.values(rv.RecordType, values)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(typed)
		vals["values"] = b
	}
	op := a.newOp(contract.ReviewType, rv.ID, contract.ActionResolve, nil, vals)
	if _, err := a.store.Save(op, nil); err != nil {
		return err
	}
	a.changed()
	a.queue.SyncNow() // a decision goes at once, even while the lanes back off
	return nil
}
