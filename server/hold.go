package server

import (
	"encoding/json"
	"fmt"

	"fieldsync/contract"
	"fieldsync/contract/engine"
)

// hold puts a held operation into the open review item of its group, making
// the item when there is none, and marks the record as needing review.
func (a *applier) hold(actor engine.Actor, op *contract.Operation, dec engine.Decision) (*contract.Review, error) {
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
		rv = &contract.Review{ID: a.s.newID(), RecordType: on.Type, RecordID: on.ID, Number: on.Number,
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
	scope := ""
	if rec, err := a.record(rv.RecordID); err != nil {
		return err
	} else if rec != nil {
		scope = a.s.index(rec).Scope
	}
	var err error
	if rv.Seq, err = a.tx.NextSeq(); err != nil {
		return err
	}
	return a.tx.PutReview(rv, scope)
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

// recordTitle names a record for people: a job's title, a customer's name.
func recordTitle(rec *contract.Record) string {
	if t := rec.Text("title"); t != "" {
		return t
	}
	return rec.Text("name")
}
