package server_test

import (
	"testing"
	"time"

	"fieldsync/contract"
)

func TestStatusConflictIsHeldForReviewWithBothVersions(t *testing.T) {
	e := newEnv(t)
	dana := e.login("dana", "office-pc")
	alex := e.login("alex", "alex-phone")
	cust := e.customer(dana, "Harbor Bakery")
	job := e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", time.Now())
	alex.move(job, "opened", "in_progress")

	// Alex goes offline with version v of the status; the office moves it.
	stale := alex.bases(job, "status")
	dana.pull()
	dana.must(dana.op("job", job, contract.ActionTransition, dana.bases(job, "status"), map[string]any{"status": "waiting_for_approval"}))

	r := alex.push(alex.op("job", job, contract.ActionTransition, stale, map[string]any{"status": "completed"}))[0]
	if r.Outcome != contract.Held || r.Code != contract.CodeConflict || r.ReviewID == "" {
		t.Fatalf("stale status move: got %+v, want held for review", r)
	}
	if got := string(r.Server.Values["status"]); got != `"waiting_for_approval"` {
		t.Errorf("server version in the result = %s, want waiting_for_approval", got)
	}
	alex.pull()
	if rv := alex.reviews[r.ReviewID]; rv.Status != "open" || len(rv.Device) != 1 || string(rv.Device[0].Values["status"]) != `"completed"` {
		t.Errorf("alex's device sees review %+v, want open with his completed", rv)
	}
	if j := alex.rec(job); !j.HasReview("status") {
		t.Errorf("job should show that its status needs review")
	}
}
