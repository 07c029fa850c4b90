// Package storetest checks that a server.Store keeps the promises the
// server relies on: every operation applied exactly once, a change feed
// that never skips a change, unique job numbers, one open review per field
// group, duplicate marking, sessions that end when revoked, and user names
// unique regardless of case. Each backend's tests call Run with a function
// that opens a new, empty store of its kind.
//
// The checks drive a real server over the store, through its HTTP
// endpoints and its exported methods, and never the store's own methods:
// they say what a user relies on, whatever the store looks like inside.
package storetest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/server"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// Run checks that a store keeps the promises the server relies on. open
// returns a new, empty store for one subtest, and closes it when that
// subtest ends (t.Cleanup). The subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) server.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *site)
	}{
		{"an operation pushed again answers its first result and is applied once", exactlyOnce},
		{"the same new operation pushed from many connections at once is applied once", concurrentDuplicates},
		{"a reader pulling by cursor while others write ends with every change and misses none", feedUnderWriters},
		{"job numbers stay unique when many jobs are created at once", uniqueNumbers},
		{"two stale edits to one review group make one open review", oneOpenReview},
		{"a second job for the same customer site and day is marked a suspected duplicate", duplicateMarking},
		{"a sign-in works until it is signed out or revoked and then answers 401", sessions},
		{"a user name is taken whatever its case", userNamesIgnoreCase},
		{"an upload's chunks may reach either server and of chunks racing for one offset one is kept", uploadsAcrossServers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newSite(t, open))
		})
	}
}

// wantReplay checks that r answers a replay with the stored first result.
func wantReplay(t *testing.T, what string, r, first contract.Result) {
	t.Helper()
	if r.Outcome != contract.AlreadyApplied || r.First == nil {
		t.Errorf("%s: got %s %s (%s), want %s carrying the first result", what, r.Outcome, r.Code, r.Message, contract.AlreadyApplied)
		return
	}
	if !sameJSON(*r.First, first) {
		t.Errorf("%s: first result %+v, want the stored %+v", what, *r.First, first)
	}
}

// onceEach checks that op wrote each field of a record's change log once.
func onceEach(t *testing.T, log []contract.Change, op string) {
	t.Helper()
	seen := map[string]int{}
	for _, c := range log {
		if c.OpID == op {
			seen[c.Group+"."+c.Field]++
		}
	}
	if len(seen) == 0 {
		t.Errorf("the change log has no entry for operation %s", op)
	}
	for f, n := range seen {
		if n != 1 {
			t.Errorf("operation %s wrote %s into the change log %d times, want once", op, f, n)
		}
	}
}

func exactlyOnce(t *testing.T, s *site) {
	dana := s.login("dana", "office-pc")
	cust := dana.customer("Harbor Bakery")
	create := dana.jobOp(cust, "alex", "Replace pump seal", "12 Quay Street", day)
	created := dana.must(create)
	job := create.RecordID
	if created.Number == "" {
		t.Fatalf("the new job has no number: %+v", created)
	}
	again, err := dana.push(create)
	if err != nil {
		t.Fatal(err)
	}
	wantReplay(t, "the create pushed again", again[0], created)

	before := dana.record(job)
	edit := dana.op("job", job, contract.ActionUpdate, map[string]int64{"summary": before.Versions["summary"]},
		map[string]any{"title": "Replace pump seal and gasket"})
	edited := dana.must(edit)
	// Once on its own, and twice more in one batch, as a device whose
	// answer was lost sends its queue again.
	replays, err := dana.push(edit)
	if err != nil {
		t.Fatal(err)
	}
	more, err := dana.push(edit, edit)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range append(replays, more...) {
		wantReplay(t, fmt.Sprintf("the edit pushed again (%d)", i+1), r, edited)
	}

	after := dana.record(job)
	if got, want := after.Versions["summary"], before.Versions["summary"]+1; got != want {
		t.Errorf("the summary is at version %d after one edit pushed four times, want %d", got, want)
	}
	if got := after.Text("title"); got != "Replace pump seal and gasket" {
		t.Errorf("the title is %q", got)
	}
	if after.Number != created.Number {
		t.Errorf("the job's number is %q, want %q from its create", after.Number, created.Number)
	}
	log := dana.history("job", job)
	onceEach(t, log, create.ID)
	onceEach(t, log, edit.ID)
}

func concurrentDuplicates(t *testing.T, s *site) {
	const n = 8
	dana := s.login("dana", "office-pc")
	cust := dana.customer("Harbor Bakery")
	create := dana.jobOp(cust, "alex", "Replace pump seal", "12 Quay Street", day)
	for _, step := range []struct {
		name string
		edit bool
		op   func() contract.Operation
	}{
		{"a new job", false, func() contract.Operation { return create }},
		{"an edit", true, func() contract.Operation {
			rec := dana.record(create.RecordID)
			return dana.op("job", create.RecordID, contract.ActionUpdate, map[string]int64{"summary": rec.Versions["summary"]},
				map[string]any{"title": "Replace pump seal and gasket"})
		}},
	} {
		var before int64
		if step.edit {
			before = dana.record(create.RecordID).Versions["summary"]
		}
		op := step.op()
		results := make([]contract.Result, n)
		together(n, func(i int) {
			rs, err := dana.push(op)
			if err != nil {
				t.Errorf("%s, push %d: %v", step.name, i, err)
				return
			}
			results[i] = rs[0]
		})
		if t.Failed() {
			t.FailNow()
		}
		applied := 0
		var first contract.Result
		for _, r := range results {
			switch r.Outcome {
			case contract.Applied:
				applied++
				first = r
			case contract.AlreadyApplied:
			default:
				t.Fatalf("%s pushed at once: one answer is %s %s (%s)", step.name, r.Outcome, r.Code, r.Message)
			}
		}
		if applied != 1 {
			t.Fatalf("%s pushed %d times at once was applied %d times, want once", step.name, n, applied)
		}
		for i, r := range results {
			if r.Outcome == contract.AlreadyApplied {
				wantReplay(t, fmt.Sprintf("%s, answer %d", step.name, i), r, first)
			}
		}
		rec := dana.record(create.RecordID)
		if step.edit && rec.Versions["summary"] != before+1 {
			t.Errorf("the summary is at version %d after one edit, want %d", rec.Versions["summary"], before+1)
		}
		onceEach(t, dana.history("job", create.RecordID), op.ID)
	}
}

func feedUnderWriters(t *testing.T, s *site) {
	const writers, jobsEach, updates = 4, 2, 6
	sue := s.login("sue", "sue-tablet")
	office := make([]*client, writers)
	jobs := make([][]string, writers)
	versions := make([][]int64, writers)
	titles := make([][]string, writers)
	cust := s.login("dana", "office-pc").customer("Harbor Bakery")
	for w := range writers {
		office[w] = s.login("dana", fmt.Sprintf("office-%d", w))
		for j := range jobsEach {
			title := fmt.Sprintf("Job %d.%d", w, j)
			op := office[w].jobOp(cust, "alex", title, fmt.Sprintf("%d Quay Street, unit %d", w+1, j+1), day)
			r := office[w].must(op)
			jobs[w] = append(jobs[w], op.RecordID)
			versions[w] = append(versions[w], r.Versions["summary"])
			titles[w] = append(titles[w], title)
		}
	}

	f := newFeed()
	sue.mustPull(f)
	stop := make(chan struct{})
	var reader sync.WaitGroup
	var readErr error
	reader.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := sue.pull(f); err != nil {
				readErr = err
				return
			}
		}
	})
	together(writers, func(w int) {
		for k := range updates {
			for j, job := range jobs[w] {
				title := fmt.Sprintf("Job %d.%d, take %d", w, j, k+1)
				r, err := office[w].apply(office[w].op("job", job, contract.ActionUpdate,
					map[string]int64{"summary": versions[w][j]}, map[string]any{"title": title}))
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				versions[w][j], titles[w][j] = r.Versions["summary"], title
			}
		}
	})
	close(stop)
	reader.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if t.Failed() {
		t.FailNow()
	}
	// The writers are done: pull until nothing more comes.
	for i := 0; ; i++ {
		n, err := sue.pull(f)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if i > 10 {
			t.Fatalf("the feed is not quiet after the writers stopped")
		}
	}
	for w := range writers {
		for j, job := range jobs[w] {
			got, ok := f.records[job]
			switch {
			case !ok:
				t.Errorf("the reader never pulled job %s", job)
			case got.Text("title") != titles[w][j] || got.Versions["summary"] != versions[w][j]:
				t.Errorf("the reader ends with job %s titled %q at version %d, want %q at %d",
					job, got.Text("title"), got.Versions["summary"], titles[w][j], versions[w][j])
			}
		}
	}
	// What the reader pieced together is what one pull from the start gives.
	whole := newFeed()
	sue.mustPull(whole)
	if len(whole.records) != len(f.records) || len(whole.reviews) != len(f.reviews) {
		t.Errorf("the reader holds %d records and %d reviews, one pull from the start %d and %d",
			len(f.records), len(f.reviews), len(whole.records), len(whole.reviews))
	}
	for id, want := range whole.records {
		if got := f.records[id]; !sameJSON(got, want) {
			t.Errorf("the reader holds %s %s at %d, the server has it at %d", want.Type, id, got.Seq, want.Seq)
		}
	}

	// A record updated twice after it was pulled comes again, as it stands
	// after the second update; the rest do not.
	job := jobs[0][0]
	arrivals := map[string]int{}
	for id, n := range f.arrivals {
		arrivals[id] = n
	}
	for k := range 2 {
		r := office[0].must(office[0].op("job", job, contract.ActionUpdate,
			map[string]int64{"summary": versions[0][0]}, map[string]any{"title": fmt.Sprintf("Job 0.0, late take %d", k+1)}))
		versions[0][0] = r.Versions["summary"]
	}
	sue.mustPull(f)
	if got := f.records[job]; f.arrivals[job] != arrivals[job]+1 || got.Text("title") != "Job 0.0, late take 2" || got.Versions["summary"] != versions[0][0] {
		t.Errorf("after two updates job %s came %d more times, titled %q at version %d; want once, %q at %d",
			job, f.arrivals[job]-arrivals[job], got.Text("title"), got.Versions["summary"], "Job 0.0, late take 2", versions[0][0])
	}
	for id, n := range arrivals {
		if id != job && f.arrivals[id] != n {
			t.Errorf("record %s came again though nothing changed it", id)
		}
	}
}

func uniqueNumbers(t *testing.T, s *site) {
	const pushes, perPush = 12, 2
	dana := s.login("dana", "office-pc")
	cust := dana.customer("Harbor Bakery")
	numbers := make([]string, pushes*perPush)
	ids := make([]string, pushes*perPush)
	together(pushes, func(i int) {
		var ops []contract.Operation
		for k := range perPush {
			ops = append(ops, dana.jobOp(cust, "alex", "Service visit", fmt.Sprintf("%d Mill Lane", i*perPush+k+1), day))
		}
		rs, err := dana.push(ops...)
		if err != nil {
			t.Error(err)
			return
		}
		for k, r := range rs {
			if r.Outcome != contract.Applied {
				t.Errorf("create %d: %s %s (%s)", i*perPush+k, r.Outcome, r.Code, r.Message)
				continue
			}
			numbers[i*perPush+k], ids[i*perPush+k] = r.Number, ops[k].RecordID
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	f := newFeed()
	dana.mustPull(f)
	owner := map[string]string{}
	for i, n := range numbers {
		if n == "" {
			t.Errorf("job %s was created without a number", ids[i])
			continue
		}
		if other, ok := owner[n]; ok {
			t.Errorf("jobs %s and %s both have number %s", other, ids[i], n)
		}
		owner[n] = ids[i]
		if got := f.records[ids[i]].Number; got != n {
			t.Errorf("job %s is stored with number %q, its create answered %q", ids[i], got, n)
		}
	}
}

func oneOpenReview(t *testing.T, s *site) {
	dana := s.login("dana", "office-pc")
	laptop := s.login("dana", "office-laptop")
	ada := s.login("ada", "admin-laptop")
	cust := dana.customer("Harbor Bakery")
	job := dana.job(cust, "alex", "Replace pump seal", "12 Quay Street", day)
	stale := map[string]int64{"scheduling": dana.record(job).Versions["scheduling"]}
	dana.must(dana.op("job", job, contract.ActionUpdate, stale, map[string]any{"site_address": "12 Quay Street, rear door"}))

	// Two devices that had not heard of that edit change the site at once.
	edits := []*client{laptop, ada}
	results := make([]contract.Result, len(edits))
	together(len(edits), func(i int) {
		rs, err := edits[i].push(edits[i].op("job", job, contract.ActionUpdate, stale,
			map[string]any{"site_address": fmt.Sprintf("12 Quay Street, gate %d", i+1)}))
		if err != nil {
			t.Error(err)
			return
		}
		results[i] = rs[0]
	})
	if t.Failed() {
		t.FailNow()
	}
	for i, r := range results {
		if r.Outcome != contract.Held || r.ReviewID == "" {
			t.Fatalf("stale edit from %s: %s %s (%s), want held for review", edits[i], r.Outcome, r.Code, r.Message)
		}
	}
	if results[0].ReviewID != results[1].ReviewID {
		t.Errorf("the two stale edits joined reviews %s and %s, want one", results[0].ReviewID, results[1].ReviewID)
	}
	open := openOn(dana.openReviews(), job)
	if len(open) != 1 {
		t.Fatalf("%d open reviews on the job, want one", len(open))
	}
	if got := len(open[0].Device); got != 2 {
		t.Errorf("the open review holds %d device edits, want both", got)
	}

	// Once it is settled, the next stale edit opens a new review, and only
	// that one is open.
	var res contract.Result
	code, err := dana.call("POST", "/v1/reviews/"+open[0].ID+"/resolve",
		contract.ResolveRequest{OpID: uuid.NewString(), Choice: contract.KeepServer}, &res)
	if err != nil || code != http.StatusOK || res.Outcome != contract.Applied {
		t.Fatalf("resolving the review: status %d, %s %s (%s), %v", code, res.Outcome, res.Code, res.Message, err)
	}
	r, err := ada.push(ada.op("job", job, contract.ActionUpdate, stale, map[string]any{"site_address": "12 Quay Street, side gate"}))
	if err != nil {
		t.Fatal(err)
	}
	if r[0].Outcome != contract.Held || r[0].ReviewID == "" || r[0].ReviewID == open[0].ID {
		t.Fatalf("a stale edit after the review was settled: %s %s review %q, want held in a new review", r[0].Outcome, r[0].Code, r[0].ReviewID)
	}
	if again := openOn(dana.openReviews(), job); len(again) != 1 || again[0].ID != r[0].ReviewID {
		t.Errorf("open reviews on the job after the new stale edit: %d, want only the new one", len(again))
	}
}

// openOn returns the open reviews of a record.
func openOn(rvs []contract.Review, record string) []contract.Review {
	var out []contract.Review
	for _, rv := range rvs {
		if rv.RecordID == record && rv.Status == "open" {
			out = append(out, rv)
		}
	}
	return out
}

func duplicateMarking(t *testing.T, s *site) {
	dana := s.login("dana", "office-pc")
	alex := s.login("alex", "alex-phone")
	alexJob := func(cust, title, siteAddress string, start time.Time) contract.Operation {
		return alex.op("job", uuid.NewString(), contract.ActionCreate, nil, map[string]any{"title": title,
			"customer_id": cust, "site_address": siteAddress, "scheduled_start": start.Format(time.RFC3339)})
	}

	cust := dana.customer("Harbor Bakery")
	existing := dana.job(cust, "alex", "Replace pump seal", "12 Quay Street", day)
	create := alexJob(cust, "Pump leaking", "12 Quay Street", day.Add(5*time.Hour))
	alex.must(create)
	if got := dana.record(create.RecordID).DuplicateOf; got != existing {
		t.Errorf("the second job for the site that day is marked a duplicate of %q, want %s", got, existing)
	}
	if got := dana.record(existing).DuplicateOf; got != "" {
		t.Errorf("the first job is marked a duplicate of %s", got)
	}
	var dup []contract.Review
	for _, rv := range openOn(dana.openReviews(), create.RecordID) {
		if rv.Kind == contract.KindDuplicate {
			dup = append(dup, rv)
		}
	}
	if len(dup) != 1 || dup[0].MatchID != existing {
		t.Errorf("open duplicate reviews on the second job: %+v, want one naming %s", dup, existing)
	}

	// Two jobs for another site and day, made at once on two devices: one
	// of them is marked. Alex sees the customer through an earlier job.
	other := dana.customer("Northside Clinic")
	dana.job(other, "alex", "Survey", "3 Northside Road", day.Add(72*time.Hour))
	ops := []contract.Operation{
		dana.jobOp(other, "alex", "Inspect boiler", "1 Dock Road", day),
		alexJob(other, "Boiler fault", "1 Dock Road", day.Add(2*time.Hour)),
	}
	devs := []*client{dana, alex}
	together(len(ops), func(i int) {
		if _, err := devs[i].apply(ops[i]); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	a, b := dana.record(ops[0].RecordID), dana.record(ops[1].RecordID)
	if (a.DuplicateOf == b.ID) == (b.DuplicateOf == a.ID) || a.DuplicateOf != "" && b.DuplicateOf != "" {
		t.Errorf("two jobs for one site and day made at once: marked duplicate of %q and %q, want exactly one marked, naming the other",
			a.DuplicateOf, b.DuplicateOf)
	}
}

func sessions(t *testing.T, s *site) {
	phone := s.login("alex", "alex-phone")
	tablet := s.login("alex", "alex-tablet")
	dana := s.login("dana", "office-pc")
	for _, c := range []*client{phone, tablet, dana} {
		if code := c.me(); code != http.StatusOK {
			t.Fatalf("%s just signed in: status %d", c, code)
		}
	}
	code, err := phone.call("POST", "/v1/logout", nil, nil)
	if err != nil || code != http.StatusNoContent {
		t.Fatalf("signing out: status %d, %v", code, err)
	}
	if code := phone.me(); code != http.StatusUnauthorized {
		t.Errorf("the phone's token after signing out: status %d, want 401", code)
	}
	if code, _ := phone.call("GET", "/v1/pull", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("a pull with the phone's token after signing out: status %d, want 401", code)
	}
	if code := tablet.me(); code != http.StatusOK {
		t.Errorf("signing out on the phone ended the tablet's sign-in: status %d", code)
	}

	n, err := server.RevokeUser(context.Background(), s.store, "alex")
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Errorf("revoking alex ended %d sign-ins, want the tablet's", n)
	}
	if code := tablet.me(); code != http.StatusUnauthorized {
		t.Errorf("the tablet's token after alex was revoked: status %d, want 401", code)
	}
	if code := dana.me(); code != http.StatusOK {
		t.Errorf("revoking alex ended dana's sign-in: status %d", code)
	}
	if code := s.login("alex", "alex-phone").me(); code != http.StatusOK {
		t.Errorf("alex signing in again: status %d", code)
	}
}

func userNamesIgnoreCase(t *testing.T, s *site) {
	for _, name := range []string{"Alex", "ALEX", " alex "} {
		_, err := s.srv.AddUser(context.Background(), server.NewUser{Name: name, Role: "technician", Password: password, Cost: bcrypt.MinCost})
		if err == nil {
			t.Errorf("adding %q when alex exists succeeded", name)
			continue
		}
		if msg := strings.ToLower(err.Error()); !strings.Contains(msg, "alex") || !strings.Contains(msg, "exists") {
			t.Errorf("adding %q when alex exists: %q, want an error saying the name is taken", name, err)
		}
	}
	ada := s.login("ada", "admin-laptop")
	var resp contract.UsersResponse
	if code, err := ada.call("GET", "/v1/users", nil, &resp); err != nil || code != http.StatusOK {
		t.Fatalf("listing users: status %d, %v", code, err)
	}
	var alexes []contract.User
	for _, u := range resp.Users {
		if strings.EqualFold(u.Name, "alex") {
			alexes = append(alexes, u)
		}
	}
	if len(alexes) != 1 || alexes[0].ID != s.users["alex"].ID {
		t.Errorf("users named alex in any case: %+v, want only the first", alexes)
	}
	if got := s.login("alex", "alex-phone").user.ID; got != s.users["alex"].ID {
		t.Errorf("alex signs in as user %s, want %s", got, s.users["alex"].ID)
	}
}
