package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/internal/teststore"
	"fieldsync/server"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// madeIDs seeds the demo on a server made with opts (a real SQLite store
// and blob directory are added), holds a stale edit for review and makes
// a suspected duplicate. It
// returns every id the server made: those of the users, the demo's records
// and operations, and the review items.
func madeIDs(t *testing.T, opts server.Options) []string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	opts.Store, opts.BlobDir = teststore.Open(t, dir), filepath.Join(dir, "blobs")
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.SeedDemo(ctx, srv, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	var (
		users []server.UserRow
		recs  []contract.Record
		ids   []string
	)
	if err := opts.Store.Read(ctx, func(q server.Query) error {
		if users, err = q.Users(); err != nil {
			return err
		}
		var types []string
		for _, rr := range srv.Rules().Records {
			types = append(types, rr.Type)
		}
		page, err := q.Pull(server.Scope{Types: types}, server.Position{}, 1000, "")
		if err != nil {
			return err
		}
		recs = page.Records
		ops := map[string]bool{} // an operation changes one or more fields
		for _, rec := range recs {
			changes, err := q.Changes(rec.ID)
			if err != nil {
				return err
			}
			for _, c := range changes {
				if !ops[c.OpID] {
					ops[c.OpID] = true
					ids = append(ids, c.OpID)
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	actor := map[string]engine.Actor{}
	for _, u := range users {
		ids = append(ids, u.ID)
		actor[u.Name] = engine.Actor{UserID: u.ID, Role: u.Role, DeviceID: u.Name + "-device"}
	}
	var pump, boiler contract.Record
	for _, rec := range recs {
		ids = append(ids, rec.ID)
		switch rec.Text("title") {
		case "Replace pump seal":
			pump = rec
		case "Inspect boiler":
			boiler = rec
		}
	}
	if len(users) != len(server.DemoUsers) || pump.ID == "" || boiler.ID == "" {
		t.Fatalf("the demo has %d users and not its pump and boiler jobs", len(users))
	}
	push := func(who string, op contract.Operation) {
		t.Helper()
		op.ID, op.DeviceID, op.DeviceTime = uuid.NewString(), actor[who].DeviceID, time.Now().UTC()
		if _, err := srv.Push(ctx, actor[who], []contract.Operation{op}); err != nil {
			t.Fatal(err)
		}
	}
	// The office moves Alex's job on; Alex's move from the status he had
	// is held for review.
	for _, move := range []struct{ who, status string }{{"dana", "waiting_for_approval"}, {"alex", "completed"}} {
		push(move.who, contract.Operation{RecordType: "job", RecordID: pump.ID, Action: contract.ActionTransition,
			Bases: map[string]int64{"status": pump.Versions["status"]}, Values: map[string]json.RawMessage{"status": contract.Text(move.status)}})
	}
	// Dana, on another device, makes the boiler inspection again: a
	// suspected duplicate.
	again := map[string]json.RawMessage{}
	for _, f := range []string{"title", "customer_id", "site_address", "assignee", "scheduled_start"} {
		again[f] = boiler.Fields[f]
	}
	push("dana", contract.Operation{RecordType: "job", RecordID: uuid.NewString(), Action: contract.ActionCreate, Values: again})
	var rvs []contract.Review
	if err := opts.Store.Read(ctx, func(q server.Query) error {
		rvs, err = q.Reviews(server.Scope{Types: []string{"job"}}, true)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, rv := range rvs {
		kinds[rv.Kind] = true
		ids = append(ids, rv.ID)
	}
	if len(rvs) != 2 || !kinds[contract.KindDuplicate] {
		t.Fatalf("want a held status move and a suspected duplicate for review, got %+v", rvs)
	}
	return ids
}

func TestServerMakesItsIDsWithItsIDMaker(t *testing.T) {
	t.Run("by default they are UUIDv7s of the server's clock, as devices make", func(t *testing.T) {
		now := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
		ids := madeIDs(t, server.Options{Now: func() time.Time { return now }})
		for _, id := range ids {
			u, err := uuid.Parse(id)
			if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
				t.Fatalf("id %s is not a UUIDv7 (%v)", id, err)
			}
			var ms int64
			for _, b := range u[:6] {
				ms = ms<<8 | int64(b)
			}
			if ms != now.UnixMilli() {
				t.Fatalf("id %s says %s, not the server's time %s", id, time.UnixMilli(ms).UTC(), now)
			}
		}
		if seen := distinct(ids); seen != len(ids) {
			t.Errorf("%d ids made, %d of them distinct", len(ids), seen)
		}
	})
	t.Run("an id maker in the options makes every one", func(t *testing.T) {
		var n atomic.Int64
		ids := madeIDs(t, server.Options{NewID: func() string {
			return fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1))
		}})
		for _, id := range ids {
			var k int64
			if _, err := fmt.Sscanf(id, "00000000-0000-4000-8000-%012d", &k); err != nil || k < 1 || k > n.Load() {
				t.Fatalf("id %s is not one the id maker made", id)
			}
		}
		if seen := distinct(ids); seen != len(ids) {
			t.Errorf("%d ids made, %d of them distinct", len(ids), seen)
		}
	})
}

func distinct(ids []string) int {
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	return len(seen)
}
