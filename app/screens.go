package app

import (
	"fmt"
	"slices"
	"strings"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/contract/rulebook"
)

// What a screen offers is worked out here, from the rules (they are
// data): who may do what, who can be given a job, which moves a job has
// and what they need. A screen names no role, status or field group.

// Powers says what the signed-in user may do: what a screen offers them.
// Nobody signed in may do nothing.
type Powers struct {
	// AllJobs: they see every job, as the office does, rather than only
	// the jobs they are on ("My jobs").
	AllJobs bool
	// CreateJobs: they may start a job.
	CreateJobs bool
	// AssignJobs: they choose who does a job they start; without it a job
	// they start is their own.
	AssignJobs bool
	// ResolveReviews: they decide review items, of some kind of record.
	ResolveReviews bool
	// Invoices: they are on the team that owns invoices.
	Invoices bool
}

// Powers says what the signed-in user may do, from the rules in force.
func (a *App) Powers() Powers {
	me, err := a.actor()
	if err != nil {
		return Powers{}
	}
	r := a.currentRules()
	var p Powers
	if job := r.Record("job"); job != nil {
		p.AllJobs = r.RoleIn(me.Role, job.View)
		p.CreateJobs = r.RoleIn(me.Role, job.Create)
		p.AssignJobs = assigns(r, job, me.Role)
	}
	for _, rr := range r.Records {
		if !rr.IsItem() && r.RoleIn(me.Role, rr.Resolve) {
			p.ResolveReviews = true
		}
	}
	if inv := r.Record("invoice"); inv != nil {
		p.Invoices = r.RoleIn(me.Role, []string{inv.Owner})
	}
	return p
}

// assigns reports whether someone with role chooses who owns a record of
// rr: whether they may edit the group of its owner field.
func assigns(r *rulebook.Rules, rr *rulebook.RecordRule, role string) bool {
	of := rr.OwnerField()
	return of != "" && r.RoleIn(role, rr.GroupOf(of).Edit)
}

// Assignees are the people a job can be given to, by name: those who see
// a job only by being on it, as technicians do.
func (a *App) Assignees() []User {
	r := a.currentRules()
	job := r.Record("job")
	if job == nil {
		return nil
	}
	var out []User
	for _, u := range a.Users() {
		if !r.RoleIn(u.Role, job.View) {
			out = append(out, u)
		}
	}
	return out
}

// JobStates are the states a job can be in, in the rules' order: what a
// filter of the jobs board offers.
func (a *App) JobStates() []string {
	rr := a.currentRules().Record("job")
	if rr == nil || rr.Machine == nil {
		return nil
	}
	return slices.Clone(rr.Machine.States)
}

// MayResolve reports whether the signed-in user may decide a review item.
func (a *App) MayResolve(rv Review) bool {
	me, err := a.actor()
	return err == nil && a.eng().MayResolve(me, rv.RecordType)
}

// RecordName names a record the device has, for a screen that has only
// its id: a job's number and title, a customer's name as the title.
// Both are "" when the device does not have it.
func (a *App) RecordName(id string) (number, title string) {
	e, err := a.store.Record(id)
	if err != nil || e == nil {
		return "", ""
	}
	switch e.View.Type {
	case "job":
		return e.View.Number, e.View.Text("title")
	case "customer":
		return "", e.View.Text("name")
	}
	return e.View.Number, ""
}

// MoveNeed is what a status move needs before it can be made: a group
// filled in first, such as the signature before signing off.
type MoveNeed struct {
	Group   string // the group to fill in
	Message string // "Moving to signed off needs the signature first."
}

// open reports whether a job is still to be worked on: not voided, and
// not in a state the rules lock it in (signed off, closed).
func open(rr *rulebook.RecordRule, v *contract.Record) bool {
	if v.Bool("voided") {
		return false
	}
	return rr == nil || rr.Machine == nil || !rr.Lock.Locks(v.Text(rr.Machine.Field))
}

// needsOf says, for each move the user may make, what it needs that the
// job does not have yet.
func needsOf(rr *rulebook.RecordRule, v *contract.Record, moves []string) map[string]MoveNeed {
	if rr == nil || rr.Machine == nil {
		return nil
	}
	out := map[string]MoveNeed{}
	current := v.Text(rr.Machine.Field)
	for _, to := range moves {
		mv, ok := rr.Machine.Find(current, to, contract.ActionTransition)
		if !ok || mv.Needs == "" || filled(v, rr.Group(mv.Needs)) {
			continue
		}
		out[to] = MoveNeed{Group: mv.Needs,
			Message: fmt.Sprintf("Moving to %s needs the %s first.", words(to), words(mv.Needs))}
	}
	return out
}

// filled reports whether any field of a group has a value.
func filled(v *contract.Record, g *rulebook.GroupRule) bool {
	if g == nil {
		return true
	}
	for _, f := range g.Fields {
		if !contract.IsNull(v.Fields[f.Name]) {
			return true
		}
	}
	return false
}

// mayReopen reports whether the rules would reopen the job for the user
// now: the engine decides the reopen as it would a real one.
func (a *App) mayReopen(actor engine.Actor, v *contract.Record) bool {
	rr := a.currentRules().Record(v.Type)
	if rr == nil || rr.StatusGroup() == nil {
		return false
	}
	// A dry run: the operation is never saved, so it borrows the record's
	// id rather than spending a new one.
	op := contract.Operation{ID: v.ID, RecordType: v.Type, RecordID: v.ID, Action: contract.ActionReopen,
		DeviceID: actor.DeviceID, DeviceTime: a.cfg.Now().UTC()}
	d := a.eng().Decide(engine.Situation{Actor: actor, Op: &op, Current: v, Now: a.cfg.Now()})
	return d.Outcome == contract.Applied && d.Record != nil
}

// GroupOf returns the job's field group that holds field, as the user may
// edit it now; the zero Group when none holds it.
func (d *JobDetail) GroupOf(field string) Group {
	for _, g := range d.Groups {
		if slices.Contains(g.Fields, field) {
			return g
		}
	}
	return Group{}
}

// ItemGroup returns the job's group that items of type typ (note, photo,
// part) are added to, as the user may add to it now.
func (d *JobDetail) ItemGroup(typ string) Group {
	return d.group(d.itemIn[typ])
}

func (d *JobDetail) group(name string) Group {
	for _, g := range d.Groups {
		if g.Name == name {
			return g
		}
	}
	return Group{}
}

// words turns a state or group name into words: "signed_off" is "signed off".
func words(s string) string { return strings.ReplaceAll(s, "_", " ") }
