package server

import (
	"encoding/json"
	"fmt"

	"fieldsync/contract"
	"fieldsync/contract/engine"
)

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
		if err := a.tx.BeginOp(); err != nil {
			return none, err
		}
		res, err := a.apply(actor, op)
		if err != nil {
			a.failed = append(a.failed, opFailure{op: op, err: err})
			res = contract.Result{OpID: op.ID, RecordType: op.RecordType, RecordID: op.RecordID, Outcome: contract.Refused,
				Code: contract.CodeInternal, Message: "The server could not apply this change; nothing of it was kept. It will be tried again.", Retry: true}
		}
		if err := a.endOp(err != nil); err != nil {
			return none, err
		}
		results[i] = res
	}
	copies, err := a.copies(actor)
	if err != nil {
		return none, err
	}
	return contract.PushResponse{Results: results, Copies: copies}, nil
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
		if err := a.putResult(StoredResult{OpID: op.ID, UserID: actor.UserID, Result: res, At: a.now}); err != nil {
			return contract.Result{}, err
		}
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
	return a.tx.SeesThrough(actor.UserID, rec.ID)
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
