package localstore_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/wirejson"
	"fieldsync/localstore"

	"github.com/google/uuid"
)

// A push answer carries the server's copies of the records it wrote.
// SaveResults keeps them as the device's server copies, in the same
// transaction that ends the operations they answer.

// copyOf is a record as a push answer carries it.
func copyOf(t testing.TB, rec contract.Record) json.RawMessage {
	t.Helper()
	b, err := wirejson.MarshalRecord(&rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serverNote is a note on a job as a server would send it, at seq.
func serverNote(id, job string, seq int64, text string) contract.Record {
	return contract.Record{Type: "note", ID: id, ParentID: job, Fields: map[string]json.RawMessage{"text": contract.Text(text)},
		Versions: map[string]int64{"body": 1}, Author: "u-alex", DeviceID: "dev-1", DeviceTime: time.Now().UTC(), Seq: seq}
}

// entry returns a record as the device holds it, failing the test when it
// has none.
func entry(t testing.TB, st *localstore.Store, id string) *localstore.Entry {
	t.Helper()
	e, err := st.Record(id)
	if err != nil {
		t.Fatal(err)
	}
	if e == nil {
		t.Fatalf("the device has no record %s", id)
	}
	return e
}

// sameRecord reports how two records differ as JSON, or "" when they do not.
func sameRecord(got, want *contract.Record) string {
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	if string(a) == string(b) {
		return ""
	}
	return fmt.Sprintf("got %s, want %s", a, b)
}

// serverSeqs reads records.server_seq behind the store's back.
func serverSeqs(t testing.TB, dir string, ids ...string) []int64 {
	t.Helper()
	db := rawDB(t, dir)
	out := make([]int64, len(ids))
	for i, id := range ids {
		if err := db.QueryRow(`SELECT server_seq FROM records WHERE id = ?`, id).Scan(&out[i]); err != nil {
			t.Fatalf("server_seq of %s: %v", id, err)
		}
	}
	return out
}

func saveOps(t testing.TB, st *localstore.Store, ops ...contract.Operation) {
	t.Helper()
	for _, op := range ops {
		if _, err := st.Save(op, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppliedOperationsWhoseCopiesCameBackLeaveTheOutbox(t *testing.T) {
	dir := t.TempDir()
	st := openStoreIn(t, dir)
	job := uuid.NewString()
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{serverJob(job, 1, map[string]string{"title": "Pump", "site_address": "12 Quay St"})}, Cursor: "c1"}); err != nil {
		t.Fatal(err)
	}
	edit := newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Pump seal"})
	note := uuid.NewString()
	add := newOp("note", note, contract.ActionAppend, map[string]string{"job_id": job, "text": "Seal is worn through."})
	saveOps(t, st, edit, add)

	// The server's copies: its own view of the job (the office moved the
	// site meanwhile) and the new note.
	jobCopy := serverJob(job, 7, map[string]string{"title": "Pump seal", "site_address": "14 Quay St"})
	jobCopy.Versions["summary"] = 2
	noteCopy := serverNote(note, job, 8, "Seal is worn through.")
	if err := st.SaveResults([]contract.Result{
		{OpID: edit.ID, Outcome: contract.Applied, RecordID: job, Versions: jobCopy.Versions},
		{OpID: add.ID, Outcome: contract.Applied, RecordID: note},
	}, []json.RawMessage{copyOf(t, jobCopy), copyOf(t, noteCopy)}); err != nil {
		t.Fatal(err)
	}

	if out, _ := st.Outbox(); len(out) != 0 {
		t.Errorf("%d operations still in the outbox after their copies came back, want none: %+v", len(out), out)
	}
	if upTo, _ := st.LastApplied(); upTo != 0 {
		t.Errorf("an operation still waits for a pull (LastApplied %d) although its copy came back", upTo)
	}
	e := entry(t, st, job)
	if diff := sameRecord(e.Server, &jobCopy); diff != "" {
		t.Errorf("the job's server copy is not the one the answer carried: %s", diff)
	}
	if diff := sameRecord(e.View, &jobCopy); diff != "" {
		t.Errorf("with nothing pending the job should show the server's copy: %s", diff)
	}
	items, err := st.Items(job)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Server == nil || items[0].View.ID != note {
		t.Fatalf("the job's items after the answer: %+v, want the note with its server copy", items)
	}
	if diff := sameRecord(items[0].Server, &noteCopy); diff != "" {
		t.Errorf("the note's server copy: %s", diff)
	}
	if diff := sameRecord(items[0].View, &noteCopy); diff != "" {
		t.Errorf("the note shows something other than the server's copy: %s", diff)
	}
	if seqs := serverSeqs(t, dir, job, note); seqs[0] != 7 || seqs[1] != 8 {
		t.Errorf("server_seq of the job and the note: %v, want [7 8] from the copies", seqs)
	}
}

func TestAnAlreadyAppliedAnswerWithItsCopyAlsoLeavesTheOutbox(t *testing.T) {
	st := openStore(t)
	job := pulledJob(t, st)
	op := newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Seal"})
	saveOps(t, st, op)
	first := contract.Result{OpID: op.ID, Outcome: contract.Applied, RecordID: job}
	if err := st.SaveResults([]contract.Result{{OpID: op.ID, Outcome: contract.AlreadyApplied, RecordID: job, First: &first}},
		[]json.RawMessage{copyOf(t, serverJob(job, 3, map[string]string{"title": "Seal"}))}); err != nil {
		t.Fatal(err)
	}
	if out, _ := st.Outbox(); len(out) != 0 {
		t.Errorf("a replayed edit answered with its copy is still in the outbox: %+v", out)
	}
	if e := entry(t, st, job); e.Server.Seq != 3 || e.View.Text("title") != "Seal" {
		t.Errorf("after the replay's answer: server seq %d, view title %q; want 3 and Seal", e.Server.Seq, e.View.Text("title"))
	}
}

func TestACopyLeavesTheViewAloneWhileAnotherEditIsPending(t *testing.T) {
	st := openStore(t)
	job := uuid.NewString()
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{serverJob(job, 1, map[string]string{"title": "Pump", "site_address": "12 Quay St"})}}); err != nil {
		t.Fatal(err)
	}
	first := newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Pump seal"})
	second := newOp("job", job, contract.ActionUpdate, map[string]string{"description": "Leaks at the shaft"})
	saveOps(t, st, first, second)
	before := entry(t, st, job).View

	// Only the first edit was in the batch; the second is still on its way.
	copy1 := serverJob(job, 4, map[string]string{"title": "Pump seal", "site_address": "14 Quay St"})
	if err := st.SaveResults([]contract.Result{{OpID: first.ID, Outcome: contract.Applied, RecordID: job}}, []json.RawMessage{copyOf(t, copy1)}); err != nil {
		t.Fatal(err)
	}
	got := states(t, st)
	if _, ok := got[first.ID]; ok || got[second.ID] != localstore.Queued || len(got) != 1 {
		t.Errorf("outbox %v, want only the second edit, still queued", got)
	}
	e := entry(t, st, job)
	if diff := sameRecord(e.Server, &copy1); diff != "" {
		t.Errorf("the server copy is not the answer's copy: %s", diff)
	}
	if e.View.Text("description") != "Leaks at the shaft" || e.View.Text("title") != "Pump seal" {
		t.Errorf("while the second edit is pending the view shows title %q, description %q; want both edits",
			e.View.Text("title"), e.View.Text("description"))
	}
	if diff := sameRecord(e.View, before); diff != "" {
		t.Errorf("with an edit pending the view should be left as it was: %s", diff)
	}

	// The second edit's answer settles the record on the server's copy.
	copy2 := serverJob(job, 5, map[string]string{"title": "Pump seal", "site_address": "14 Quay St", "description": "Leaks at the shaft"})
	if err := st.SaveResults([]contract.Result{{OpID: second.ID, Outcome: contract.Applied, RecordID: job}}, []json.RawMessage{copyOf(t, copy2)}); err != nil {
		t.Fatal(err)
	}
	if out, _ := st.Outbox(); len(out) != 0 {
		t.Errorf("outbox after both answers: %+v, want empty", out)
	}
	e = entry(t, st, job)
	if diff := sameRecord(e.View, &copy2); diff != "" {
		t.Errorf("with nothing pending the view should be the server's copy: %s", diff)
	}
}

func TestAnAppliedResultWithoutItsCopyWaitsForThePull(t *testing.T) {
	st := openStore(t)
	job := pulledJob(t, st)
	op := newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Seal"})
	saveOps(t, st, op)
	// The answer carries a copy of some other record only, as when the
	// edited record is one the user no longer sees.
	other := serverNote(uuid.NewString(), uuid.NewString(), 9, "someone else's")
	if err := st.SaveResults([]contract.Result{{OpID: op.ID, Outcome: contract.Applied, RecordID: job}}, []json.RawMessage{copyOf(t, other)}); err != nil {
		t.Fatal(err)
	}
	out, _ := st.Outbox()
	if len(out) != 1 || out[0].State != localstore.Applied || out[0].Attempts != 1 {
		t.Fatalf("outbox %+v, want the edit applied and waiting for the pull", out)
	}
	if upTo, _ := st.LastApplied(); upTo != out[0].Seq {
		t.Errorf("LastApplied %d, want %d: the pull must bring the edit back", upTo, out[0].Seq)
	}
	e := entry(t, st, job)
	if e.Server.Seq != 1 || e.View.Text("title") != "Seal" {
		t.Errorf("without its copy the job keeps server seq %d and shows %q; want 1 and the edit, Seal", e.Server.Seq, e.View.Text("title"))
	}
	if o := entry(t, st, other.ID); o.Server == nil || o.Server.Seq != 9 {
		t.Errorf("the other record's copy was not kept: %+v", o.Server)
	}

	// The pull brings the edit back and settles it, as before copies.
	upTo, _ := st.LastApplied()
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{serverJob(job, 10, map[string]string{"title": "Seal"})}, Cursor: "c10"}); err != nil {
		t.Fatal(err)
	}
	if n, err := st.Settle(upTo); err != nil || n != 1 {
		t.Errorf("Settle: %d, %v; want the applied edit settled", n, err)
	}
}

func TestAnOlderCopyNeverReplacesANewerOne(t *testing.T) {
	dir := t.TempDir()
	st := openStoreIn(t, dir)
	job := uuid.NewString()
	newer := serverJob(job, 9, map[string]string{"title": "Pump seal and gasket"})
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{newer}}); err != nil {
		t.Fatal(err)
	}
	older := serverJob(job, 5, map[string]string{"title": "Pump seal"})
	if err := st.SaveResults(nil, []json.RawMessage{copyOf(t, older)}); err != nil {
		t.Fatal(err)
	}
	e := entry(t, st, job)
	if diff := sameRecord(e.Server, &newer); diff != "" {
		t.Errorf("an older copy replaced the newer server copy: %s", diff)
	}
	if diff := sameRecord(e.View, &newer); diff != "" {
		t.Errorf("an older copy changed the view: %s", diff)
	}
	if seq := serverSeqs(t, dir, job)[0]; seq != 9 {
		t.Errorf("server_seq %d after an older copy, want 9", seq)
	}

	// A copy at the same place in the change stream does replace it.
	same := serverJob(job, 9, map[string]string{"title": "Pump seal and gasket", "description": "from the answer"})
	if err := st.SaveResults(nil, []json.RawMessage{copyOf(t, same)}); err != nil {
		t.Fatal(err)
	}
	if e := entry(t, st, job); e.Server.Text("description") != "from the answer" || e.View.Text("description") != "from the answer" {
		t.Errorf("a copy with the same seq was not kept: server %s, view %s", e.Server.Fields, e.View.Fields)
	}
}

func TestACopyThatIsNotARecordChangesNothing(t *testing.T) {
	st := openStore(t)
	job := pulledJob(t, st)
	op := newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Seal"})
	saveOps(t, st, op)
	good := copyOf(t, serverJob(job, 4, map[string]string{"title": "Seal"}))
	for _, bad := range []string{`{"foo":1}`, `[1,2]`, `"a job"`, `null`, `{"id":"` + job + `"}`, `{"type":"job"}`, `{"type":"job","id":`} {
		err := st.SaveResults([]contract.Result{{OpID: op.ID, Outcome: contract.Applied, RecordID: job}}, []json.RawMessage{good, json.RawMessage(bad)})
		if err == nil {
			t.Errorf("SaveResults took %s as a record copy", bad)
		}
		out, _ := st.Outbox()
		if len(out) != 1 || out[0].State != localstore.Queued || out[0].Attempts != 0 {
			t.Fatalf("after an answer with copy %s the outbox is %+v, want the edit queued as before", bad, out)
		}
		if e := entry(t, st, job); e.Server.Seq != 1 || e.View.Text("title") != "Seal" {
			t.Fatalf("after an answer with copy %s the job has server seq %d and shows %q, want 1 and the pending Seal",
				bad, e.Server.Seq, e.View.Text("title"))
		}
	}
}

func TestAHeldEditLeavesTheViewWhichBecomesTheCopy(t *testing.T) {
	st := openStore(t)
	job := uuid.NewString()
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{serverJob(job, 1, map[string]string{"title": "Pump", "status": "in_progress"})}}); err != nil {
		t.Fatal(err)
	}
	op := newOp("job", job, contract.ActionTransition, map[string]string{"status": "completed"})
	saveOps(t, st, op)
	// The server holds the move and marks its job as needing review.
	marked := serverJob(job, 6, map[string]string{"title": "Pump", "status": "waiting_for_approval"})
	marked.OpenReviews = []string{"status"}
	if err := st.SaveResults([]contract.Result{{OpID: op.ID, Outcome: contract.Held, RecordID: job, ReviewID: uuid.NewString(), Code: contract.CodeConflict, Message: "needs review"}},
		[]json.RawMessage{copyOf(t, marked)}); err != nil {
		t.Fatal(err)
	}
	if got := states(t, st); got[op.ID] != localstore.Held {
		t.Errorf("the held move is %q, want held", got[op.ID])
	}
	e := entry(t, st, job)
	if diff := sameRecord(e.View, &marked); diff != "" {
		t.Errorf("a held move should leave the view, which shows the server's copy needing review: %s", diff)
	}
}

func TestQueuedStartsAfterTheGivenOperation(t *testing.T) {
	st := openStore(t)
	var ops []contract.Operation
	for i := range 5 {
		op := newOp("note", uuid.NewString(), contract.ActionAppend, map[string]string{"job_id": uuid.NewString(), "text": fmt.Sprint("note ", i)})
		ops = append(ops, op)
		saveOps(t, st, op)
	}
	var got []string
	var after int64
	for range 10 {
		page, err := st.Queued(after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 2 {
			t.Fatalf("Queued(%d, 2) gave %d operations", after, len(page))
		}
		for _, p := range page {
			got = append(got, p.Op.ID)
		}
		after = page[len(page)-1].Seq
	}
	var want []string
	for _, op := range ops {
		want = append(want, op.ID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("reading the outbox two at a time gave %v, want every operation once, in the order made: %v", got, want)
	}
}

func TestMigration3TakesServerSeqFromTheServerCopiesKept(t *testing.T) {
	dir := t.TempDir()
	db := rawDB(t, dir)
	for _, stmt := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)`,
		localstore.Migrations[0], localstore.Migrations[1],
		`INSERT INTO schema_migrations(version) VALUES (1), (2)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("building a version 2 store: %v", err)
		}
	}
	// A job the server sent at seq 42, a note only this device has, and a
	// record whose server copy names no seq.
	job, note, bare := uuid.NewString(), uuid.NewString(), uuid.NewString()
	jobDoc := copyOf(t, serverJob(job, 42, map[string]string{"title": "Pump"}))
	noteDoc := copyOf(t, serverNote(note, job, 0, "only here"))
	bareDoc := []byte(`{"type":"job","id":"` + bare + `","fields":{"title":"Old"}}`)
	for _, r := range []struct {
		id, typ      string
		server, view []byte
	}{{job, "job", jobDoc, jobDoc}, {note, "note", nil, noteDoc}, {bare, "job", bareDoc, bareDoc}} {
		if _, err := db.Exec(`INSERT INTO records(id, type, server, view) VALUES (?, ?, ?, ?)`, r.id, r.typ, r.server, r.view); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	st := openStoreIn(t, dir)
	var version int
	if err := rawDB(t, dir).QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil || version != 3 {
		t.Fatalf("after opening a version 2 store: schema version %d (%v), want 3", version, err)
	}
	if seqs := serverSeqs(t, dir, job, note, bare); seqs[0] != 42 || seqs[1] != 0 || seqs[2] != 0 {
		t.Errorf("server_seq after migration 3: job %d, device-only note %d, copy without seq %d; want 42, 0, 0", seqs[0], seqs[1], seqs[2])
	}
	if e := entry(t, st, job); e.Server == nil || e.Server.Seq != 42 || e.View.Text("title") != "Pump" {
		t.Errorf("the migrated job: %+v", e)
	}

	// The migrated seq guards the copy: an older one from a push answer is
	// ignored, a newer one kept.
	if err := st.SaveResults(nil, []json.RawMessage{copyOf(t, serverJob(job, 41, map[string]string{"title": "Older"}))}); err != nil {
		t.Fatal(err)
	}
	if got := entry(t, st, job).View.Text("title"); got != "Pump" {
		t.Errorf("a copy at seq 41 replaced the migrated copy at 42: the job shows %q", got)
	}
	if err := st.SaveResults(nil, []json.RawMessage{copyOf(t, serverJob(job, 43, map[string]string{"title": "Newer"}))}); err != nil {
		t.Fatal(err)
	}
	if got := entry(t, st, job).View.Text("title"); got != "Newer" {
		t.Errorf("a copy at seq 43 did not replace the migrated copy at 42: the job shows %q", got)
	}
}

// An edit answered with a copy older than the one the device holds is in
// that newer copy already: it leaves the outbox, and the view shows the
// newer copy rather than the edit on top of it.
func TestAnEditAnsweredWithAnOlderCopyShowsTheNewerOne(t *testing.T) {
	st := openStore(t)
	job := uuid.NewString()
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{serverJob(job, 3, map[string]string{"title": "Pump"})}}); err != nil {
		t.Fatal(err)
	}
	op := newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Seal"})
	saveOps(t, st, op)
	newer := serverJob(job, 9, map[string]string{"title": "Seal and gasket"})
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{newer}}); err != nil {
		t.Fatal(err)
	}
	older := serverJob(job, 5, map[string]string{"title": "Seal"})
	if err := st.SaveResults([]contract.Result{{OpID: op.ID, Outcome: contract.Applied, RecordID: job}}, []json.RawMessage{copyOf(t, older)}); err != nil {
		t.Fatal(err)
	}
	if out, _ := st.Outbox(); len(out) != 0 {
		t.Fatalf("outbox %+v, want the answered edit gone", out)
	}
	e := entry(t, st, job)
	if diff := sameRecord(e.Server, &newer); diff != "" {
		t.Errorf("server copy: %s", diff)
	}
	if diff := sameRecord(e.View, &newer); diff != "" {
		t.Errorf("with nothing pending the view is not the newer server copy: %s", diff)
	}
}

// After an answer that was a replay, the device must not ask a pull to
// leave anything out until a pull has brought everything.
func TestAReplayedAnswerMakesTheNextPullBringEverything(t *testing.T) {
	dir := t.TempDir()
	st := openStoreIn(t, dir)
	job := uuid.NewString()
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{serverJob(job, 3, map[string]string{"title": "Pump"})}, Cursor: "c3"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.MayOmitAnswered(); err != nil || !ok {
		t.Fatalf("with a cursor and nothing waiting: may omit %v (%v), want true", ok, err)
	}
	op := newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Seal"})
	saveOps(t, st, op)
	first := contract.Result{OpID: op.ID, Outcome: contract.Applied, RecordID: job}
	replay := contract.Result{OpID: op.ID, Outcome: contract.AlreadyApplied, RecordID: job, First: &first}
	if err := st.SaveResults([]contract.Result{replay}, []json.RawMessage{copyOf(t, serverJob(job, 4, map[string]string{"title": "Seal"}))}); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.MayOmitAnswered(); err != nil || ok {
		t.Fatalf("after a replayed answer: may omit %v (%v), want false", ok, err)
	}
	// A restart keeps it: it is in the store.
	st.Close()
	st = openStoreIn(t, dir)
	if ok, err := st.MayOmitAnswered(); err != nil || ok {
		t.Fatalf("after a replayed answer and a restart: may omit %v (%v), want false", ok, err)
	}
	if err := st.PulledAll(); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.MayOmitAnswered(); err != nil || !ok {
		t.Fatalf("after a pull that brought everything: may omit %v (%v), want true", ok, err)
	}
}

func TestAFirstPullLeavesNothingOut(t *testing.T) {
	st := openStore(t)
	if ok, err := st.MayOmitAnswered(); err != nil || ok {
		t.Fatalf("an empty store: may omit %v (%v), want false", ok, err)
	}
}

// The sync lane sends operations as they were saved: Outgoing gives each
// queued one's JSON untouched, with its kind, in order, after a given one,
// and nothing that is no longer queued.
func TestOutgoingGivesQueuedOperationsAsSaved(t *testing.T) {
	st := openStore(t)
	job := uuid.NewString()
	note := newOp("note", uuid.NewString(), contract.ActionAppend, map[string]string{"job_id": job, "text": "Seal \"replaced\" — 3 bolts"})
	edit := newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Pump"})
	held := newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Valve"})
	saveOps(t, st, note, edit, held)
	if err := st.SaveResults([]contract.Result{{OpID: held.ID, Outcome: contract.Held, RecordID: job, ReviewID: uuid.NewString()}}, nil); err != nil {
		t.Fatal(err)
	}
	out, err := st.Outgoing(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Fatalf("Outgoing gave %d operations, want the two still queued", len(out))
	}
	for i, op := range []contract.Operation{note, edit} {
		want, _ := json.Marshal(op)
		if string(out[i].JSON) != string(want) || out[i].RecordType != op.RecordType || out[i].Action != op.Action {
			t.Errorf("operation %d: %s %s %s, want %s %s %s", i, out[i].RecordType, out[i].Action, out[i].JSON, op.RecordType, op.Action, want)
		}
	}
	if rest, err := st.Outgoing(out[0].Seq, 10); err != nil || len(rest) != 1 || rest[0].Seq != out[1].Seq {
		t.Errorf("Outgoing after the first: %+v (%v), want only the second", rest, err)
	}
}
