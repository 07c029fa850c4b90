package syncqueue_test

import (
	"context"
	"testing"

	"fieldsync/contract"
	"fieldsync/syncqueue"
)

// withMe tells the queue who is signed in, as the app does.
func withMe() deviceOpt {
	return func(o *syncqueue.Options, d *device) { o.Me = func() string { return d.user.ID } }
}

// TestTheHeldSummaryNamesWhoChangedTheRecord: a status change Alex made
// offline is held because someone else moved the job first. The summary
// says who, from the server's answer: the office by name, a user outside
// the office by name, and Alex himself on another device.
func TestTheHeldSummaryNamesWhoChangedTheRecord(t *testing.T) {
	tests := []struct {
		name   string
		by     string // who moves the job first, on a device of their own
		status string
		want   string
	}{
		{"a dispatcher", "dana", "waiting_for_approval", "Job status needs review because dana changed it in the office."},
		{"an admin, who is not in the office", "ada", "waiting_for_approval", "Job status needs review because ada changed it."},
		{"Alex on his tablet", "alex", "paused", "Job status needs review because you changed it on another device."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			alex := e.login("alex", withMe())
			alex.sync()
			other := e.login(tt.by)
			other.sync()
			alex.office[e.login("dana").user.ID] = true
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
			if st.Summary != tt.want {
				t.Errorf("summary %q\nwant    %q", st.Summary, tt.want)
			}
		})
	}
}
