package server

import (
	"slices"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/contract/rulebook"
)

// save stores rec (a new record when before is nil) with a new sequence
// number, its change-log rows and who may see it.
func (a *applier) save(before, rec *contract.Record, op *contract.Operation, actor engine.Actor, changes []engine.FieldChange, note string) error {
	var err error
	if rec.Seq, err = a.tx.NextSeq(); err != nil {
		return err
	}
	rec.UpdatedAt = a.now
	var parent *contract.Record
	if rec.ParentID != "" {
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
	if err := a.putRecord(RecordWrite{Record: rec, Index: ix, Stored: stored, Answered: answered}); err != nil {
		return err
	}
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
	added, err := a.tx.SetAccess(rec.ID, people)
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
	return a.tx.Touch(rec.ID)
}
