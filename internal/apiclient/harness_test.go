package apiclient_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/apiclient"
	"fieldsync/server"
	"fieldsync/server/sqlitestore"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// env is a real server over a real SQLite file, with the demo seeded, on
// loopback.
type env struct {
	t  testing.TB
	ts *httptest.Server
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlitestore.Open(filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(server.Options{Store: st, BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	if err := server.SeedDemo(context.Background(), srv, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &env{t: t, ts: ts}
}

// device is a client signed in as one demo user, from a device of its own.
type device struct {
	t    testing.TB
	c    *apiclient.Client
	id   string
	user contract.User
}

// login signs a demo user in from a new device.
func (e *env) login(user string) *device {
	e.t.Helper()
	c, err := apiclient.New(e.ts.URL, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	d := &device{t: e.t, c: c, id: "device-" + uuid.NewString()}
	resp, err := c.Login(context.Background(), user, server.DemoPassword, d.id)
	if err != nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	d.user = resp.User
	return d
}

// op makes an operation from this device.
func (d *device) op(typ, id string, action contract.Action, bases map[string]int64, values map[string]any) contract.Operation {
	d.t.Helper()
	vals := map[string]json.RawMessage{}
	for k, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			d.t.Fatal(err)
		}
		vals[k] = b
	}
	return contract.Operation{ID: uuid.NewString(), RecordType: typ, RecordID: id, Action: action, Bases: bases,
		Values: vals, DeviceID: d.id, DeviceTime: time.Now().UTC()}
}

// note makes a note append on a job.
func (d *device) note(jobID, text string) contract.Operation {
	return d.op("note", uuid.NewString(), contract.ActionAppend, nil, map[string]any{"job_id": jobID, "text": text})
}

// job pulls everything the user sees and returns the job with a title.
func (d *device) job(title string) contract.Record {
	d.t.Helper()
	cursor := ""
	for {
		page, err := d.c.Pull(context.Background(), cursor, 0, false)
		if err != nil {
			d.t.Fatal(err)
		}
		for _, r := range page.Records {
			if r.Type == "job" && r.Text("title") == title {
				return r
			}
		}
		if cursor = page.Cursor; !page.More {
			break
		}
	}
	d.t.Fatalf("%s sees no job %q", d.user.Name, title)
	return contract.Record{}
}

// answer writes a JSON error body as the server does.
func answer(w http.ResponseWriter, status int, code contract.Code, msg string, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	kind := contract.KindOf(code)
	json.NewEncoder(w).Encode(contract.ErrorBody{Error: contract.ErrorDetail{Code: code, Kind: kind, Message: msg, Retry: status >= 500 || status == 429}})
}
