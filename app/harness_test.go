package app_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fieldsync/app"
	"fieldsync/contract"
	"fieldsync/internal/apiclient"
	"fieldsync/internal/teststore"
	"fieldsync/server"

	"golang.org/x/crypto/bcrypt"
)

// env is a real server over a real SQLite file (or PostgreSQL database:
// internal/teststore) with the demo seeded, on loopback.
type env struct {
	t   testing.TB
	srv *server.Server
	ts  *httptest.Server
}

func newEnv(t testing.TB) *env { return newEnvOpts(t, server.Options{}) }

// newEnvOpts is newEnv with server options; the store and the blob
// directory are added.
func newEnvOpts(t testing.TB, opts server.Options) *env {
	t.Helper()
	dir := t.TempDir()
	opts.Store, opts.BlobDir = teststore.Open(t, dir), filepath.Join(dir, "blobs")
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.SeedDemo(context.Background(), srv, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close) // before the store closes
	return &env{t: t, srv: srv, ts: ts}
}

// open opens a device's app in a fresh directory, not signed in.
func (e *env) open() *app.App {
	e.t.Helper()
	a, err := app.Open(e.t.TempDir(), app.Config{ServerURL: e.ts.URL})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { a.Close(context.Background()) })
	return a
}

// device opens an app, signs user in and syncs once.
func (e *env) device(user string) *app.App {
	e.t.Helper()
	a := e.open()
	if _, err := a.Login(context.Background(), "", user, server.DemoPassword); err != nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	syncRound(e.t, a)
	return a
}

// client is a plain protocol client signed in as user, for asking the
// server directly what it would say.
func (e *env) client(user string) *apiclient.Client {
	e.t.Helper()
	c, err := apiclient.New(e.ts.URL, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.Login(context.Background(), user, server.DemoPassword, "probe-"+user); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func syncRound(t testing.TB, a *app.App) {
	t.Helper()
	if err := a.SyncRound(context.Background()); err != nil {
		t.Fatalf("sync round: %v", err)
	}
}

// job finds a job on a device by title.
func job(t testing.TB, a *app.App, title string) app.Job {
	t.Helper()
	jobs, err := a.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.Title == title {
			return j
		}
	}
	t.Fatalf("no job %q on the device", title)
	return app.Job{}
}

// customer finds a customer's id by name.
func customer(t testing.TB, a *app.App, name string) string {
	t.Helper()
	all, err := a.Customers()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		if c.Text("name") == name {
			return c.ID
		}
	}
	t.Fatalf("no customer %q", name)
	return ""
}

// outbox returns a device's outbox operations.
func outbox(t testing.TB, a *app.App) []contract.Operation {
	t.Helper()
	out, err := app.StoreOf(a).Outbox()
	if err != nil {
		t.Fatal(err)
	}
	ops := make([]contract.Operation, len(out))
	for i, p := range out {
		ops[i] = p.Op
	}
	return ops
}

// probeOp is an operation made by hand, to ask the server directly.
func probeOp(typ, id string, action contract.Action, bases map[string]int64, values map[string]any) contract.Operation {
	vals := map[string]json.RawMessage{}
	for k, v := range values {
		b, _ := json.Marshal(v)
		vals[k] = b
	}
	return contract.Operation{ID: app.NewID(time.Now()), RecordType: typ, RecordID: id, Action: action, Bases: bases,
		Values: vals, DeviceID: "probe", DeviceTime: time.Now().UTC()}
}

// photoFiles lists the files in a device's photos directory.
func photoFiles(t testing.TB, a *app.App) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(app.StoreOf(a).Dir(), "photos"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
