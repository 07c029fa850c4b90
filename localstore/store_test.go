package localstore_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
	"fieldsync/localstore"

	"github.com/google/uuid"
)

// openStore opens a store in a fresh temp dir with the test rebaser, and
// closes it when the test ends.
func openStore(t testing.TB) *localstore.Store {
	t.Helper()
	return openStoreIn(t, t.TempDir())
}

func openStoreIn(t testing.TB, dir string) *localstore.Store {
	t.Helper()
	st, err := localstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	st.SetRebaser(localstore.RebaseFunc(applyValues))
	t.Cleanup(func() { st.Close() })
	return st
}

// applyValues is a small real rebaser: the server's copy (or a new record,
// for a create or append) with each operation's values set on top, in order.
// A void sets voided; job_id names an item's parent.
func applyValues(server, parent *contract.Record, ops []contract.Operation) *contract.Record {
	view := server.Clone()
	for _, op := range ops {
		if view == nil {
			view = &contract.Record{Type: op.RecordType, ID: op.RecordID, Fields: map[string]json.RawMessage{},
				Versions: map[string]int64{}, DeviceID: op.DeviceID, DeviceTime: op.DeviceTime}
		}
		if op.Action == contract.ActionVoid {
			view.Fields["voided"] = contract.Bool(true)
		}
		for k, v := range op.Values {
			if k == "job_id" {
				_ = json.Unmarshal(v, &view.ParentID)
				continue
			}
			view.Fields[k] = v
		}
	}
	return view
}

// newOp makes an operation from device "dev-1" with text values.
func newOp(typ, recordID string, action contract.Action, values map[string]string) contract.Operation {
	vals := map[string]json.RawMessage{}
	for k, v := range values {
		vals[k] = contract.Text(v)
	}
	return contract.Operation{ID: uuid.NewString(), RecordType: typ, RecordID: recordID, Action: action,
		Bases: map[string]int64{}, Values: vals, DeviceID: "dev-1", DeviceTime: time.Now().UTC()}
}

// serverJob is a job as a server would send it, at seq.
func serverJob(id string, seq int64, fields map[string]string) contract.Record {
	f := map[string]json.RawMessage{}
	for k, v := range fields {
		f[k] = contract.Text(v)
	}
	return contract.Record{Type: "job", ID: id, Number: "J-1001", Fields: f, Versions: map[string]int64{"summary": 1},
		Author: "u-dana", DeviceID: "office", DeviceTime: time.Now().UTC(), Seq: seq}
}

// pulledJob stores a job titled Pump as the server sent it, at seq 1, and
// returns its id.
func pulledJob(t testing.TB, st *localstore.Store) string {
	t.Helper()
	job := uuid.NewString()
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{serverJob(job, 1, map[string]string{"title": "Pump"})}}); err != nil {
		t.Fatal(err)
	}
	return job
}

// rawDB opens a second connection to a store's file, as another process
// would, for looking behind the store's back.
func rawDB(t testing.TB, dir string) *sql.DB {
	t.Helper()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "fieldsync.db")+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenMigratesAFreshFileAndReopens(t *testing.T) {
	dir := t.TempDir()
	st, err := localstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, dir)
	var version, rows int
	if err := db.QueryRow(`SELECT MAX(version), COUNT(*) FROM schema_migrations`).Scan(&version, &rows); err != nil {
		t.Fatal(err)
	}
	if version != 3 || rows != 3 {
		t.Fatalf("after the first open: schema version %d in %d rows, want 3 in 3", version, rows)
	}
	for _, table := range []string{"meta", "records", "outbox", "photos", "reviews", "history", "users"} {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s: found %d (%v)", table, n, err)
		}
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		t.Errorf("journal mode %q (%v), want wal", mode, err)
	}

	// Reopening runs no migration twice and keeps what was saved.
	st = openStoreIn(t, dir)
	if err := st.SetSetting("theme", "dark"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = openStoreIn(t, dir)
	var theme string
	if ok, err := st.Setting("theme", &theme); err != nil || !ok || theme != "dark" {
		t.Fatalf("setting after reopen: %q %v %v", theme, ok, err)
	}
	if err := db.QueryRow(`SELECT MAX(version), COUNT(*) FROM schema_migrations`).Scan(&version, &rows); err != nil {
		t.Fatal(err)
	}
	if version != 3 || rows != 3 {
		t.Fatalf("after reopening: schema version %d in %d rows, want 3 in 3", version, rows)
	}
}

func TestOpenRefusesADatabaseFromANewerApp(t *testing.T) {
	dir := t.TempDir()
	st, err := localstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := rawDB(t, dir).Exec(`INSERT INTO schema_migrations(version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	_, err = localstore.Open(dir)
	if err == nil || !strings.Contains(err.Error(), "update the app") {
		t.Fatalf("open of a version 99 database: %v, want a plea to update the app", err)
	}
}

func TestDeviceIDIsStableAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	st := openStoreIn(t, dir)
	first, err := st.DeviceID()
	if err != nil || !strings.HasPrefix(first, "device-") {
		t.Fatalf("device id %q, %v", first, err)
	}
	again, _ := st.DeviceID()
	st.Close()
	st = openStoreIn(t, dir)
	reopened, err := st.DeviceID()
	if err != nil {
		t.Fatal(err)
	}
	if again != first || reopened != first {
		t.Fatalf("device ids %q, %q, %q: want one id", first, again, reopened)
	}
	other, _ := openStore(t).DeviceID()
	if other == first {
		t.Fatalf("two devices share the id %q", first)
	}
}

// The store takes this device's ids from the maker Open is given: the
// first id, and a fresh one when a reset names none.
func TestDeviceIDsComeFromTheMakerOpenIsGiven(t *testing.T) {
	n := 0
	st, err := localstore.Open(t.TempDir(), localstore.WithDeviceIDs(func() string {
		n++
		return fmt.Sprintf("device-test-%d", n)
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, step := range []struct {
		do   func() error
		want string
	}{
		{func() error { return nil }, "device-test-1"},
		{func() error { return nil }, "device-test-1"},
		{func() error { return st.Reset("") }, "device-test-2"},
		{func() error { return st.Reset("device-chosen") }, "device-chosen"},
	} {
		if err := step.do(); err != nil {
			t.Fatal(err)
		}
		if got, err := st.DeviceID(); err != nil || got != step.want {
			t.Fatalf("device id %q (%v), want %q", got, err, step.want)
		}
	}
	if n != 2 {
		t.Errorf("the maker was asked %d times, want 2: once at first use, once for the reset that named no id", n)
	}
}

func TestDeviceIDIsOneIDUnderConcurrentFirstUse(t *testing.T) {
	st := openStore(t)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], _ = st.DeviceID()
		}()
	}
	wg.Wait()
	final, _ := st.DeviceID()
	for i, id := range ids {
		if id != final {
			t.Fatalf("DeviceID makes a second id when first asked concurrently (caller %d got %q, the store kept %q): the read and the write are not one transaction", i, id, final)
		}
	}
}

func TestSessionSettingsRulesAndUsers(t *testing.T) {
	dir := t.TempDir()
	st := openStoreIn(t, dir)
	if _, ok, err := st.Session(); ok || err != nil {
		t.Fatalf("a fresh store has a session: %v %v", ok, err)
	}
	sess := localstore.Session{ServerURL: "http://127.0.0.1:1", Token: "tok", User: contract.User{ID: "u1", Name: "alex", Role: "technician"},
		ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := st.SetSession(sess); err != nil {
		t.Fatal(err)
	}
	if err := st.SetRules(rulebook.Default()); err != nil {
		t.Fatal(err)
	}
	if err := st.SetUsers([]contract.User{{ID: "u1", Name: "alex"}, {ID: "u2", Name: "sam"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st = openStoreIn(t, dir)
	got, ok, err := st.Session()
	if err != nil || !ok || got.Token != "tok" || got.User.Name != "alex" || !got.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Fatalf("session after reopen: %+v %v %v", got, ok, err)
	}
	rules, ok, err := st.Rules()
	if err != nil || !ok || rules.Record("job") == nil || rules.Limits.Batch != 500 {
		t.Fatalf("rules after reopen: ok=%v err=%v", ok, err)
	}
	users, err := st.Users()
	if err != nil || len(users) != 2 || users["u2"].Name != "sam" {
		t.Fatalf("users after reopen: %v %v", users, err)
	}
	if err := st.SetUsers([]contract.User{{ID: "u3", Name: "dana"}}); err != nil {
		t.Fatal(err)
	}
	if users, _ := st.Users(); len(users) != 1 || users["u3"].Name != "dana" {
		t.Fatalf("SetUsers did not replace the people: %v", users)
	}

	if err := st.ClearSession(); err != nil {
		t.Fatal(err)
	}
	got, ok, err = st.Session()
	if err != nil || ok || got.Token != "" || got.ServerURL != sess.ServerURL {
		t.Fatalf("after ClearSession: %+v ok=%v err=%v; want no sign-in but the server address kept", got, ok, err)
	}
}

func TestResetForgetsTheServersDataAndPendingEdits(t *testing.T) {
	st := openStore(t)
	job := uuid.NewString()
	if err := st.ApplyPull(contract.PullResponse{Records: []contract.Record{serverJob(job, 1, map[string]string{"title": "Pump"})},
		Reviews: []contract.Review{{ID: uuid.NewString(), RecordID: job, Status: "open"}}, Cursor: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Save(newOp("job", job, contract.ActionUpdate, map[string]string{"title": "Pump seal"}), nil); err != nil {
		t.Fatal(err)
	}
	if err := st.SetHistory(job, []contract.Change{{ID: 1, RecordID: job}}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetRules(rulebook.Default()); err != nil {
		t.Fatal(err)
	}
	if err := st.SetUsers([]contract.User{{ID: "u1"}}); err != nil {
		t.Fatal(err)
	}
	device, _ := st.DeviceID()
	if err := st.SetSetting("offline", true); err != nil {
		t.Fatal(err)
	}

	if err := st.Reset(""); err != nil {
		t.Fatal(err)
	}
	if e, _ := st.Record(job); e != nil {
		t.Error("the job is still there")
	}
	if out, _ := st.Outbox(); len(out) != 0 {
		t.Errorf("%d operations still in the outbox", len(out))
	}
	if rv, _ := st.Reviews(false); len(rv) != 0 {
		t.Errorf("%d reviews still there", len(rv))
	}
	if h, _, _ := st.History(job); h != nil {
		t.Error("history is still there")
	}
	if c, _ := st.Cursor(); c != "" {
		t.Errorf("cursor %q is still there", c)
	}
	if _, ok, _ := st.Rules(); ok {
		t.Error("rules are still there")
	}
	if u, _ := st.Users(); len(u) != 0 {
		t.Error("users are still there")
	}
	// The device takes a new id, since the server keeps the old one bound
	// to the user who signed in with it; its settings stay.
	if again, _ := st.DeviceID(); again == device || again == "" {
		t.Errorf("device id after a reset is %q, want a new one (was %q)", again, device)
	}
	if err := st.Reset("device-given"); err != nil {
		t.Fatal(err)
	}
	if again, _ := st.DeviceID(); again != "device-given" {
		t.Errorf("device id after a reset to a given id is %q", again)
	}
	var off bool
	if ok, _ := st.Setting("offline", &off); !ok || !off {
		t.Error("a device setting was lost")
	}
}

// A checkpoint runs beside the user's saves on a connection of its own;
// closing the store waits for it, and nothing saved around it is lost.
func TestCheckpointInTheBackgroundLosesNothing(t *testing.T) {
	dir := t.TempDir()
	st, err := localstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	st.SetRebaser(localstore.RebaseFunc(applyValues))
	save := func(n int) {
		for i := range n {
			if _, err := st.Save(newOp("note", uuid.NewString(), contract.ActionAppend, map[string]string{"job_id": "job-1", "text": "note " + strconv.Itoa(i)}), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	save(300)
	st.CheckpointSoon()
	st.CheckpointSoon() // one is running already: nothing more starts
	save(100)
	st.CheckpointSoon()
	if err := st.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	st.CheckpointSoon() // after Close: nothing to do, and no panic

	again := openStoreIn(t, dir)
	if q, _, _, _ := again.Counts(); q != 400 {
		t.Fatalf("%d edits queued after reopening, want 400", q)
	}
}
