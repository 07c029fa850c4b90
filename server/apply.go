package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/contract/rulebook"
	"fieldsync/internal/wirejson"

	"github.com/google/uuid"
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

// applyBatch applies each operation on its own, so one operation that fails
// inside the server never undoes or blocks the others. It returns an error
// only when the batch's writes cannot be stored; then nothing is kept.
func (a *applier) applyBatch(actor engine.Actor, ops []contract.Operation) (contract.PushResponse, error) {
	var none contract.PushResponse
	results := make([]contract.Result, len(ops))
	if err := a.prefetch(ops); err != nil {
		return none, err
	}
	for i := range ops {
		op := &ops[i]
		res, err := a.apply(actor, op)
		if err != nil {
			a.s.log.Error("apply operation", "op", op.ID, "type", op.RecordType, "action", op.Action, "err", err)
			res = contract.Result{OpID: op.ID, RecordType: op.RecordType, RecordID: op.RecordID, Outcome: contract.Refused,
				Code: contract.CodeInternal, Message: "The server could not apply this change; nothing of it was kept. It will be tried again.", Retry: true}
		}
		if err := a.endOp(err != nil); err != nil {
			return none, err
		}
		a.s.metrics.ops.WithLabelValues(string(res.Outcome)).Inc()
		results[i] = res
	}
	if err := a.send(&a.batch); err != nil {
		return none, err
	}
	copies, err := a.copies(actor)
	if err != nil {
		return none, err
	}
	return contract.PushResponse{Results: results, Copies: copies}, nil
}

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

// apply decides one operation and stores its effects, its result and its
// change-log rows. A replayed operation id returns the stored result.
func (a *applier) apply(actor engine.Actor, op *contract.Operation) (contract.Result, error) {
	// The device is the session's: an operation that names another is
	// refused, so that nobody's edits pass as another device's (streaks,
	// duplicate checks and the change log all go by device). The refusal
	// is not kept: the operation id stays its own device's to send.
	if op.DeviceID != "" && op.DeviceID != actor.DeviceID {
		return refused(op, contract.CodeWrongDevice, "This operation names device %q, but you signed in from device %q: a device sends only its own operations.",
			clip(op.DeviceID), actor.DeviceID), nil
	}
	if id, ok := contract.ValidUUID(op.ID); ok {
		op.ID = id
		stored, err := a.result(id)
		if err != nil {
			return contract.Result{}, err
		}
		if stored != nil {
			if stored.UserID != actor.UserID {
				return refused(op, contract.CodeInvalid, "This operation id was already used by someone else; make a new one."), nil
			}
			first := stored.Result
			if a.device != "" {
				if err := a.copyAgain(&first); err != nil {
					return contract.Result{}, err
				}
			}
			return contract.Result{OpID: op.ID, Outcome: contract.AlreadyApplied, RecordType: first.RecordType, RecordID: first.RecordID, First: &first}, nil
		}
	}
	if id, ok := contract.ValidUUID(op.RecordID); ok {
		op.RecordID = id
	}
	var (
		res contract.Result
		err error
	)
	if op.RecordType == contract.ReviewType {
		res, err = a.resolve(actor, op)
	} else {
		res, err = a.decide(actor, op)
	}
	if err != nil {
		return contract.Result{}, err
	}
	if res.Outcome == contract.Refused && res.Retry {
		return res, nil // not kept: a later try may go through
	}
	if _, ok := contract.ValidUUID(op.ID); ok {
		sr := StoredResult{OpID: op.ID, UserID: actor.UserID, Result: res, At: a.now}
		a.op.results = append(a.op.results, sr)
		a.results[op.ID] = &sr
		a.op.ids = append(a.op.ids, op.ID)
	}
	return res, nil
}

func refused(op *contract.Operation, code contract.Code, format string, args ...any) contract.Result {
	return contract.Result{OpID: op.ID, RecordType: op.RecordType, RecordID: op.RecordID, Outcome: contract.Refused,
		Code: code, Message: fmt.Sprintf(format, args...)}
}

func (a *applier) decide(actor engine.Actor, op *contract.Operation) (contract.Result, error) {
	rules := a.s.rules
	var cur, parent *contract.Record
	var err error
	if _, ok := contract.ValidUUID(op.RecordID); ok {
		if cur, err = a.record(op.RecordID); err != nil {
			return contract.Result{}, err
		}
	}
	if rr := rules.Record(op.RecordType); rr != nil && rr.IsItem() {
		pid := ""
		if cur != nil {
			pid = cur.ParentID
		} else if raw, ok := op.Values[rr.Via]; ok {
			_ = json.Unmarshal(raw, &pid)
			pid, _ = contract.ValidUUID(pid)
		}
		if pid != "" {
			if parent, err = a.record(pid); err != nil {
				return contract.Result{}, err
			}
			if parent != nil && parent.Type != rr.Parent {
				parent = nil
			}
		}
	}
	dir := &txDirectory{a: a}
	dec := a.s.engine.Decide(engine.Situation{Actor: actor, Op: op, Current: cur, Parent: parent, Dir: dir, Now: a.now})
	if dir.err != nil {
		return contract.Result{}, dir.err
	}
	res := contract.Result{OpID: op.ID, RecordType: op.RecordType, RecordID: op.RecordID, Outcome: dec.Outcome}
	switch dec.Outcome {
	case contract.Applied:
		res.Notice = dec.Notice
		rec := dec.Record
		if rec == nil { // nothing to change: the same values again
			if cur != nil {
				res.Versions, res.Number = cur.Versions, cur.Number
			}
			return res, nil
		}
		var (
			dup     *contract.Review
			matched string
		)
		if cur == nil {
			if dup, matched, err = a.created(actor, rec); err != nil {
				return contract.Result{}, err
			}
		}
		if err := a.save(cur, rec, op, actor, dec.Changes, ""); err != nil {
			return contract.Result{}, err
		}
		if dup != nil {
			if err := a.putReview(dup); err != nil {
				return contract.Result{}, err
			}
			res.Notice = "Suspected duplicate of a job on the same day that you cannot see; the office will review it."
			if matched != "" {
				res.Notice = fmt.Sprintf("Suspected duplicate of %s; the office will review it.", matched)
			}
		}
		res.Versions, res.Number = rec.Versions, rec.Number
	case contract.Held:
		rv, err := a.hold(actor, op, dec)
		if err != nil {
			return contract.Result{}, err
		}
		res.ReviewID, res.Code, res.Message = rv.ID, dec.Code, dec.Message
		server := rv.Server
		res.Server = &server
	case contract.Refused:
		res.Code, res.Message, res.Retry = dec.Code, dec.Message, dec.Retry
	}
	return res, nil
}

// created gives a new record its number and checks it against the open
// records it may repeat, returning a duplicate-suspect review to store and
// the number of the record it seems to repeat, when actor may see that
// record ("" when not).
func (a *applier) created(actor engine.Actor, rec *contract.Record) (*contract.Review, string, error) {
	rr := a.s.rules.Record(rec.Type)
	if rr.Number != "" {
		db, err := a.db()
		if err != nil {
			return nil, "", err
		}
		n, err := db.NextNumber(rr.Number)
		if err != nil {
			return nil, "", err
		}
		rec.Number = n
	}
	key := a.s.matchKey(rec)
	lg := rr.Lifecycle()
	if key == "" || lg == nil {
		return nil, "", nil
	}
	db, err := a.db()
	if err != nil {
		return nil, "", err
	}
	others, err := db.Matches(rec.Type, key)
	if err != nil {
		return nil, "", err
	}
	for _, m := range others {
		if m.ID == rec.ID || m.DeviceID == rec.DeviceID || !a.s.open(&m) {
			continue
		}
		rec.DuplicateOf = m.ID
		rec.OpenReviews = append(rec.OpenReviews, lg.Name)
		rv := &contract.Review{ID: uuid.NewString(), RecordType: rec.Type, RecordID: rec.ID, Number: rec.Number,
			Title: recordTitle(rec), Group: lg.Name, Kind: contract.KindDuplicate, Status: "open", MatchID: m.ID,
			Device: []contract.ReviewEntry{},
			Reason: fmt.Sprintf("Same %s on the same day as %s, which was made on another device.", words(rr.Match.Same), m.Number),
			Server: a.groupState(rec, lg.Name, nil), CreatedAt: a.now}
		seen, err := a.visible(actor, &m)
		if err != nil || !seen {
			return rv, "", err
		}
		return rv, m.Number, nil
	}
	return nil, "", nil
}

func words(fields []string) string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = strings.ReplaceAll(strings.TrimSuffix(f, "_id"), "_", " ")
	}
	return strings.Join(out, " and ")
}

// save stores rec (a new record when before is nil) with a new sequence
// number, its change-log rows and who may see it.
func (a *applier) save(before, rec *contract.Record, op *contract.Operation, actor engine.Actor, changes []engine.FieldChange, note string) error {
	rec.Seq = a.tx.NextSeq()
	rec.UpdatedAt = a.now
	var parent *contract.Record
	if rec.ParentID != "" {
		var err error
		if parent, err = a.record(rec.ParentID); err != nil {
			return err
		}
	}
	rec.Owner = a.s.engine.Owner(rec, parent)
	rec.OwnerName = a.name(rec.Owner)
	rec.AuthorName = a.name(rec.Author)
	ix := a.s.index(rec)
	stored := before != nil
	if stored {
		bx := a.s.index(before)
		ix.LinksChanged = a.touchesRefs(rec, changes) && !slices.Equal(ix.Links, bx.Links)
		stored = ix.Scope == bx.Scope && ix.MatchKey == bx.MatchKey && rec.Number == before.Number
	} else {
		ix.LinksChanged = len(ix.Links) > 0 // a new record has no stored links to replace
	}
	// The answer carries the record to the device that sent the operation
	// when its user may see it.
	answered := ""
	if a.device != "" && a.s.engine.CanSee(actor, rec, parent) {
		answered = a.device
		a.copied = append(a.copied, rec.ID)
	}
	a.op.records = append(a.op.records, RecordWrite{Record: rec, Index: ix, Stored: stored, Answered: answered})
	a.records[rec.ID] = rec
	a.op.ids = append(a.op.ids, rec.ID)
	rows := make([]contract.Change, 0, len(changes))
	for _, c := range changes {
		rows = append(rows, contract.Change{RecordType: rec.Type, RecordID: rec.ID, OpID: op.ID, UserID: actor.UserID,
			DeviceID: op.DeviceID, DeviceTime: op.DeviceTime, ServerTime: a.now, Group: c.Group, Field: c.Field,
			Old: c.Old, New: c.New, Note: note})
	}
	if len(rows) == 0 && note != "" {
		rows = append(rows, contract.Change{RecordType: rec.Type, RecordID: rec.ID, OpID: op.ID, UserID: actor.UserID,
			DeviceID: op.DeviceID, DeviceTime: op.DeviceTime, ServerTime: a.now, Note: note})
	}
	a.op.changes = append(a.op.changes, rows...)
	if before != nil && !a.touchesRefs(rec, changes) && slices.Equal(before.PastOwners, rec.PastOwners) {
		return nil // nobody joined or left it
	}
	return a.grant(before, rec)
}

// touchesRefs reports whether changes set a field that names users or
// records: the fields that decide who is on a record and what it links to.
func (a *applier) touchesRefs(rec *contract.Record, changes []engine.FieldChange) bool {
	rr := a.s.rules.Record(rec.Type)
	for _, c := range changes {
		if f := rr.Field(c.Field); f != nil && (f.Type == rulebook.TypeUser || f.Type == rulebook.TypeUsers || a.s.rules.Record(f.Type) != nil) {
			return true
		}
	}
	return false
}

// grant keeps the access list of a person-owned record in step with its
// owner, crew and past owners; people new to it pull everything hanging off it.
func (a *applier) grant(before, rec *contract.Record) error {
	if a.s.index(rec).Scope != rec.ID {
		return nil
	}
	people := a.s.people(rec)
	if before != nil && slices.Equal(people, a.s.people(before)) {
		return nil
	}
	db, err := a.db()
	if err != nil {
		return err
	}
	added, err := db.SetAccess(rec.ID, people)
	if err != nil || len(added) == 0 {
		return err
	}
	// Touch renumbers rows behind the caches' back.
	a.touched = true
	for id := range a.records {
		if id != rec.ID {
			delete(a.records, id)
		}
	}
	return db.Touch(rec.ID)
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

// groupState is one group of rec as the server has it, with who changed it last.
func (a *applier) groupState(rec *contract.Record, group string, last *contract.Change) contract.GroupState {
	gs := contract.GroupState{Group: group, Version: rec.Versions[group], Values: map[string]json.RawMessage{}}
	if g := a.s.rules.Record(rec.Type).Group(group); g != nil {
		for _, f := range g.Fields {
			v := rec.Fields[f.Name]
			if contract.IsNull(v) {
				v = contract.Null
			}
			gs.Values[f.Name] = v
		}
	}
	if last != nil {
		gs.UserID, gs.UserName, gs.DeviceID = last.UserID, a.name(last.UserID), last.DeviceID
		gs.DeviceTime, gs.ServerTime = last.DeviceTime, last.ServerTime
	} else {
		gs.UserID, gs.UserName, gs.DeviceID, gs.DeviceTime, gs.ServerTime = rec.Author, a.name(rec.Author), rec.DeviceID, rec.DeviceTime, rec.CreatedAt
	}
	return gs
}

// hold puts a held operation into the open review item of its group, making
// the item when there is none, and marks the record as needing review.
func (a *applier) hold(actor engine.Actor, op *contract.Operation, dec engine.Decision) (*contract.Review, error) {
	on := dec.ReviewOn
	db, err := a.db()
	if err != nil {
		return nil, err
	}
	rv, err := db.OpenReview(on.ID, dec.Group)
	if err != nil {
		return nil, err
	}
	if rv == nil {
		last, err := db.LastChange(on.ID, dec.Group)
		if err != nil {
			return nil, err
		}
		rv = &contract.Review{ID: uuid.NewString(), RecordType: on.Type, RecordID: on.ID, Number: on.Number,
			Title: recordTitle(on), Group: dec.Group, Kind: dec.Kind, Status: "open", Reason: a.reason(dec, op, actor),
			Server: a.groupState(on, dec.Group, last), CreatedAt: a.now}
	}
	values := dec.Values
	if values == nil {
		values = map[string]json.RawMessage{}
	}
	rv.Device = append(rv.Device, contract.ReviewEntry{OpID: op.ID, Action: op.Action, RecordType: op.RecordType,
		RecordID: op.RecordID, UserID: actor.UserID, UserName: a.name(actor.UserID), DeviceID: op.DeviceID,
		DeviceTime: op.DeviceTime, ServerTime: a.now, Base: op.Bases[dec.Group], Values: values, Code: dec.Code})
	if err := a.putReview(rv); err != nil {
		return nil, err
	}
	if !on.HasReview(dec.Group) {
		next := on.Clone()
		next.OpenReviews = append(next.OpenReviews, dec.Group)
		if err := a.save(on, next, op, actor, nil, ""); err != nil {
			return nil, err
		}
	}
	return rv, nil
}

func (a *applier) putReview(rv *contract.Review) error {
	db, err := a.db()
	if err != nil {
		return err
	}
	scope := ""
	if rec, err := a.record(rv.RecordID); err != nil {
		return err
	} else if rec != nil {
		scope = a.s.index(rec).Scope
	}
	rv.Seq = db.NextSeq()
	return db.PutReview(rv, scope)
}

// recordTitle names a record for people: a job's title, a customer's name.
func recordTitle(rec *contract.Record) string {
	if t := rec.Text("title"); t != "" {
		return t
	}
	return rec.Text("name")
}

// visible reports whether actor may see rec, as this transaction has it.
func (a *applier) visible(actor engine.Actor, rec *contract.Record) (bool, error) {
	var parent *contract.Record
	if rec.ParentID != "" {
		var err error
		if parent, err = a.record(rec.ParentID); err != nil {
			return false, err
		}
	}
	if a.s.engine.CanSee(actor, rec, parent) {
		return true, nil
	}
	db, err := a.db()
	if err != nil {
		return false, err
	}
	return db.SeesThrough(actor.UserID, rec.ID)
}

// reason says in plain words why a review item exists.
func (a *applier) reason(dec engine.Decision, op *contract.Operation, actor engine.Actor) string {
	who := a.name(actor.UserID)
	if who == "" {
		who = "A user"
	}
	switch dec.Code {
	case contract.CodeOwnership:
		return fmt.Sprintf("Ownership changed: %s changed %s after the job was reassigned.", who, dec.Group)
	case contract.CodeVoided:
		return fmt.Sprintf("%s changed %s after the record was voided.", who, dec.Group)
	}
	return fmt.Sprintf("%s changed %s from an older version than the server's.", who, dec.Group)
}

// txDirectory answers the engine's questions from the transaction.
type txDirectory struct {
	a   *applier
	err error
}

func (d *txDirectory) UserRole(id string) (string, bool) {
	u, err := d.a.user(id)
	if err != nil {
		d.err = err
		return "", false
	}
	if u == nil || u.Disabled {
		return "", false
	}
	return u.Role, true
}

func (d *txDirectory) Lookup(actor engine.Actor, typ, id string) (bool, bool) {
	rec, err := d.a.record(id)
	if err != nil {
		d.err = err
		return false, false
	}
	if rec == nil || rec.Type != typ {
		return false, false
	}
	vis, err := d.a.visible(actor, rec)
	if err != nil {
		d.err = err
	}
	return true, vis
}
