package app_test

import (
	"context"
	"testing"
	"time"

	"fieldsync/app"
	"fieldsync/contract"
)

// A second tap on Void, while the first void waits for review, saves
// nothing more. The job's view does not show it voided (the void only
// joins the open review), so the check that the job is voided already
// cannot see the first tap; the outbox can.
func TestASecondVoidOfAJobUnderReviewSavesNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	dana := e.device("dana")
	pump := job(t, dana, "Replace pump seal") // Harbor Bakery, 12 Quay Street, today
	form := app.JobForm{Assignee: "alex", CustomerID: customer(t, dana, "Harbor Bakery"), Title: "Pump noise",
		Site: "12 Quay Street", Start: pump.Start.Add(3 * time.Hour), ID: dana.FormID()}
	rec, err := dana.NewJob(ctx, form, true)
	if err != nil {
		t.Fatal(err)
	}
	syncRound(t, dana)
	d, err := dana.Job(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Record.HasReview("lifecycle") {
		t.Fatalf("the new job has no open duplicate review: %+v", d.Record)
	}

	dana.SetOffline(true)
	before := len(outbox(t, dana))
	for tap := range 2 {
		if _, err := dana.Void(rec.ID); err != nil {
			t.Fatalf("tap %d: %v", tap+1, err)
		}
	}
	var voids int
	for _, op := range outbox(t, dana)[before:] {
		if op.RecordID == rec.ID && op.Action == contract.ActionVoid {
			voids++
		}
	}
	if voids != 1 {
		t.Errorf("two taps on Void saved %d voids, want 1", voids)
	}
}
