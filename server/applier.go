package server

import (
	"encoding/json"
	"errors"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/wirejson"
)

// applier decides and stores operations inside one write transaction.
//
// Plain writes (records, change-log rows, results) wait in memory and go to
// the store in multi-row statements when the batch ends. Anything that writes
// the store directly or reads back more than a cached record first calls db,
// which sends the waiting writes so the store matches what has been decided.
// An operation's writes are undone if it fails: those still waiting are
// dropped, and those sent are inside a savepoint opened for the operation.
type applier struct {
	s   *Server
	tx  Tx
	now time.Time

	// records caches what this transaction read or wrote; nil means known
	// absent. results caches stored results.
	records map[string]*contract.Record
	results map[string]*StoredResult
	users   map[string]*UserRow // users read by this transaction; nil when absent

	batch   writes // decided by earlier operations of the batch, not yet sent
	op      writes // decided by the current operation, not yet sent
	inSP    bool   // a savepoint is open for the current operation
	touched bool   // the store renumbered records behind the caches

	// device receives the answer ("" when it carries no copies): records
	// written for it are marked as answered to it, and copied is every
	// record the answer carries.
	device string
	copied []string
	docs   map[string][]byte // the JSON of records as last sent for device

	resultDocs map[string][]byte // op id → the JSON of its stored result
}

// writes are plain writes waiting to be sent to the store.
type writes struct {
	records []RecordWrite
	changes []contract.Change
	results []StoredResult
	ids     []string // record and operation ids written, to forget on failure
}

func (w *writes) reset() {
	*w = writes{records: w.records[:0], changes: w.changes[:0], results: w.results[:0], ids: w.ids[:0]}
}

func (w *writes) add(o *writes) {
	w.records = append(w.records, o.records...)
	w.changes = append(w.changes, o.changes...)
	w.results = append(w.results, o.results...)
}

func (s *Server) newApplier(tx Tx) *applier {
	a := &applier{s: s, tx: tx, now: s.now().UTC(), users: map[string]*UserRow{},
		records: map[string]*contract.Record{}, results: map[string]*StoredResult{}, docs: map[string][]byte{},
		resultDocs: map[string][]byte{}}
	tx.AfterCommit(a.publish)
	return a
}

// publish hands what the committed transaction knows of its records to the
// server's cache. Failed operations have already dropped theirs.
func (a *applier) publish() {
	if a.touched {
		a.s.cache.clear()
		return
	}
	for _, rec := range a.records {
		if rec != nil {
			a.s.cache.put(rec)
		}
	}
}

// send writes w to the store, a record written twice only once, its latest.
func (a *applier) send(w *writes) error {
	if len(w.records) > 1 {
		// Keep each record's latest write; it counts as stored only if
		// every write of it in the list does.
		latest, stored := map[string]int{}, map[string]bool{}
		for i, rw := range w.records {
			id := rw.Record.ID
			if _, seen := latest[id]; !seen {
				stored[id] = true
			}
			latest[id] = i
			stored[id] = stored[id] && rw.Stored
		}
		kept := w.records[:0]
		for i, rw := range w.records {
			if latest[rw.Record.ID] == i {
				rw.Stored = stored[rw.Record.ID]
				kept = append(kept, rw)
			}
		}
		w.records = kept
	}
	for i := range w.records {
		rw := &w.records[i]
		if rw.Doc == nil {
			var err error
			if rw.Doc, err = wirejson.MarshalRecord(rw.Record); err != nil {
				return err
			}
		}
		if rw.Answered != "" {
			a.docs[rw.Record.ID] = rw.Doc
		} else {
			delete(a.docs, rw.Record.ID)
		}
	}
	for i := range w.results {
		sr := &w.results[i]
		if sr.Doc == nil {
			var err error
			if sr.Doc, err = wirejson.MarshalResult(&sr.Result); err != nil {
				return err
			}
		}
		a.resultDocs[sr.OpID] = sr.Doc
	}
	if err := a.tx.PutRecords(w.records); err != nil {
		return err
	}
	if err := a.tx.AddChanges(w.changes); err != nil {
		return err
	}
	if err := a.tx.PutResults(w.results); err != nil {
		return err
	}
	w.reset()
	return nil
}

// db returns the transaction after sending every waiting write, for a
// statement that must see them or must be undone with the operation.
func (a *applier) db() (Tx, error) {
	if !a.inSP {
		if err := a.send(&a.batch); err != nil {
			return nil, err
		}
		if err := a.tx.Savepoint(); err != nil {
			return nil, err
		}
		a.inSP = true
	}
	ids := a.op.ids
	if err := a.send(&a.op); err != nil {
		return nil, err
	}
	a.op.ids = ids
	return a.tx, nil
}

// endOp keeps or undoes the current operation's writes.
func (a *applier) endOp(failed bool) error {
	defer a.op.reset()
	if failed {
		for _, id := range a.op.ids {
			delete(a.records, id)
			delete(a.results, id)
			delete(a.docs, id)
			delete(a.resultDocs, id)
		}
		if a.inSP {
			a.inSP = false
			if err := a.tx.RollbackTo(); err != nil {
				return err
			}
			if err := a.tx.Release(); err != nil {
				return err
			}
		}
		// What earlier operations of the batch made of these records is in
		// the store (or on its way there), not in the server's cache: read
		// it back, so later operations decide on it.
		if err := a.send(&a.batch); err != nil {
			return err
		}
		for _, id := range a.op.ids {
			rec, err := a.tx.Record(id)
			if err != nil {
				return err
			}
			a.records[id] = rec
		}
		return nil
	}
	if !a.inSP {
		a.batch.add(&a.op)
		return nil
	}
	a.inSP = false
	if err := a.send(&a.op); err != nil {
		if rerr := a.tx.RollbackTo(); rerr != nil {
			return errors.Join(err, rerr)
		}
		return errors.Join(err, a.tx.Release())
	}
	return a.tx.Release()
}

// prefetch reads the stored results and records a batch will look at, in
// two queries instead of two per operation.
func (a *applier) prefetch(ops []contract.Operation) error {
	var opIDs, recIDs []string
	for i := range ops {
		op := &ops[i]
		if id, ok := contract.ValidUUID(op.ID); ok {
			opIDs = append(opIDs, id)
		}
		if id, ok := contract.ValidUUID(op.RecordID); ok && op.RecordType != contract.ReviewType {
			recIDs = append(recIDs, id)
		}
		if rr := a.s.rules.Record(op.RecordType); rr != nil && rr.IsItem() {
			var pid string
			if json.Unmarshal(op.Values[rr.Via], &pid) == nil {
				if id, ok := contract.ValidUUID(pid); ok {
					recIDs = append(recIDs, id)
				}
			}
		}
	}
	stored, err := a.tx.Results(opIDs)
	if err != nil {
		return err
	}
	for i := range stored {
		a.results[stored[i].OpID] = &stored[i]
	}
	for _, id := range opIDs {
		if _, ok := a.results[id]; !ok {
			a.results[id] = nil
		}
	}
	missing := recIDs[:0:0]
	for _, id := range recIDs {
		if rec, ok := a.s.cache.get(id); ok {
			a.records[id] = rec
		} else {
			missing = append(missing, id)
		}
	}
	recs, err := a.tx.RecordsByID(missing)
	if err != nil {
		return err
	}
	for i := range recs {
		a.records[recs[i].ID] = &recs[i]
	}
	for _, id := range recIDs {
		if _, ok := a.records[id]; !ok {
			a.records[id] = nil
		}
	}
	return nil
}

// record returns a record as this transaction sees it, or nil.
func (a *applier) record(id string) (*contract.Record, error) {
	if rec, ok := a.records[id]; ok {
		return rec, nil
	}
	if rec, ok := a.s.cache.get(id); ok && !a.touched {
		a.records[id] = rec
		return rec, nil
	}
	rec, err := a.tx.Record(id)
	if err != nil {
		return nil, err
	}
	a.records[id] = rec
	return rec, nil
}

// result returns an operation's stored result, or nil.
func (a *applier) result(opID string) (*StoredResult, error) {
	if r, ok := a.results[opID]; ok {
		return r, nil
	}
	r, err := a.tx.Result(opID)
	if err != nil {
		return nil, err
	}
	a.results[opID] = r
	return r, nil
}

// user returns a user as this transaction sees them, or nil: each user is
// read once per transaction, however many operations name them.
func (a *applier) user(id string) (*UserRow, error) {
	if u, ok := a.users[id]; ok {
		return u, nil
	}
	u, err := a.tx.User(id)
	if err != nil {
		return nil, err
	}
	a.users[id] = u
	return u, nil
}

// name returns a user's name, or "" for ids that are not users (a role).
func (a *applier) name(id string) string {
	if id == "" {
		return ""
	}
	if u, err := a.user(id); err == nil && u != nil {
		return u.Name
	}
	return ""
}
