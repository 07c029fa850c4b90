package syncqueue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"fieldsync/contract"
	"fieldsync/internal/apiclient"
	"fieldsync/internal/faultproxy"
	"fieldsync/localstore"
	"fieldsync/server"

	"github.com/google/uuid"
)

// A data round keeps the copies the push answers carry, and then asks its
// pull to leave those records out: the device's own changes are not pulled
// back a second time.

// watcher answers the env proxy's pulls and pushes through the server
// itself, noting what each pull brought; it may also strip the copies from
// push answers, as a server from before copies would answer.
type watcher struct {
	mu      sync.Mutex
	queries []url.Values // of each pull, in order
	pulled  []string     // ids of the records the pulls brought, in order
}

func watch(e *env, stripCopies bool) *watcher {
	w := &watcher{}
	e.proxy.setIntercept(func(rw http.ResponseWriter, r *http.Request, body []byte) bool {
		switch {
		case r.URL.Path == "/v1/pull":
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, r)
			var page contract.PullResponse
			_ = json.Unmarshal(rec.Body.Bytes(), &page)
			w.mu.Lock()
			w.queries = append(w.queries, r.URL.Query())
			for _, p := range page.Records {
				w.pulled = append(w.pulled, p.ID)
			}
			w.mu.Unlock()
			for k, vs := range rec.Header() {
				rw.Header()[k] = vs
			}
			rw.WriteHeader(rec.Code)
			rw.Write(rec.Body.Bytes())
			return true
		case r.URL.Path == "/v1/push" && stripCopies:
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, r)
			var ans contract.PushResponse
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &ans) != nil {
				rw.WriteHeader(rec.Code)
				rw.Write(rec.Body.Bytes())
				return true
			}
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusOK)
			json.NewEncoder(rw).Encode(struct {
				Results []contract.Result `json:"results"`
			}{ans.Results})
			return true
		}
		return false
	})
	return w
}

// take returns the pulls' queries and the records they brought, and
// forgets them.
func (w *watcher) take() ([]url.Values, map[string]int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	counts := map[string]int{}
	for _, id := range w.pulled {
		counts[id]++
	}
	q := w.queries
	w.queries, w.pulled = nil, nil
	return q, counts
}

// serverRecords returns every record user may see as the server has it,
// asked straight of the server, past every proxy.
func serverRecords(t testing.TB, e *env, user string) map[string]contract.Record {
	t.Helper()
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	c, err := apiclient.New(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Login(ctx, user, server.DemoPassword, "checker-"+uuid.NewString()); err != nil {
		t.Fatal(err)
	}
	out := map[string]contract.Record{}
	cursor := ""
	for {
		page, err := c.Pull(ctx, cursor, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			out[r.ID] = r
		}
		cursor = page.Cursor
		if !page.More {
			return out
		}
	}
}

// sameJSON reports how two values differ as JSON, or "" when they do not.
func sameJSON(got, want any) string {
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	if string(a) == string(b) {
		return ""
	}
	return fmt.Sprintf("device %s, server %s", a, b)
}

// holdsServersCopies fails the test unless the device's server copy and
// view of each record are exactly the server's record.
func (d *device) holdsServersCopies(t testing.TB, srv map[string]contract.Record, ids ...string) {
	t.Helper()
	for _, id := range ids {
		want, ok := srv[id]
		if !ok {
			t.Errorf("the server has no record %s", id)
			continue
		}
		e, err := d.st.Record(id)
		if err != nil || e == nil || e.Server == nil {
			t.Errorf("%s's device holds no server copy of %s %s (%v)", d.user.Name, want.Type, id, err)
			continue
		}
		if diff := sameJSON(e.Server, want); diff != "" {
			t.Errorf("%s's server copy of %s %s is not the server's record: %s", d.user.Name, want.Type, id, diff)
		}
		if diff := sameJSON(e.View, e.Server); diff != "" {
			t.Errorf("with nothing pending %s's device shows %s %s unlike its server copy: %s", d.user.Name, want.Type, id, diff)
		}
	}
}

func TestADataRoundKeepsThePushAnswersCopiesWithoutPullingThemBack(t *testing.T) {
	e := newEnv(t)
	w := watch(e, false)
	alex := e.login("alex")
	alex.sync()
	if qs, _ := w.take(); len(qs) == 0 || qs[0].Get(contract.PullAnswered) != "" {
		t.Errorf("the first pull of an empty device asked %v, want everything (no answered=omit)", qs)
	}

	pump := alex.job("Replace pump seal")
	mine := []string{pump.View.ID}
	for i := range 5 {
		op := alex.note(pump.View.ID, fmt.Sprintf("note %d", i))
		alex.save(op)
		mine = append(mine, op.RecordID)
	}
	alex.save(alex.op("job", pump.View.ID, contract.ActionUpdate, map[string]int64{"work": pump.Server.Versions["work"]},
		map[string]any{"labor_minutes": 45}))
	// Meanwhile the office adds a note of its own, which the pull must bring.
	dana := e.login("dana")
	dana.sync()
	office := dana.note(pump.View.ID, "Customer asks for a call before you leave.")
	dana.save(office)
	dana.sync()
	w.take()

	alex.sync()
	qs, pulled := w.take()
	if len(qs) == 0 {
		t.Fatal("the round did not pull")
	}
	for _, q := range qs {
		if q.Get(contract.PullAnswered) != contract.PullAnsweredOmit {
			t.Errorf("after its pushes were answered with copies, the round pulled without answered=omit: %v", q)
		}
	}
	for _, id := range mine {
		if pulled[id] > 0 {
			t.Errorf("the round pulled back %s, which its push answer already carried", id)
		}
	}
	if pulled[office.RecordID] != 1 {
		t.Errorf("the round's pull brought Dana's note %d times, want once", pulled[office.RecordID])
	}
	if out, _ := alex.st.Outbox(); len(out) != 0 {
		t.Errorf("%d operations left after the round, want none: %+v", len(out), out)
	}
	srv := serverRecords(t, e, "alex")
	alex.holdsServersCopies(t, srv, append(mine, office.RecordID)...)
	if got := srv[pump.View.ID]; got.Int("labor_minutes") != 45 {
		t.Errorf("the server's job has labor minutes %d, want 45", got.Int("labor_minutes"))
	}
}

func TestARoundWithAnOperationWaitingForItsRecordPullsEverything(t *testing.T) {
	e := newEnv(t)
	alex := e.login("alex")
	alex.sync()
	pump := alex.job("Replace pump seal").View.ID
	note := alex.note(pump, "answered without a copy")
	alex.save(note)

	// A server from before copies answers with results only: the note's
	// operation waits for the pull to bring it back.
	w := watch(e, true)
	alex.sync()
	qs, pulled := w.take()
	for _, q := range qs {
		if q.Get(contract.PullAnswered) != "" {
			t.Errorf("with an operation waiting for its record the round asked the pull to leave records out: %v", q)
		}
	}
	if pulled[note.RecordID] != 1 {
		t.Errorf("the round's pull brought the note %d times, want once: nothing else gives the device its copy", pulled[note.RecordID])
	}
	if out, _ := alex.st.Outbox(); len(out) != 0 {
		t.Errorf("outbox after the pull brought the note back: %+v, want empty", out)
	}
	alex.holdsServersCopies(t, serverRecords(t, e, "alex"), note.RecordID)

	// With nothing waiting, the next round leaves answered records out again.
	w = watch(e, false)
	alex.sync()
	if qs, _ := w.take(); len(qs) == 0 || qs[0].Get(contract.PullAnswered) != contract.PullAnsweredOmit {
		t.Errorf("with every copy kept the next round's pull asked %v, want answered=omit", qs)
	}
}

func TestALostPushReplyStillEndsWithTheServersCopiesAndNothingTwice(t *testing.T) {
	e := newEnv(t)
	fp := faultproxy.New(e.ts.URL)
	t.Cleanup(fp.Close)
	alex := login(t, fp.URL(), "alex")
	alex.sync()
	pump := alex.job("Replace pump seal")
	work := pump.Server.Versions["work"]
	note := alex.note(pump.View.ID, "only once")
	alex.save(note, alex.op("job", pump.View.ID, contract.ActionUpdate, map[string]int64{"work": work}, map[string]any{"labor_minutes": 30}))

	// The server applies the batch, and its answer never reaches the device.
	fp.Add(faultproxy.Rule{Name: "lost push reply", Method: "POST", Path: "/v1/push", Fault: faultproxy.DropReply, Times: 1})
	if err := alex.q.RunData(context.Background()); err == nil || !apiclient.IsTransient(err) {
		t.Fatalf("round with a lost reply: %v, want a transient failure", err)
	}
	if n := fp.Stats().DroppedReplies; n != 1 {
		t.Fatalf("the proxy dropped %d replies, want 1", n)
	}
	out, _ := alex.st.Outbox()
	if len(out) != 2 || out[0].State != localstore.Queued || out[1].State != localstore.Queued {
		t.Fatalf("after the lost reply the outbox is %+v, want both operations queued", out)
	}
	if srv := serverRecords(t, e, "alex"); srv[note.RecordID].ID == "" {
		t.Fatalf("the server did not apply the batch whose reply was lost")
	}

	// The next round sends the batch again. The replay's answer carries the
	// copies once more, but a lost answer may have named more records than
	// its replay does, so this round's pull leaves nothing out.
	w := watch(e, false)
	alex.sync()
	qs, _ := w.take()
	if len(qs) == 0 {
		t.Fatal("the round after the replay did not pull")
	}
	for _, q := range qs {
		if q.Get(contract.PullAnswered) != "" {
			t.Errorf("after a replay the round asked the pull to leave records out: %v", q)
		}
	}
	w = watch(e, false)
	alex.sync()
	if qs, _ := w.take(); len(qs) == 0 || qs[0].Get(contract.PullAnswered) != contract.PullAnsweredOmit {
		t.Errorf("once a pull brought everything, the next round's pull asked %v, want answered=omit", qs)
	}
	if out, _ := alex.st.Outbox(); len(out) != 0 {
		t.Errorf("outbox after the retry: %+v, want empty", out)
	}
	srv := serverRecords(t, e, "alex")
	alex.holdsServersCopies(t, srv, note.RecordID, pump.View.ID)
	notes := 0
	for _, r := range srv {
		if r.Type == "note" && r.Text("text") == "only once" {
			notes++
		}
	}
	if notes != 1 {
		t.Errorf("the server has %d copies of the note, want 1", notes)
	}
	if job := srv[pump.View.ID]; job.Versions["work"] != work+1 || job.Int("labor_minutes") != 30 {
		t.Errorf("the job's work is at version %d with %d minutes, want version %d and 30: the edit applied exactly once",
			job.Versions["work"], job.Int("labor_minutes"), work+1)
	}
}

// A held edit whose answer is lost: the server put the job under review
// (its copy went out in the lost answer), and the replay's answer says only
// "held". The pull after the replay must still bring the job as it is now.
func TestALostReplyToAHeldEditStillBringsTheJobUnderReview(t *testing.T) {
	e := newEnv(t)
	fp := faultproxy.New(e.ts.URL)
	t.Cleanup(fp.Close)
	alex := login(t, fp.URL(), "alex")
	alex.sync()
	dana := e.login("dana")
	dana.sync()
	pump := alex.job("Replace pump seal")
	office := dana.job("Replace pump seal")
	dana.save(dana.op("job", office.View.ID, contract.ActionTransition, map[string]int64{"status": office.Server.Versions["status"]},
		map[string]any{"status": "waiting_for_approval"}))
	dana.sync()
	// Alex, not having heard, finishes the job from what he has.
	alex.save(alex.op("job", pump.View.ID, contract.ActionTransition, map[string]int64{"status": pump.Server.Versions["status"]},
		map[string]any{"status": "completed"}))

	fp.Add(faultproxy.Rule{Name: "lost push reply", Method: "POST", Path: "/v1/push", Fault: faultproxy.DropReply, Times: 1})
	if err := alex.q.RunData(context.Background()); err == nil || !apiclient.IsTransient(err) {
		t.Fatalf("round with a lost reply: %v, want a transient failure", err)
	}
	alex.sync()
	alex.sync()

	out, _ := alex.st.Outbox()
	if len(out) != 1 || out[0].State != localstore.Held {
		t.Fatalf("Alex's outbox: %+v, want his move held for review", out)
	}
	srv := serverRecords(t, e, "alex")
	if job := srv[pump.View.ID]; job.Text("status") != "waiting_for_approval" || !job.HasReview("status") {
		t.Fatalf("the server's job: status %q, reviews %v; want waiting_for_approval under review", job.Text("status"), job.OpenReviews)
	}
	alex.holdsServersCopies(t, srv, pump.View.ID)
}
