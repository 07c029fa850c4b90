package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"fieldsync/contract"
	"fieldsync/internal/teststore"
	"fieldsync/server"
)

// A push answer carries the server's copies of the records its batch wrote,
// and marks them as answered to the device that pushed, whose pulls may then
// leave them out (answered=omit). These tests play it over real HTTP.

// pushAnswer sends operations and returns the whole answer, copies and all;
// it fails the test unless the server answers 200 with one result per
// operation.
func (d *device) pushAnswer(ops ...contract.Operation) contract.PushResponse {
	d.t.Helper()
	var resp contract.PushResponse
	if code := d.call("POST", "/v1/push", contract.PushRequest{Ops: ops}, &resp); code != http.StatusOK {
		d.t.Fatalf("%s push: status %d", d, code)
	}
	if len(resp.Results) != len(ops) {
		d.t.Fatalf("%s push: %d results for %d operations", d, len(resp.Results), len(ops))
	}
	return resp
}

// copiesOf decodes an answer's copies by record id. It fails the test when
// a copy is not a record, and reports a record that comes twice.
func copiesOf(t testing.TB, resp contract.PushResponse) map[string]contract.Record {
	t.Helper()
	out := map[string]contract.Record{}
	for _, doc := range resp.Copies {
		var rec contract.Record
		if err := json.Unmarshal(doc, &rec); err != nil || rec.ID == "" || rec.Type == "" {
			t.Fatalf("the push answer carries a copy that is not a record (%v): %.120s", err, doc)
		}
		if _, dup := out[rec.ID]; dup {
			t.Errorf("the push answer carries %s %s twice; each record should come once", rec.Type, rec.ID)
		}
		out[rec.ID] = rec
	}
	return out
}

// pullPage fetches one page after cursor; omit asks the server to leave out
// what push answers gave this device; limit 0 is the server's page size.
func (d *device) pullPage(cursor string, omit bool, limit int) contract.PullResponse {
	d.t.Helper()
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if omit {
		q.Set(contract.PullAnswered, contract.PullAnsweredOmit)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var page contract.PullResponse
	if code := d.call("GET", "/v1/pull?"+q.Encode(), nil, &page); code != http.StatusOK {
		d.t.Fatalf("%s pull (%s): status %d", d, q.Encode(), code)
	}
	return page
}

// pullFrom fetches every page after cursor without touching what the device
// keeps, and returns the records and reviews by id and the last cursor.
func (d *device) pullFrom(cursor string, omit bool) (map[string]contract.Record, map[string]contract.Review, string) {
	d.t.Helper()
	recs, rvs := map[string]contract.Record{}, map[string]contract.Review{}
	for {
		page := d.pullPage(cursor, omit, 0)
		for _, r := range page.Records {
			recs[r.ID] = r
		}
		for _, r := range page.Reviews {
			rvs[r.ID] = r
		}
		cursor = page.Cursor
		if !page.More {
			return recs, rvs, cursor
		}
	}
}

// answeredTo reads behind the server's back which device a record's
// current state was sent to in a push answer ("" when none).
func (e *env) answeredTo(id string) string {
	e.t.Helper()
	return teststore.Answered(e.t, e.store, e.dir, id)
}

// parseSeq reads the sequence number a cursor of the SQLite store stands
// for: its positions are sequence numbers, with epoch 0, and it refuses
// cursors with another epoch.
func parseSeq(cursor string) (int64, error) {
	p, err := server.ParseCursor(cursor)
	if err == nil && p.Epoch != 0 {
		err = fmt.Errorf("cursor %q has epoch %d, which this store never gives", cursor, p.Epoch)
	}
	return p.Seq, err
}

// seqOf reads the sequence number a pull cursor stands for.
func seqOf(t testing.TB, cursor string) int64 {
	t.Helper()
	n, err := parseSeq(cursor)
	if err != nil {
		t.Fatalf("cursor %q: %v", cursor, err)
	}
	return n
}

func TestPushAnswerCarriesTheServersCopyOfEveryRecordItWrote(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dana := e.login("dana", "office-pc")
	alex := e.login("alex", "alex-phone")
	cust := e.customer(dana, "Harbor Bakery")
	job := e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	alex.pull()
	before := alex.cursor

	// One batch moves the job twice and adds a note and a part line.
	status := alex.bases(job, "status")
	opened := alex.op("job", job, contract.ActionTransition, status, map[string]any{"status": "opened"})
	working := alex.op("job", job, contract.ActionTransition, map[string]int64{"status": status["status"] + 1}, map[string]any{"status": "in_progress"})
	note, part := alex.note(job, "Seal is worn through."), alex.part(job, "SEAL-40", 1)
	batch := []contract.Operation{opened, note, part, working}
	ans := alex.pushAnswer(batch...)
	for i, r := range ans.Results {
		wantResult(t, "Alex's "+string(batch[i].Action)+" "+batch[i].RecordType, r, contract.Applied, "")
	}
	copies := copiesOf(t, ans)
	written := []string{job, note.RecordID, part.RecordID}
	if len(ans.Copies) != len(written) {
		t.Errorf("the answer carries %d copies, want %d: the job once, the note and the part line", len(ans.Copies), len(written))
	}
	for _, id := range written {
		c, ok := copies[id]
		if !ok {
			t.Errorf("the answer carries no copy of %s, which the batch wrote", id)
			continue
		}
		if diff := jsonDiff(c, e.stored(id)); diff != "" {
			t.Errorf("the copy of %s %s is not what the server stores: %s", c.Type, id, diff)
		}
		if got := e.answeredTo(id); got != "alex-phone" {
			t.Errorf("%s %s is marked as answered to %q, want alex-phone, the device that pushed", c.Type, id, got)
		}
	}
	if c := copies[job]; c.Text("status") != "in_progress" {
		t.Errorf("the job's copy shows status %q, want in_progress: the state after the whole batch", c.Text("status"))
	}

	// A plain pull brings the same records, exactly as the copies have them.
	pulled, _, _ := alex.pullFrom(before, false)
	for _, id := range written {
		p, ok := pulled[id]
		if !ok {
			t.Errorf("a plain pull did not bring %s back", id)
			continue
		}
		if diff := jsonDiff(p, copies[id]); diff != "" {
			t.Errorf("the pull and the push answer disagree about %s %s: %s", p.Type, id, diff)
		}
	}

	// An operation the server refuses writes nothing and carries nothing.
	resp, body := alex.send("POST", "/v1/push", strings.NewReader(mustJSON(t, contract.PushRequest{Ops: []contract.Operation{
		alex.op("customer", cust, contract.ActionUpdate, map[string]int64{"contact": 1}, map[string]any{"phone": "+44 20 7946 9999"}),
	}})), http.Header{"Content-Type": {"application/json"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("push of a forbidden edit: status %d %s", resp.StatusCode, body)
	}
	var refusedAns contract.PushResponse
	if err := json.Unmarshal(body, &refusedAns); err != nil {
		t.Fatal(err)
	}
	wantResult(t, "Alex's edit of the customer", refusedAns.Results[0], contract.Refused, contract.CodeForbidden)
	if !bytes.Contains(body, []byte(`"copies":[]`)) {
		t.Errorf("an answer with nothing written should carry an empty copies list, got %s", body)
	}
	if got := e.answeredTo(cust); got == "alex-phone" {
		t.Errorf("a refused edit marked the customer as answered to Alex's phone")
	}
}

func TestAReplayedBatchCarriesTheCopiesAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dana := e.login("dana", "office-pc")
	alex := e.login("alex", "alex-phone")
	cust := e.customer(dana, "Harbor Bakery")
	job := e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	alex.pull()

	note := alex.note(job, "Seal is worn through.")
	opened := alex.op("job", job, contract.ActionTransition, alex.bases(job, "status"), map[string]any{"status": "opened"})
	first := copiesOf(t, alex.pushAnswer(note, opened))

	// The reply was lost; the device sends the same operations again.
	replay := func(what string) map[string]contract.Record {
		t.Helper()
		ans := alex.pushAnswer(note, opened)
		for i, r := range ans.Results {
			if r.Outcome != contract.AlreadyApplied || r.First == nil || r.First.Outcome != contract.Applied {
				t.Fatalf("%s: operation %d: got %s (first %+v), want already_applied over applied", what, i, r.Outcome, r.First)
			}
		}
		copies := copiesOf(t, ans)
		if len(ans.Copies) != 2 {
			t.Errorf("%s: the answer carries %d copies, want 2: the note and the job", what, len(ans.Copies))
		}
		for _, id := range []string{note.RecordID, job} {
			c, ok := copies[id]
			if !ok {
				t.Errorf("%s: no copy of %s, which the replayed operations name", what, id)
				continue
			}
			if diff := jsonDiff(c, e.stored(id)); diff != "" {
				t.Errorf("%s: the copy of %s %s is not what the server stores now: %s", what, c.Type, id, diff)
			}
		}
		return copies
	}
	again := replay("the first replay")
	for id, c := range first {
		if diff := jsonDiff(again[id], c); diff != "" {
			t.Errorf("with nothing changed in between, the replay's copy of %s differs from the first answer's: %s", id, diff)
		}
	}
	if n := len(e.items(job)["note"]); n != 1 {
		t.Errorf("the job has %d notes after the replay, want 1", n)
	}

	// Meanwhile Dana renames the job: a later replay carries the job as it
	// stands now, not as the first answer had it.
	dana.pull()
	dana.must(dana.op("job", job, contract.ActionUpdate, dana.bases(job, "summary"), map[string]any{"title": "Replace pump seal and gasket"}))
	later := replay("the replay after Dana's change")
	if c := later[job]; c.Text("title") != "Replace pump seal and gasket" {
		t.Errorf("the replay's copy of the job has title %q, want Dana's new title", c.Text("title"))
	}
}

func TestAnOmitPullLeavesOutOnlyWhatThisDeviceWasAnswered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dana := e.login("dana", "office-pc")
	alex := e.login("alex", "alex-phone")
	tablet := e.login("alex", "alex-tablet") // the same user on another device
	cust := e.customer(dana, "Harbor Bakery")
	job := e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	for _, d := range []*device{dana, alex, tablet} {
		d.pull()
	}

	note, part := alex.note(job, "Seal is worn through."), alex.part(job, "SEAL-40", 1)
	opened := alex.op("job", job, contract.ActionTransition, alex.bases(job, "status"), map[string]any{"status": "opened"})
	copies := copiesOf(t, alex.pushAnswer(note, part, opened))
	written := []string{job, note.RecordID, part.RecordID}
	for _, id := range written {
		if _, ok := copies[id]; !ok {
			t.Fatalf("the push answer carries no copy of %s", id)
		}
	}

	omitted, _, after := alex.pullFrom(alex.cursor, true)
	for _, id := range written {
		if r, ok := omitted[id]; ok {
			t.Errorf("Alex's phone pulled back %s %s, which its push answer already carried", r.Type, id)
		}
	}
	// Leaving out is asked for, never imposed.
	plain, _, _ := alex.pullFrom(alex.cursor, false)
	others := map[string]map[string]contract.Record{"a plain pull on Alex's phone": plain}
	others["Alex's tablet"], _, _ = tablet.pullFrom(tablet.cursor, true)
	others["Dana's office PC"], _, _ = dana.pullFrom(dana.cursor, true)
	for who, got := range others {
		for _, id := range written {
			r, ok := got[id]
			if !ok {
				t.Errorf("%s did not get %s: only Alex's phone was answered", who, id)
				continue
			}
			if diff := jsonDiff(r, copies[id]); diff != "" {
				t.Errorf("%s got %s unlike the copy Alex's phone was sent: %s", who, id, diff)
			}
		}
	}

	// Dana renames the job: the phone's copy is out of date, so its next
	// omit-pull brings the job, but still not the note or the part line.
	dana.must(dana.op("job", job, contract.ActionUpdate, dana.bases(job, "summary"), map[string]any{"title": "Replace pump seal and gasket"}))
	got, _, _ := alex.pullFrom(after, true)
	if r, ok := got[job]; !ok {
		t.Errorf("after Dana changed the job, Alex's omit-pull left it out")
	} else if r.Text("title") != "Replace pump seal and gasket" {
		t.Errorf("Alex's omit-pull brought the job with title %q, want Dana's", r.Text("title"))
	}
	for _, id := range []string{note.RecordID, part.RecordID} {
		if _, ok := got[id]; ok {
			t.Errorf("Alex's omit-pull brought back %s, which nobody changed since his push answer", id)
		}
	}
	if got := e.answeredTo(job); got != "office-pc" {
		t.Errorf("after Dana's push the job is marked as answered to %q, want office-pc", got)
	}
}

func TestTheCursorOfAnOmitPullMovesPastWhatItLeftOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dana := e.login("dana", "office-pc")
	alex := e.login("alex", "alex-phone")
	cust := e.customer(dana, "Harbor Bakery")
	job := e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	alex.pull()
	before := alex.cursor

	var newest int64
	for _, c := range copiesOf(t, alex.pushAnswer(alex.note(job, "one"), alex.note(job, "two"))) {
		newest = max(newest, c.Seq)
	}
	page := alex.pullPage(before, true, 0)
	if len(page.Records) != 0 || page.More {
		t.Fatalf("Alex's omit-pull after his own push: %d records, more=%v; want none", len(page.Records), page.More)
	}
	// Where positions are sequence numbers (one writer), the cursor
	// stands at or past the newest note; elsewhere the pulls below say it.
	if !teststore.Postgres() {
		if seq := seqOf(t, page.Cursor); seq < newest {
			t.Errorf("the omit-pull's cursor stands at %d, before the notes it left out (up to %d)", seq, newest)
		}
	}
	for _, omit := range []bool{false, true} {
		if next := alex.pullPage(page.Cursor, omit, 0); len(next.Records) != 0 || len(next.Reviews) != 0 {
			t.Errorf("a pull (omit=%v) from the omit-pull's cursor brought %d records and %d reviews, want none: the cursor should move past what was left out",
				omit, len(next.Records), len(next.Reviews))
		}
	}

	// A later change still arrives.
	later := dana.note(job, "Customer called about access.")
	dana.must(later)
	next := alex.pullPage(page.Cursor, true, 0)
	if len(next.Records) != 1 || next.Records[0].ID != later.RecordID {
		t.Errorf("after Dana's note, Alex's omit-pull brought %d records, want just her note", len(next.Records))
	}

	// Page by page, the cursor moves only as far as the page went, so that
	// nobody else's change is skipped; only the last page jumps.
	from := next.Cursor
	var danas []string
	for i := range 3 {
		n := dana.note(job, "office note "+strconv.Itoa(i))
		dana.must(n)
		danas = append(danas, n.RecordID)
		alex.must(alex.note(job, "phone note "+strconv.Itoa(i)))
	}
	var got []string
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatalf("paging one record at a time did not end")
		}
		p := alex.pullPage(from, true, 1)
		for _, r := range p.Records {
			got = append(got, r.ID)
		}
		if p.More && len(p.Records) == 1 && !teststore.Postgres() && p.Cursor != server.EncodeCursor(p.Records[0].Seq) {
			t.Errorf("a page with more to come has cursor %d, want %d, the seq of its record", seqOf(t, p.Cursor), p.Records[0].Seq)
		}
		from = p.Cursor
		if !p.More {
			break
		}
	}
	if strings.Join(got, ",") != strings.Join(danas, ",") {
		t.Errorf("paging Alex's omit-pull one record at a time brought %v, want Dana's three notes %v in order and none of his own", got, danas)
	}
}

func TestPullRefusesAnAnsweredValueOtherThanOmit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alex := e.login("alex", "alex-phone")
	for _, v := range []string{"yes", "Omit", "true", "omit,omit", " omit"} {
		resp, body := alex.send("GET", "/v1/pull?"+url.Values{contract.PullAnswered: {v}}.Encode(), nil, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("answered=%q: status %d, want 400", v, resp.StatusCode)
			continue
		}
		ed := errorOf(t, body)
		if ed.Code != contract.CodeInvalid || !strings.Contains(ed.Message, contract.PullAnsweredOmit) {
			t.Errorf("answered=%q: error %s %q, want invalid, saying omit is what may be asked", v, ed.Code, ed.Message)
		}
	}
	for _, q := range []string{"", "?answered=", "?answered=omit"} {
		if resp, body := alex.send("GET", "/v1/pull"+q, nil, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET /v1/pull%s: status %d %s, want 200", q, resp.StatusCode, body)
		}
	}
}

func TestATechnicianPutBackOnTheCrewPullsTheirOwnItemsAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dana := e.login("dana", "office-pc")
	sam := e.login("sam", "sam-phone")
	cust := e.customer(dana, "Harbor Bakery")
	job := e.job(dana, cust, "alex", "Replace boiler", "12 Quay Street", day)
	crew := func(ids ...string) {
		t.Helper()
		dana.pull()
		dana.must(dana.op("job", job, contract.ActionReassign, dana.bases(job, "assignment"),
			map[string]any{"assignee": e.users["alex"].ID, "crew": ids}))
	}
	crew(e.users["sam"].ID)
	sam.pull()

	note := sam.note(job, "Flue needs a new bracket.")
	if _, ok := copiesOf(t, sam.pushAnswer(note))[note.RecordID]; !ok {
		t.Fatalf("Sam's push answer carries no copy of his note")
	}
	got, _, after := sam.pullFrom(sam.cursor, true)
	if _, ok := got[note.RecordID]; ok {
		t.Fatalf("Sam's omit-pull brought back his own note, which his push answer carried")
	}

	// Dana takes Sam off the crew and puts him back: he is new to the job
	// again, and must pull everything hanging off it, his own note too.
	crew()
	crew(e.users["sam"].ID)
	if dev := e.answeredTo(note.RecordID); dev != "" {
		t.Errorf("after Sam was put back on the crew his note is still marked as answered to %q", dev)
	}
	got, _, _ = sam.pullFrom(after, true)
	r, ok := got[note.RecordID]
	if !ok {
		t.Fatalf("after Sam was put back on the crew, his omit-pull left out his own note")
	}
	if diff := jsonDiff(r, e.stored(note.RecordID)); diff != "" {
		t.Errorf("Sam pulled his note unlike the server has it: %s", diff)
	}
	if _, ok := got[job]; !ok {
		t.Errorf("after Sam was put back on the crew, his omit-pull did not bring the job")
	}
}

// heldStaleMove has Dana make a job for Alex, Alex start it, Dana move it
// to waiting for approval, and Alex, not having heard, push a move to
// completed from what he had: it is held. It returns that move and its answer.
func heldStaleMove(t *testing.T) (e *env, dana, alex *device, job string, move contract.Operation, ans contract.PushResponse) {
	t.Helper()
	e = newEnv(t)
	dana = e.login("dana", "office-pc")
	alex = e.login("alex", "alex-phone")
	cust := e.customer(dana, "Harbor Bakery")
	job = e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	alex.move(job, "opened", "in_progress")
	stale := alex.bases(job, "status")
	dana.pull()
	dana.must(dana.op("job", job, contract.ActionTransition, dana.bases(job, "status"), map[string]any{"status": "waiting_for_approval"}))
	move = alex.op("job", job, contract.ActionTransition, stale, map[string]any{"status": "completed"})
	ans = alex.pushAnswer(move)
	wantResult(t, "Alex's stale status move", ans.Results[0], contract.Held, contract.CodeConflict)
	return e, dana, alex, job, move, ans
}

func TestResolvingAReviewMarksNothingAsAnswered(t *testing.T) {
	t.Parallel()
	// Alex's stale move is held; the job, now needing review, is answered to his phone.
	e, dana, alex, job, _, ans := heldStaleMove(t)
	if c, ok := copiesOf(t, ans)[job]; !ok || !c.HasReview("status") {
		t.Fatalf("the answer to a held move should carry the job marked as needing review, got %+v", ans.Copies)
	}
	if dev := e.answeredTo(job); dev != "alex-phone" {
		t.Fatalf("after the held move the job is marked as answered to %q, want alex-phone", dev)
	}
	_, _, danaAfter := dana.pullFrom(dana.cursor, true)
	_, _, alexAfter := alex.pullFrom(alex.cursor, true)

	// Dana settles it from her office PC.
	req := mustJSON(t, contract.ResolveRequest{OpID: newID(), Choice: contract.KeepServer})
	resp, body := dana.send("POST", "/v1/reviews/"+ans.Results[0].ReviewID+"/resolve", strings.NewReader(req), http.Header{"Content-Type": {"application/json"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("resolve: status %d %s", resp.StatusCode, body)
	}
	if bytes.Contains(body, []byte(`"copies"`)) {
		t.Errorf("the resolve answer carries copies: %s", body)
	}
	if dev := e.answeredTo(job); dev != "" {
		t.Errorf("after Dana resolved the review the job is marked as answered to %q; resolving marks nothing", dev)
	}
	for _, d := range []struct {
		dev   *device
		after string
	}{{dana, danaAfter}, {alex, alexAfter}} {
		recs, rvs, _ := d.dev.pullFrom(d.after, true)
		r, ok := recs[job]
		if !ok {
			t.Errorf("%s's omit-pull after the resolve left out the job it changed", d.dev)
			continue
		}
		if r.HasReview("status") || r.Text("status") != "waiting_for_approval" {
			t.Errorf("%s pulled the job as %s with reviews %v, want waiting_for_approval and settled", d.dev, r.Text("status"), r.OpenReviews)
		}
		if rv, ok := rvs[ans.Results[0].ReviewID]; !ok || rv.Status != "resolved" {
			t.Errorf("%s's omit-pull after the resolve did not bring the resolved review", d.dev)
		}
	}
}

// The first answer to a held edit carried the job under review; if that
// answer was lost, the replay's answer carries the job too.
func TestAReplayedHeldEditCarriesTheJobUnderReview(t *testing.T) {
	t.Parallel()
	_, _, alex, job, move, first := heldStaleMove(t)
	again := alex.pushAnswer(move)
	if got := again.Results[0]; got.Outcome != contract.AlreadyApplied || got.Final().Outcome != contract.Held {
		t.Fatalf("replay: %+v, want already_applied with the held result", got)
	}
	c, ok := copiesOf(t, again)[job]
	if !ok || !c.HasReview("status") || c.Text("status") != "waiting_for_approval" {
		t.Fatalf("the replay's answer should carry the job under review as it stands, got %s", again.Copies)
	}
	if want := copiesOf(t, first)[job]; c.Seq != want.Seq {
		t.Errorf("the replay carries the job at seq %d, the first answer at %d; nothing changed it in between", c.Seq, want.Seq)
	}
}
