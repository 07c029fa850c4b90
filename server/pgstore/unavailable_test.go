package pgstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"fieldsync/contract"
	"fieldsync/internal/pgtest"
	"fieldsync/server"
	"fieldsync/server/pgstore"
)

// cutStore loses its database connection at the end of a write when
// armed: after the batch was applied in the transaction, before it
// commits.
type cutStore struct {
	*pgstore.Store
	admin *pgx.Conn
	armed atomic.Bool
}

func (c *cutStore) Write(ctx context.Context, fn func(server.Tx) error) error {
	return c.Store.Write(ctx, func(tx server.Tx) error {
		if err := fn(tx); err != nil || !c.armed.Swap(false) {
			return err
		}
		_, err := c.admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle in transaction'`)
		return err
	})
}

// The database going away in the middle of a push: the device is told to
// try again later (503, Retry-After), nothing of the batch is kept, and
// the same batch sent again is applied, once.
func TestAPushWhoseDatabaseGoesAwayAnswers503AndKeepsNothing(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	st, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(ctx) })
	cut := &cutStore{Store: st, admin: admin}
	l := cpServe(t, cut, filepath.Join(t.TempDir(), "blobs"))
	l.addUser("dana", "dispatcher")
	alex := l.addUser("alex", "technician")
	dana := cpMustSignIn(t, l.ts.URL, "dana", "office-pc")

	cust, job := uuid.NewString(), uuid.NewString()
	ops := []contract.Operation{
		dana.op("customer", cust, contract.ActionCreate, nil, map[string]any{"name": "Harbor Bakery"}),
		dana.op("job", job, contract.ActionCreate, nil, map[string]any{"title": "Replace pump seal", "customer_id": cust, "assignee": alex.ID}),
	}
	body, err := json.Marshal(contract.PushRequest{Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	cut.armed.Store(true)
	req, _ := http.NewRequest("POST", l.ts.URL+"/v1/push", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+dana.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a push whose database went away: status %d, Retry-After %q (%s); want 503 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"), answer)
	}
	var eb contract.ErrorBody
	if err := json.Unmarshal(answer, &eb); err != nil || eb.Error.Code != contract.CodeUnavailable || !eb.Error.Retry || eb.Error.Message == "" {
		t.Errorf("the 503's body %s: want code %s, retry true and a reason", answer, contract.CodeUnavailable)
	}

	// Nothing of the batch was kept.
	if feed := dana.pullAll(""); len(feed.records) != 0 {
		t.Fatalf("after the failed push the server has %d records, want none", len(feed.records))
	}
	// The device sends the same batch again (the pool has new connections
	// by now): both operations are applied, neither as a replay.
	deadline := time.Now().Add(10 * time.Second)
	var results []contract.Result
	for {
		var pr contract.PushResponse
		code := dana.call("POST", "/v1/push", contract.PushRequest{Ops: ops}, &pr)
		if code == http.StatusOK {
			results = pr.Results
			break
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("the push sent again: status %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, r := range results {
		if r.Outcome != contract.Applied {
			t.Errorf("operation %d sent again: %s %s (%s), want applied: the first try kept nothing", i, r.Outcome, r.Code, r.Message)
		}
	}
	if feed := dana.pullAll(""); len(feed.records) != 2 {
		t.Errorf("after the push went through the server has %d records, want the customer and the job", len(feed.records))
	}
}
