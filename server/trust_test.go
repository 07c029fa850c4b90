package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/server"
	"fieldsync/server/sqlitestore"

	"golang.org/x/crypto/bcrypt"
)

// loginAs signs in and returns the status and the raw answer, with the
// answer's headers.
func loginAs(t *testing.T, e *env, user, password, deviceID string) (*http.Response, []byte) {
	t.Helper()
	anon := &device{e: e, t: t, name: "login"}
	body, _ := json.Marshal(contract.LoginRequest{Username: user, Password: password, DeviceID: deviceID})
	return anon.send("POST", "/v1/login", bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}})
}

// omitPull pulls everything as d with answered=omit and returns the ids of
// the records it brought.
func omitPull(t *testing.T, d *device) map[string]contract.Record {
	t.Helper()
	out := map[string]contract.Record{}
	cursor := ""
	for {
		code, page, b := pullQuery(t, d, cursor, "", false, true)
		if code != http.StatusOK {
			t.Fatalf("%s omit-pull: status %d %s", d, code, b)
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

// A device id belongs to the user who first signed in with it. Before,
// anyone could sign in with another person's device id (ids are in every
// record's device_id and streaks) or name it in an operation: the
// server then marked what he changed as answered to that device, whose
// pulls left it out for ever while it said "Synced".
func TestADeviceIDBelongsToOneUser(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	alexPhone := s.alex.id

	t.Run("a sign-in with another user's device id is refused", func(t *testing.T) {
		resp, b := loginAs(t, s.e, "dana", testPassword, alexPhone)
		ed := errorOf(t, b)
		if resp.StatusCode != http.StatusConflict || ed.Code != contract.CodeDeviceTaken || ed.Retry {
			t.Fatalf("dana signing in as %s: status %d %s %q, want 409 %s", alexPhone, resp.StatusCode, ed.Code, ed.Message, contract.CodeDeviceTaken)
		}
		if bytes.Contains(b, []byte("token")) {
			t.Errorf("the refused sign-in answers a token: %s", b)
		}
		// Alex signs in again from his own phone, as always.
		if resp, b := loginAs(t, s.e, "alex", testPassword, alexPhone); resp.StatusCode != http.StatusOK {
			t.Errorf("alex signing in again from his phone: status %d %s", resp.StatusCode, b)
		}
	})

	t.Run("an operation naming another device is refused and marks nothing", func(t *testing.T) {
		s.dana.pull()
		forged := s.dana.op("job", s.job, contract.ActionUpdate, s.dana.bases(s.job, "summary"), map[string]any{"title": "Replace pump seal and gasket"})
		forged.DeviceID = alexPhone
		r := s.dana.push(forged)[0]
		wantResult(t, "dana's operation naming alex's phone", r, contract.Refused, contract.CodeWrongDevice)
		if !strings.Contains(r.Message, alexPhone) || !strings.Contains(r.Message, s.dana.id) {
			t.Errorf("the refusal %q does not say which devices", r.Message)
		}
		if got := s.e.stored(s.job).Text("title"); got != "Replace pump seal" {
			t.Errorf("the forged edit changed the title to %q", got)
		}
		// The refusal is not kept: dana's own device may send that
		// operation id.
		forged.DeviceID = s.dana.id
		s.dana.must(forged)
		// What dana changed is answered to her device, and alex's phone
		// pulls it.
		if got := s.e.answeredTo(s.job); got != s.dana.id {
			t.Errorf("the job is answered to %q, want dana's device", got)
		}
		if rec, ok := omitPull(t, s.alex)[s.job]; !ok || rec.Text("title") != "Replace pump seal and gasket" {
			t.Errorf("alex's phone does not pull dana's change of his job (got %v)", ok)
		}
		// The change log names the device that really sent it.
		hist := s.dana.history("job", s.job)
		if last := hist[len(hist)-1]; last.DeviceID != s.dana.id {
			t.Errorf("the change log says device %q, want %q", last.DeviceID, s.dana.id)
		}
	})

	t.Run("a resolve naming another device is refused", func(t *testing.T) {
		s.alex.move(s.job, "opened", "in_progress")
		stale := s.alex.bases(s.job, "status")
		s.dana.pull()
		s.dana.must(s.dana.op("job", s.job, contract.ActionTransition, s.dana.bases(s.job, "status"), map[string]any{"status": "waiting_for_approval"}))
		held := s.alex.push(s.alex.op("job", s.job, contract.ActionTransition, stale, map[string]any{"status": "completed"}))[0]
		wantResult(t, "alex's stale move", held, contract.Held, contract.CodeConflict)
		code, _, ed := s.sue.resolve(held.ReviewID, contract.ResolveRequest{Choice: contract.KeepServer, DeviceID: alexPhone})
		if code != http.StatusBadRequest || ed.Code != contract.CodeWrongDevice {
			t.Fatalf("sue resolving as alex's phone: status %d %s %q, want 400 %s", code, ed.Code, ed.Message, contract.CodeWrongDevice)
		}
		if rv := s.e.storedReview(held.ReviewID); rv.Status != "open" {
			t.Errorf("the refused resolve settled the review: %s", rv.Status)
		}
		code, _, ed = s.sue.resolve(held.ReviewID, contract.ResolveRequest{Choice: contract.KeepServer})
		if code != http.StatusOK {
			t.Fatalf("sue resolving from her own device: status %d %s", code, ed.Message)
		}
		if rv := s.e.storedReview(held.ReviewID); rv.Status != "resolved" {
			t.Errorf("after sue's resolve the review is %s", rv.Status)
		}
	})
}

// A device's run of changes to a group lets it edit on from its own last
// version without a conflict. Before, naming another device in an
// operation borrowed that device's run: a stale edit that should be held
// for review was applied over another dispatcher's change.
func TestAForgedDeviceCannotTurnAStaleEditIntoAnAppliedOne(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.e.addUser("dan", "dispatcher")
	dan := s.e.login("dan", "dan-pc")
	dan.pull()
	stale := dan.bases(s.job, "scheduling")

	// Dana moves the job to another site, from her office PC.
	s.dana.pull()
	s.dana.must(s.dana.op("job", s.job, contract.ActionUpdate, s.dana.bases(s.job, "scheduling"), map[string]any{"site_address": "14 Quay Street"}))

	// Dan, from the version before Dana's, names Dana's office PC.
	forged := dan.op("job", s.job, contract.ActionUpdate, stale, map[string]any{"site_address": "99 Harbour Road"})
	forged.DeviceID = s.dana.id
	r := dan.push(forged)[0]
	wantResult(t, "dan's stale edit naming dana's device", r, contract.Refused, contract.CodeWrongDevice)
	if got := s.e.stored(s.job).Text("site_address"); got != "14 Quay Street" {
		t.Fatalf("the forged stale edit changed the site to %q", got)
	}
	// Nor can he sign in as that device.
	if resp, b := loginAs(t, s.e, "dan", testPassword, s.dana.id); resp.StatusCode != http.StatusConflict {
		t.Fatalf("dan signing in with dana's device id: status %d %s, want 409", resp.StatusCode, b)
	}
	// From his own device the same stale edit is held for review, with
	// both versions.
	r = dan.push(dan.op("job", s.job, contract.ActionUpdate, stale, map[string]any{"site_address": "99 Harbour Road"}))[0]
	wantResult(t, "dan's stale edit from his own device", r, contract.Held, contract.CodeConflict)
	if r.Server == nil || !strings.Contains(string(r.Server.Values["site_address"]), "14 Quay Street") {
		t.Errorf("the review does not carry dana's version: %+v", r.Server)
	}
	if got := s.e.stored(s.job).Text("site_address"); got != "14 Quay Street" {
		t.Errorf("the held edit changed the site to %q", got)
	}
}

// A technician who creates a job matching one he cannot see learns that a
// match exists, nothing more. Before, duplicate_of, the review's match_id
// and reason, and the matches endpoint named the other job.
func TestADuplicateTellsNothingOfAJobTheCreatorCannotSee(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	// Sam's job at 3 Mill Lane for Mill Lane Dental: alex cannot see it.
	// Alex gets a job for the same customer elsewhere, so he may name it.
	samJob, samNumber := s.samJob, s.e.stored(s.samJob).Number
	s.e.job(s.dana, s.samCust, "alex", "Check the chair lift", "9 Mill Lane", day)
	s.alex.pull()

	create := s.alex.op("job", newID(), contract.ActionCreate, nil, map[string]any{
		"title": "Compressor again", "customer_id": s.samCust, "site_address": "3 mill  LANE",
		"scheduled_start": day.Add(3 * time.Hour).Format(time.RFC3339)})
	resp, body := s.alex.send("POST", "/v1/push", strings.NewReader(mustJSON(t, contract.PushRequest{Ops: []contract.Operation{create}})), http.Header{"Content-Type": {"application/json"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alex's create: status %d %s", resp.StatusCode, body)
	}
	var ans struct {
		Results []contract.Result `json:"results"`
		Copies  []contract.Record `json:"copies"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatal(err)
	}
	r := ans.Results[0]
	if r.Outcome != contract.Applied || !strings.Contains(r.Notice, "Suspected duplicate") {
		t.Fatalf("alex's create: %s %q, want applied with a duplicate notice", r.Outcome, r.Notice)
	}
	secrets := [][]byte{[]byte(samJob), []byte(samNumber), []byte("Service compressor")}
	leaks := func(what string, b []byte) {
		t.Helper()
		for _, sec := range secrets {
			if bytes.Contains(b, sec) {
				t.Errorf("%s names sam's job (%s): %s", what, sec, b)
			}
		}
	}
	leaks("the push answer", body)
	if len(ans.Copies) != 1 || ans.Copies[0].DuplicateOf != contract.MatchUnseen {
		t.Errorf("the answer's copy says duplicate_of %+v, want %q", ans.Copies, contract.MatchUnseen)
	}

	_, page, b := pullQuery(t, s.alex, "", "", false, false)
	leaks("alex's pull", b)
	var review contract.Review
	for _, rv := range page.Reviews {
		if rv.RecordID == create.RecordID {
			review = rv
		}
	}
	if review.Kind != contract.KindDuplicate || review.MatchID != "" || review.Reason == "" {
		t.Errorf("alex pulls the duplicate review as kind %q, match %q, reason %q; want a duplicate review without the match", review.Kind, review.MatchID, review.Reason)
	}
	for _, rec := range page.Records {
		if rec.ID == create.RecordID && rec.DuplicateOf != contract.MatchUnseen {
			t.Errorf("alex pulls his job with duplicate_of %q, want %q", rec.DuplicateOf, contract.MatchUnseen)
		}
	}
	rvResp, rvBody := s.alex.send("GET", "/v1/reviews", nil, nil)
	if rvResp.StatusCode != http.StatusOK {
		t.Fatalf("alex's reviews: %d", rvResp.StatusCode)
	}
	leaks("alex's review list", rvBody)
	mResp, mBody := s.alex.send("GET", "/v1/jobs/matches?customer_id="+s.samCust+"&site_address=3+Mill+Lane&date="+day.Format(time.DateOnly), nil, nil)
	if mResp.StatusCode != http.StatusOK || !bytes.Contains(mBody, []byte(`"visible":false`)) {
		t.Errorf("alex's matches: status %d %s, want a match he cannot see", mResp.StatusCode, mBody)
	}
	leaks("alex's matches", mBody)
	var ms contract.MatchesResponse
	if err := json.Unmarshal(mBody, &ms); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms.Matches {
		if !m.Visible && m != (contract.Match{}) {
			t.Errorf("alex's matches say more than that a job exists: %+v", m)
		}
	}

	// The office, who sees both, is told which job it is.
	s.dana.pull()
	if got := s.dana.rec(create.RecordID).DuplicateOf; got != samJob {
		t.Errorf("dana pulls duplicate_of %q, want sam's job %s", got, samJob)
	}
	for _, rv := range s.dana.reviews {
		if rv.RecordID == create.RecordID && (rv.MatchID != samJob || !strings.Contains(rv.Reason, samNumber)) {
			t.Errorf("dana pulls the review with match %q and reason %q, want sam's job", rv.MatchID, rv.Reason)
		}
	}
	// Sam, who sees his own job, is told its number when he repeats it.
	again := s.sam.op("job", newID(), contract.ActionCreate, nil, map[string]any{
		"title": "Compressor", "customer_id": s.samCust, "site_address": "3 Mill Lane",
		"scheduled_start": day.Add(time.Hour).Format(time.RFC3339)})
	if r := s.sam.must(again); !strings.Contains(r.Notice, samNumber) {
		t.Errorf("sam's notice %q does not name his job %s", r.Notice, samNumber)
	}
}

// A job with no scheduled start is matched by the day the server made it.
// Before, the device's clock decided the day: one 36 hours off hid the
// duplicate.
func TestTheSameDayMatchGoesByTheServersClock(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	first := newID()
	s.dana.must(s.dana.op("job", first, contract.ActionCreate, nil, map[string]any{
		"title": "Leak under the counter", "customer_id": s.cust, "site_address": "12 Quay Street", "assignee": s.e.users["alex"].ID}))
	s.alex.pull()
	// Alex's phone runs 36 hours fast.
	s.alex.clock = s.dana.clock.Add(36 * time.Hour)
	r := s.alex.must(s.alex.op("job", newID(), contract.ActionCreate, nil, map[string]any{
		"title": "Counter leak", "customer_id": s.cust, "site_address": "12 Quay Street"}))
	if !strings.Contains(r.Notice, "Suspected duplicate") {
		t.Fatalf("a device clock 36 h off hid the duplicate: notice %q", r.Notice)
	}
	// The matches a device asks for before creating go by the server's
	// day too.
	var m contract.MatchesResponse
	if code := s.alex.call("GET", "/v1/jobs/matches?customer_id="+s.cust+"&site_address=12+Quay+Street", nil, &m); code != http.StatusOK || len(m.Matches) < 2 {
		t.Errorf("matches for today: status %d, %+v; want both jobs", code, m.Matches)
	}
}

// throttledSite is a server over a real SQLite file that can be stopped
// and started again on the same file, with a clock the test moves.
type throttledSite struct {
	t       *testing.T
	path    string
	now     atomic.Int64
	e       *env
	proxies []netip.Prefix // the server's trusted proxies
}

func newThrottledSite(t *testing.T, proxies ...netip.Prefix) *throttledSite {
	ts := &throttledSite{t: t, path: filepath.Join(t.TempDir(), "server.db"), proxies: proxies}
	ts.now.Store(time.Now().UnixNano())
	ts.start()
	for _, u := range []string{"alex", "sam"} {
		ts.e.addUser(u, "technician")
	}
	return ts
}

// start runs a new server on the same database file.
func (ts *throttledSite) start() {
	t := ts.t
	st, err := sqlitestore.Open(ts.path)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, users: map[string]contract.User{}, dir: filepath.Dir(ts.path)}
	if ts.e != nil {
		e.users = ts.e.users
	}
	srv, err := server.New(server.Options{Store: st, BlobDir: filepath.Join(e.dir, "blobs"), TrustedProxies: ts.proxies,
		Now: func() time.Time { return time.Unix(0, ts.now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.ts = srv, httptest.NewServer(srv)
	ts.e = e
	t.Cleanup(func() {
		e.ts.Close()
		st.Close()
	})
}

// restart stops the server and starts another on the same file.
func (ts *throttledSite) restart() {
	ts.e.ts.Close()
	ts.e.store.Close()
	ts.start()
}

func (ts *throttledSite) advance(d time.Duration) { ts.now.Add(int64(d)) }

// login signs in and returns the status, the error (if any) and the
// Retry-After header.
func (ts *throttledSite) login(user, password string) (int, contract.ErrorDetail, string) {
	ts.t.Helper()
	resp, b := loginAs(ts.t, ts.e, user, password, user+"-phone")
	var ed contract.ErrorDetail
	if resp.StatusCode != http.StatusOK {
		ed = errorOf(ts.t, b)
	}
	return resp.StatusCode, ed, resp.Header.Get("Retry-After")
}

// loginFrom signs in through a balancer that says the request came from
// forwardedFor, and returns the status.
func (ts *throttledSite) loginFrom(forwardedFor, user, password string) int {
	ts.t.Helper()
	anon := &device{e: ts.e, t: ts.t, name: "login"}
	body, _ := json.Marshal(contract.LoginRequest{Username: user, Password: password, DeviceID: user + "-phone"})
	resp, _ := anon.send("POST", "/v1/login", bytes.NewReader(body),
		http.Header{"Content-Type": {"application/json"}, "X-Forwarded-For": {forwardedFor}})
	return resp.StatusCode
}

// Behind a load balancer every request comes from the balancer's address:
// counted against it, 30 wrong passwords from anyone would make every
// device wait. The balancer is trusted to say where a request came from;
// nobody else is.
func TestSignInThrottleBehindABalancer(t *testing.T) {
	t.Parallel()
	loopback := netip.MustParsePrefix("127.0.0.0/8")

	t.Run("wrong passwords count against the address a trusted balancer reports", func(t *testing.T) {
		t.Parallel()
		ts := newThrottledSite(t, loopback)
		for i := 0; i < 30; i++ {
			if code := ts.loginFrom("198.51.100.7", "user"+strconv.Itoa(i), "guess"); code != http.StatusUnauthorized {
				t.Fatalf("try %d: status %d, want 401", i, code)
			}
		}
		if code := ts.loginFrom("198.51.100.7", "sam", testPassword); code != http.StatusTooManyRequests {
			t.Errorf("the guessing address after 30 wrong passwords: status %d, want 429", code)
		}
		// A device elsewhere, through the same balancer, signs in; so does
		// one whose own proxy added an address the balancer appended after.
		if code := ts.loginFrom("203.0.113.9", "sam", testPassword); code != http.StatusOK {
			t.Errorf("another device through the balancer: status %d, want 200", code)
		}
		if code := ts.loginFrom("198.51.100.7, 203.0.113.10", "alex", testPassword); code != http.StatusOK {
			t.Errorf("a device whose request passed the guessing address's proxy: status %d, want 200", code)
		}
	})

	t.Run("without a trusted balancer the header changes nothing", func(t *testing.T) {
		t.Parallel()
		ts := newThrottledSite(t)
		for i := 0; i < 30; i++ {
			if code := ts.loginFrom("198.51.100."+strconv.Itoa(i), "user"+strconv.Itoa(i), "guess"); code != http.StatusUnauthorized {
				t.Fatalf("try %d: status %d, want 401", i, code)
			}
		}
		if code := ts.loginFrom("203.0.113.9", "sam", testPassword); code != http.StatusTooManyRequests {
			t.Errorf("after 30 wrong passwords from one peer naming other addresses: status %d, want 429", code)
		}
	})
}

// Before, a password could be guessed as fast as the server answered.
func TestSignInIsThrottled(t *testing.T) {
	t.Parallel()

	t.Run("wrong passwords for one user name make sign-ins wait, longer each time", func(t *testing.T) {
		t.Parallel()
		ts := newThrottledSite(t)
		for i := 1; i <= 5; i++ {
			if code, ed, _ := ts.login("alex", "guess"+strconv.Itoa(i)); code != http.StatusUnauthorized {
				t.Fatalf("wrong password %d: status %d %s, want 401", i, code, ed.Message)
			}
		}
		// The sixth try waits, even with the right password, and the
		// wait is said in the answer.
		code, ed, ra := ts.login("ALEX", testPassword)
		if code != http.StatusTooManyRequests || ed.Code != contract.CodeRateLimited || ed.Kind != contract.Transient || ra != "30" {
			t.Fatalf("after 5 wrong passwords: status %d %s %s, Retry-After %q; want 429 rate_limited, 30", code, ed.Code, ed.Kind, ra)
		}
		if !strings.Contains(ed.Message, "30 seconds") {
			t.Errorf("the answer %q does not say how long to wait", ed.Message)
		}
		// Another user is not held up by alex's name.
		if code, ed, _ := ts.login("sam", testPassword); code != http.StatusOK {
			t.Fatalf("sam: status %d %s", code, ed.Message)
		}
		// The wait holds across a restart.
		ts.restart()
		ts.advance(20 * time.Second)
		if code, _, ra := ts.login("alex", testPassword); code != http.StatusTooManyRequests || ra != "10" {
			t.Fatalf("after a restart, 20 s in: status %d, Retry-After %q; want 429 with 10 s left", code, ra)
		}
		// A wrong password after the wait makes the next wait longer.
		ts.advance(11 * time.Second)
		if code, _, _ := ts.login("alex", "guess6"); code != http.StatusUnauthorized {
			t.Fatalf("a wrong password after the wait: status %d, want 401", code)
		}
		if code, _, ra := ts.login("alex", testPassword); code != http.StatusTooManyRequests || ra != "60" {
			t.Fatalf("after a sixth wrong password: status %d, Retry-After %q; want 429, 60", code, ra)
		}
		// After the wait the real user signs in, which clears the count.
		ts.advance(61 * time.Second)
		if code, ed, _ := ts.login("alex", testPassword); code != http.StatusOK {
			t.Fatalf("the real user after the wait: status %d %s", code, ed.Message)
		}
		for i := 1; i <= 5; i++ {
			if code, _, _ := ts.login("alex", "typo"); code != http.StatusUnauthorized {
				t.Fatalf("after signing in, wrong password %d: status %d, want a fresh count", i, code)
			}
		}
	})

	t.Run("the waits stop growing at their cap", func(t *testing.T) {
		t.Parallel()
		ts := newThrottledSite(t)
		for i := 0; i < 5; i++ {
			ts.login("alex", "guess")
		}
		var waits []string
		for range 8 {
			_, _, ra := ts.login("alex", "guess")
			waits = append(waits, ra)
			n, err := strconv.Atoi(ra)
			if err != nil {
				t.Fatalf("waits %v: the last try was not told to wait", waits)
			}
			ts.advance(time.Duration(n) * time.Second)
			if code, _, _ := ts.login("alex", "guess"); code != http.StatusUnauthorized {
				t.Fatalf("a wrong password after waiting: status %d", code)
			}
		}
		if got := strings.Join(waits, " "); got != "30 60 120 240 480 900 900 900" {
			t.Errorf("waits %s, want doubling from 30 s to the 15-minute cap", got)
		}
	})

	t.Run("wrong passwords from one address make every sign-in from it wait", func(t *testing.T) {
		t.Parallel()
		ts := newThrottledSite(t)
		for i := 0; i < 30; i++ {
			if code, _, _ := ts.login("user"+strconv.Itoa(i), "guess"); code != http.StatusUnauthorized {
				t.Fatalf("try %d: status %d, want 401", i, code)
			}
		}
		if code, ed, ra := ts.login("sam", testPassword); code != http.StatusTooManyRequests || ra != "30" {
			t.Fatalf("after 30 wrong passwords from one address: status %d %s, Retry-After %q; want 429, 30", code, ed.Message, ra)
		}
		ts.advance(31 * time.Second)
		if code, ed, _ := ts.login("sam", testPassword); code != http.StatusOK {
			t.Fatalf("after the wait: status %d %s", code, ed.Message)
		}
	})

	t.Run("a count is forgotten after an hour without failures", func(t *testing.T) {
		t.Parallel()
		ts := newThrottledSite(t)
		for i := 0; i < 4; i++ {
			ts.login("alex", "guess")
		}
		ts.advance(61 * time.Minute)
		for i := 0; i < 5; i++ {
			if code, _, _ := ts.login("alex", "guess"); code != http.StatusUnauthorized {
				t.Fatalf("an hour later, wrong password %d: status %d, want 401", i+1, code)
			}
		}
		var n int
		if err := ts.e.store.Read(context.Background(), func(q server.Query) error {
			ths, err := q.Throttles([]string{"user:alex"})
			if len(ths) == 1 {
				n = ths[0].Failures
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n != 5 {
			t.Errorf("the count is %d, want 5: the failures of an hour ago forgotten", n)
		}
	})
}

// Devices that pushed through Server.Push rather than a sign-in (the
// demo's seeding) are bound too: their ids are in the demo's records, and
// whoever signed in with one first would take over its runs of edits.
func TestDevicesThatPushedWithoutASignInAreBound(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := sqlitestore.Open(filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Store: st, BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	if err := server.SeedDemo(context.Background(), srv, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		st.Close()
	})
	e := &env{t: t, srv: srv, ts: ts, store: st}
	resp, b := loginAs(t, e, "sam", server.DemoPassword, "demo-dana")
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("sam signing in as the demo's dana device: status %d %s, want 409", resp.StatusCode, b)
	}
	if resp, b := loginAs(t, e, "dana", server.DemoPassword, "demo-dana"); resp.StatusCode != http.StatusOK {
		t.Errorf("dana signing in as her own demo device: status %d %s", resp.StatusCode, b)
	}
}

// A duplicate tells its creator nothing of a job he cannot see; once he is
// put on that job, his device hears which job it is: the review and his
// job come again in his next pull, now naming the match.
func TestADuplicateNamesTheMatchOnceItsCreatorMaySeeIt(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	samJob, samNumber := s.samJob, s.e.stored(s.samJob).Number
	s.e.job(s.dana, s.samCust, "alex", "Check the chair lift", "9 Mill Lane", day)
	s.alex.pull()
	create := s.alex.op("job", newID(), contract.ActionCreate, nil, map[string]any{
		"title": "Compressor again", "customer_id": s.samCust, "site_address": "3 Mill Lane",
		"scheduled_start": day.Add(3 * time.Hour).Format(time.RFC3339)})
	if r := s.alex.must(create); !strings.Contains(r.Notice, "Suspected duplicate") {
		t.Fatalf("alex's create: notice %q, want a suspected duplicate", r.Notice)
	}
	review := func() contract.Review {
		t.Helper()
		for _, rv := range s.alex.reviews {
			if rv.RecordID == create.RecordID {
				return rv
			}
		}
		t.Fatalf("alex has no review of his job")
		return contract.Review{}
	}
	s.alex.pull()
	if rv, dup := review(), s.alex.rec(create.RecordID).DuplicateOf; rv.MatchID != "" || dup != contract.MatchUnseen {
		t.Fatalf("before alex is on sam's job: review match %q, duplicate_of %q; want neither to name it", rv.MatchID, dup)
	}

	s.dana.pull()
	s.dana.must(s.dana.op("job", samJob, contract.ActionReassign, s.dana.bases(samJob, "assignment"),
		map[string]any{"assignee": s.e.users["alex"].ID}))
	s.alex.pull()
	if rv := review(); rv.MatchID != samJob || !strings.Contains(rv.Reason, samNumber) {
		t.Errorf("alex, now on sam's job, has the review with match %q and reason %q; want %s named", rv.MatchID, rv.Reason, samNumber)
	}
	if got := s.alex.rec(create.RecordID).DuplicateOf; got != samJob {
		t.Errorf("alex, now on sam's job, has his job with duplicate_of %q; want %s", got, samJob)
	}
}
