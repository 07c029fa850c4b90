package sim

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"fieldsync/app"
	"fieldsync/contract"
	"fieldsync/contract/rulebook"
	"fieldsync/localstore"
	"fieldsync/server"
)

// How the checks decide, after every device has synced:
//
// Lost. Each operation in the ledger (every edit a facade call saved) is
// looked up in the server's stored results. Applied: its effect must be
// there (a created record or appended item exists, on its job or the job
// it was merged into, a photo's content arrived; an edit's change-log rows
// carry its values; a resolution resolved its item). Held: the review
// item named in the result must hold a device entry with the operation's
// id and values, and while that item is open the device must still show
// the edit as held. Refused, or never stored because the device itself
// turned it down: the device must keep it as not sent, with its text in
// Drafts, unless the user kept that text as a note (then the note is an
// operation of the ledger, checked the same way). Anything else is lost.
//
// Duplicated. A stored result whose operation is in no ledger (an
// operation the device made up, such as one re-made on a retry); two
// change-log rows of one operation for one field (applied twice); a record
// on the server that no create or append of the ledger made (a second
// record for one user action); one operation in two review entries; two
// notes with one text, two part lines with one SKU or two photos with one
// checksum (the simulation never repeats them); a second tap on save that
// saved anything.
//
// Collisions. Each record's change log is replayed from its creation,
// keeping every group's version and who wrote it since which version, as
// the engine does. An applied update, status move or reassign of a
// review-policy group, or a void, whose base version is older than the
// group's version when it was applied, and not built on its own device's
// unbroken run of changes, is a collision that was applied instead of
// becoming a review item. The replayed versions must end as the server's.
//
// Last write wins, and the log. Each field of each record must hold the
// value of the last change-log row that wrote it; for last-write-wins
// groups that row's operation must be in the ledger with that value, and
// no edit of such a group may have been held as a conflict.
//
// Append. Items follow from the checks above: every applied append exists
// on its job, and nothing exists that no append made, so each job holds
// the union of everyone's items.
//
// Converged. Each device holds exactly the records and review items the
// server shows its user, each the same as the server's, with nothing
// queued and no photo waiting to upload.

type serverState struct {
	records map[string]*contract.Record
	ids     []string // records in sequence order
	reviews map[string]*contract.Review
	changes map[string][]contract.Change // by record
	results map[string]*server.StoredResult
	stored  []string            // every op id with a stored result, in the order stored
	receipt map[string]int      // op id → its place in stored
	writes  map[string][]*entry // record → the saved operations on it the server applied
	entries map[string][]string // op id → review items holding it
	merged  map[string]string   // job → the job it was merged into
}

func (s *sim) loadServer() (*serverState, error) {
	st := &serverState{records: map[string]*contract.Record{}, reviews: map[string]*contract.Review{},
		changes: map[string][]contract.Change{}, results: map[string]*server.StoredResult{},
		receipt: map[string]int{}, writes: map[string][]*entry{},
		entries: map[string][]string{}, merged: map[string]string{}}
	all := server.Scope{Types: s.rules.RecordTypes()}
	opIDs := make([]string, 0, len(s.ledger))
	for _, e := range s.ledger {
		opIDs = append(opIDs, e.op.ID)
	}
	err := s.store.Read(s.ctx, func(q server.Query) error {
		recs, _, err := q.Pull(all, 0, 1<<30, "")
		if err != nil {
			return err
		}
		for i := range recs {
			st.records[recs[i].ID] = &recs[i]
			st.ids = append(st.ids, recs[i].ID)
			cs, err := q.Changes(recs[i].ID)
			if err != nil {
				return err
			}
			st.changes[recs[i].ID] = cs
		}
		rvs, err := q.Reviews(all, false)
		if err != nil {
			return err
		}
		for i := range rvs {
			rv := &rvs[i]
			st.reviews[rv.ID] = rv
			for _, de := range rv.Device {
				st.entries[de.OpID] = append(st.entries[de.OpID], rv.ID)
			}
			if rv.Kind == contract.KindDuplicate && rv.Resolution != nil && rv.Resolution.Choice == contract.Merge {
				st.merged[rv.RecordID] = rv.MatchID
			}
		}
		for part := range slices.Chunk(opIDs, 400) {
			rs, err := q.Results(part)
			if err != nil {
				return err
			}
			for i := range rs {
				st.results[rs[i].OpID] = &rs[i]
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Every stored result, straight from the server's database.
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.dir, "server.db")+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(s.ctx, `SELECT op_id FROM ops ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("stored results: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		st.receipt[idString(b)] = len(st.stored)
		st.stored = append(st.stored, idString(b))
	}
	for _, e := range s.ledger {
		if r := st.results[e.op.ID]; r != nil && r.Result.Outcome == contract.Applied {
			st.writes[e.op.RecordID] = append(st.writes[e.op.RecordID], e)
		}
	}
	return st, rows.Err()
}

// idString reads an op id as the server's store keeps it.
func idString(b []byte) string {
	if len(b) != 16 {
		return string(b)
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

type deviceState struct {
	outbox map[string]localstore.Pending
	drafts map[string]app.Draft
	photos map[string]localstore.Photo
}

func (s *sim) loadDevice(d *device) (*deviceState, error) {
	ds := &deviceState{outbox: map[string]localstore.Pending{}, drafts: map[string]app.Draft{}, photos: map[string]localstore.Photo{}}
	out, err := d.store.Outbox()
	if err != nil {
		return nil, err
	}
	for _, p := range out {
		ds.outbox[p.Op.ID] = p
	}
	drafts, err := d.app.Drafts("")
	if err != nil {
		return nil, err
	}
	for _, dr := range drafts {
		ds.drafts[dr.OpID] = dr
	}
	photos, err := d.store.Photos("")
	if err != nil {
		return nil, err
	}
	for _, p := range photos {
		ds.photos[p.ID] = p
	}
	return ds, nil
}

func (s *sim) check() error {
	srv, err := s.loadServer()
	if err != nil {
		return err
	}
	devs := map[*device]*deviceState{}
	for _, d := range s.devices {
		if devs[d], err = s.loadDevice(d); err != nil {
			return err
		}
	}
	s.rep.Saved = len(s.ledger)
	s.rep.Digest = digest(srv)
	s.rep.Reviews = len(srv.reviews)
	byKind := map[string]int{}
	for _, rv := range srv.reviews {
		byKind[rv.Kind]++
	}
	s.logf("server: %d records, %d review items %v, %d stored results; ledger: %d operations", len(srv.records), len(srv.reviews), byKind, len(srv.stored), len(s.ledger))

	s.checkLedger(srv, devs)
	s.checkDuplicates(srv)
	s.checkLog(srv)
	if err := s.checkConverged(srv, devs); err != nil {
		return err
	}
	s.logf("collisions: %d applied edits of review groups and voids checked against the replayed log (%d stale but on their own device's run)", s.checked, s.ownRuns)
	s.logf("outcomes: %d applied, %d held, %d not sent, %d kept as notes; %d refused on the device before saving",
		s.rep.Applied, s.rep.Held, s.rep.NotSent, s.rep.KeptAsNote, s.rep.refusedLocally)
	return nil
}

// lost counts a saved edit that is nowhere to be found.
func (s *sim) lost(e *entry, format string, args ...any) {
	s.rep.Lost++
	s.rep.problem("lost: %s: %s", e, fmt.Sprintf(format, args...))
}

// jobOf returns the job an operation is on: its record, or an item's job.
func (s *sim) jobOf(op contract.Operation) string {
	rr := s.rules.Record(op.RecordType)
	if rr != nil && rr.IsItem() {
		var id string
		_ = json.Unmarshal(op.Values[rr.Via], &id)
		return id
	}
	return op.RecordID
}

func (s *sim) checkLedger(srv *serverState, devs map[*device]*deviceState) {
	for _, e := range s.ledger {
		op := e.op
		ds := devs[e.dev]
		pend, pending := ds.outbox[op.ID]
		res := srv.results[op.ID]
		if e.keptAs != "" {
			if s.byOp[e.keptAs] == nil {
				s.lost(e, "kept as note %s, which is in no ledger", short(e.keptAs))
			}
			s.rep.KeptAsNote++
			continue
		}
		if res == nil || res.Result.Outcome == contract.Refused {
			dr, ok := ds.drafts[op.ID]
			switch {
			case pending && pend.State == localstore.Refused && ok && strings.TrimSpace(dr.Text) != "":
				s.rep.NotSent++
			case res == nil && pending:
				s.lost(e, "the server never got it; the device has it %s (%s)", pend.State, pend.LastError)
			case res == nil:
				s.lost(e, "the server never got it and the device no longer has it")
			default:
				s.lost(e, "the server refused it (%s) and the device does not keep it as not sent", res.Result.Message)
			}
			continue
		}
		r := res.Result
		if pending && pend.State == localstore.Refused {
			s.rep.Unexpected++
			s.rep.problem("device disagrees: %s: the server %s it, the device shows it as not sent", e, r.Outcome)
		}
		switch r.Outcome {
		case contract.Applied:
			s.rep.Applied++
			s.checkApplied(srv, ds, e, r)
		case contract.Held:
			s.rep.Held++
			rv := srv.reviews[r.ReviewID]
			if rv == nil {
				s.lost(e, "held in review %s, which the server does not have", short(r.ReviewID))
				continue
			}
			i := slices.IndexFunc(rv.Device, func(de contract.ReviewEntry) bool { return de.OpID == op.ID })
			if i < 0 {
				s.lost(e, "held in review %s, which has no entry for it", short(rv.ID))
				continue
			}
			for k, v := range rv.Device[i].Values {
				if ov, ok := op.Values[k]; ok && !contract.Same(ov, v) {
					s.lost(e, "review %s keeps %s=%s, the user saved %s", short(rv.ID), k, v, ov)
				}
			}
			if rv.Status == "open" && (!pending || pend.State != localstore.Held) {
				state := "nothing"
				if pending {
					state = pend.State
				}
				s.lost(e, "its review %s is open but the device shows %s for it, not held", short(rv.ID), state)
			}
		default:
			s.lost(e, "stored outcome %s", r.Outcome)
		}
	}
}

func (s *sim) checkApplied(srv *serverState, ds *deviceState, e *entry, r contract.Result) {
	op := e.op
	switch op.Action {
	case contract.ActionCreate, contract.ActionAppend:
		rec := srv.records[op.RecordID]
		if rec == nil {
			s.lost(e, "applied, but the server has no %s %s", op.RecordType, short(op.RecordID))
			return
		}
		if op.Action == contract.ActionAppend {
			want := s.jobOf(op)
			ok := rec.ParentID == want
			for j, seen := want, 0; !ok && seen < 10; seen++ {
				next, merged := srv.merged[j]
				if !merged {
					break
				}
				j = next
				ok = rec.ParentID == j
			}
			if !ok {
				s.lost(e, "the item hangs off job %s, not %s", short(rec.ParentID), short(want))
			}
		}
		if op.RecordType == "photo" && !rec.ContentReady {
			if p, ok := ds.photos[op.RecordID]; ok && p.State == localstore.PhotoFailed {
				s.rep.NotSent++ // the device shows the upload failed and keeps the file
				return
			}
			s.lost(e, "the photo's content never arrived")
		}
	case contract.ActionResolve:
		rv := srv.reviews[op.RecordID]
		if rv == nil || rv.Resolution == nil || rv.Resolution.OpID != op.ID {
			s.lost(e, "applied, but review %s is not resolved by it", short(op.RecordID))
		}
	case contract.ActionUpdate, contract.ActionTransition, contract.ActionReassign:
		for _, c := range srv.changes[op.RecordID] {
			if c.OpID != op.ID || c.Field == "" {
				continue
			}
			if v, ok := op.Values[c.Field]; ok && !contract.Same(v, c.New) {
				s.rep.LogWrong++
				s.rep.problem("log: %s: the change log says %s became %s, the user saved %s", e, c.Field, c.New, v)
			}
		}
	}
}

// known returns the ids of records that some saved operation made.
func (s *sim) known(srv *serverState) map[string]bool {
	made := map[string]bool{}
	for _, e := range s.ledger {
		if e.op.Action == contract.ActionCreate || e.op.Action == contract.ActionAppend {
			made[e.op.RecordID] = true
		}
	}
	// An append held for review and taken by the resolver is made then.
	for _, rv := range srv.reviews {
		if rv.Resolution == nil || rv.Resolution.Entry == "" {
			continue
		}
		for _, de := range rv.Device {
			if de.OpID == rv.Resolution.Entry && de.Action == contract.ActionAppend {
				made[de.RecordID] = true
			}
		}
	}
	return made
}

func (s *sim) duplicated(format string, args ...any) {
	s.rep.Duplicated++
	s.rep.problem("duplicated: "+format, args...)
}

func (s *sim) checkDuplicates(srv *serverState) {
	unknown := map[string]bool{}
	for _, id := range srv.stored {
		if s.byOp[id] == nil {
			unknown[id] = true
			s.duplicated("the server stored a result for operation %s, which no user saved", short(id))
		}
	}
	made := s.known(srv)
	texts := map[string]string{}
	for _, id := range srv.ids {
		rec := srv.records[id]
		if !made[id] {
			s.duplicated("%s %s %s exists on the server, but no saved operation made it", rec.Type, short(id), rec.Number)
		}
		seen := map[[2]string]bool{}
		for _, c := range srv.changes[id] {
			if c.Field == "" {
				continue
			}
			k := [2]string{c.OpID, c.Field}
			if seen[k] {
				s.duplicated("operation %s wrote %s of %s %s twice", short(c.OpID), c.Field, rec.Type, short(id))
			}
			seen[k] = true
			if s.byOp[c.OpID] == nil && !unknown[c.OpID] {
				unknown[c.OpID] = true
				s.duplicated("operation %s changed %s %s, but no user saved it", short(c.OpID), rec.Type, short(id))
			}
		}
		var key string
		switch rec.Type {
		case "note":
			if t := rec.Text("text"); strings.HasPrefix(t, "note ") || strings.HasPrefix(t, "office note ") {
				key = "note " + t
			}
		case "part":
			key = "part " + rec.Text("sku")
		case "photo":
			key = "photo " + rec.Text("sha256")
		}
		if key != "" {
			if other, ok := texts[key]; ok {
				s.duplicated("%s %s repeats %s (%s)", rec.Type, short(id), short(other), key)
			}
			texts[key] = id
		}
	}
	for _, op := range slices.Sorted(mapsKeys(srv.entries)) {
		if in := srv.entries[op]; len(in) > 1 {
			s.duplicated("operation %s is an entry of %d review items", short(op), len(in))
		}
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

type streak struct {
	device string
	base   int64
}

// checkLog replays every record's change log: the collisions, the
// versions, last write wins, and each field against its log.
func (s *sim) checkLog(srv *serverState) {
	for _, id := range srv.ids {
		rec := srv.records[id]
		rr := s.rules.Record(rec.Type)
		changes := srv.changes[id]
		versions := map[string]int64{}
		streaks := map[string]streak{}
		for k := 0; k < len(changes); {
			opID := changes[k].OpID
			end := k
			for end < len(changes) && changes[end].OpID == opID {
				end++
			}
			rows := changes[k:end]
			first := k == 0
			k = end
			if first {
				for _, g := range rr.Groups {
					if len(g.Fields) > 0 {
						versions[g.Name] = 1
					}
				}
				continue
			}
			e := s.byOp[opID]
			if e != nil && e.op.RecordID == id {
				s.checkCollision(rr, rec, e, versions, streaks)
			}
			var groups []string
			for _, c := range rows {
				if g := rr.Group(c.Group); g != nil && !slices.Contains(groups, c.Group) {
					groups = append(groups, c.Group)
				}
			}
			if e != nil && e.op.RecordType == contract.ReviewType && len(groups) == 0 {
				if rv := srv.reviews[e.op.RecordID]; rv != nil && rv.RecordID == id && rv.Kind != contract.KindDuplicate {
					groups = append(groups, rv.Group)
				}
			}
			for _, g := range groups {
				old := versions[g]
				versions[g] = old + 1
				if st, ok := streaks[g]; !ok || st.device != rows[0].DeviceID {
					streaks[g] = streak{rows[0].DeviceID, old}
				}
			}
		}
		for _, g := range rr.Groups {
			if len(g.Fields) > 0 && versions[g.Name] != rec.Versions[g.Name] {
				s.rep.LogWrong++
				s.rep.problem("log: %s %s: group %s is at version %d, its change log makes %d", rec.Type, short(id), g.Name, rec.Versions[g.Name], versions[g.Name])
			}
		}
		s.checkFields(srv, rr, rec, changes)
	}
	// No edit of a last-write-wins group is held as a conflict.
	for _, e := range s.ledger {
		res := srv.results[e.op.ID]
		if res == nil || res.Result.Outcome != contract.Held || res.Result.Code != contract.CodeConflict {
			continue
		}
		rr := s.rules.Record(e.op.RecordType)
		if rr == nil {
			continue
		}
		for f := range e.op.Values {
			if g := rr.GroupOf(f); g != nil && g.Policy == rulebook.PolicyLastWriteWins {
				s.rep.LWWWrong++
				s.rep.problem("last write wins: %s was held as a conflict", e)
				break
			}
		}
	}
}

// checkCollision decides whether an applied edit was a collision.
func (s *sim) checkCollision(rr *rulebook.RecordRule, rec *contract.Record, e *entry, versions map[string]int64, streaks map[string]streak) {
	var groups []string
	switch e.op.Action {
	case contract.ActionVoid:
		for g := range e.op.Bases {
			groups = append(groups, g)
		}
		slices.Sort(groups)
	case contract.ActionUpdate, contract.ActionTransition, contract.ActionReassign:
		for g := range e.op.Bases {
			if gr := rr.Group(g); gr != nil && gr.Policy == rulebook.PolicyReview {
				groups = append(groups, g)
			}
		}
	}
	for _, g := range groups {
		base, cur := e.op.Bases[g], versions[g]
		st, ok := streaks[g]
		own := ok && st.device == e.op.DeviceID && base >= st.base
		s.checked++
		if base < cur && own {
			s.ownRuns++
		}
		if base < cur && !own {
			s.rep.Missed++
			s.rep.problem("collision applied: %s was made from version %d of %s %s's %s, the server had %d (last written by %s since %d); it should have become a review item",
				e, base, rec.Type, short(rec.ID), g, cur, st.device, st.base)
		}
	}
}

// checkFields checks each field against the last change-log row that
// wrote it, and each last-write-wins field against the last write of it
// the server received: of the saved operations the server applied that
// carry the field (a write of the value it already had leaves no row, and
// still counts), and of resolutions that wrote it, the one whose result
// the server stored last.
func (s *sim) checkFields(srv *serverState, rr *rulebook.RecordRule, rec *contract.Record, changes []contract.Change) {
	last := map[string]*contract.Change{}
	for i := range changes {
		if changes[i].Field != "" {
			last[changes[i].Field] = &changes[i]
		}
	}
	for _, f := range rr.FieldNames() {
		got := rec.Fields[f]
		c := last[f]
		want := contract.Null
		if c != nil && !contract.IsNull(c.New) {
			want = c.New
		}
		if !sameOrNull(got, want) {
			s.rep.LogWrong++
			s.rep.problem("log: %s %s: %s is %s, the last change-log row wrote %s", rec.Type, short(rec.ID), f, got, want)
		}
		g := rr.GroupOf(f)
		if g == nil || g.Policy != rulebook.PolicyLastWriteWins {
			continue
		}
		latest, at, from := json.RawMessage(nil), -1, ""
		for _, e := range srv.writes[rec.ID] {
			v, ok := e.op.Values[f]
			if !ok {
				continue
			}
			if n := srv.receipt[e.op.ID]; n > at {
				latest, at, from = v, n, e.String()
			}
		}
		for i := range changes {
			if c := &changes[i]; c.Field == f {
				if e := s.byOp[c.OpID]; e != nil && e.op.RecordType == contract.ReviewType && srv.receipt[c.OpID] > at {
					latest, at, from = c.New, srv.receipt[c.OpID], e.String()
				}
			}
		}
		if at >= 0 && !sameOrNull(got, latest) {
			s.rep.LWWWrong++
			s.rep.problem("last write wins: %s %s's %s is %s, but the last write the server received was %s, by %s", rec.Type, short(rec.ID), f, got, latest, from)
		}
	}
}

func sameOrNull(a, b json.RawMessage) bool {
	if contract.IsNull(a) || contract.IsNull(b) {
		return contract.IsNull(a) == contract.IsNull(b)
	}
	return contract.Same(a, b)
}

// scope is what a user sees, as the server works it out: record types
// their role sees whole, and the rest through jobs they are on.
func (s *sim) scope(u contract.User) server.Scope {
	sc := server.Scope{UserID: u.ID}
	for _, rr := range s.rules.Records {
		top := rr
		if rr.IsItem() {
			top = s.rules.Record(rr.Parent)
		}
		if s.rules.RoleIn(u.Role, top.View) || s.rules.RoleIn(u.Role, []string{top.Owner}) {
			sc.Types = append(sc.Types, rr.Type)
		}
	}
	return sc
}

func (s *sim) checkConverged(srv *serverState, devs map[*device]*deviceState) error {
	s.rep.Converged = true
	for _, d := range s.devices {
		var recs []contract.Record
		var rvs []contract.Review
		sc := s.scope(d.user)
		if err := s.store.Read(s.ctx, func(q server.Query) (err error) {
			if recs, _, err = q.Pull(sc, 0, 1<<30, ""); err != nil {
				return err
			}
			rvs, err = q.Reviews(sc, false)
			return err
		}); err != nil {
			return err
		}
		var diffs []string
		ds := devs[d]
		for _, p := range ds.outbox {
			if p.State == localstore.Queued || p.State == localstore.Applied {
				diffs = append(diffs, fmt.Sprintf("operation %s still %s", short(p.Op.ID), p.State))
			}
		}
		for _, p := range ds.photos {
			if p.State == localstore.PhotoWaiting {
				why := ""
				for _, o := range ds.outbox {
					if o.Op.RecordID == p.ID {
						why = fmt.Sprintf(" (its append is %s", o.State)
						if o.Result != nil {
							why += ": " + o.Result.Message
						}
						why += ")"
					}
				}
				if e := s.byOpRecord(p.ID); e != nil {
					if r := srv.results[e.op.ID]; r != nil {
						why += fmt.Sprintf(" (the server: %s %s, review %s)", r.Result.Outcome, r.Result.Message, short(r.Result.ReviewID))
						if rv := srv.reviews[r.Result.ReviewID]; rv != nil && rv.Resolution != nil {
							why += fmt.Sprintf(" resolved %s entry %s", rv.Resolution.Choice, short(rv.Resolution.Entry))
						}
					}
				}
				diffs = append(diffs, fmt.Sprintf("photo %s still waiting to upload%s", short(p.ID), why))
			}
		}
		want := map[string]*contract.Record{}
		for i := range recs {
			want[recs[i].ID] = &recs[i]
		}
		hideUnseenMatches(want, recs, rvs)
		have := map[string]bool{}
		for _, typ := range s.rules.RecordTypes() {
			entries, err := d.store.Records(typ)
			if err != nil {
				return err
			}
			for _, en := range entries {
				have[en.View.ID] = true
				w := want[en.View.ID]
				if w == nil {
					diffs = append(diffs, fmt.Sprintf("holds %s %s, which the server does not show its user%s", typ, short(en.View.ID), s.whyNot(srv, en.View.ID)))
					continue
				}
				if diff := jsonDiff(en.View, w); diff != "" {
					diffs = append(diffs, fmt.Sprintf("shows %s %s unlike the server:%s", typ, short(en.View.ID), diff))
				}
			}
		}
		for _, r := range recs {
			if !have[r.ID] {
				diffs = append(diffs, fmt.Sprintf("lacks %s %s", r.Type, short(r.ID)))
			}
		}
		mine, err := d.store.Reviews(false)
		if err != nil {
			return err
		}
		wantRv := map[string]*contract.Review{}
		for i := range rvs {
			wantRv[rvs[i].ID] = &rvs[i]
		}
		for _, rv := range mine {
			if diff := jsonDiff(rv, wantRv[rv.ID]); diff != "" {
				diffs = append(diffs, fmt.Sprintf("shows review %s unlike the server:%s", short(rv.ID), diff))
			}
			delete(wantRv, rv.ID)
		}
		for id := range wantRv {
			diffs = append(diffs, fmt.Sprintf("lacks review %s", short(id)))
		}
		if len(diffs) > 0 {
			s.rep.Converged = false
			s.rep.Diverged++
			slices.Sort(diffs)
			for i, df := range diffs {
				if i == 5 {
					s.rep.problem("not converged: %s: … and %d more", d.name, len(diffs)-5)
					break
				}
				s.rep.problem("not converged: %s %s", d.name, df)
			}
		}
	}
	return nil
}

// unseenReason is what the server says of a suspected duplicate to a
// reader who cannot see the job it repeats (server/matches.go).
const unseenReason = "Same customer and site on the same day as an open job made on another device."

// hideUnseenMatches makes the server's records and reviews what it sends
// their reader: a job they may repeat that the reader cannot see (one not
// among the records they see) is said to exist, nothing more.
func hideUnseenMatches(sees map[string]*contract.Record, recs []contract.Record, rvs []contract.Review) {
	for i := range recs {
		if id := recs[i].DuplicateOf; id != "" && id != contract.MatchUnseen && sees[id] == nil {
			recs[i].DuplicateOf = contract.MatchUnseen
		}
	}
	for i := range rvs {
		if id := rvs[i].MatchID; id != "" && sees[id] == nil {
			rvs[i].MatchID, rvs[i].Reason = "", unseenReason
		}
	}
}

// jsonDiff returns "" when a and b encode to the same JSON.
func jsonDiff(a, b any) string {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if bytes.Equal(ja, jb) {
		return ""
	}
	return fmt.Sprintf(": device %s, server %s", ja, jb)
}

// whyNot describes a record and its job on the server, for a device that
// holds what the server does not show it.
func (s *sim) whyNot(srv *serverState, id string) string {
	rec := srv.records[id]
	if rec == nil {
		return " (the server has no such record)"
	}
	out := fmt.Sprintf(" (on the server: parent %s", short(rec.ParentID))
	if p := srv.records[rec.ParentID]; p != nil {
		out += fmt.Sprintf(", job %s %s owned by %s, past owners %v, voided %v", p.Number, p.Text("status"), p.OwnerName, p.PastOwners, p.Bool("voided"))
	}
	for _, c := range srv.changes[id] {
		if c.Note != "" {
			out += "; " + c.Note
		}
	}
	return out + ")"
}

// byOpRecord returns the ledger's create or append of a record.
func (s *sim) byOpRecord(id string) *entry {
	for _, e := range s.ledger {
		if e.op.RecordID == id && (e.op.Action == contract.ActionAppend || e.op.Action == contract.ActionCreate) {
			return e
		}
	}
	return nil
}

// digest hashes the server's final state: records in sequence order with
// their change logs, and review items.
func digest(srv *serverState) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, id := range srv.ids {
		enc.Encode(srv.records[id])
		enc.Encode(srv.changes[id])
	}
	for _, id := range slices.Sorted(mapsKeys(srv.reviews)) {
		enc.Encode(srv.reviews[id])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
