package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"fieldsync/contract"

	"github.com/google/uuid"
)

// applier decides and stores operations inside one write transaction.
type applier struct {
	s     *Server
	tx    Tx
	now   time.Time
	names map[string]string // user id → name, for this transaction

	// records caches what this transaction read or wrote; nil means known
	// absent. results caches stored results. An operation that fails drops
	// the entries it wrote, since its savepoint undoes them in the store.
	records map[string]*contract.Record
	results map[string]*StoredResult
	wrote   []string
}

func (s *Server) newApplier(tx Tx) *applier {
	return &applier{s: s, tx: tx, now: s.now().UTC(), names: map[string]string{},
		records: map[string]*contract.Record{}, results: map[string]*StoredResult{}}
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

// applyBatch applies each operation in its own savepoint, so one operation
// that fails inside the server never undoes or blocks the others.
func (a *applier) applyBatch(actor contract.Actor, ops []contract.Operation) []contract.Result {
	results := make([]contract.Result, len(ops))
	if err := a.prefetch(ops); err != nil {
		a.s.log.Error("prefetch batch", "err", err)
		a.records, a.results = map[string]*contract.Record{}, map[string]*StoredResult{}
	}
	for i := range ops {
		op := &ops[i]
		var res contract.Result
		a.wrote = a.wrote[:0]
		err := a.tx.Savepoint(func() error {
			var err error
			res, err = a.apply(actor, op)
			return err
		})
		if err != nil {
			for _, id := range a.wrote {
				delete(a.records, id)
				delete(a.results, id)
			}
			a.s.log.Error("apply operation", "op", op.ID, "type", op.RecordType, "action", op.Action, "err", err)
			res = contract.Result{OpID: op.ID, RecordType: op.RecordType, RecordID: op.RecordID, Outcome: contract.Refused,
				Code: contract.CodeInternal, Message: "The server could not apply this change; nothing of it was kept. It will be tried again.", Retry: true}
		}
		a.s.metrics.ops.WithLabelValues(string(res.Outcome)).Inc()
		results[i] = res
	}
	return results
}

// apply decides one operation and stores its effects, its result and its
// change-log rows. A replayed operation id returns the stored result.
func (a *applier) apply(actor contract.Actor, op *contract.Operation) (contract.Result, error) {
	actor.DeviceID = op.DeviceID
	if id, ok := contract.ValidUUID(op.ID); ok {
		op.ID = id
		stored, err := a.result(id)
		if err != nil {
			return contract.Result{}, err
		}
		if stored != nil {
			if stored.UserID != actor.UserID {
				return refused(op, contract.CodeExists, "This operation id was already used by someone else; make a new one."), nil
			}
			first := stored.Result
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
		if err := a.tx.PutResult(sr); err != nil {
			return contract.Result{}, err
		}
		a.results[op.ID] = &sr
		a.wrote = append(a.wrote, op.ID)
	}
	return res, nil
}

func refused(op *contract.Operation, code contract.Code, format string, args ...any) contract.Result {
	return contract.Result{OpID: op.ID, RecordType: op.RecordType, RecordID: op.RecordID, Outcome: contract.Refused,
		Code: code, Message: fmt.Sprintf(format, args...)}
}

func (a *applier) decide(actor contract.Actor, op *contract.Operation) (contract.Result, error) {
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
	dec := a.s.engine.Decide(contract.Situation{Actor: actor, Op: op, Current: cur, Parent: parent, Dir: dir, Now: a.now})
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
			if dup, matched, err = a.created(rec); err != nil {
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
			res.Notice = fmt.Sprintf("Suspected duplicate of %s; the office will review it.", matched)
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
// the number of the record it seems to repeat.
func (a *applier) created(rec *contract.Record) (*contract.Review, string, error) {
	rr := a.s.rules.Record(rec.Type)
	if rr.Number != "" {
		n, err := a.tx.NextNumber(rr.Number)
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
	others, err := a.tx.Matches(rec.Type, key)
	if err != nil {
		return nil, "", err
	}
	for _, m := range others {
		if m.ID == rec.ID || m.DeviceID == rec.DeviceID || !a.s.open(&m) {
			continue
		}
		rec.DuplicateOf = m.ID
		rec.OpenReviews = append(rec.OpenReviews, lg.Name)
		return &contract.Review{ID: uuid.NewString(), RecordType: rec.Type, RecordID: rec.ID, Number: rec.Number,
			Title: rec.Text("title"), Group: lg.Name, Kind: contract.KindDuplicate, Status: "open", MatchID: m.ID,
			Reason: fmt.Sprintf("Same %s on the same day as %s, which was made on another device.", words(rr.Match.Same), m.Number),
			Server: a.groupState(rec, lg.Name, nil), CreatedAt: a.now}, m.Number, nil
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
func (a *applier) save(before, rec *contract.Record, op *contract.Operation, actor contract.Actor, changes []contract.FieldChange, note string) error {
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
	ix.LinksChanged = before == nil || !slices.Equal(ix.Links, a.s.index(before).Links)
	if err := a.tx.PutRecord(rec, ix); err != nil {
		return err
	}
	a.records[rec.ID] = rec
	a.wrote = append(a.wrote, rec.ID)
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
	if err := a.tx.AddChanges(rows); err != nil {
		return err
	}
	return a.grant(before, rec)
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
	added, err := a.tx.SetAccess(rec.ID, people)
	if err != nil || len(added) == 0 {
		return err
	}
	// Touch renumbers rows behind the cache's back.
	for id := range a.records {
		if id != rec.ID {
			delete(a.records, id)
		}
	}
	return a.tx.Touch(rec.ID)
}

// name returns a user's name, or "" for ids that are not users (a role).
func (a *applier) name(id string) string {
	if id == "" {
		return ""
	}
	if n, ok := a.names[id]; ok {
		return n
	}
	n := ""
	if u, err := a.tx.User(id); err == nil && u != nil {
		n = u.Name
	}
	a.names[id] = n
	return n
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
func (a *applier) hold(actor contract.Actor, op *contract.Operation, dec contract.Decision) (*contract.Review, error) {
	on := dec.ReviewOn
	rv, err := a.tx.OpenReview(on.ID, dec.Group)
	if err != nil {
		return nil, err
	}
	if rv == nil {
		last, err := a.tx.LastChange(on.ID, dec.Group)
		if err != nil {
			return nil, err
		}
		rv = &contract.Review{ID: uuid.NewString(), RecordType: on.Type, RecordID: on.ID, Number: on.Number,
			Title: on.Text("title"), Group: dec.Group, Kind: dec.Kind, Status: "open", Reason: a.reason(dec, op, actor),
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
	rv.Seq = a.tx.NextSeq()
	return a.tx.PutReview(rv)
}

// reason says in plain words why a review item exists.
func (a *applier) reason(dec contract.Decision, op *contract.Operation, actor contract.Actor) string {
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
	u, err := d.a.tx.User(id)
	if err != nil {
		d.err = err
		return "", false
	}
	if u == nil || u.Disabled {
		return "", false
	}
	return u.Role, true
}

func (d *txDirectory) Lookup(actor contract.Actor, typ, id string) (bool, bool) {
	rec, err := d.a.record(id)
	if err != nil {
		d.err = err
		return false, false
	}
	if rec == nil || rec.Type != typ {
		return false, false
	}
	vis, err := d.a.s.visible(d.a.tx, actor, rec)
	if err != nil {
		d.err = err
	}
	return true, vis
}
