package syncqueue_test

import (
	"context"
	"slices"
	"testing"

	"fieldsync/contract"
	"fieldsync/syncqueue"
)

// TestTheHeldRoundNamesWhoChangedTheRecord: a status change Alex made
// offline is held because someone else moved the job first. The round
// keeps who, from the server's answer, for the summary to name: the
// office, a user outside the office, and Alex himself on another device
// (app's summary words say each).
func TestTheHeldRoundNamesWhoChangedTheRecord(t *testing.T) {
	tests := []struct {
		name   string
		by     string // who moves the job first, on a device of their own
		status string
	}{
		{"a dispatcher", "dana", "waiting_for_approval"},
		{"an admin", "ada", "waiting_for_approval"},
		{"Alex on his tablet", "alex", "paused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			alex := e.login("alex")
			alex.sync()
			other := e.login(tt.by)
			other.sync()
			pump := alex.job("Replace pump seal").View

			theirs := other.job("Replace pump seal").View
			other.save(other.op("job", pump.ID, contract.ActionTransition, map[string]int64{"status": theirs.Versions["status"]}, map[string]any{"status": tt.status}))
			other.sync()
			alex.save(alex.op("job", pump.ID, contract.ActionTransition, map[string]int64{"status": pump.Versions["status"]}, map[string]any{"status": "completed"}))
			alex.sync()
			if err := alex.q.RunMedia(context.Background()); err != nil {
				t.Fatal(err)
			}
			st := alex.q.State()
			if st.Held != 1 {
				t.Fatalf("%d edits held, want Alex's status change", st.Held)
			}
			want := syncqueue.Held{Edit: syncqueue.Edit{RecordType: "job", Action: contract.ActionTransition},
				Code: contract.CodeConflict, ByID: other.user.ID, ByName: tt.by}
			if !slices.Equal(st.LastRound.Held, []syncqueue.Held{want}) {
				t.Errorf("held in the last round %+v\nwant %+v", st.LastRound.Held, want)
			}
		})
	}
}
