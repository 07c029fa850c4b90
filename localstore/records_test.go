package localstore_test

import (
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"fieldsync/contract"
	"fieldsync/localstore"

	"github.com/google/uuid"
)

func title(t testing.TB, st *localstore.Store, id string) string {
	t.Helper()
	e, err := st.Record(id)
	if err != nil {
		t.Fatal(err)
	}
	if e == nil {
		return "<no record>"
	}
	return e.View.Text("title")
}

func states(t testing.TB, st *localstore.Store) map[string]string {
	t.Helper()
	out, err := st.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, p := range out {
		m[p.Op.ID] = p.State
	}
	return m
}

func TestSaveWritesTheOperationAndTheViewTogether(t *testing.T) {
	st := openStore(t)
	job := uuid.NewString()
	op := newOp("job", job, contract.ActionCreate, map[string]string{"title": "Replace pump seal"})
	saved, err := st.Save(op, nil)
	if err != nil || !saved {
		t.Fatalf("save: %v %v", saved, err)
	}
	e, err := st.Record(job)
	if err != nil || e == nil {
		t.Fatalf("record after save: %v %v", e, err)
	}
	if e.Server != nil {
		t.Error("a record only this device has claims a server copy")
	}
	if got := e.View.Text("title"); got != "Replace pump seal" {
		t.Errorf("view title %q", got)
	}
	out, _ := st.Outbox()
	if len(out) != 1 || out[0].Op.ID != op.ID || out[0].State != localstore.Queued || out[0].Attempts != 0 {
		t.Fatalf("outbox %+v", out)
	}
	if got := out[0].Op; got.RecordID != job || got.Action != contract.ActionCreate || !got.DeviceTime.Equal(op.DeviceTime) || !contract.Same(got.Values["title"], op.Values["title"]) {
		t.Errorf("the saved operation differs from the one made: %+v", got)
	}
}

func TestSavingTheSameOperationTwiceChangesNothing(t *testing.T) {
	st := openStore(t)
	job := uuid.NewString()
	op := newOp("job", job, contract.ActionCreate, map[string]string{"title": "First"})
	if saved, err := st.Save(op, nil); err != nil || !saved {
		t.Fatalf("first save: %v %v", saved, err)
	}
	var calls atomic.Int32
	st.SetRebaser(localstore.RebaseFunc(func(server, parent *contract.Record, ops []contract.Operation) *contract.Record {
		calls.Add(1)
		return applyValues(server, parent, ops)
	}))
	again := op
	again.Values = map[string]json.RawMessage{"title": contract.Text("Second")} // a changed copy under the same id
	saved, err := st.Save(again, nil)
	if err != nil || saved {
		t.Fatalf("second save: saved=%v err=%v, want false and no error", saved, err)
	}
	if got := title(t, st, job); got != "First" {
		t.Errorf("view title %q after the repeat, want First", got)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the repeat recomputed the view %d times", n)
	}
	out, _ := st.Outbox()
	if len(out) != 1 || !contract.Same(out[0].Op.Values["title"], contract.Text("First")) {
		t.Fatalf("outbox after the repeat: %+v", out)
	}
}

func TestSaveIsOneTransaction(t *testing.T) {
	t.Run("another connection sees neither the operation nor the view until both are written", func(t *testing.T) {
		dir := t.TempDir()
		st := openStoreIn(t, dir)
		db := rawDB(t, dir)
		job := uuid.NewString()
		var seenOps, seenRecords = -1, -1
		st.SetRebaser(localstore.RebaseFunc(func(server, parent *contract.Record, ops []contract.Operation) *contract.Record {
			// Runs inside Save, after the outbox row is written.
			db.QueryRow(`SELECT COUNT(*) FROM outbox`).Scan(&seenOps)
			db.QueryRow(`SELECT COUNT(*) FROM records`).Scan(&seenRecords)
			return applyValues(server, parent, ops)
		}))
		if _, err := st.Save(newOp("job", job, contract.ActionCreate, map[string]string{"title": "T"}), nil); err != nil {
			t.Fatal(err)
		}
		if seenOps != 0 || seenRecords != 0 {
			t.Fatalf("mid-save another connection saw %d operations and %d records, want 0 and 0", seenOps, seenRecords)
		}
		var ops, recs int
		db.QueryRow(`SELECT COUNT(*) FROM outbox`).Scan(&ops)
		db.QueryRow(`SELECT COUNT(*) FROM records`).Scan(&recs)
		if ops != 1 || recs != 1 {
			t.Fatalf("after save another connection sees %d operations and %d records, want 1 and 1", ops, recs)
		}
	})
	t.Run("a view that cannot be written leaves no operation behind", func(t *testing.T) {
		st := openStore(t)
		st.SetRebaser(localstore.RebaseFunc(func(server, parent *contract.Record, ops []contract.Operation) *contract.Record {
			v := applyValues(server, parent, ops)
			v.Fields["title"] = json.RawMessage(`{not json`)
			return v
		}))
		job := uuid.NewString()
		photo := &localstore.Photo{ID: uuid.NewString(), JobID: job, Path: "x", Size: 1, SHA256: strings.Repeat("0", 64)}
		if _, err := st.Save(newOp("job", job, contract.ActionCreate, map[string]string{"title": "T"}), photo); err == nil {
			t.Fatal("save with an unwritable view succeeded")
		}
		if out, _ := st.Outbox(); len(out) != 0 {
			t.Errorf("%d operations kept from a failed save", len(out))
		}
		if ph, _ := st.Photos(""); len(ph) != 0 {
			t.Errorf("%d photo rows kept from a failed save", len(ph))
		}
		if e, _ := st.Record(job); e != nil {
			t.Error("a record kept from a failed save")
		}
	})
}

func TestViewsAreTheServersCopyWithPendingEditsOnTop(t *testing.T) {
	st := openStore(t)
	job := uuid.NewString()
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{serverJob(job, 1, map[string]string{"title": "Pump", "site_address": "12 Quay St"})}, Cursor: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Save(newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Pump seal"}), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Save(newOp("job", job, contract.ActionUpdate, map[string]string{"description": "Leaks"}), nil); err != nil {
		t.Fatal(err)
	}
	e, _ := st.Record(job)
	if e.Server.Text("title") != "Pump" {
		t.Errorf("server copy title %q, want the server's Pump", e.Server.Text("title"))
	}
	if e.View.Text("title") != "Pump seal" || e.View.Text("description") != "Leaks" || e.View.Text("site_address") != "12 Quay St" {
		t.Errorf("view %s, want both edits on the server's copy", e.View.Fields)
	}

	// A newer copy from the server: the pending edits go on top of it.
	newer := serverJob(job, 2, map[string]string{"title": "Pump", "site_address": "14 Quay St"})
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{newer}, Cursor: "c2"}); err != nil {
		t.Fatal(err)
	}
	e, _ = st.Record(job)
	if e.View.Text("site_address") != "14 Quay St" || e.View.Text("title") != "Pump seal" {
		t.Errorf("after a newer server copy, view %s", e.View.Fields)
	}

	t.Run("an item's view is given its parent's view", func(t *testing.T) {
		var parentTitle string
		st.SetRebaser(localstore.RebaseFunc(func(server, parent *contract.Record, ops []contract.Operation) *contract.Record {
			if parent != nil {
				parentTitle = parent.Text("title")
			}
			return applyValues(server, parent, ops)
		}))
		defer st.SetRebaser(localstore.RebaseFunc(applyValues))
		note := uuid.NewString()
		if _, err := st.Save(newOp("note", note, contract.ActionAppend, map[string]string{"job_id": job, "text": "hello"}), nil); err != nil {
			t.Fatal(err)
		}
		if parentTitle != "Pump seal" {
			t.Errorf("the rebaser was given parent title %q, want the job's view", parentTitle)
		}
		items, _ := st.Items(job)
		if len(items) != 1 || items[0].View.ID != note || items[0].View.Text("text") != "hello" {
			t.Errorf("items of the job: %+v", items)
		}
	})

	t.Run("Rebase recomputes views with a new rebaser", func(t *testing.T) {
		st.SetRebaser(localstore.RebaseFunc(func(server, parent *contract.Record, ops []contract.Operation) *contract.Record {
			v := applyValues(server, parent, ops)
			v.Fields["title"] = contract.Text(strings.ToUpper(v.Text("title")))
			return v
		}))
		defer st.SetRebaser(localstore.RebaseFunc(applyValues))
		if err := st.Rebase(job); err != nil {
			t.Fatal(err)
		}
		if got := title(t, st, job); got != "PUMP SEAL" {
			t.Errorf("after Rebase: %q", got)
		}
	})
}

func TestWithoutARebaserViewsAreTheServersCopy(t *testing.T) {
	dir := t.TempDir()
	st, err := localstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	job := pulledJob(t, st)
	if _, err := st.Save(newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Seal"}), nil); err != nil {
		t.Fatal(err)
	}
	if got := title(t, st, job); got != "Pump" {
		t.Errorf("view %q, want the server's copy", got)
	}
}

func TestSaveResultsMovesOperationsToTheirStates(t *testing.T) {
	tests := []struct {
		name      string
		result    func(op contract.Operation) contract.Result
		state     string
		attempts  int
		lastError string
		inView    bool // whether the edit still shows
	}{
		{"an applied edit waits for the pull, still shown",
			func(op contract.Operation) contract.Result {
				return contract.Result{OpID: op.ID, Outcome: contract.Applied, Versions: map[string]int64{"summary": 2}}
			}, localstore.Applied, 1, "", true},
		{"an edit applied before, answered from the server's memory, counts as applied",
			func(op contract.Operation) contract.Result {
				first := contract.Result{OpID: op.ID, Outcome: contract.Applied}
				return contract.Result{OpID: op.ID, Outcome: contract.AlreadyApplied, First: &first}
			}, localstore.Applied, 1, "", true},
		{"a held edit waits for review and leaves the view",
			func(op contract.Operation) contract.Result {
				return contract.Result{OpID: op.ID, Outcome: contract.Held, Code: contract.CodeConflict, ReviewID: uuid.NewString(), Message: "needs review"}
			}, localstore.Held, 1, "", false},
		{"a refused edit is kept for the user and leaves the view",
			func(op contract.Operation) contract.Result {
				return contract.Result{OpID: op.ID, Outcome: contract.Refused, Code: contract.CodeLocked, Message: "This job is closed."}
			}, localstore.Refused, 1, "", false},
		{"a refusal a retry may cure stays queued with the error",
			func(op contract.Operation) contract.Result {
				return contract.Result{OpID: op.ID, Outcome: contract.Refused, Code: contract.CodeInternal, Message: "try again", Retry: true}
			}, localstore.Queued, 1, "try again", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			job := pulledJob(t, st)
			op := newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Seal"})
			if _, err := st.Save(op, nil); err != nil {
				t.Fatal(err)
			}
			res := tt.result(op)
			if err := st.SaveResults([]contract.Result{res}, nil); err != nil {
				t.Fatal(err)
			}
			out, _ := st.Outbox()
			if len(out) != 1 {
				t.Fatalf("outbox has %d rows", len(out))
			}
			p := out[0]
			if p.State != tt.state || p.Attempts != tt.attempts || p.LastError != tt.lastError {
				t.Errorf("state %s attempts %d error %q, want %s %d %q", p.State, p.Attempts, p.LastError, tt.state, tt.attempts, tt.lastError)
			}
			if tt.state == localstore.Held || tt.state == localstore.Refused {
				if p.Result == nil || p.Result.Outcome != res.Outcome || p.Result.Message != res.Message {
					t.Errorf("stored result %+v, want the server's answer", p.Result)
				}
			}
			if got := title(t, st, job) == "Seal"; got != tt.inView {
				t.Errorf("edit shown in view: %v, want %v", got, tt.inView)
			}
			q, h, r, _ := st.Counts()
			want := map[string][3]int{localstore.Queued: {1, 0, 0}, localstore.Held: {0, 1, 0}, localstore.Refused: {0, 0, 1}, localstore.Applied: {0, 0, 0}}[tt.state]
			if [3]int{q, h, r} != want {
				t.Errorf("counts %d/%d/%d, want %v", q, h, r, want)
			}
		})
	}
}

func TestSaveResultsForAnUnknownOperationIsHarmless(t *testing.T) {
	st := openStore(t)
	if err := st.SaveResults([]contract.Result{{OpID: uuid.NewString(), Outcome: contract.Applied}}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestARefusedCreateLeavesTheViewButKeepsTheOperation(t *testing.T) {
	st := openStore(t)
	job := uuid.NewString()
	op := newOp("job", job, contract.ActionCreate, map[string]string{"title": "New"})
	if _, err := st.Save(op, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveResults([]contract.Result{{OpID: op.ID, Outcome: contract.Refused, Code: contract.CodeForbidden, Message: "no"}}, nil); err != nil {
		t.Fatal(err)
	}
	if e, _ := st.Record(job); e != nil {
		t.Error("a refused create still shows")
	}
	if out, _ := st.PendingFor(job); len(out) != 1 || out[0].State != localstore.Refused {
		t.Errorf("the refused create is not kept: %+v", out)
	}
}

func TestOutboxStatesNameTheJobOfAnItem(t *testing.T) {
	st := openStore(t)
	job := pulledJob(t, st)
	queued := newOp("note", uuid.NewString(), contract.ActionAppend, map[string]string{"job_id": job, "text": "one"})
	refused := newOp("part", uuid.NewString(), contract.ActionAppend, map[string]string{"job_id": job, "sku": "S"})
	for _, op := range []contract.Operation{queued, refused} {
		if _, err := st.Save(op, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SaveResults([]contract.Result{{OpID: refused.ID, Outcome: contract.Refused, Code: contract.CodeLocked, Message: "This job is signed off."}}, nil); err != nil {
		t.Fatal(err)
	}
	rows, err := st.OutboxStates()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]localstore.OutboxState{}
	for _, r := range rows {
		got[r.RecordID] = r
	}
	if r := got[queued.RecordID]; r.ParentID != job || r.State != localstore.Queued || r.RecordType != "note" {
		t.Errorf("queued note: %+v, want parent %s", r, job)
	}
	r := got[refused.RecordID]
	if r.State != localstore.Refused || r.Result == nil || r.Result.Message != "This job is signed off." {
		t.Errorf("refused part: %+v", r)
	}
	if r.ParentID != job {
		t.Fatalf("OutboxStates gives a refused item no parent (got %q, want job %s): rebaseTx deletes the item's record row when its append is refused, and ParentID comes only from records.parent_id, so the job never shows the item's \"Not sent\"", r.ParentID, job)
	}
}

func TestQueuedNoteAttemptAndCounts(t *testing.T) {
	st := openStore(t)
	var ops []contract.Operation
	for i := range 5 {
		op := newOp("note", uuid.NewString(), contract.ActionAppend, map[string]string{"job_id": uuid.NewString(), "text": strings.Repeat("x", i+1)})
		ops = append(ops, op)
		if _, err := st.Save(op, nil); err != nil {
			t.Fatal(err)
		}
	}
	first, err := st.Queued(0, 3)
	if err != nil || len(first) != 3 {
		t.Fatalf("Queued(3): %d rows, %v", len(first), err)
	}
	for i, p := range first {
		if p.Op.ID != ops[i].ID {
			t.Errorf("queued row %d is %s, want the operations in the order they were made", i, p.Op.ID)
		}
	}
	if !(first[0].Seq < first[1].Seq && first[1].Seq < first[2].Seq) {
		t.Errorf("sequence numbers not increasing: %d %d %d", first[0].Seq, first[1].Seq, first[2].Seq)
	}
	if err := st.NoteAttempt([]int64{first[0].Seq, first[1].Seq}, "no connection to the server"); err != nil {
		t.Fatal(err)
	}
	out, _ := st.Outbox()
	if out[0].Attempts != 1 || out[0].LastError != "no connection to the server" || out[2].Attempts != 0 {
		t.Errorf("after NoteAttempt: %+v / %+v", out[0], out[2])
	}
	if out[0].State != localstore.Queued {
		t.Errorf("a failed try changed the state to %s", out[0].State)
	}
	if q, h, r, _ := st.Counts(); q != 5 || h != 0 || r != 0 {
		t.Errorf("counts %d/%d/%d", q, h, r)
	}
	if err := st.SaveResults([]contract.Result{{OpID: ops[0].ID, Outcome: contract.Applied}}, nil); err != nil {
		t.Fatal(err)
	}
	next, _ := st.Queued(0, 10)
	if len(next) != 4 || next[0].Op.ID != ops[1].ID {
		t.Errorf("after the first is applied Queued starts at %v", next)
	}
}

func TestApplyPullAndSettle(t *testing.T) {
	st := openStore(t)
	job := uuid.NewString()
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{serverJob(job, 1, map[string]string{"title": "Pump"})}, Cursor: "c1"}); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.Cursor(); c != "c1" {
		t.Fatalf("cursor %q", c)
	}
	applied := newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Seal"})
	heldResolved := newOp("job", job, contract.ActionTransition, map[string]string{"status": "completed"})
	heldOpen := newOp("job", job, contract.ActionUpdate, map[string]string{"labor_minutes": "30"})
	refused := newOp("job", job, contract.ActionUpdate, map[string]string{"signer_name": "Lee"})
	late := newOp("job", job, contract.ActionUpdate, map[string]string{"description": "late"})
	for _, op := range []contract.Operation{applied, heldResolved, heldOpen, refused} {
		if _, err := st.Save(op, nil); err != nil {
			t.Fatal(err)
		}
	}
	resolvedReview, openReview := uuid.NewString(), uuid.NewString()
	if err := st.SaveResults([]contract.Result{
		{OpID: applied.ID, Outcome: contract.Applied},
		{OpID: heldResolved.ID, Outcome: contract.Held, ReviewID: resolvedReview, Code: contract.CodeConflict},
		{OpID: heldOpen.ID, Outcome: contract.Held, ReviewID: openReview, Code: contract.CodeConflict},
		{OpID: refused.ID, Outcome: contract.Refused, Code: contract.CodeWriteOnce, Message: "signature is already set"},
	}, nil); err != nil {
		t.Fatal(err)
	}
	upTo, err := st.LastApplied()
	if err != nil || upTo == 0 {
		t.Fatalf("LastApplied %d %v", upTo, err)
	}
	// Saved and applied after the pull started: not settled by it.
	if _, err := st.Save(late, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveResults([]contract.Result{{OpID: late.ID, Outcome: contract.Applied}}, nil); err != nil {
		t.Fatal(err)
	}

	pulled := serverJob(job, 5, map[string]string{"title": "Seal"})
	pulled.Versions["summary"] = 2
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{pulled},
		Reviews: []contract.Review{
			{ID: resolvedReview, RecordID: job, RecordType: "job", Group: "status", Status: "resolved"},
			{ID: openReview, RecordID: job, RecordType: "job", Group: "work", Status: "open"},
		}, Cursor: "c2"}); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.Cursor(); c != "c2" {
		t.Errorf("cursor %q after the pull", c)
	}
	n, err := st.Settle(upTo)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Settle removed %d operations, want 2 (the applied one and the held one whose review is resolved)", n)
	}
	got := states(t, st)
	want := map[string]string{heldOpen.ID: localstore.Held, refused.ID: localstore.Refused, late.ID: localstore.Applied}
	if len(got) != len(want) {
		t.Errorf("outbox after Settle: %v, want %v", got, want)
	}
	for id, s := range want {
		if got[id] != s {
			t.Errorf("operation %s: %q, want %q", id, got[id], s)
		}
	}
	e, _ := st.Record(job)
	if e.Server.Text("title") != "Seal" || e.View.Text("title") != "Seal" || e.View.Text("description") != "late" {
		t.Errorf("after settle: server %s, view %s", e.Server.Fields, e.View.Fields)
	}
	open, _ := st.Reviews(true)
	all, _ := st.Reviews(false)
	if len(open) != 1 || open[0].ID != openReview || len(all) != 2 {
		t.Errorf("reviews: %d open, %d in all", len(open), len(all))
	}
	needs, _ := st.NeedsReview()
	if _, ok := needs[job]; !ok || len(needs) != 1 {
		t.Errorf("NeedsReview %v, want the job", needs)
	}

	// A later pull that settles the late edit too leaves only what the user must see.
	upTo, _ = st.LastApplied()
	if err := st.ApplyPull(contract.PullResponse{Cursor: "c3"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.Settle(upTo); n != 1 {
		t.Errorf("second Settle removed %d, want 1", n)
	}
	if e, _ := st.Record(job); e.View.Text("description") != "" {
		t.Errorf("the settled edit still shows on top of a server copy without it: %s", e.View.Fields)
	}
}

func TestApplyPullStoresRecordsWithoutPendingEditsAsTheServerSentThem(t *testing.T) {
	st := openStore(t)
	var recs []contract.Record
	for i := range 50 {
		recs = append(recs, serverJob(uuid.NewString(), int64(i+1), map[string]string{"title": "Job"}))
	}
	if err := st.ApplyPull(contract.PullResponse{Records: recs, Cursor: "c"}); err != nil {
		t.Fatal(err)
	}
	all, err := st.Records("job")
	if err != nil || len(all) != 50 {
		t.Fatalf("records: %d %v", len(all), err)
	}
	for i, e := range all {
		if e.Server == nil || e.View.ID != recs[i].ID || e.View.Seq != recs[i].Seq {
			t.Fatalf("record %d: %+v", i, e)
		}
	}
}

func TestDropRemovesAnOperationAndItsEffect(t *testing.T) {
	st := openStore(t)
	job := pulledJob(t, st)
	keep := newOp("job", job, contract.ActionUpdate, map[string]string{"description": "kept"})
	drop := newOp("job", job, contract.ActionUpdate, map[string]string{"title": "dropped"})
	for _, op := range []contract.Operation{keep, drop} {
		if _, err := st.Save(op, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Drop(drop.ID); err != nil {
		t.Fatal(err)
	}
	e, _ := st.Record(job)
	if e.View.Text("title") != "Pump" || e.View.Text("description") != "kept" {
		t.Errorf("view after Drop: %s", e.View.Fields)
	}
	if got := states(t, st); len(got) != 1 || got[keep.ID] == "" {
		t.Errorf("outbox after Drop: %v", got)
	}
	if err := st.Drop(uuid.NewString()); err != nil {
		t.Errorf("dropping an unknown operation: %v", err)
	}
	if err := st.Drop(drop.ID); err != nil {
		t.Errorf("dropping twice: %v", err)
	}
}

func TestHistoryIsKeptAsLastFetched(t *testing.T) {
	st := openStore(t)
	job := uuid.NewString()
	if h, at, err := st.History(job); h != nil || !at.IsZero() || err != nil {
		t.Fatalf("history of an unknown record: %v %v %v", h, at, err)
	}
	changes := []contract.Change{{ID: 1, RecordID: job, Group: "summary", Field: "title", Old: contract.Text("a"), New: contract.Text("b")}}
	if err := st.SetHistory(job, changes); err != nil {
		t.Fatal(err)
	}
	got, at, err := st.History(job)
	if err != nil || len(got) != 1 || got[0].Field != "title" || at.IsZero() {
		t.Fatalf("history: %+v %v %v", got, at, err)
	}
	if !slices.Equal(got[0].New, changes[0].New) {
		t.Errorf("new value %s", got[0].New)
	}
}
