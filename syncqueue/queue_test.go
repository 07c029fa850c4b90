package syncqueue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
	"fieldsync/internal/apiclient"
	"fieldsync/localstore"
	"fieldsync/syncqueue"
)

func pushSizes(reqs []request) []int {
	var out []int
	for _, r := range reqs {
		if r.Path == "/v1/push" {
			out = append(out, r.Ops)
		}
	}
	return out
}

func TestRunDataPushesInBatchesOfTheRulesSizeThenPulls(t *testing.T) {
	tests := []struct {
		name  string
		batch int // 0: the rules' default
		ops   int
		want  []int
	}{
		{"seven edits with a batch of three go as three, three and one", 3, 7, []int{3, 3, 1}},
		{"six edits with a batch of three go as two full batches", 3, 6, []int{3, 3}},
		{"one edit goes alone", 3, 1, []int{1}},
		{"1,001 edits with the default rules go as 500, 500 and 1", 0, 1001, []int{500, 500, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var opts []deviceOpt
			if tt.batch > 0 {
				opts = append(opts, withBatch(tt.batch))
			}
			d := e.login("alex", opts...)
			d.sync()
			pump := d.job("Replace pump seal").View.ID
			var ids []string
			for i := range tt.ops {
				op := d.note(pump, fmt.Sprintf("note %d", i))
				ids = append(ids, op.RecordID)
				d.save(op)
			}
			e.proxy.take("")
			d.sync()
			reqs := e.proxy.take("")
			if got := pushSizes(reqs); !slices.Equal(got, tt.want) {
				t.Fatalf("push sizes %v, want %v", got, tt.want)
			}
			lastPush := slices.IndexFunc(reqs, func(r request) bool { return r.Path == "/v1/push" && r.Ops == tt.want[len(tt.want)-1] })
			firstPull := slices.IndexFunc(reqs, func(r request) bool { return r.Path == "/v1/pull" })
			if firstPull < lastPush {
				t.Errorf("pulled (request %d) before the last push (request %d)", firstPull, lastPush)
			}
			if out, _ := d.st.Outbox(); len(out) != 0 {
				t.Errorf("%d operations left after the round", len(out))
			}
			for _, id := range ids {
				e, err := d.st.Record(id)
				if err != nil || e == nil || e.Server == nil {
					t.Fatalf("note %s has no server copy after the round (%v)", id, err)
				}
			}
		})
	}
}

func TestRunDataSplitsABatchTheServerRejectsWhole(t *testing.T) {
	tests := []struct {
		name    string
		bad     func(d *device, job string) contract.Operation
		prepare func(e *env, bad contract.Operation)
		reason  string
	}{
		{"a note too big for a request body is refused alone",
			func(d *device, job string) contract.Operation {
				return d.note(job, strings.Repeat("x", 9<<20))
			}, nil, "the request body is over the limit"},
		{"an operation the server cannot read is refused alone",
			func(d *device, job string) contract.Operation { return d.note(job, "garbled") },
			func(e *env, bad contract.Operation) {
				e.proxy.setIntercept(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
					if r.URL.Path == "/v1/push" && bytes.Contains(body, []byte(bad.ID)) {
						answer(w, http.StatusBadRequest, contract.CodeInvalid, "malformed JSON: field \"values\": want object", "")
						return true
					}
					return false
				})
			}, "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			d := e.login("alex")
			d.sync()
			pump := d.job("Replace pump seal").View.ID
			bad := tt.bad(d, pump)
			var good []contract.Operation
			for i := range 4 {
				good = append(good, d.note(pump, fmt.Sprintf("good %d", i)))
			}
			d.save(good[0], good[1], bad, good[2], good[3])
			if tt.prepare != nil {
				tt.prepare(e, bad)
			}
			e.proxy.take("")
			if err := d.q.RunData(context.Background()); err != nil {
				t.Fatalf("round: %v", err)
			}
			if got := pushSizes(e.proxy.take("")); !slices.Equal(got, []int{5, 1, 1, 1, 1, 1}) {
				t.Errorf("push sizes %v, want the batch of 5 then each alone", got)
			}
			out, _ := d.st.Outbox()
			if len(out) != 1 || out[0].Op.ID != bad.ID || out[0].State != localstore.Refused {
				t.Fatalf("outbox after the round: %+v, want only the bad note, refused", out)
			}
			if out[0].Result == nil || !strings.Contains(out[0].Result.Message, tt.reason) {
				t.Errorf("refusal %+v, want %q", out[0].Result, tt.reason)
			}
			for _, op := range good {
				if e, _ := d.st.Record(op.RecordID); e == nil || e.Server == nil {
					t.Errorf("good note %s did not reach the server", op.RecordID)
				}
			}
			st := d.q.State()
			if st.Refused != 1 || st.Queued != 0 {
				t.Errorf("state counts queued %d refused %d", st.Queued, st.Refused)
			}
			// The next round does not send it again.
			e.proxy.take("")
			d.sync()
			if got := pushSizes(e.proxy.take("")); len(got) != 0 {
				t.Errorf("the next round pushed %v", got)
			}
		})
	}
}

func TestARoundDoesNotResendRetryableRefusalsWithoutBackoff(t *testing.T) {
	e := newEnv(t)
	d := e.login("alex", withBatch(2))
	d.sync()
	pump := d.job("Replace pump seal").View.ID
	d.save(d.note(pump, "one"), d.note(pump, "two"))
	var pushes atomic.Int32
	e.proxy.setIntercept(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if r.URL.Path != "/v1/push" {
			return false
		}
		pushes.Add(1)
		var pr contract.PushRequest
		json.Unmarshal(body, &pr)
		var resp contract.PushResponse
		for _, op := range pr.Ops {
			resp.Results = append(resp.Results, contract.Result{OpID: op.ID, Outcome: contract.Refused, Code: contract.CodeInternal,
				Message: "The server could not apply this change; nothing of it was kept. It will be tried again.", Retry: true})
		}
		json.NewEncoder(w).Encode(resp)
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := d.q.RunData(ctx)
	out, _ := d.st.Outbox()
	for _, p := range out {
		if p.State != localstore.Queued || p.LastError == "" {
			t.Errorf("a retryable refusal: %s %q, want queued with the reason", p.State, p.LastError)
		}
	}
	if n := pushes.Load(); n > 1 {
		t.Fatalf("dataRound pushes a full batch of retryable refusals again and again in one round (%d pushes in 2s, round error %v): Queued(batch) returns the same still-queued operations and len(batch) == batchSize keeps the loop going, with no backoff", n, err)
	}
}

func TestALostReplyNeverMakesADuplicate(t *testing.T) {
	e := newEnv(t)
	d := e.login("alex")
	d.sync()
	pump := d.job("Replace pump seal").View.ID
	note := d.note(pump, "only once")
	d.save(note)
	var dropped atomic.Bool
	e.proxy.setIntercept(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if r.URL.Path != "/v1/push" || dropped.Load() {
			return false
		}
		dropped.Store(true)
		e.srv.ServeHTTP(discardWriter{}, r) // the server applies it...
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // ...and the reply is lost
		}
		return true
	})
	if err := d.q.RunData(context.Background()); err == nil || !apiclient.IsTransient(err) {
		t.Fatalf("round with a lost reply: %v, want a transient failure", err)
	}
	if out, _ := d.st.Outbox(); len(out) != 1 || out[0].State != localstore.Queued || out[0].Attempts != 1 {
		t.Fatalf("after the lost reply: %+v", out)
	}
	d.sync()
	notes := 0
	items, _ := d.st.Items(pump)
	for _, it := range items {
		if it.View.Type == "note" && it.View.Text("text") == "only once" {
			notes++
		}
	}
	if notes != 1 {
		t.Fatalf("%d copies of the note", notes)
	}
	if out, _ := d.st.Outbox(); len(out) != 0 {
		t.Errorf("outbox after the retry: %+v", out)
	}
}

// discardWriter is a ResponseWriter that throws the answer away.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

func TestTheQueueResumesFromTheStoreAfterARestart(t *testing.T) {
	e := newEnv(t)
	d := e.login("alex")
	d.sync()
	pump := d.job("Replace pump seal").View.ID
	dir := d.st.Dir()
	note := d.note(pump, "written before the restart")
	d.save(note)
	d.q.Close(context.Background())
	d.st.Close()

	st, err := localstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetRebaser(localstore.RebaseFunc(applyValues))
	q := syncqueue.New(syncqueue.Options{Store: st, Client: d.c, Rules: rulebook.Default})
	q.Refresh()
	if s := q.State(); s.Queued != 1 || s.Record(pump).Status != syncqueue.Saved {
		t.Fatalf("after the restart: queued %d, job %v", s.Queued, s.Record(pump))
	}
	if err := q.RunData(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.proxy.take("/v1/push"); len(got) != 1 || !bytes.Contains(got[0].Body, []byte(note.ID)) {
		t.Fatalf("pushes after the restart: %d, want the saved operation with its id", len(got))
	}
	if e, _ := st.Record(note.RecordID); e == nil || e.Server == nil {
		t.Fatal("the note did not reach the server")
	}
}

func TestAnUnauthorizedRoundKeepsTheQueueAndAsksToSignIn(t *testing.T) {
	e := newEnv(t)
	d := e.login("alex")
	d.sync()
	pump := d.job("Replace pump seal").View.ID
	d.save(d.note(pump, "kept"))
	d.c.SetToken("not-a-token")
	err := d.q.RunData(context.Background())
	if !apiclient.IsUnauthorized(err) {
		t.Fatalf("round: %v", err)
	}
	st := d.q.State()
	if !st.SignedOut || st.Data.Failures != 0 || !st.Data.NextTry.IsZero() {
		t.Errorf("state: signed out %v, failures %d, next try %v; want signed out without a retry", st.SignedOut, st.Data.Failures, st.Data.NextTry)
	}
	if out, _ := d.st.Outbox(); len(out) != 1 || out[0].State != localstore.Queued {
		t.Errorf("outbox: %+v", out)
	}
}

func TestRunMediaResumesFromTheServersOffset(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.login("alex", withChunk(256))
	d.sync()
	pump := d.job("Replace pump seal").View.ID
	content := bytes.Repeat([]byte("abcdefghij"), 100)
	photo := d.addPhoto(pump, content).RecordID
	d.sync() // the metadata goes first, in the data lane

	// Part of it arrived earlier, before the app stopped.
	if _, err := d.c.UploadChunk(ctx, photo, 0, bytes.NewReader(content[:300])); err != nil {
		t.Fatal(err)
	}
	e.proxy.take("")
	if err := d.q.RunMedia(ctx); err != nil {
		t.Fatal(err)
	}
	var offsets []string
	for _, r := range e.proxy.take("/v1/photos/") {
		if r.Method == "PUT" {
			offsets = append(offsets, r.Query)
		}
	}
	if !slices.Equal(offsets, []string{"offset=300", "offset=556", "offset=812"}) {
		t.Errorf("chunks sent at %v, want from the server's 300 in chunks of 256", offsets)
	}
	ph, _ := d.st.Photos("")
	if len(ph) != 1 || ph[0].State != localstore.PhotoUploaded || ph[0].Uploaded != 1000 {
		t.Fatalf("photo after the round: %+v", ph)
	}
	var got bytes.Buffer
	if err := d.c.Download(ctx, photo, &got); err != nil || !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("server content: %d bytes, %v", got.Len(), err)
	}
	if r := d.q.State().LastRound; !r.PhotosUp {
		t.Errorf("the round %+v does not have the photo up", r)
	}
}

func TestRunMediaKeepsWhatArrivedWhenAnUploadIsCut(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.login("alex", withChunk(200))
	d.sync()
	pump := d.job("Replace pump seal").View.ID
	content := bytes.Repeat([]byte("0123456789"), 100)
	photo := d.addPhoto(pump, content).RecordID
	d.sync()
	var puts atomic.Int32
	e.proxy.setIntercept(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if r.Method == "PUT" && puts.Add(1) == 3 {
			answer(w, http.StatusServiceUnavailable, contract.CodeUnavailable, "busy", "1")
			return true
		}
		return false
	})
	err := d.q.RunMedia(ctx)
	if err == nil || !apiclient.IsTransient(err) {
		t.Fatalf("round with a failed chunk: %v", err)
	}
	ph, _ := d.st.Photos("")
	if ph[0].Uploaded != 400 || ph[0].State != localstore.PhotoWaiting || ph[0].Attempts != 1 {
		t.Fatalf("after the cut: %+v, want 400 bytes recorded, still waiting", ph[0])
	}
	st := d.q.State()
	if st.Media.Failures != 1 || st.Data.Failures != 0 {
		t.Errorf("failures: media %d data %d", st.Media.Failures, st.Data.Failures)
	}
	e.proxy.setIntercept(nil)
	e.proxy.take("")
	if err := d.q.RunMedia(ctx); err != nil {
		t.Fatal(err)
	}
	var first string
	for _, r := range e.proxy.take("/v1/photos/") {
		if r.Method == "PUT" {
			first = r.Query
			break
		}
	}
	if first != "offset=400" {
		t.Errorf("the next round started at %q, want offset=400", first)
	}
	if ph, _ := d.st.Photos(localstore.PhotoUploaded); len(ph) != 1 {
		t.Fatal("the photo did not finish")
	}
	var got bytes.Buffer
	d.c.Download(ctx, photo, &got)
	if !bytes.Equal(got.Bytes(), content) {
		t.Fatal("server content differs")
	}
}

func TestRunMediaWaitsForTheMetadataAndGivesUpOnADamagedPhoto(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.login("alex")
	d.sync()
	pump := d.job("Replace pump seal").View.ID
	content := []byte("the real photo")
	photo := d.addPhoto(pump, content).RecordID

	e.proxy.take("")
	if err := d.q.RunMedia(ctx); err != nil {
		t.Fatal(err)
	}
	if reqs := e.proxy.take("/v1/photos/"); len(reqs) != 0 {
		t.Fatalf("uploaded before the metadata reached the server: %d requests", len(reqs))
	}
	d.sync()

	// The file on the device no longer matches its declared sha256.
	ph, _ := d.st.Photos("")
	if err := os.WriteFile(ph[0].Path, []byte("something else!")[:len(content)], 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		d.q.RunMedia(ctx)
	}
	failed, _ := d.st.Photos(localstore.PhotoFailed)
	if len(failed) != 1 || failed[0].ID != photo || !strings.Contains(failed[0].Error, "damaged") {
		t.Fatalf("failed photos: %+v", failed)
	}
	st := d.q.State()
	if got := st.Record(photo).Status; got != syncqueue.NotSent {
		t.Errorf("photo status %v", got)
	}
}

func TestTheLanesNeverBlockEachOther(t *testing.T) {
	e := newEnv(t)
	d := e.login("alex")
	d.sync()
	pump := d.job("Replace pump seal").View.ID
	d.addPhoto(pump, bytes.Repeat([]byte("x"), 1000))
	d.sync()

	release := make(chan struct{})
	defer close(release)
	e.proxy.setIntercept(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if strings.HasPrefix(r.URL.Path, "/v1/photos/") {
			select { // the media lane hangs on a dead upload
			case <-release:
			case <-r.Context().Done():
			}
			return true
		}
		return false
	})
	d.q.Start()
	note := d.note(pump, "sent while a photo hangs")
	d.save(note)
	d.q.Kick()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if e, _ := d.st.Record(note.RecordID); e != nil && e.Server != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the note did not sync while the media lane hung")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.q.Close(ctx); err != nil {
		t.Fatalf("Close with an upload under way: %v", err)
	}
}

func TestSyncNowTriesAtOnceWhileBackingOffButANewEditDoesNot(t *testing.T) {
	e := newEnv(t)
	d := e.login("alex")
	d.sync()
	pump := d.job("Replace pump seal").View.ID
	failing := atomic.Bool{}
	failing.Store(true)
	var pushes atomic.Int32
	e.proxy.setIntercept(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if r.URL.Path == "/v1/push" {
			pushes.Add(1)
		}
		if failing.Load() && r.URL.Path != "/v1/login" {
			answer(w, http.StatusServiceUnavailable, contract.CodeUnavailable, "down", "60")
			return true
		}
		return false
	})
	// Real time here: the lane's timer runs on it. The server asks for a
	// minute's wait, so any try within it came from Kick or SyncNow.
	rt := login(t, e.ts.URL, "alex")
	rt.q.Close(context.Background())
	q := syncqueue.New(syncqueue.Options{Store: rt.st, Client: rt.c, Rules: rulebook.Default})
	defer q.Close(context.Background())
	note := rt.note(pump, "first")
	rt.save(note)
	q.Start()
	waitFor(t, 5*time.Second, func() bool { return q.State().Data.Failures >= 1 })
	if wait := time.Until(q.State().Data.NextTry); wait < 50*time.Second {
		t.Fatalf("next try in %v, want the minute the server asked for", wait)
	}
	before := pushes.Load()
	rt.save(rt.note(pump, "second"))
	q.Kick()
	time.Sleep(300 * time.Millisecond)
	if got := pushes.Load(); got != before {
		t.Errorf("a new edit during backoff sent %d pushes at once", got-before)
	}
	failing.Store(false)
	q.SyncNow()
	waitFor(t, 20*time.Second, func() bool { return q.State().Data.Failures == 0 && !q.State().Data.LastOK.IsZero() })
	if n, _, _, _ := rt.st.Counts(); n != 0 {
		t.Errorf("%d still queued after Sync now", n)
	}
}

func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
