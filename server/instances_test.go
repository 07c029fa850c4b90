package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/pgtest"
	"fieldsync/server"
	"fieldsync/server/pgstore"
)

// Several instances of the server over one PostgreSQL database, as several
// fieldsyncd processes behind a load balancer: a device's requests may
// land on any of them, one after another or at once, and every promise
// must hold as with one server. These tests run two instances, each its
// own server.New over its own pool on the same database, each on its own
// loopback address, sharing nothing in memory; they skip without
// FIELDSYNC_PG_DSN.

// twoInstances starts two instances over one new database. They share
// the photo directory and the users (alex, sam, dana, sue, fran, ada),
// whom the first one adds.
func twoInstances(t *testing.T) (a, b *env) {
	t.Helper()
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	users := map[string]contract.User{}
	start := func() *env {
		st, err := pgstore.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		srv, err := server.New(server.Options{Store: st, BlobDir: filepath.Join(dir, "blobs")})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, srv: srv, store: st, users: users, dir: dir}
		e.ts = httptest.NewServer(srv)
		t.Cleanup(e.ts.Close) // before the pool closes
		return e
	}
	a, b = start(), start()
	for _, u := range []struct{ name, role string }{
		{"alex", "technician"}, {"sam", "technician"}, {"dana", "dispatcher"},
		{"sue", "supervisor"}, {"fran", "finance"}, {"ada", "admin"},
	} {
		a.addUser(u.name, u.role)
	}
	return a, b
}

// on sends the device's requests to instance e from now on.
func (d *device) on(e *env) *device {
	d.e = e
	return d
}

// via returns a copy of the device whose requests go to instance e, for
// requests on other goroutines: the same user, device and sign-in.
func (d *device) via(e *env) *device {
	c := *d
	c.e = e
	return &c
}

// atOnce runs each function in a goroutine of its own, all let go at the
// same moment, and waits for them.
func atOnce(fns ...func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, fn := range fns {
		wg.Go(func() {
			<-start
			fn()
		})
	}
	close(start)
	wg.Wait()
}

// pushBody posts a push body to the device's instance. Unlike push it may
// run on any goroutine: it returns an error instead of failing the test.
func (d *device) pushBody(body []byte) (contract.PushResponse, error) {
	var resp contract.PushResponse
	err := d.request("POST", "/v1/push", body, &resp)
	return resp, err
}

// pullBody fetches every page after cursor from the device's instance, on
// any goroutine, and returns the records by id and the last cursor.
func (d *device) pullBody(cursor string) (map[string]contract.Record, string, error) {
	recs := map[string]contract.Record{}
	for {
		var page contract.PullResponse
		if err := d.request("GET", "/v1/pull?cursor="+url.QueryEscape(cursor), nil, &page); err != nil {
			return recs, cursor, err
		}
		for _, r := range page.Records {
			recs[r.ID] = r
		}
		cursor = page.Cursor
		if !page.More {
			return recs, cursor, nil
		}
	}
}

// request sends a request and decodes a 200 answer into out.
func (d *device) request(method, path string, body []byte, out any) error {
	req, err := http.NewRequest(method, d.e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// storedResult returns an operation's stored result as the database holds it.
func (e *env) storedResult(opID string) *server.StoredResult {
	e.t.Helper()
	var sr *server.StoredResult
	if err := e.store.Read(context.Background(), func(q server.Query) error {
		var err error
		sr, err = q.Result(opID)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return sr
}

func TestTwoInstancesApplyThePushSentToBothAtOnceOnce(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t)
	dana := a.login("dana", "office-pc")
	cust := a.customer(dana, "Harbor Bakery")
	job := a.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	dana.pull()

	// Each round sends one batch to both instances at the same moment, as
	// a device does when its first try seems lost and the retry lands on
	// the other instance: a new title for the job, a note on it and a new
	// phone number for the customer. Many rounds, so that the two requests
	// meet inside the database in some of them.
	for round := range 24 {
		base := dana.bases(job, "summary")
		title := fmt.Sprintf("Replace pump seal, visit %d", round+1)
		phone := fmt.Sprintf("+44 20 7946 %04d", round+1)
		ops := []contract.Operation{
			dana.op("job", job, contract.ActionUpdate, base, map[string]any{"title": title}),
			dana.note(job, fmt.Sprintf("Visit %d booked.", round+1)),
			dana.op("customer", cust, contract.ActionUpdate, dana.bases(cust, "contact"), map[string]any{"phone": phone}),
		}
		body, err := json.Marshal(contract.PushRequest{Ops: ops})
		if err != nil {
			t.Fatal(err)
		}
		var answers [2]contract.PushResponse
		var errs [2]error
		atOnce(
			func() { answers[0], errs[0] = dana.via(a).pushBody(body) },
			func() { answers[1], errs[1] = dana.via(b).pushBody(body) },
		)
		for i, err := range errs {
			if err == nil && len(answers[i].Results) != len(ops) {
				err = fmt.Errorf("%d results for %d operations", len(answers[i].Results), len(ops))
			}
			if err != nil {
				t.Fatalf("round %d: instance %c: %v", round+1, 'A'+i, err)
			}
		}
		for k, op := range ops {
			var applied, replayed []contract.Result
			for _, ans := range answers {
				switch r := ans.Results[k]; r.Outcome {
				case contract.Applied:
					applied = append(applied, r)
				case contract.AlreadyApplied:
					replayed = append(replayed, r)
				default:
					t.Fatalf("round %d: %s %s: %s %s: %s", round+1, op.Action, op.RecordType, r.Outcome, r.Code, r.Message)
				}
			}
			if len(applied) != 1 || len(replayed) != 1 {
				t.Fatalf("round %d: %s %s: %d applied and %d already applied; want one of each",
					round+1, op.Action, op.RecordType, len(applied), len(replayed))
			}
			if replayed[0].First == nil {
				t.Fatalf("round %d: %s %s: the replay does not carry the first result", round+1, op.Action, op.RecordType)
			}
			if diff := jsonDiff(*replayed[0].First, applied[0]); diff != "" {
				t.Errorf("round %d: %s %s: the replay's first result is not the one applied: %s", round+1, op.Action, op.RecordType, diff)
			}
			if sr := a.storedResult(op.ID); sr == nil {
				t.Errorf("round %d: %s %s: no stored result", round+1, op.Action, op.RecordType)
			} else if diff := jsonDiff(sr.Result, applied[0]); diff != "" {
				t.Errorf("round %d: %s %s: the stored result is not the one answered: %s", round+1, op.Action, op.RecordType, diff)
			}
			rows := 0
			for _, c := range dana.history(op.RecordType, op.RecordID) {
				if c.OpID == op.ID {
					rows++
				}
			}
			if rows != 1 {
				t.Errorf("round %d: %s %s: the change log has %d rows from the operation; want 1", round+1, op.Action, op.RecordType, rows)
			}
		}
		if rec := a.stored(job); rec.Text("title") != title || rec.Versions["summary"] != base["summary"]+1 {
			t.Errorf("round %d: the job holds title %q at version %d; want %q at %d, one edit from %d",
				round+1, rec.Text("title"), rec.Versions["summary"], title, base["summary"]+1, base["summary"])
		}
		notes := 0
		for _, n := range a.items(job)["note"] {
			if n.Text("text") == fmt.Sprintf("Visit %d booked.", round+1) {
				notes++
			}
		}
		if notes != 1 {
			t.Errorf("round %d: the job has %d copies of the note; want 1", round+1, notes)
		}
		dana.pull()
	}
}

func TestTwoInstancesSuspectOneDuplicateOfJobsMadeAtOnce(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t)
	pc := a.login("dana", "office-pc")
	laptop := b.login("dana", "office-laptop")
	cust := a.customer(pc, "Harbor Bakery")

	// Each round, the same job (customer, site, day) is made on two
	// devices, each through its own instance, at the same moment.
	for round := range 6 {
		site := fmt.Sprintf("%d Quay Street", round+1)
		newJob := func(d *device) contract.Operation {
			return d.op("job", newID(), contract.ActionCreate, nil, map[string]any{
				"title": "Replace pump seal", "customer_id": cust, "assignee": a.users["alex"].ID,
				"site_address": site, "scheduled_start": day.Format(time.RFC3339)})
		}
		ops := [2]contract.Operation{newJob(pc), newJob(laptop)}
		var answers [2]contract.PushResponse
		var errs [2]error
		atOnce(
			func() { answers[0], errs[0] = pushOne(pc, ops[0]) },
			func() { answers[1], errs[1] = pushOne(laptop, ops[1]) },
		)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: instance %c: %v", round+1, 'A'+i, err)
			}
			if r := answers[i].Results[0]; r.Outcome != contract.Applied {
				t.Fatalf("round %d: instance %c: %s %s: %s", round+1, 'A'+i, r.Outcome, r.Code, r.Message)
			}
		}
		var suspects []contract.Review
		for _, rv := range pc.openReviews() {
			if rv.Kind == contract.KindDuplicate && (rv.RecordID == ops[0].RecordID || rv.RecordID == ops[1].RecordID) {
				suspects = append(suspects, rv)
			}
		}
		if len(suspects) != 1 {
			t.Fatalf("round %d: %d duplicate-suspect reviews for two jobs made at once at %s; want 1", round+1, len(suspects), site)
		}
		dup, first := suspects[0].RecordID, ops[0].RecordID
		if dup == first {
			first = ops[1].RecordID
		}
		if suspects[0].MatchID != first {
			t.Errorf("round %d: the review matches %s; want the other job, %s", round+1, suspects[0].MatchID, first)
		}
		if got := a.stored(dup).DuplicateOf; got != first {
			t.Errorf("round %d: the suspect's duplicate_of is %q; want %s", round+1, got, first)
		}
		if got := a.stored(first).DuplicateOf; got != "" {
			t.Errorf("round %d: the first job is marked a duplicate of %s too", round+1, got)
		}
	}
}

// pushOne pushes one operation from any goroutine.
func pushOne(d *device, op contract.Operation) (contract.PushResponse, error) {
	body, err := json.Marshal(contract.PushRequest{Ops: []contract.Operation{op}})
	if err != nil {
		return contract.PushResponse{}, err
	}
	resp, err := d.pushBody(body)
	if err == nil && len(resp.Results) != 1 {
		err = fmt.Errorf("%d results for one operation", len(resp.Results))
	}
	return resp, err
}

func TestTwoInstancesNumberJobsMadeInParallelWithoutGapsOrRepeats(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t)
	office := a.login("dana", "office-pc")
	cust := a.customer(office, "Harbor Bakery")
	firstJob := a.job(office, cust, "alex", "Opening visit", "1 Quay Street", day)
	office.pull()
	first := jobNumber(t, office.rec(firstJob).Number)

	// Four office PCs, two on each instance, each make ten jobs in batches
	// of one and two, all at once, each for customers of its own: jobs of
	// one customer wait for each other, and these must not.
	const pcs, perPC = 4, 10
	var (
		mu      sync.Mutex
		numbers = map[int]string{} // number → job
		jobs    []string
		fails   []error
	)
	var fns []func()
	for i := range pcs {
		inst := a
		if i%2 == 1 {
			inst = b
		}
		d := inst.login("dana", fmt.Sprintf("office-pc-%d", i+1))
		cust := a.customer(office, fmt.Sprintf("Customer %d", i+1))
		fns = append(fns, func() {
			for n := 0; n < perPC; {
				var batch []contract.Operation
				for range 1 + n%2 {
					if n == perPC {
						break
					}
					batch = append(batch, d.op("job", newID(), contract.ActionCreate, nil, map[string]any{
						"title": "Pump check", "customer_id": cust, "assignee": a.users["sam"].ID,
						"site_address": fmt.Sprintf("%d Mill Lane, unit %d", i+1, n+1), "scheduled_start": day.Format(time.RFC3339)}))
					n++
				}
				body, err := json.Marshal(contract.PushRequest{Ops: batch})
				if err == nil {
					var resp contract.PushResponse
					if resp, err = d.pushBody(body); err == nil && len(resp.Results) != len(batch) {
						err = fmt.Errorf("%d results for %d operations", len(resp.Results), len(batch))
					}
					mu.Lock()
					for k, r := range resp.Results {
						if r.Outcome != contract.Applied {
							fails = append(fails, fmt.Errorf("%s: %s %s: %s", d.id, r.Outcome, r.Code, r.Message))
							continue
						}
						jobs = append(jobs, batch[k].RecordID)
					}
					mu.Unlock()
				}
				if err != nil {
					mu.Lock()
					fails = append(fails, fmt.Errorf("%s: %w", d.id, err))
					mu.Unlock()
					return
				}
			}
		})
	}
	atOnce(fns...)
	for _, err := range fails {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, id := range jobs {
		rec := a.stored(id)
		if rec == nil {
			t.Fatalf("job %s was answered applied but is not stored", id)
		}
		n := jobNumber(t, rec.Number)
		if other, taken := numbers[n]; taken {
			t.Errorf("jobs %s and %s both have number %s", other, id, rec.Number)
		}
		numbers[n] = id
	}
	var got []int
	for n := range numbers {
		got = append(got, n)
	}
	slices.Sort(got)
	for i, n := range got {
		if want := first + 1 + i; n != want {
			t.Fatalf("job numbers after J-%d: %v; want %d numbers from J-%d on, without a gap", first, got, pcs*perPC, first+1)
		}
	}
	if len(got) != pcs*perPC {
		t.Errorf("%d jobs numbered; want %d", len(got), pcs*perPC)
	}
}

// jobNumber reads the number of J-1001.
func jobNumber(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimPrefix(s, "J-"))
	if err != nil || !strings.HasPrefix(s, "J-") {
		t.Fatalf("job number %q is not J- and a number", s)
	}
	return n
}

func TestTwoInstancesPullWhatTheOtherJustApplied(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t)
	dana := a.login("dana", "office-pc")
	alex := a.login("alex", "alex-phone")
	cust := a.customer(dana, "Harbor Bakery")
	job := a.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	dana.pull()
	alex.pull()

	for round := range 10 {
		// The writer and the reader swap instances each round.
		w, r := dana.on(a), alex.on(b)
		if round%2 == 1 {
			w, r = dana.on(b), alex.on(a)
		}
		title := fmt.Sprintf("Replace pump seal, round %d", round+1)
		res := w.must(w.op("job", job, contract.ActionUpdate, w.bases(job, "summary"), map[string]any{"title": title}))
		note := w.must(w.note(job, fmt.Sprintf("Note %d", round+1)))
		r.pull()
		got := r.rec(job)
		if got.Text("title") != title || got.Versions["summary"] != res.Versions["summary"] {
			t.Errorf("round %d: a pull through the other instance shows title %q at version %d; want %q at %d",
				round+1, got.Text("title"), got.Versions["summary"], title, res.Versions["summary"])
		}
		if _, ok := r.records[note.RecordID]; !ok {
			t.Errorf("round %d: a pull through the other instance does not have the note just added", round+1)
		}
		w.pull()
	}
}

func TestTwoInstancesPullsNeverPassAChangeStillCommitting(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t)
	dana := a.login("dana", "office-pc")
	alex := a.login("alex", "alex-phone")
	cust := a.customer(dana, "Harbor Bakery")
	job := a.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	alex.pull()
	// Writers add notes through A while a reader pulls through B over
	// and over, each pull from the last one's cursor. A pull must
	// never move its cursor past a change that was still committing:
	// every note must reach the reader in one of the pulls.
	const writers, perWriter = 4, 20
	start := alex.cursor
	var (
		mu    sync.Mutex
		added []string
		fails []error
		done  = make(chan struct{})
		seen  = map[string]bool{}
	)
	var fns []func()
	for i := range writers {
		d := a.login("alex", fmt.Sprintf("alex-tablet-%d", i+1))
		fns = append(fns, func() {
			for n := range perWriter {
				op := d.note(job, fmt.Sprintf("Writer %d, note %d", i+1, n+1))
				resp, err := pushOne(d, op)
				mu.Lock()
				if err == nil && resp.Results[0].Outcome != contract.Applied {
					err = fmt.Errorf("%s: %s", resp.Results[0].Outcome, resp.Results[0].Message)
				}
				if err != nil {
					fails = append(fails, err)
				} else {
					added = append(added, op.RecordID)
				}
				mu.Unlock()
			}
		})
	}
	reader := alex.via(b)
	cursor := start
	var readErr error
	pulls := 0
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			recs, next, err := reader.pullBody(cursor)
			if err != nil {
				readErr = err
				return
			}
			for id := range recs {
				seen[id] = true
			}
			cursor = next
			pulls++
		}
	})
	atOnce(fns...)
	close(done)
	wg.Wait()
	for _, err := range fails {
		t.Error(err)
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
	// One more pull from the last cursor, after every write ended: what
	// the pulls skipped while it was committing is not in it.
	recs, _, err := reader.pullBody(cursor)
	if err != nil {
		t.Fatal(err)
	}
	missed := 0
	for _, id := range added {
		if !seen[id] {
			if _, late := recs[id]; !late {
				missed++
			}
		}
	}
	t.Logf("%d pulls through B while %d notes were added through A", pulls, len(added))
	if len(added) != writers*perWriter {
		t.Errorf("%d notes added; want %d", len(added), writers*perWriter)
	}
	if missed > 0 {
		t.Errorf("%d of %d notes never reached pulls through the other instance: a pull's cursor passed them while they committed", missed, len(added))
	}
}
