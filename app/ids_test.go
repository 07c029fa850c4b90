package app_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"fieldsync/app"
	"fieldsync/server"

	"github.com/google/uuid"
)

// The device makes every id of what it creates with the id maker it was
// given: the ids a screen's forms carry and the ids of the operations
// that save them. A maker drawing on one seeded source makes the same ids
// twice over.
func TestTheAppMakesEveryIDWithItsIDMaker(t *testing.T) {
	e := newEnv(t)
	at := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	var made []string
	seeded := app.NewIDFrom(rand.NewChaCha8([32]byte{7}))
	a, err := app.Open(t.TempDir(), app.Config{ServerURL: e.ts.URL, Now: func() time.Time { return at },
		NewID: func(now time.Time) string { id := seeded(now); made = append(made, id); return id }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	if _, err := a.Login(context.Background(), "", "alex", server.DemoPassword); err != nil {
		t.Fatal(err)
	}
	syncRound(t, a)
	pump := job(t, a, "Replace pump seal")

	noteID := a.FormID()
	if _, err := a.AddNote(pump.ID, noteID, "Checked the seal"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddPart(pump.ID, "", "SEAL-40", "", 1); err != nil {
		t.Fatal(err)
	}
	ops := outbox(t, a)
	if len(ops) != 2 {
		t.Fatalf("%d operations saved, want the note and the part", len(ops))
	}
	mine := map[string]bool{}
	for _, id := range made {
		mine[id] = true
	}
	for _, id := range []string{noteID, ops[0].ID, ops[1].ID, ops[1].RecordID} {
		if !mine[id] {
			t.Errorf("%s was not made by the app's id maker (it made %q)", id, made)
		}
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 {
			t.Errorf("%s: version %d, %v; want a UUIDv7", id, u.Version(), err)
		}
	}
	if ops[0].RecordID != noteID {
		t.Errorf("the note was saved as %s, not under its form's id %s", ops[0].RecordID, noteID)
	}
	again := app.NewIDFrom(rand.NewChaCha8([32]byte{7}))
	for i, id := range made {
		if got := again(at); got != id {
			t.Errorf("id %d: the same seed made %s, then %s", i, id, got)
		}
	}
}
