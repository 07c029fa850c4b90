package sim

import (
	"errors"
	"fmt"

	"fieldsync/app"
	"fieldsync/contract"
)

// entry is one operation a device saved: what the user did, and the
// operation the facade put in the device's outbox for it.
type entry struct {
	n    int // position in the ledger
	dev  *device
	what string
	op   contract.Operation
	// keptAs is the operation of the note a refused edit's text was kept
	// as, when the user chose that.
	keptAs string
}

func (e *entry) String() string {
	return fmt.Sprintf("%s %s (op %s, %s %s %s)", e.dev.name, e.what, short(e.op.ID), e.op.Action, e.op.RecordType, short(e.op.RecordID))
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// do runs one user action on a device and puts every operation it saved
// in the ledger, found in the device's outbox: those there after the action
// and not before. A refusal the rules give (or a suspected duplicate the
// user turned down) is a normal outcome and saves nothing; any other error
// is the simulation's.
func (s *sim) do(d *device, what string, fn func() error) ([]*entry, error) {
	before, err := d.store.Outbox()
	if err != nil {
		return nil, err
	}
	had := make(map[string]bool, len(before))
	for _, p := range before {
		had[p.Op.ID] = true
	}
	ferr := fn()
	after, err := d.store.Outbox()
	if err != nil {
		return nil, err
	}
	var out []*entry
	for _, p := range after {
		if had[p.Op.ID] {
			continue
		}
		e := &entry{n: len(s.ledger), dev: d, what: what, op: p.Op}
		s.ledger = append(s.ledger, e)
		s.byOp[p.Op.ID] = e
		if _, ok := s.order[p.Op.RecordID]; !ok {
			s.order[p.Op.RecordID] = s.made
			s.made++
		}
		out = append(out, e)
		s.logf("%s saved %s", d.name, e.what)
	}
	if ferr != nil {
		s.logf("%s: %s: %v", d.name, what, ferr)
		var ce *contract.Error
		var de *app.DuplicateError
		if errors.As(ferr, &ce) || errors.As(ferr, &de) {
			if len(out) > 0 {
				s.rep.problem("%s: %s was refused (%v) but saved %d operations", d.name, what, ferr, len(out))
				s.rep.Unexpected++ // the user was told it failed: what was saved is a surprise to them
			}
			return out, ferr
		}
		return out, fmt.Errorf("%s: %s: %w", d.name, what, ferr)
	}
	return out, nil
}

// refusal reports whether err is a refusal the user sees, not a failure.
func refusal(err error) bool {
	var ce *contract.Error
	var de *app.DuplicateError
	return errors.As(err, &ce) || errors.As(err, &de)
}
