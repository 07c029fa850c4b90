package app_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"fieldsync/app"
	"fieldsync/server"
	"fieldsync/server/sqlitestore"

	"golang.org/x/crypto/bcrypt"
)

func TestSmokeTechnicianWorksOfflineThenSyncs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlitestore.Open(filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(server.Options{Store: st, BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	if err := server.SeedDemo(ctx, srv, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	alex, err := app.Open(filepath.Join(dir, "alex"), app.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer alex.Close(ctx)
	if _, err := alex.Login(ctx, ts.URL, "alex", server.DemoPassword); err != nil {
		t.Fatal(err)
	}
	if err := alex.SyncRound(ctx); err != nil {
		t.Fatal(err)
	}
	jobs, err := alex.Jobs()
	if err != nil || len(jobs) == 0 {
		t.Fatalf("jobs: %v %v", jobs, err)
	}
	for _, j := range jobs {
		t.Logf("%s %s %s %s owner=%s mine=%v sync=%q", j.Number, j.Title, j.Status, j.Customer, j.OwnerName, j.Mine, j.Sync)
	}
	var job app.Job
	for _, j := range jobs {
		if j.Status == "in_progress" && j.Mine {
			job = j
		}
	}
	alex.SetOffline(true)
	if _, err := alex.AddNote(job.ID, "", "Replaced the seal"); err != nil {
		t.Fatal(err)
	}
	if _, err := alex.Move(job.ID, "completed"); err != nil {
		t.Fatal(err)
	}
	w, _ := alex.StatusWords(job.ID)
	t.Logf("offline: %q / %q", w, alex.State().Line(alex.State().At))
	if err := alex.SyncRound(ctx); err == nil {
		t.Fatal("sync while offline succeeded")
	}
	w, _ = alex.StatusWords(job.ID)
	t.Logf("after failed sync: %q / %q", w, alex.State().Line(alex.State().At))
	alex.SetOffline(false)
	if err := alex.SyncRound(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := alex.Job(job.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after sync: status=%s sync=%q notes=%d summary=%q owner=%q moves=%v", d.Status, d.Sync, len(d.Notes), alex.State().Summary, d.OwnerLine, d.Moves)
	for _, g := range d.Groups {
		t.Logf("  group %s: %s editable=%v %s", g.Name, g.Policy, g.Editable, g.Why)
	}
	if d.Status != "completed" || !strings.Contains(alex.State().Summary, "notes") {
		t.Fatalf("unexpected")
	}
	if q, _, _, _ := app.StoreOf(alex).Counts(); q != 0 {
		t.Fatalf("%d still queued", q)
	}
	out, _ := app.StoreOf(alex).Outbox()
	t.Logf("outbox rows left: %d", len(out))
}
