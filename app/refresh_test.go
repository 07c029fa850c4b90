package app_test

import (
	"sync"
	"testing"
	"time"

	"fieldsync/app"
)

// A screen that follows the sync state hears of a change the app made
// before the call that made it returns: it never refreshes the queue
// itself.
func TestSubscribersHearOfEachChangeAtOnce(t *testing.T) {
	e := newEnv(t)
	alex := e.device("alex")
	pump := job(t, alex, "Replace pump seal")
	var mu sync.Mutex
	var last app.SyncState
	cancel := alex.Subscribe(func(st app.SyncState) {
		mu.Lock()
		last = st
		mu.Unlock()
	})
	defer cancel()
	note, err := alex.AddNote(pump.ID, alex.FormID(), "Seal replaced")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	st := last
	mu.Unlock()
	if got := st.Words(note.ID, time.Now()); got != "Saved on this device" {
		t.Errorf("right after the note the subscriber's state says %q", got)
	}
	if st.Queued != 1 {
		t.Errorf("the subscriber's state has %d changes waiting, want the note", st.Queued)
	}
}
