package server

import (
	"encoding/json"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/wirejson"
)

// applier decides and stores operations inside one write transaction. Each
// operation's writes are undone if it fails (Tx.BeginOp, Tx.EndOp); how the
// store holds and sends them is its own business.
type applier struct {
	s   *Server
	tx  Tx
	now time.Time

	// records caches what this transaction read or wrote; nil means known
	// absent. results caches stored results.
	records map[string]*contract.Record
	results map[string]*StoredResult
	users   map[string]*UserRow // users read by this transaction; nil when absent

	opIDs   []string // record and operation ids the current operation wrote
	touched bool     // the store renumbered records behind the caches

	// device receives the answer ("" when it carries no copies): records
	// written for it are marked as answered to it, and copied is every
	// record the answer carries.
	device string
	copied []string
	docs   map[string][]byte // the JSON of records as last written for device

	resultDocs map[string][]byte // op id → the JSON of its stored result

	// failed counts the operations that failed inside the server, with
	// their errors, to log once the transaction is over: a store may run
	// it more than once.
	failed []opFailure
}

// opFailure is an operation that failed inside the server.
type opFailure struct {
	op  *contract.Operation
	err error
}

func (s *Server) newApplier(tx Tx) *applier {
	return &applier{s: s, tx: tx, now: s.now().UTC(), users: map[string]*UserRow{},
		records: map[string]*contract.Record{}, results: map[string]*StoredResult{}, docs: map[string][]byte{},
		resultDocs: map[string][]byte{}}
}

// putRecord stores a record write, its JSON made once for the store and
// the answer.
func (a *applier) putRecord(rw RecordWrite) error {
	doc, err := wirejson.MarshalRecord(rw.Record)
	if err != nil {
		return err
	}
	rw.Doc = doc
	if rw.Answered != "" {
		a.docs[rw.Record.ID] = doc
	} else {
		delete(a.docs, rw.Record.ID)
	}
	a.records[rw.Record.ID] = rw.Record
	a.opIDs = append(a.opIDs, rw.Record.ID)
	return a.tx.PutRecords([]RecordWrite{rw})
}

// putResult stores an operation's result, its JSON made once for the
// store and the answer.
func (a *applier) putResult(sr StoredResult) error {
	doc, err := wirejson.MarshalResult(&sr.Result)
	if err != nil {
		return err
	}
	sr.Doc = doc
	a.resultDocs[sr.OpID] = doc
	a.results[sr.OpID] = &sr
	a.opIDs = append(a.opIDs, sr.OpID)
	return a.tx.PutResults([]StoredResult{sr})
}

// endOp keeps or undoes the current operation's writes.
func (a *applier) endOp(failed bool) error {
	ids := a.opIDs
	a.opIDs = a.opIDs[:0]
	if err := a.tx.EndOp(!failed); err != nil || !failed {
		return err
	}
	for _, id := range ids {
		delete(a.records, id)
		delete(a.results, id)
		delete(a.docs, id)
		delete(a.resultDocs, id)
	}
	// What earlier operations of the batch made of these records is in the
	// store: read it back, so later operations decide on it.
	for _, id := range ids {
		rec, err := a.tx.Record(id)
		if err != nil {
			return err
		}
		a.records[id] = rec
	}
	return nil
}

// prefetch claims the batch's operation ids and reads the records it will
// look at, in two statements instead of two per operation.
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
	stored, err := a.tx.Claim(opIDs)
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
	recs, err := a.tx.RecordsByID(recIDs)
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
