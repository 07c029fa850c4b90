package app

import (
	"maps"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/localstore"
)

// views computes, for the store, what the user sees of a record: the
// server's copy with the pending operations applied in order. An operation
// the rules would refuse on this copy is left out of the view; it stays
// queued and the server decides. It runs inside the store's write
// transaction, so it reads only what the app keeps in memory (the rules,
// who is signed in, the people), never the store.
type views struct{ a *App }

var _ localstore.Rebaser = views{}

// Rebase implements localstore.Rebaser.
func (v views) Rebase(server, parent *contract.Record, ops []contract.Operation) *contract.Record {
	a := v.a
	e := a.eng()
	me, err := a.actor()
	if err != nil {
		return server
	}
	view := server
	for i := range ops {
		op := ops[i]
		if view != nil && len(op.Bases) > 0 {
			// Shown on top of the newest copy, whatever version it was made from.
			op.Bases = maps.Clone(op.Bases)
			for g := range op.Bases {
				op.Bases[g] = view.Versions[g]
			}
		}
		me.DeviceID = op.DeviceID
		d := e.Decide(engine.Situation{Actor: me, Op: &op, Current: view, Parent: parent, Now: op.DeviceTime})
		if d.Outcome == contract.Applied && d.Record != nil {
			view = d.Record
			if view.OwnerName == "" && view.Owner != "" {
				view.OwnerName = a.userName(view.Owner)
			}
		}
	}
	return view
}

// localDirectory answers the engine from what the device has pulled: the
// server only sends what the user may see.
type localDirectory struct{ a *App }

func (d localDirectory) UserRole(id string) (string, bool) {
	u, ok := d.a.user(id)
	return u.Role, ok
}

func (d localDirectory) Lookup(actor engine.Actor, typ, id string) (bool, bool) {
	e, err := d.a.store.Record(id)
	if err != nil || e == nil || e.View.Type != typ {
		return false, false
	}
	return true, true
}
