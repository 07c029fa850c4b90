package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/contract/rulebook"
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

// newOp makes an operation with a new id, from this device, now.
func (a *App) newOp(typ, id string, action contract.Action, bases map[string]int64, values map[string]json.RawMessage) contract.Operation {
	return contract.Operation{ID: a.newID(), RecordType: typ, RecordID: id, Action: action, Bases: bases,
		Values: values, DeviceID: a.DeviceID(), DeviceTime: a.cfg.Now().UTC()}
}

// bases are the versions of groups as last heard from the server: an edit
// names what it was made from. A record the server does not have yet will
// start at version 1.
func bases(e *localstore.Entry, groups ...string) map[string]int64 {
	out := map[string]int64{}
	for _, g := range groups {
		out[g] = 1
		if e != nil && e.Server != nil {
			out[g] = e.Server.Versions[g]
		}
	}
	return out
}

// submit checks op against the rules on the device and saves it. A refusal
// comes back as a *contract.Error with the server's words, and nothing is
// saved. It returns the record's view after the edit.
func (a *App) submit(op contract.Operation, photo *localstore.Photo) (*contract.Record, error) {
	me, err := a.actor()
	if err != nil {
		return nil, err
	}
	var cur, parent *contract.Record
	e, err := a.store.Record(op.RecordID)
	if err != nil {
		return nil, err
	}
	if e != nil {
		cur = e.View
	}
	if pid := a.parentID(op, cur); pid != "" {
		if pe, err := a.store.Record(pid); err != nil {
			return nil, err
		} else if pe != nil {
			parent = pe.View
		}
	}
	d := a.eng().Decide(engine.Situation{Actor: me, Op: &op, Current: cur, Parent: parent, Dir: localDirectory{a}, Now: a.cfg.Now()})
	if err := refusal(d); err != nil {
		return nil, err
	}
	if _, err := a.store.Save(op, photo); err != nil {
		return nil, err
	}
	a.changed()
	after, err := a.store.Record(op.RecordID)
	if err != nil || after == nil {
		return nil, err
	}
	return after.View, nil
}

// refusal is the error for an edit the device must not save: one the rules
// refuse, or one it already knows would only be held because the record
// moved to someone else or was voided. Edits made before the device heard
// of that are already queued and go to review; new ones are refused here.
func refusal(d engine.Decision) error {
	switch {
	case d.Outcome == contract.Refused:
		return contract.Errorf(d.Code, "%s", d.Message)
	case d.Outcome == contract.Held && d.Code == contract.CodeOwnership:
		return contract.Errorf(contract.CodeForbidden, "This job was reassigned to someone else; you can no longer change it here. Add a note instead.")
	case d.Outcome == contract.Held && d.Code == contract.CodeVoided:
		return contract.Errorf(contract.CodeLocked, "This record was voided; it takes no more changes.")
	}
	return nil
}

func (a *App) parentID(op contract.Operation, cur *contract.Record) string {
	if cur != nil {
		return cur.ParentID
	}
	rr := a.currentRules().Record(op.RecordType)
	if rr == nil || !rr.IsItem() {
		return ""
	}
	var id string
	_ = json.Unmarshal(op.Values[rr.Via], &id)
	return id
}

// values turns Go values into canonical JSON values of a record type's
// fields. A string for a number field is parsed, as a person typed it.
func (a *App) values(typ string, in map[string]any) (map[string]json.RawMessage, error) {
	rr := a.currentRules().Record(typ)
	if rr == nil {
		return nil, fmt.Errorf("unknown record type %q", typ)
	}
	out := make(map[string]json.RawMessage, len(in))
	for k, v := range in {
		f := rr.Field(k)
		if f == nil && k != rr.Via {
			return nil, contract.Errorf(contract.CodeUnknownField, "%s has no field %q; its fields are %s", typ, k, strings.Join(rr.FieldNames(), ", "))
		}
		if s, ok := v.(string); ok && f != nil {
			v = typed(f.Type, s)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		out[k] = b
	}
	return out, nil
}

// typed reads a value typed as text for a field type.
func typed(typ, s string) any {
	s = strings.TrimSpace(s)
	switch typ {
	case rulebook.TypeInt, rulebook.TypeCount:
		var n json.Number = json.Number(s)
		if _, err := n.Int64(); err == nil {
			return n
		}
	case rulebook.TypeBool:
		switch strings.ToLower(s) {
		case "true", "yes":
			return true
		case "false", "no":
			return false
		}
	case rulebook.TypeTime:
		for _, layout := range []string{time.RFC3339, "2006-01-02 15:04", "2006-01-02T15:04", time.DateOnly} {
			if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
				return t.UTC().Format(time.RFC3339)
			}
		}
	case rulebook.TypeUsers:
		if s == "" {
			return []string{}
		}
		return strings.Split(s, ",")
	}
	if s == "" {
		return nil // an emptied field is cleared
	}
	return s
}

// record returns a record the device has, found by id or number.
func (a *App) record(ref string) (*localstore.Entry, error) {
	if id, ok := contract.ValidUUID(ref); ok {
		e, err := a.store.Record(id)
		if err != nil {
			return nil, err
		}
		if e != nil {
			return e, nil
		}
	}
	for _, typ := range []string{"job"} {
		all, err := a.store.Records(typ)
		if err != nil {
			return nil, err
		}
		for i := range all {
			if strings.EqualFold(all[i].View.Number, ref) {
				return &all[i], nil
			}
		}
	}
	return nil, fmt.Errorf("no job or record %q on this device", ref)
}

// SetFields changes fields of a record. Each field group goes as its own
// operation, from the version the device last heard; a change of owner
// goes as a reassign. Values equal to what the user already sees change
// nothing. If the rules refuse any part, nothing is saved.
func (a *App) SetFields(ref string, fields map[string]any) (*contract.Record, error) {
	e, err := a.record(ref)
	if err != nil {
		return nil, err
	}
	rr := a.currentRules().Record(e.View.Type)
	vals, err := a.values(e.View.Type, fields)
	if err != nil {
		return nil, err
	}
	byGroup := map[string]map[string]json.RawMessage{}
	for k, v := range vals {
		if rr.Field(k) == nil {
			continue
		}
		canon, err := rulebook.Canonical(rr.Field(k), v, rr.Machine, a.currentRules().Limits)
		if err != nil {
			return nil, contract.Errorf(contract.CodeBadValue, "%v", err)
		}
		if contract.Same(e.View.Fields[k], canon) || a.queuedSame(e.View.ID, k, canon) {
			continue // already so: saving the same form twice changes nothing
		}
		g := rr.GroupOf(k).Name
		if byGroup[g] == nil {
			byGroup[g] = map[string]json.RawMessage{}
		}
		byGroup[g][k] = v
	}
	var ops []contract.Operation
	for _, g := range rr.Groups {
		gv, ok := byGroup[g.Name]
		if !ok {
			continue
		}
		action := contract.ActionUpdate
		switch {
		case rr.Machine != nil && g == rr.StatusGroup():
			action = contract.ActionTransition
		case rr.OwnerField() != "" && g == rr.GroupOf(rr.OwnerField()):
			action = contract.ActionReassign
			if _, ok := gv[rr.OwnerField()]; !ok {
				gv[rr.OwnerField()] = e.View.Fields[rr.OwnerField()]
			}
		}
		ops = append(ops, a.newOp(e.View.Type, e.View.ID, action, bases(e, g.Name), gv))
	}
	return a.submitAll(ops)
}

// queuedSame reports whether the newest edit of field still waiting to be
// sent already sets it to v. The view leaves out an edit the server will
// hold (its group is under review), so without this a second tap on the
// same form would queue the same edit again.
func (a *App) queuedSame(id, field string, v json.RawMessage) bool {
	pending, err := a.store.PendingFor(id)
	if err != nil {
		return false
	}
	for i := len(pending) - 1; i >= 0; i-- {
		p := pending[i]
		if p.State != localstore.Queued {
			continue
		}
		if raw, ok := p.Op.Values[field]; ok {
			return contract.Same(raw, v)
		}
	}
	return false
}

// submitAll checks every operation before saving any.
func (a *App) submitAll(ops []contract.Operation) (*contract.Record, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	me, err := a.actor()
	if err != nil {
		return nil, err
	}
	e, err := a.store.Record(ops[0].RecordID)
	if err != nil {
		return nil, err
	}
	var cur, parent *contract.Record
	if e != nil {
		cur = e.View
		if cur.ParentID != "" {
			if pe, err := a.store.Record(cur.ParentID); err != nil {
				return nil, err
			} else if pe != nil {
				parent = pe.View // items owned through their job need it
			}
		}
	}
	for i := range ops {
		d := a.eng().Decide(engine.Situation{Actor: me, Op: &ops[i], Current: cur, Parent: parent, Dir: localDirectory{a}, Now: a.cfg.Now()})
		if err := refusal(d); err != nil {
			return nil, err
		}
	}
	var view *contract.Record
	for _, op := range ops {
		if view, err = a.submit(op, nil); err != nil {
			return nil, err
		}
	}
	return view, nil
}

// Move changes a job's status.
func (a *App) Move(ref, status string) (*contract.Record, error) {
	e, err := a.record(ref)
	if err != nil {
		return nil, err
	}
	rr := a.currentRules().Record(e.View.Type)
	if rr.Machine == nil {
		return nil, fmt.Errorf("a %s has no status", e.View.Type)
	}
	if e.View.Text(rr.Machine.Field) == status || a.queuedSame(e.View.ID, rr.Machine.Field, contract.Text(status)) {
		return e.View, nil // already there: a second tap changes nothing
	}
	g := rr.StatusGroup().Name
	return a.submit(a.newOp(e.View.Type, e.View.ID, contract.ActionTransition, bases(e, g),
		map[string]json.RawMessage{rr.Machine.Field: contract.Text(status)}), nil)
}

// AddNote appends a note to a job; its id comes from the form, so a second
// save of the same form changes nothing.
func (a *App) AddNote(jobRef, noteID, text string) (*contract.Record, error) {
	job, err := a.record(jobRef)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(text) == "" {
		return nil, contract.Errorf(contract.CodeBadValue, "a note needs some text")
	}
	return a.appendItem("note", noteID, job.View.ID, map[string]json.RawMessage{"text": contract.Text(text)}, nil)
}

// AddPart appends a part line to a job.
func (a *App) AddPart(jobRef, partID, sku, description string, qty int64) (*contract.Record, error) {
	job, err := a.record(jobRef)
	if err != nil {
		return nil, err
	}
	vals := map[string]json.RawMessage{"sku": contract.Text(sku), "quantity": contract.Int(qty)}
	if description != "" {
		vals["description"] = contract.Text(description)
	}
	return a.appendItem("part", partID, job.View.ID, vals, nil)
}

// AddPhoto copies a photo into the device's store and appends it to a job;
// its content uploads in the media lane.
func (a *App) AddPhoto(jobRef, photoID, filename, contentType string, content io.Reader) (*contract.Record, error) {
	job, err := a.record(jobRef)
	if err != nil {
		return nil, err
	}
	if photoID == "" {
		photoID = a.newID()
	}
	if e, err := a.store.Record(photoID); err != nil || e != nil {
		return viewOf(e), err // the same photo again
	}
	path, size, sum, err := a.store.ImportPhoto(photoID, content, a.currentRules().Limits.Photo)
	if err != nil {
		return nil, err
	}
	vals := map[string]json.RawMessage{"size": contract.Int(size), "sha256": contract.Text(sum),
		"filename": contract.Text(filepath.Base(filename))}
	if contentType != "" {
		vals["content_type"] = contract.Text(contentType)
	}
	rec, err := a.appendItem("photo", photoID, job.View.ID, vals,
		&localstore.Photo{ID: photoID, JobID: job.View.ID, Path: path, Size: size, SHA256: sum})
	if err != nil {
		os.Remove(path) // refused: the copy has no row and would never leave
	}
	return rec, err
}

func viewOf(e *localstore.Entry) *contract.Record {
	if e == nil {
		return nil
	}
	return e.View
}

func (a *App) appendItem(typ, id, jobID string, vals map[string]json.RawMessage, photo *localstore.Photo) (*contract.Record, error) {
	if id == "" {
		id = a.newID()
	}
	if e, err := a.store.Record(id); err != nil || e != nil {
		return viewOf(e), err // saved already: one record, one operation
	}
	vals["job_id"] = contract.Text(jobID)
	return a.submit(a.newOp(typ, id, contract.ActionAppend, nil, vals), photo)
}

// Sign records the customer's signature: the drawn image, when there is
// one, goes up as a photo; the name and time are set once.
func (a *App) Sign(jobRef, signer string, image io.Reader) (*contract.Record, error) {
	job, err := a.record(jobRef)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(signer) == "" {
		return nil, contract.Errorf(contract.CodeBadValue, "the signer's name is required")
	}
	vals := map[string]any{"signer_name": signer, "signed_at": a.cfg.Now().UTC().Format(time.RFC3339)}
	// Check the signature before the image goes anywhere: a refused
	// signature must not leave a photo behind.
	me, err := a.actor()
	if err != nil {
		return nil, err
	}
	if ok, why := a.eng().MayEdit(me, job.View, nil, "signature"); !ok {
		return nil, contract.Errorf(contract.CodeForbidden, "%s.", strings.TrimSuffix(why, "."))
	}
	if job.View.Text("signer_name") != "" {
		return nil, contract.Errorf(contract.CodeWriteOnce, "signature is already set and cannot change.")
	}
	if image != nil {
		photo, err := a.AddPhoto(job.View.ID, "", "signature.png", "image/png", image)
		if err != nil {
			return nil, err
		}
		vals["signature_photo"] = photo.ID
	}
	return a.SetFields(job.View.ID, vals)
}

// Void voids a record. The operation names the version of every group the
// user saw, so a void never hides an update they had not seen.
func (a *App) Void(ref string) (*contract.Record, error) {
	e, err := a.record(ref)
	if err != nil {
		return nil, err
	}
	if e.View.Bool("voided") {
		return e.View, nil
	}
	rr := a.currentRules().Record(e.View.Type)
	var groups []string
	for _, g := range rr.Groups {
		if len(g.Fields) > 0 {
			groups = append(groups, g.Name)
		}
	}
	return a.submit(a.newOp(e.View.Type, e.View.ID, contract.ActionVoid, bases(e, groups...), nil), nil)
}

// Reassign moves a job to another technician, by name or id.
func (a *App) Reassign(ref, user string) (*contract.Record, error) {
	u, err := a.findUser(user)
	if err != nil {
		return nil, err
	}
	e, err := a.record(ref)
	if err != nil {
		return nil, err
	}
	of := a.currentRules().Record(e.View.Type).OwnerField()
	if of == "" {
		return nil, fmt.Errorf("a %s is not reassigned", e.View.Type)
	}
	return a.SetFields(e.View.ID, map[string]any{of: u.ID})
}

// Reopen reopens a signed-off or closed job.
func (a *App) Reopen(ref string) (*contract.Record, error) {
	e, err := a.record(ref)
	if err != nil {
		return nil, err
	}
	rr := a.currentRules().Record(e.View.Type)
	g := rr.StatusGroup()
	if g == nil {
		return nil, fmt.Errorf("a %s has no status", e.View.Type)
	}
	for _, mv := range rr.Machine.Moves {
		if mv.Action == contract.ActionReopen && e.View.Text(rr.Machine.Field) == mv.To {
			return e.View, nil // reopened already: a second tap changes nothing
		}
	}
	return a.submit(a.newOp(e.View.Type, e.View.ID, contract.ActionReopen, bases(e, g.Name), nil), nil)
}

// Resolve settles a review item: keep the server's version ("server"),
// take a device's ("device", entry naming which; the latest when empty),
// type a value ("value", with values), or for suspected duplicates
// "keep_both" or "merge". It goes through the queue like any edit, and
// at once: the sync loops, when they run, try now.
func (a *App) Resolve(reviewID, choice, entry string, values map[string]any) error {
	me, err := a.actor()
	if err != nil {
		return err
	}
	reviews, err := a.store.Reviews(false)
	if err != nil {
		return err
	}
	// The whole id, or a start of at least 8 characters that only one
	// item has.
	var hits []int
	for j, r := range reviews {
		if r.ID == reviewID {
			hits = []int{j}
			break
		}
		if len(reviewID) >= 8 && strings.HasPrefix(r.ID, reviewID) {
			hits = append(hits, j)
		}
	}
	switch {
	case len(hits) == 0:
		return fmt.Errorf("no review item %q on this device", reviewID)
	case len(hits) > 1:
		return fmt.Errorf("%d review items start with %q: give more of the id", len(hits), reviewID)
	}
	rv := reviews[hits[0]]
	if !a.eng().MayResolve(me, rv.RecordType) {
		rr := a.currentRules().Record(rv.RecordType)
		if rr.IsItem() {
			rr = a.currentRules().Record(rr.Parent)
		}
		return contract.Errorf(contract.CodeForbidden, "Only %s can resolve reviews of %ss.", a.currentRules().Expand(rr.Resolve), rr.Type)
	}
	if rv.Status != "open" {
		return contract.Errorf(contract.CodeResolved, "This review was already resolved.")
	}
	if a.Decided(rv.ID) {
		return contract.Errorf(contract.CodeResolved, "You have decided this review already; your decision is waiting to sync.")
	}
	vals := map[string]json.RawMessage{"choice": contract.Text(choice)}
	if entry != "" {
		vals["entry"] = contract.Text(entry)
	}
	if len(values) > 0 {
		typed, err := a.values(rv.RecordType, values)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(typed)
		vals["values"] = b
	}
	op := a.newOp(contract.ReviewType, rv.ID, contract.ActionResolve, nil, vals)
	if _, err := a.store.Save(op, nil); err != nil {
		return err
	}
	a.changed()
	a.queue.SyncNow() // a decision goes at once, even while the lanes back off
	return nil
}

// NewCustomer makes a customer (office roles).
func (a *App) NewCustomer(id string, fields map[string]any) (*contract.Record, error) {
	if id == "" {
		id = a.newID()
	}
	if e, err := a.store.Record(id); err != nil || e != nil {
		return viewOf(e), err
	}
	vals, err := a.values("customer", fields)
	if err != nil {
		return nil, err
	}
	return a.submit(a.newOp("customer", id, contract.ActionCreate, nil, vals), nil)
}

// KeepAsNote sends the text of an edit the server refused as a note on its
// job, which a locked job still takes, and clears the refusal.
func (a *App) KeepAsNote(opID string) (*contract.Record, error) {
	d, err := a.draft(opID)
	if err != nil {
		return nil, err
	}
	note, err := a.AddNote(d.JobID, "", d.Text)
	if err != nil {
		return nil, err
	}
	err = a.store.Drop(d.OpID)
	a.queue.Refresh()
	return note, err
}

// Discard drops an edit the server refused, after the user read why.
func (a *App) Discard(opID string) error {
	d, err := a.draft(opID)
	if err != nil {
		return err
	}
	err = a.store.Drop(d.OpID)
	a.queue.Refresh()
	return err
}

// Draft is the text of an edit the server refused, kept for the user.
type Draft struct {
	OpID   string
	JobID  string
	Text   string
	Reason string
}

func (a *App) draft(opID string) (Draft, error) {
	drafts, err := a.Drafts("")
	if err != nil {
		return Draft{}, err
	}
	for _, d := range drafts {
		if d.OpID == opID || strings.HasPrefix(d.OpID, opID) && len(opID) >= 8 {
			return d, nil
		}
	}
	return Draft{}, fmt.Errorf("no refused edit %q on this device", opID)
}

// Drafts returns the edits the server refused, with their text, for one
// job (all jobs for ""). Nothing the user typed is lost: it waits here.
func (a *App) Drafts(jobID string) ([]Draft, error) {
	out, err := a.store.Outbox()
	if err != nil {
		return nil, err
	}
	var drafts []Draft
	for _, p := range out {
		if p.State != localstore.Refused {
			continue
		}
		job := p.Op.RecordID
		if e, _ := a.store.Record(p.Op.RecordID); e != nil && e.View.ParentID != "" {
			job = e.View.ParentID
		} else if pid := a.parentID(p.Op, nil); pid != "" {
			job = pid
		}
		if jobID != "" && job != jobID {
			continue
		}
		reason := p.LastError
		if p.Result != nil {
			reason = p.Result.Message
		}
		drafts = append(drafts, Draft{OpID: p.Op.ID, JobID: job, Text: describeOp(p.Op), Reason: reason})
	}
	return drafts, nil
}

// describeOp says what an operation carried, as a note would.
func describeOp(op contract.Operation) string {
	if raw, ok := op.Values["text"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(op.Values)) {
		if strings.HasSuffix(k, "_id") {
			continue
		}
		var v any
		_ = json.Unmarshal(op.Values[k], &v)
		parts = append(parts, fmt.Sprintf("%s: %v", strings.ReplaceAll(k, "_", " "), v))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%s of this %s", op.Action, op.RecordType)
	}
	return "Not sent (" + string(op.Action) + "): " + strings.Join(parts, ", ")
}

func (a *App) findUser(ref string) (contract.User, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, u := range a.users {
		if u.ID == ref || strings.EqualFold(u.Name, ref) {
			return u, nil
		}
	}
	return contract.User{}, fmt.Errorf("no user %q known to this device", ref)
}

func (a *App) userName(id string) string {
	u, _ := a.user(id)
	return u.Name
}

// History returns a record's change log: fetched from the server when it
// answers, else as last fetched (stale is then true).
func (a *App) History(ctx context.Context, ref string) (changes []contract.Change, stale bool, err error) {
	e, err := a.record(ref)
	if err != nil {
		return nil, false, err
	}
	fresh, ferr := a.client.History(ctx, e.View.Type, e.View.ID)
	if ferr == nil {
		return fresh, false, a.store.SetHistory(e.View.ID, fresh)
	}
	cached, _, err := a.store.History(e.View.ID)
	if err != nil {
		return nil, true, err
	}
	if cached == nil && !errors.Is(ferr, context.Canceled) {
		return nil, true, fmt.Errorf("history is not on this device and the server did not answer: %w", ferr)
	}
	return cached, true, nil
}
