package syncqueue

import (
	"slices"

	"fieldsync/localstore"
)

// Subscribe calls fn with the state now and at every change, from the
// queue's goroutines, until cancel is called. fn must not block: a screen
// hands the state to its UI thread.
func (q *Queue) Subscribe(fn func(State)) (cancel func()) {
	q.mu.Lock()
	id := q.nextSub
	q.nextSub++
	q.subs[id] = fn
	q.mu.Unlock()
	// The state now, worked out afresh: the last one published may predate
	// work saved since (its refresh is on its way, off the saver's path).
	if !q.refresh() {
		q.mu.Lock()
		st := q.copyState()
		q.mu.Unlock()
		fn(st)
	}
	return func() {
		q.mu.Lock()
		delete(q.subs, id)
		q.mu.Unlock()
	}
}

// State returns the state now.
func (q *Queue) State() State {
	if q.dirty.Swap(false) {
		q.Refresh()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.copyState()
}

func (q *Queue) copyState() State {
	st := q.state
	st.Records = make(map[string]RecordState, len(q.state.Records))
	for k, v := range q.state.Records {
		st.Records[k] = v
	}
	st.Uploads = append([]Upload(nil), q.state.Uploads...)
	return st
}

// Refresh recomputes every record's status from the store and tells
// subscribers.
func (q *Queue) Refresh() { q.refresh() }

// refresh is Refresh; it reports whether subscribers were told.
func (q *Queue) refresh() bool {
	q.refreshMu.Lock()
	defer q.refreshMu.Unlock()
	// Only those subscribed before the store is read hear of this state: a
	// subscriber that comes while it is being worked out gets its own,
	// newer one, never one from before it asked.
	q.mu.Lock()
	subs := make([]func(State), 0, len(q.subs))
	for _, fn := range q.subs {
		subs = append(subs, fn)
	}
	q.mu.Unlock()
	records, counts, err := q.recordStates()
	if err != nil {
		q.opt.Log.Error("sync state", "err", err)
		return false
	}
	q.mu.Lock()
	q.state.At = q.opt.Now()
	q.state.Offline = q.opt.Client.Offline()
	q.state.Records = records
	q.state.Queued, q.state.Held, q.state.Refused, q.state.Photos = counts[0], counts[1], counts[2], counts[3]
	q.state.Uploads = q.state.Uploads[:0]
	for _, u := range q.uploads {
		q.state.Uploads = append(q.state.Uploads, u)
	}
	slices.SortFunc(q.state.Uploads, func(a, b Upload) int { return a.Index - b.Index })
	st := q.copyState()
	q.mu.Unlock()
	for _, fn := range subs {
		fn(st)
	}
	return true
}

// recordStates works out each record's status: the worst of its own
// operations and, for a job, of its items'.
func (q *Queue) recordStates() (map[string]RecordState, [4]int, error) {
	var counts [4]int
	st := q.opt.Store
	rows, err := st.OutboxStates()
	if err != nil {
		return nil, counts, err
	}
	reviews, err := st.NeedsReview()
	if err != nil {
		return nil, counts, err
	}
	photos, err := st.Photos("")
	if err != nil {
		return nil, counts, err
	}
	q.mu.Lock()
	// With no signal there is nothing to retry yet: the work is saved here.
	offline := q.opt.Client.Offline()
	dataFailing := q.state.Data.Failures > 0 && !offline
	uploadFailing := map[string]bool{}
	if q.state.Media.Failures > 0 && !offline {
		for id := range q.uploadFailed {
			uploadFailing[id] = true
		}
	}
	uploading := map[string]bool{}
	for _, u := range q.uploads {
		uploading[u.PhotoID] = true
	}
	q.mu.Unlock()

	out := map[string]RecordState{}
	mark := func(id, parent string, rs RecordState) {
		for _, k := range []string{id, parent} {
			if k == "" {
				continue
			}
			if cur, ok := out[k]; !ok || rs.Status > cur.Status {
				out[k] = rs
			}
		}
	}
	for _, r := range rows {
		switch r.State {
		case localstore.Queued:
			counts[0]++
			s := Saved
			switch {
			case offline:
			case dataFailing:
				s = Failed
			case r.Attempts > 0:
				s = Waiting
			}
			mark(r.RecordID, r.ParentID, RecordState{Status: s})
		case localstore.Held:
			counts[1]++
			mark(r.RecordID, r.ParentID, RecordState{Status: Review})
		case localstore.Refused:
			counts[2]++
			reason := r.LastError
			if r.Result != nil {
				reason = r.Result.Message
			}
			mark(r.RecordID, r.ParentID, RecordState{Status: NotSent, Reason: reason})
		}
	}
	for id, parent := range reviews {
		mark(id, parent, RecordState{Status: Review})
	}
	for _, p := range photos {
		switch p.State {
		case localstore.PhotoWaiting:
			counts[3]++
			rs := RecordState{Status: Waiting}
			switch {
			case uploading[p.ID]:
				rs.Status = Uploading
			case uploadFailing[p.ID]:
				rs = RecordState{Status: Failed, Upload: true}
			}
			mark(p.ID, p.JobID, rs)
		case localstore.PhotoFailed:
			counts[2]++
			mark(p.ID, p.JobID, RecordState{Status: NotSent, Reason: p.Error})
		}
	}
	return out, counts, nil
}
