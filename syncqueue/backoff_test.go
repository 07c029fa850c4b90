package syncqueue_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
	"fieldsync/internal/apiclient"
	"fieldsync/localstore"
	"fieldsync/syncqueue"

	"github.com/google/uuid"
)

// unavailable is a server that answers every request 503, with Retry-After
// when it is not "".
func unavailable(t testing.TB, retryAfter string) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusServiceUnavailable, contract.CodeUnavailable, "the server is busy; try again shortly", retryAfter)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// waitingPhoto gives a device a photo whose metadata the server has, so a
// media round asks the server about it.
func waitingPhoto(t testing.TB, d *device) {
	t.Helper()
	job := uuid.NewString()
	op := d.addPhoto(job, []byte("jpeg"))
	rec := contract.Record{Type: "photo", ID: op.RecordID, ParentID: job, Fields: op.Values, Versions: map[string]int64{"meta": 1}, Seq: 1}
	if err := d.st.ApplyPull(contract.PullResponse{Records: []contract.Record{rec}}); err != nil {
		t.Fatal(err)
	}
}

type laneCase struct {
	name       string
	lane       string
	first, cap time.Duration
	round      func(*device) error
	laneState  func(syncqueue.State) syncqueue.LaneState
	setup      func(testing.TB, *device)
}

var lanes = []laneCase{
	{"the data lane starts at about 2s and stops growing at 5m", "data", 2 * time.Second, 5 * time.Minute,
		func(d *device) error { return d.q.RunData(context.Background()) },
		func(s syncqueue.State) syncqueue.LaneState { return s.Data }, nil},
	{"the media lane starts at about 15s and stops growing at 15m", "media", 15 * time.Second, 15 * time.Minute,
		func(d *device) error { return d.q.RunMedia(context.Background()) },
		func(s syncqueue.State) syncqueue.LaneState { return s.Media }, waitingPhoto},
}

func TestBackoffDoublesWithJitterAndIsCapped(t *testing.T) {
	for _, tt := range lanes {
		t.Run(tt.name, func(t *testing.T) {
			ts := unavailable(t, "")
			d := login(t, ts.URL, "")
			if tt.setup != nil {
				tt.setup(t, d)
			}
			var waits []time.Duration
			for i := range 25 {
				if err := tt.round(d); err == nil || !apiclient.IsTransient(err) {
					t.Fatalf("round %d: %v, want a transient failure", i, err)
				}
				ls := tt.laneState(d.q.State())
				if ls.Failures != i+1 || ls.LastError == "" {
					t.Fatalf("round %d: failures %d, error %q", i, ls.Failures, ls.LastError)
				}
				waits = append(waits, ls.NextTry.Sub(d.clock.Now()))
				d.clock.Add(waits[i]) // the retry comes when it is due
			}
			over := time.Duration(0)
			for i, w := range waits {
				nominal := min(tt.first<<i, tt.cap)
				lo, hi := nominal*3/4, nominal*5/4
				if w < lo || w > hi {
					t.Errorf("wait %d is %v, want %v ±25%% (%v to %v)", i+1, w, nominal, lo, hi)
				}
				over = max(over, w)
			}
			t.Logf("waits: %v", waits)
			// Jitter makes the waits differ from their nominal values.
			if waits[0] == tt.first && waits[1] == 2*tt.first && waits[2] == 4*tt.first {
				t.Error("no jitter")
			}
			if over > tt.cap {
				t.Fatalf("the %s lane's backoff is jittered after the cap, so waits reach %v, over the rules' cap of %v (newLane sets MaxInterval = cap and RandomizationFactor 0.25, so the jitter is added on top of the cap)", tt.lane, over.Round(time.Second), tt.cap)
			}
		})
	}
}

// The jitter comes from the queue's options, so a wait can be known
// exactly: the lowest draw waits three quarters of the nominal time, the
// middle one the nominal time, the highest a quarter more, never past the cap.
func TestRetryJitterComesFromTheOptions(t *testing.T) {
	tests := []struct {
		name  string
		draw  float64
		waits []time.Duration
	}{
		{"the lowest draw waits three quarters of each step", 0, []time.Duration{1500 * time.Millisecond, 3 * time.Second, 6 * time.Second}},
		{"the middle draw waits each step exactly", 0.5, []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}},
		{"the highest draw waits a quarter more", 1, []time.Duration{2500 * time.Millisecond, 5 * time.Second, 10 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := login(t, unavailable(t, "").URL, "", withRand(func() float64 { return tt.draw }))
			for i, want := range tt.waits {
				if err := d.q.RunData(context.Background()); err == nil {
					t.Fatalf("round %d succeeded against a server that is down", i)
				}
				wait := d.q.State().Data.NextTry.Sub(d.clock.Now())
				if wait != want {
					t.Errorf("wait %d is %v, want %v", i+1, wait, want)
				}
				d.clock.Add(wait)
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		header     time.Duration
		lo, hi     time.Duration
	}{
		{"a Retry-After of 7 seconds waits 7 seconds", "7", 7 * time.Second, 7 * time.Second, 7 * time.Second},
		{"a Retry-After of 600 seconds waits past the backoff", "600", 10 * time.Minute, 600 * time.Second, 600 * time.Second},
		{"a Retry-After shorter than the backoff never makes the device try sooner than asked", "1", time.Second, 1500 * time.Millisecond, 2500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := login(t, unavailable(t, tt.retryAfter).URL, "")
			err := d.q.RunData(context.Background())
			if got := apiclient.RetryAfter(err); got != tt.header {
				t.Errorf("RetryAfter(err) = %v", got)
			}
			wait := d.q.State().Data.NextTry.Sub(d.clock.Now())
			if wait < tt.lo || wait > tt.hi {
				t.Fatalf("next try in %v, want %v to %v", wait, tt.lo, tt.hi)
			}
		})
	}
}

func TestASuccessfulRoundResetsTheBackoff(t *testing.T) {
	e := newEnv(t)
	d := e.login("alex")
	down := true
	e.proxy.setIntercept(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if down {
			answer(w, http.StatusServiceUnavailable, contract.CodeUnavailable, "down", "")
		}
		return down
	})
	for range 4 {
		d.q.RunData(context.Background())
	}
	if st := d.q.State(); st.Data.Failures != 4 || st.Data.NextTry.Sub(d.clock.Now()) < 12*time.Second {
		t.Fatalf("after four failures: %+v", st.Data)
	}
	down = false
	d.sync()
	st := d.q.State()
	if st.Data.Failures != 0 || !st.Data.NextTry.IsZero() || st.Data.LastError != "" || st.Data.LastOK.IsZero() {
		t.Fatalf("after a good round: %+v", st.Data)
	}
	down = true
	d.q.RunData(context.Background())
	if wait := d.q.State().Data.NextTry.Sub(d.clock.Now()); wait > 2500*time.Millisecond {
		t.Fatalf("the first failure after a good round waits %v, want about 2s again", wait)
	}
}

func TestAFailingLaneShowsSyncFailedWithTheRealTime(t *testing.T) {
	d := login(t, unavailable(t, "300").URL, "")
	job := uuid.NewString()
	if err := d.st.ApplyPull(contract.PullResponse{Records: []contract.Record{{Type: "job", ID: job, Fields: map[string]json.RawMessage{}, Versions: map[string]int64{"summary": 1}}}}); err != nil {
		t.Fatal(err)
	}
	op := d.op("job", job, contract.ActionUpdate, map[string]int64{"summary": 1}, map[string]any{"title": "T"})
	if _, err := d.st.Save(op, nil); err != nil {
		t.Fatal(err)
	}
	d.q.Refresh()
	if got := d.q.State().Record(job).Status; got != syncqueue.Saved {
		t.Fatalf("before a try: %v", got)
	}
	d.q.RunData(context.Background())
	st := d.q.State()
	if got := st.Record(job); got.Status != syncqueue.Failed || got.Upload {
		t.Errorf("after a failed round: %+v", got)
	}
	if got := st.Data.NextTry.Sub(d.clock.Now()); got != 5*time.Minute || st.Data.Failures != 1 || st.Queued != 1 {
		t.Errorf("device: next try in %v, %d failures, %d queued; want 5m0s, 1 and 1", got, st.Data.Failures, st.Queued)
	}
	d.clock.Add(4*time.Minute + 30*time.Second)
	if got := d.q.State().Data.NextTry.Sub(d.clock.Now()); got != 30*time.Second {
		t.Errorf("later: next try in %v", got)
	}
	if out, _ := d.st.Outbox(); out[0].Attempts != 1 || out[0].State != localstore.Queued {
		t.Errorf("outbox after the failed push: %+v", out[0])
	}
}

func TestBackoffFollowsTheRulesInForce(t *testing.T) {
	custom, err := rulebook.Parse("team.rules", strings.Replace(rulebook.DefaultText(), "retry data first=2s cap=5m", "retry data first=10s cap=1m", 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("rules known when the queue is made", func(t *testing.T) {
		d := login(t, unavailable(t, "").URL, "", func(o *syncqueue.Options, d *device) { d.rules = custom })
		d.q.RunData(context.Background())
		if wait := d.q.State().Data.NextTry.Sub(d.clock.Now()); wait < 7500*time.Millisecond || wait > 12500*time.Millisecond {
			t.Fatalf("first wait %v, want about the team's 10s", wait)
		}
	})
	t.Run("rules fetched after the queue was made, as at sign-in", func(t *testing.T) {
		d := login(t, unavailable(t, "").URL, "")
		d.rules = custom // the app fetches the server's rules after Open made the queue
		d.q.RunData(context.Background())
		wait := d.q.State().Data.NextTry.Sub(d.clock.Now())
		if wait < 7500*time.Millisecond {
			t.Fatalf("the data lane waits %v after the rules in force changed to first=10s: New reads Options.Rules once for the lanes' backoff, so a device keeps the retry timing of the rules it had when the queue was made (the defaults, on a fresh install) until it restarts", wait.Round(time.Millisecond))
		}
	})
}
