package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
	"fieldsync/localstore"
)

// Job is a job as a list shows it.
type Job struct {
	ID        string
	Number    string // J-1001; empty until the server has it
	Title     string
	Status    string
	Customer  string // the customer's name
	Site      string
	Start     time.Time
	OwnerID   string
	OwnerName string
	Mine      bool // owned by the signed-in user
	Voided    bool
	Duplicate bool // suspected duplicate of another job
	// Open: still to be worked on, neither voided nor in a state the
	// rules lock (signed off, closed).
	Open bool
	// NeedsAttention: held for review, not sent, failing to sync, or a
	// suspected duplicate.
	NeedsAttention bool
	Sync           string // plain words: "Saved on this device", "Synced", …
	SyncState      SyncStatus
	Record         *contract.Record
}

// Label is how a job is named on screen: its number, or "New job" until
// the server gives it one.
func (j Job) Label() string {
	if j.Number != "" {
		return j.Number
	}
	return "New job"
}

// Jobs returns every job on the device, soonest first.
func (a *App) Jobs() ([]Job, error) {
	all, err := a.store.Records("job")
	if err != nil {
		return nil, err
	}
	customers, err := a.names("customer", "name")
	if err != nil {
		return nil, err
	}
	me, _ := a.Me()
	st := a.State()
	now := a.cfg.Now()
	out := make([]Job, 0, len(all))
	for _, e := range all {
		out = append(out, a.job(e.View, customers, me, st, now))
	}
	slices.SortStableFunc(out, func(x, y Job) int {
		switch {
		case x.Start.IsZero() != y.Start.IsZero():
			if x.Start.IsZero() {
				return 1
			}
			return -1
		case !x.Start.Equal(y.Start):
			return x.Start.Compare(y.Start)
		}
		return strings.Compare(x.Number, y.Number)
	})
	return out, nil
}

func (a *App) job(v *contract.Record, customers map[string]string, me contract.User, st SyncState, now time.Time) Job {
	start, _ := time.Parse(time.RFC3339Nano, v.Text("scheduled_start"))
	owner := v.Text("assignee")
	name := v.OwnerName
	if name == "" {
		name = a.userName(owner)
	}
	sync := st.Record(v.ID).Status
	dup := v.DuplicateOf != ""
	return Job{ID: v.ID, Number: v.Number, Title: v.Text("title"), Status: v.Text("status"),
		Customer: customers[v.Text("customer_id")], Site: v.Text("site_address"), Start: start,
		OwnerID: owner, OwnerName: name, Mine: owner == me.ID, Voided: v.Bool("voided"), Duplicate: dup,
		Open:           open(a.currentRules().Record(v.Type), v),
		NeedsAttention: sync == NeedsReview || sync == NotSent || sync == Failed || dup,
		Sync:           st.Words(v.ID, now), SyncState: sync, Record: v}
}

// names maps the ids of a record type to one of their fields.
func (a *App) names(typ, field string) (map[string]string, error) {
	all, err := a.store.Records(typ)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(all))
	for _, e := range all {
		out[e.View.ID] = e.View.Text(field)
	}
	return out, nil
}

// Group is one field group of a record as a screen shows it.
type Group struct {
	Name     string
	Fields   []string
	Policy   string // "Needs review if both change it"
	Editable bool
	Why      string // why not, when not
}

// Item is a note, photo or part line on a job.
type Item struct {
	Record     *contract.Record
	AuthorName string
	When       time.Time // when it was made on its device
	Sync       string
	// Photos: how much of the content has reached the server, and where
	// the file is on this device (empty when it was taken elsewhere).
	Uploaded int64
	Size     int64
	Path     string
}

// JobDetail is everything a job screen shows.
type JobDetail struct {
	Job
	OwnerLine   string // "Owned by Alex (you)" or "Owned by Sam: read only"
	Description string
	Moves       []string // the states the user may move it to now
	// Needs says, for a move in Moves that needs a group filled in first
	// and the job does not have it yet, what it needs.
	Needs map[string]MoveNeed
	// StatusGroup is the group of the job's status: its rule, and why the
	// user may not move it when they may not.
	StatusGroup Group
	CanVoid     bool // the user may void the job now
	CanReopen   bool // the user may reopen the job now
	Groups      []Group
	Notes       []Item // by device time
	Photos      []Item
	Parts       []Item
	Reviews     []contract.Review // open ones, on the job or its items
	Drafts      []Draft           // edits not sent, with the user's text
	CustomerRec *contract.Record

	itemIn map[string]string // item type → the group items of it are added to
}

// Job returns one job by number or id.
func (a *App) Job(ref string) (*JobDetail, error) {
	e, err := a.record(ref)
	if err != nil {
		return nil, err
	}
	if e.View.Type != "job" {
		return nil, fmt.Errorf("%s is a %s, not a job", ref, e.View.Type)
	}
	customers, err := a.names("customer", "name")
	if err != nil {
		return nil, err
	}
	me, _ := a.Me()
	actor, _ := a.actor()
	st := a.State()
	now := a.cfg.Now()
	v := e.View
	d := &JobDetail{Job: a.job(v, customers, me, st, now), Description: v.Text("description")}
	switch {
	case d.Mine:
		d.OwnerLine = fmt.Sprintf("Owned by %s (you)", me.Name)
	case d.OwnerName != "":
		d.OwnerLine = fmt.Sprintf("Owned by %s: read only", d.OwnerName)
		for _, g := range a.currentRules().Record("job").Groups {
			if ok, _ := a.eng().MayEdit(actor, v, nil, g.Name); ok && len(g.Fields) > 0 {
				d.OwnerLine = "Owned by " + d.OwnerName
				break
			}
		}
	default:
		d.OwnerLine = "Not assigned yet"
	}
	d.Moves = a.eng().AllowedMoves(actor, v)
	rr := a.currentRules().Record("job")
	for _, g := range rr.Groups {
		ok, why := a.eng().MayEdit(actor, v, nil, g.Name)
		grp := Group{Name: g.Name, Policy: rulebook.PolicyWords(g.Policy), Editable: ok, Why: why}
		for _, f := range g.Fields {
			grp.Fields = append(grp.Fields, f.Name)
		}
		if g.Policy == rulebook.PolicyAppend && ok {
			grp.Why = ""
		}
		if g.Name == "summary" {
			grp.Policy = "Office edits win if both change it"
		}
		if rr.Lock != nil && !rr.Lock.Exempt(g.Name) && g.Policy != rulebook.PolicyAppend && grp.Editable {
			grp.Policy += "; locked after sign-off"
		}
		d.Groups = append(d.Groups, grp)
	}
	if sg := rr.StatusGroup(); sg != nil {
		d.StatusGroup = d.group(sg.Name)
	}
	d.Needs = needsOf(rr, v, d.Moves)
	if lg := rr.Lifecycle(); lg != nil {
		d.CanVoid = d.group(lg.Name).Editable && !d.Voided
	}
	d.CanReopen = a.mayReopen(actor, v)
	d.itemIn = map[string]string{}
	for _, ir := range a.currentRules().Records {
		if ir.Parent == v.Type {
			d.itemIn[ir.Type] = ir.In
		}
	}
	items, err := a.store.Items(v.ID)
	if err != nil {
		return nil, err
	}
	photos, err := a.store.Photos("")
	if err != nil {
		return nil, err
	}
	local := map[string]localstore.Photo{}
	for _, p := range photos {
		local[p.ID] = p
	}
	for _, it := range items {
		iv := it.View
		item := Item{Record: iv, AuthorName: iv.AuthorName, When: iv.DeviceTime, Sync: st.Words(iv.ID, now)}
		if item.AuthorName == "" {
			item.AuthorName = a.userName(iv.Author)
		}
		switch iv.Type {
		case "note":
			d.Notes = append(d.Notes, item)
		case "photo":
			item.Size = iv.Int("size")
			if p, ok := local[iv.ID]; ok {
				item.Uploaded, item.Path = p.Uploaded, p.Path
			}
			if iv.ContentReady {
				item.Uploaded = item.Size
			}
			d.Photos = append(d.Photos, item)
		case "part":
			d.Parts = append(d.Parts, item)
		}
	}
	byTime := func(x, y Item) int { return x.When.Compare(y.When) }
	slices.SortStableFunc(d.Notes, byTime)
	slices.SortStableFunc(d.Photos, byTime)
	slices.SortStableFunc(d.Parts, byTime)
	reviews, err := a.store.Reviews(true)
	if err != nil {
		return nil, err
	}
	for _, rv := range reviews {
		if rv.RecordID == v.ID || slices.ContainsFunc(items, func(it localstore.Entry) bool { return it.View.ID == rv.RecordID }) {
			d.Reviews = append(d.Reviews, rv)
		}
	}
	if d.Drafts, err = a.Drafts(v.ID); err != nil {
		return nil, err
	}
	if c, err := a.store.Record(v.Text("customer_id")); err == nil && c != nil {
		d.CustomerRec = c.View
	}
	return d, nil
}

// Customers returns every customer on the device, by name.
func (a *App) Customers() ([]*contract.Record, error) {
	all, err := a.store.Records("customer")
	if err != nil {
		return nil, err
	}
	out := make([]*contract.Record, 0, len(all))
	for _, e := range all {
		out = append(out, e.View)
	}
	slices.SortFunc(out, func(x, y *contract.Record) int { return strings.Compare(x.Text("name"), y.Text("name")) })
	return out, nil
}

// Invoice is an invoice as a list shows it.
type Invoice struct {
	Record   *contract.Record
	Customer string // the customer's name; "" when the device does not know it
	Status   string // its state, as the rules name it
}

// Invoices returns every invoice on the device (finance and the office).
func (a *App) Invoices() ([]Invoice, error) {
	all, err := a.store.Records("invoice")
	if err != nil {
		return nil, err
	}
	customers, err := a.names("customer", "name")
	if err != nil {
		return nil, err
	}
	var field string
	if rr := a.currentRules().Record("invoice"); rr != nil && rr.Machine != nil {
		field = rr.Machine.Field
	}
	out := make([]Invoice, 0, len(all))
	for _, e := range all {
		inv := Invoice{Record: e.View, Customer: customers[e.View.Text("customer_id")]}
		if field != "" {
			inv.Status = e.View.Text(field)
		}
		out = append(out, inv)
	}
	return out, nil
}

// Decided reports whether this device holds a decision on a review item
// that has not come back from the server yet.
func (a *App) Decided(reviewID string) bool {
	pending, err := a.store.PendingFor(reviewID)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(pending, func(p localstore.Pending) bool {
		return p.Op.Action == contract.ActionResolve && (p.State == localstore.Queued || p.State == localstore.Applied)
	})
}

// Reviews returns the open review items the device knows.
func (a *App) Reviews() ([]contract.Review, error) { return a.store.Reviews(true) }

// Users returns the people the device knows, by name.
func (a *App) Users() []contract.User {
	a.mu.RLock()
	out := make([]contract.User, 0, len(a.users))
	for _, u := range a.users {
		out = append(out, u)
	}
	a.mu.RUnlock()
	slices.SortFunc(out, func(x, y contract.User) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// JobForm is what a person fills in to start a job. ID comes from the form
// when it opens, so saving it twice makes one job.
type JobForm struct {
	ID          string
	CustomerID  string
	Title       string
	Description string
	Site        string
	Start       time.Time
	Assignee    string // a name or id; technicians' jobs are their own
	FollowsJob  string // the job this one follows up, by number or id
}

// Suspect is a job a new one may repeat.
type Suspect struct {
	ID     string
	Number string
	Title  string
	Status string
	Owner  string
	Why    string // "same customer and site today", "a new job with the same title waiting to sync"
}

// DuplicateError says a new job looks like one that exists; creating it
// anyway needs force.
type DuplicateError struct{ Suspects []Suspect }

func (e *DuplicateError) Error() string {
	var names []string
	for _, s := range e.Suspects {
		names = append(names, strings.TrimSpace(s.Number+" "+s.Title))
	}
	return "this looks like a job that exists: " + strings.Join(names, "; ") + ". Open it instead, or create anyway."
}

// NewJob starts a job. Before creating, it looks for likely matches on the
// device (same customer and site on the same day, or a job with the same
// title not yet synced) and, when the server answers, there too; with any
// match and without force it returns a *DuplicateError and saves nothing.
func (a *App) NewJob(ctx context.Context, f JobForm, force bool) (*contract.Record, error) {
	me, err := a.actor()
	if err != nil {
		return nil, err
	}
	if f.ID == "" {
		f.ID = a.newID()
	}
	if e, err := a.store.Record(f.ID); err != nil || e != nil {
		return viewOf(e), err // saved already: one job, one operation
	}
	if !force {
		suspects, err := a.Suspects(ctx, f)
		if err != nil {
			return nil, err
		}
		if len(suspects) > 0 {
			return nil, &DuplicateError{Suspects: suspects}
		}
	}
	fields := map[string]any{"title": f.Title, "customer_id": f.CustomerID}
	if f.Description != "" {
		fields["description"] = f.Description
	}
	if f.Site != "" {
		fields["site_address"] = f.Site
	}
	if !f.Start.IsZero() {
		fields["scheduled_start"] = f.Start.UTC().Format(time.RFC3339)
	}
	if f.Assignee != "" {
		u, err := a.findUser(f.Assignee)
		if err != nil {
			return nil, err
		}
		fields["assignee"] = u.ID
	} else if !a.Powers().AssignJobs {
		fields["assignee"] = me.UserID // a job they start is theirs
	}
	if f.FollowsJob != "" {
		prev, err := a.record(f.FollowsJob)
		if err != nil {
			return nil, err
		}
		fields["follows_job_id"] = prev.View.ID
	}
	vals, err := a.values("job", fields)
	if err != nil {
		return nil, err
	}
	return a.submit(a.newOp("job", f.ID, contract.ActionCreate, nil, vals), nil)
}

// Suspects returns the jobs a new one may repeat.
func (a *App) Suspects(ctx context.Context, f JobForm) ([]Suspect, error) {
	jobs, err := a.Jobs()
	if err != nil {
		return nil, err
	}
	day := f.Start
	if day.IsZero() {
		day = a.cfg.Now()
	}
	norm := func(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }
	var out []Suspect
	seen := map[string]bool{}
	for _, j := range jobs {
		if !j.Open || j.ID == f.ID {
			continue
		}
		jday := j.Start
		if jday.IsZero() {
			jday = j.Record.DeviceTime
		}
		why := ""
		switch {
		case f.CustomerID != "" && j.Record.Text("customer_id") == f.CustomerID && norm(j.Site) == norm(f.Site) && f.Site != "" &&
			jday.Local().Format(time.DateOnly) == day.Local().Format(time.DateOnly):
			why = "same customer and site on the same day"
		case j.Number == "" && f.Title != "" && norm(j.Title) == norm(f.Title):
			why = "a new job with the same title is waiting to sync"
		}
		if why != "" {
			seen[j.ID], seen[j.Number] = true, true
			out = append(out, Suspect{ID: j.ID, Number: j.Number, Title: j.Title, Status: j.Status, Owner: j.OwnerName, Why: why})
		}
	}
	if f.CustomerID != "" && f.Site != "" && !a.client.Offline() {
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		matches, err := a.client.Matches(qctx, map[string]string{"customer_id": f.CustomerID, "site_address": f.Site}, day)
		if err == nil { // offline or not: the device's own check stands
			for _, m := range matches {
				if m.Number != "" && seen[m.Number] || m.ID != "" && seen[m.ID] {
					continue
				}
				why := "same customer and site on the same day (on the server)"
				if !m.Visible {
					why = "a job you cannot see is booked for the same customer and site that day: ask the office"
				}
				out = append(out, Suspect{ID: m.ID, Number: m.Number, Title: m.Title, Status: m.Status, Owner: m.OwnerName, Why: why})
			}
		}
	}
	return out, nil
}

// StatusWords says a record's sync status in plain words.
func (a *App) StatusWords(ref string) (string, error) {
	e, err := a.record(ref)
	if err != nil {
		return "", err
	}
	return a.State().Words(e.View.ID, a.cfg.Now()), nil
}

// FieldText returns a field's value as text for display.
func FieldText(r *contract.Record, field string) string {
	raw, ok := r.Fields[field]
	if !ok || contract.IsNull(raw) {
		return ""
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmt.Sprintf("%g", x)
	case bool:
		if x {
			return "yes"
		}
		return "no"
	}
	return string(raw)
}
