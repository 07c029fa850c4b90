package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"fieldsync/contract"
	"fieldsync/internal/teststore"
	"fieldsync/server"
)

// pullEntry is one record or review item of a pull, in the change stream.
type pullEntry struct {
	seq  int64
	kind string // "record" or "review"
	id   string
}

// pullRaw makes one GET /v1/pull as d, with the query as given.
func pullRaw(t testing.TB, d *device, cursor, limit string, withLimit bool) (int, contract.PullResponse, []byte) {
	t.Helper()
	return pullQuery(t, d, cursor, limit, withLimit, false)
}

// pullQuery makes one GET /v1/pull as d, with the query as given and, with
// omit, answered=omit.
func pullQuery(t testing.TB, d *device, cursor, limit string, withLimit, omit bool) (int, contract.PullResponse, []byte) {
	t.Helper()
	q := url.Values{"cursor": {cursor}}
	if withLimit {
		q.Set("limit", limit)
	}
	if omit {
		q.Set(contract.PullAnswered, contract.PullAnsweredOmit)
	}
	req, err := http.NewRequest("GET", d.e.ts.URL+"/v1/pull?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var page contract.PullResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatalf("200 with a body that is not a pull page: %q", b)
		}
	}
	return resp.StatusCode, page, b
}

// entries lists a page's records and reviews in sequence order.
func entries(page contract.PullResponse) []pullEntry {
	var out []pullEntry
	for _, r := range page.Records {
		out = append(out, pullEntry{r.Seq, "record", r.ID})
	}
	for _, r := range page.Reviews {
		out = append(out, pullEntry{r.Seq, "review", r.ID})
	}
	slices.SortFunc(out, func(a, b pullEntry) int { return int(a.seq - b.seq) })
	return out
}

// FuzzPullCursor sends arbitrary cursors and limits to GET /v1/pull as a
// technician, a dispatcher, finance and a technician who lost a job to a
// reassign (and the first technician's tablet). Whatever arrives, the
// server answers a clear 4xx or a page in which every record and review
// item is one the caller sees, in sequence order, after the cursor, with
// none skipped; and following the cursors from there brings everything
// after it exactly once. The same with answered=omit brings that, less the
// records answered to the caller's device: see checkOmit. Cursors
// round-trip: ParseCursor(encodeCursor(n)) == n.
func FuzzPullCursor(f *testing.F) {
	if teststore.Postgres() {
		f.Skip("its model of the feed is sequence numbers, as one writer gives them; the PostgreSQL feed's order is checked by storetest and server/pgstore")
	}
	e := newEnv(f)
	dana, alex, sam, fran := e.login("dana", "office-pc"), e.login("alex", "alex-phone"), e.login("sam", "sam-phone"), e.login("fran", "finance-pc")
	cust := e.customer(dana, "Harbor Bakery")
	samCust := e.customer(dana, "Mill Lane Dental")
	job := e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	samJob := e.job(dana, samCust, "sam", "Service compressor", "3 Mill Lane", day)
	moved := e.job(dana, cust, "sam", "Check boiler", "12 Quay Street", day.Add(24*60*60*1e9))
	var alexOnly, samOnly []string
	for i := range 4 {
		n, p := alex.note(job, fmt.Sprintf("Alex note %d", i)), alex.part(job, fmt.Sprintf("SEAL-%d", i), 1)
		alex.push(n, p)
		alexOnly = append(alexOnly, n.RecordID, p.RecordID)
		sn := sam.note(samJob, fmt.Sprintf("Sam note %d", i))
		sam.must(sn)
		samOnly = append(samOnly, sn.RecordID)
	}
	// Reviews on both technicians' jobs, interleaved with records.
	for _, w := range []struct {
		d   *device
		job string
	}{{alex, job}, {sam, samJob}} {
		w.d.move(w.job, "opened", "in_progress")
		stale := w.d.bases(w.job, "status")
		dana.pull()
		dana.must(dana.op("job", w.job, contract.ActionTransition, dana.bases(w.job, "status"), map[string]any{"status": "waiting_for_approval"}))
		held := w.d.push(w.d.op("job", w.job, contract.ActionTransition, stale, map[string]any{"status": "completed"}))[0]
		if held.Outcome != contract.Held {
			f.Fatalf("a stale move: %s %s", held.Outcome, held.Message)
		}
		if w.d == alex {
			alexOnly = append(alexOnly, held.ReviewID)
		} else {
			samOnly = append(samOnly, held.ReviewID)
		}
	}
	inv := fran.op("invoice", newID(), contract.ActionCreate, nil, map[string]any{"job_id": job, "customer_id": cust, "total": 4200})
	fran.must(inv)
	// Every push above marked what its answer carried as answered to the
	// device that pushed; a pull with answered=omit leaves those records
	// out. Alex also works on a tablet: what it writes is answered to the
	// tablet, not to his phone. His phone sends one operation the tablet
	// made: a device sends only its own, so it is refused and marks
	// nothing. The tablet then sends it: it applies, answered to the tablet,
	// and a replay writes nothing. A refused edit marks nothing.
	tablet := e.login("alex", "alex-tablet")
	tn, tp := tablet.note(job, "Tablet note"), tablet.part(job, "GASKET-1", 2)
	tablet.push(tn, tp)
	relayed := tablet.note(job, "Written on the tablet, sent by the phone")
	if r := alex.push(relayed)[0]; r.Outcome != contract.Refused || r.Code != contract.CodeWrongDevice {
		f.Fatalf("the phone sending the tablet's note: %s %s, want refused %s", r.Outcome, r.Code, contract.CodeWrongDevice)
	}
	tablet.must(relayed)
	if r := tablet.push(relayed)[0]; r.Outcome != contract.AlreadyApplied {
		f.Fatalf("the tablet's replay of its note: %s %s", r.Outcome, r.Message)
	}
	phoneNote := alex.note(job, "Written on the phone")
	alex.must(phoneNote)
	if r := alex.push(alex.op("customer", cust, contract.ActionUpdate, map[string]int64{"contact": 1}, map[string]any{"phone": "+44 20 7946 9999"}))[0]; r.Outcome != contract.Refused {
		f.Fatalf("Alex's edit of the customer: %s, want refused", r.Outcome)
	}
	alexOnly = append(alexOnly, tn.RecordID, tp.RecordID, relayed.RecordID, phoneNote.RecordID)
	// Sam writes on the job that is about to move to Alex: the reassign
	// gives it a new sequence number for Alex and forgets the answer.
	samMoved := sam.note(moved, "Flue bracket is loose")
	sam.must(samMoved)

	// Sam's third job moves to Alex: Sam keeps seeing it, read only.
	dana.pull()
	dana.must(dana.op("job", moved, contract.ActionReassign, dana.bases(moved, "assignment"), map[string]any{"assignee": e.users["alex"].ID}))
	samOnly = append(samOnly, samJob, samCust)
	alexOnly = append(alexOnly, job)
	// The newest change is one everybody sees but the office PC was
	// answered: the last page of its omit-pull must still jump past it.
	dana.pull()
	dana.must(dana.op("customer", cust, contract.ActionUpdate, dana.bases(cust, "contact"), map[string]any{"phone": "+44 20 7946 0001"}))
	for id, want := range map[string]string{tn.RecordID: tablet.id, tp.RecordID: tablet.id, relayed.RecordID: tablet.id, phoneNote.RecordID: alex.id,
		inv.RecordID: fran.id, moved: dana.id, samMoved.RecordID: "", cust: dana.id} {
		if got := e.answeredTo(id); got != want {
			f.Fatalf("record %s is answered to %q, want %q", id, got, want)
		}
	}

	// What each caller sees, from one pull of everything, checked against
	// rules.md before the fuzzing starts.
	devices := []*device{alex, dana, fran, sam, tablet}
	seen := map[string][]pullEntry{}
	for _, d := range devices {
		code, page, b := pullRaw(f, d, "", "500", true)
		if code != http.StatusOK || page.More {
			f.Fatalf("%s's whole pull: status %d, more %v: %s", d.name, code, page.More, b)
		}
		if prev, ok := seen[d.name]; ok && !slices.Equal(prev, entries(page)) {
			f.Fatalf("%s pulls %v, another device of the same user %v", d, entries(page), prev)
		}
		seen[d.name] = entries(page)
	}
	has := func(who, id string) bool {
		return slices.ContainsFunc(seen[who], func(p pullEntry) bool { return p.id == id })
	}
	for _, id := range append(append([]string{moved, cust}, alexOnly...), samOnly...) {
		if !has("dana", id) {
			f.Fatalf("the dispatcher does not pull %s", id)
		}
	}
	for _, id := range append([]string{moved, cust}, alexOnly...) {
		if !has("alex", id) || has("sam", id) && id != moved && id != cust {
			f.Fatalf("record %s: Alex pulls it %v, Sam %v; want Alex only", id, has("alex", id), has("sam", id))
		}
	}
	for _, id := range samOnly {
		if has("alex", id) || !has("sam", id) {
			f.Fatalf("record %s: Alex pulls it %v, Sam %v; want Sam only", id, has("alex", id), has("sam", id))
		}
	}
	if !has("sam", moved) || has("alex", inv.RecordID) || has("sam", inv.RecordID) || !has("fran", inv.RecordID) {
		f.Fatalf("the moved job or the invoice is pulled by the wrong people")
	}

	// What each device's omit-pull brings: its user's whole pull without
	// the records whose current state a push answer sent to this device,
	// as records.answered says; reviews always come. Every device has
	// something left out, and Alex's phone and tablet each get what the
	// other was answered.
	answered := map[string]string{}
	omitted := map[*device][]pullEntry{}
	for _, d := range devices {
		for _, p := range seen[d.name] {
			if _, ok := answered[p.id]; !ok && p.kind == "record" {
				answered[p.id] = e.answeredTo(p.id)
			}
		}
		omitted[d] = slices.DeleteFunc(slices.Clone(seen[d.name]), func(p pullEntry) bool {
			return p.kind == "record" && answered[p.id] == d.id
		})
		if len(omitted[d]) == len(seen[d.name]) {
			f.Fatalf("no record in %s's pull is answered to it: the omit check would check nothing", d)
		}
	}
	gets := func(d *device, id string) bool {
		return slices.ContainsFunc(omitted[d], func(p pullEntry) bool { return p.id == id })
	}
	if !gets(alex, tn.RecordID) || gets(tablet, tn.RecordID) || gets(alex, phoneNote.RecordID) || !gets(tablet, phoneNote.RecordID) {
		f.Fatalf("Alex's phone and tablet should each get what the other was answered")
	}
	var lastSeq int64
	if err := e.store.Read(context.Background(), func(q server.Query) error {
		head, err := q.Head()
		lastSeq = head.Seq
		return err
	}); err != nil {
		f.Fatal(err)
	}

	// The seed corpus is in testdata/fuzz/FuzzPullCursor; these add a
	// cursor from the middle of each caller's own stream.
	for i, d := range devices {
		mid := seen[d.name][len(seen[d.name])/2].seq
		f.Add(uint8(i), server.EncodeCursor(mid), "2", uint64(mid))
	}

	f.Fuzz(func(t *testing.T, who uint8, cursor, limit string, seq uint64) {
		// Cursors round-trip, and the server gives out only canonical ones.
		n := int64(seq >> 1)
		if got, err := parseSeq(server.EncodeCursor(n)); err != nil || got != n {
			t.Fatalf("ParseCursor(encodeCursor(%d)) = %d, %v", n, got, err)
		}
		d := devices[int(who)%len(devices)]
		all := seen[d.name]
		withLimit := limit != "" || seq%2 == 1
		checkOmit(t, d, omitted[d], lastSeq, cursor, limit, withLimit)
		code, page, b := pullRaw(t, d, cursor, limit, withLimit)
		if code != http.StatusOK {
			var eb contract.ErrorBody
			if code != http.StatusBadRequest || json.Unmarshal(b, &eb) != nil || eb.Error.Code != contract.CodeInvalid || eb.Error.Message == "" {
				t.Fatalf("cursor %q limit %q: status %d %q, want 200 or a 400 saying what is wrong", cursor, limit, code, b)
			}
			return
		}
		after, err := parseSeq(cursor)
		if err != nil {
			t.Fatalf("cursor %q: 200 for a cursor ParseCursor refuses (%v)", cursor, err)
		}
		pageMax := 500
		if limit != "" { // an empty limit is no limit
			l, err := strconv.Atoi(limit)
			if err != nil || l < 1 {
				t.Fatalf("limit %q: 200 for a limit that is not a whole number of 1 or more", limit)
			}
			pageMax = min(pageMax, l)
		}
		// Every page from here on is what the whole pull holds after the
		// cursor, in order, none skipped, none repeated, each visible.
		want := slices.DeleteFunc(slices.Clone(all), func(p pullEntry) bool { return p.seq <= after })
		for pages := 0; ; pages++ {
			if pages > len(all)+2 {
				t.Fatalf("following cursors from %q never ends", cursor)
			}
			got := entries(page)
			if len(got) > pageMax {
				t.Fatalf("a page of %d entries, over the limit of %d", len(got), pageMax)
			}
			for i := 1; i < len(page.Records); i++ {
				if page.Records[i].Seq <= page.Records[i-1].Seq {
					t.Fatalf("records out of sequence order: %d after %d", page.Records[i].Seq, page.Records[i-1].Seq)
				}
			}
			for i := 1; i < len(page.Reviews); i++ {
				if page.Reviews[i].Seq <= page.Reviews[i-1].Seq {
					t.Fatalf("reviews out of sequence order: %d after %d", page.Reviews[i].Seq, page.Reviews[i-1].Seq)
				}
			}
			if len(got) > len(want) || !slices.Equal(got, want[:len(got)]) {
				t.Fatalf("%s after cursor %d: got %v, want the first %d of %v", d.name, after, got, len(got), want)
			}
			if len(got) == 0 && len(want) > 0 {
				t.Fatalf("%s after cursor %d: an empty page with %d entries still to come", d.name, after, len(want))
			}
			want = want[len(got):]
			if page.More != (len(want) > 0) {
				t.Fatalf("more is %v with %d entries still to come", page.More, len(want))
			}
			next, err := parseSeq(page.Cursor)
			wantNext := after
			if len(got) > 0 {
				wantNext = got[len(got)-1].seq
			}
			if !page.More {
				// The last page moves past everything, seen or not.
				wantNext = max(after, lastSeq)
			}
			if err != nil || next != wantNext || page.Cursor != server.EncodeCursor(next) {
				t.Fatalf("the page's cursor %q is %d (%v), want the encoding of %d", page.Cursor, next, err, wantNext)
			}
			if !page.More {
				return
			}
			after = next
			if code, page, b = pullRaw(t, d, page.Cursor, limit, withLimit); code != http.StatusOK {
				t.Fatalf("following a cursor the server gave out: status %d %s", code, b)
			}
		}
	})
}

// checkOmit follows GET /v1/pull?answered=omit as d from cursor with limit
// to the last page. The server answers 400 for what the plain pull refuses;
// otherwise the pages bring, in order, each once, what follows the cursor
// in want (the caller's whole pull without what was answered to d), at most
// limit a page. A page's cursor never goes back; while more is to come it
// stands at or after the page's last entry and before the next one; the
// last page's cursor jumps to the newest sequence number in the store,
// lastSeq, and a further omit-pull from it brings nothing.
func checkOmit(t *testing.T, d *device, want []pullEntry, lastSeq int64, cursor, limit string, withLimit bool) {
	t.Helper()
	code, page, b := pullQuery(t, d, cursor, limit, withLimit, true)
	after, cursorErr := parseSeq(cursor)
	most, limitErr := 500, error(nil)
	if limit != "" {
		l, err := strconv.Atoi(limit)
		if err == nil && l < 1 {
			err = fmt.Errorf("limit %d", l)
		}
		most, limitErr = min(most, l), err
	}
	if cursorErr != nil || limitErr != nil {
		var eb contract.ErrorBody
		if code != http.StatusBadRequest || json.Unmarshal(b, &eb) != nil || eb.Error.Code != contract.CodeInvalid || eb.Error.Message == "" {
			t.Fatalf("omit-pull, cursor %q (%v) limit %q (%v): status %d %q, want a 400 saying what is wrong", cursor, cursorErr, limit, limitErr, code, b)
		}
		return
	}
	if code != http.StatusOK {
		t.Fatalf("omit-pull, cursor %q limit %q: status %d %q, want 200", cursor, limit, code, b)
	}
	n := len(want)
	want = slices.DeleteFunc(slices.Clone(want), func(p pullEntry) bool { return p.seq <= after })
	for pages := 0; ; pages++ {
		if pages > n+2 {
			t.Fatalf("following omit-pull cursors from %q never ends", cursor)
		}
		got := entries(page)
		if len(got) > most {
			t.Fatalf("an omit-pull page of %d entries, over the limit of %d", len(got), most)
		}
		for i := 1; i < len(page.Records); i++ {
			if page.Records[i].Seq <= page.Records[i-1].Seq {
				t.Fatalf("omit-pull records out of sequence order: %d after %d", page.Records[i].Seq, page.Records[i-1].Seq)
			}
		}
		for i := 1; i < len(page.Reviews); i++ {
			if page.Reviews[i].Seq <= page.Reviews[i-1].Seq {
				t.Fatalf("omit-pull reviews out of sequence order: %d after %d", page.Reviews[i].Seq, page.Reviews[i-1].Seq)
			}
		}
		if len(got) > len(want) || !slices.Equal(got, want[:len(got)]) {
			t.Fatalf("%s's omit-pull after cursor %d: got %v, want the first %d of %v", d, after, got, len(got), want)
		}
		if len(got) == 0 && len(want) > 0 {
			t.Fatalf("%s's omit-pull after cursor %d: an empty page with %d entries still to come", d, after, len(want))
		}
		want = want[len(got):]
		if page.More != (len(want) > 0) {
			t.Fatalf("%s's omit-pull: more is %v with %d entries still to come", d, page.More, len(want))
		}
		next, err := parseSeq(page.Cursor)
		if err != nil || page.Cursor != server.EncodeCursor(next) {
			t.Fatalf("%s's omit-pull: the page's cursor %q is not canonical (%v)", d, page.Cursor, err)
		}
		if next < after {
			t.Fatalf("%s's omit-pull: the cursor went back from %d to %d", d, after, next)
		}
		if len(got) > 0 && next < got[len(got)-1].seq {
			t.Fatalf("%s's omit-pull: the cursor %d stands before the page's last entry at %d", d, next, got[len(got)-1].seq)
		}
		if page.More {
			if next >= want[0].seq {
				t.Fatalf("%s's omit-pull: the cursor %d skips %v, still to come", d, next, want[0])
			}
		} else {
			if wantLast := max(after, lastSeq); next != wantLast {
				t.Fatalf("%s's omit-pull: the last page's cursor is %d, want %d, the newest sequence number", d, next, wantLast)
			}
			code, end, b := pullQuery(t, d, page.Cursor, limit, withLimit, true)
			if code != http.StatusOK || len(end.Records) != 0 || len(end.Reviews) != 0 || end.More || end.Cursor != page.Cursor {
				t.Fatalf("%s's omit-pull from the last page's cursor %q: status %d %s, want an empty last page with the same cursor", d, page.Cursor, code, b)
			}
			return
		}
		after = next
		if code, page, b = pullQuery(t, d, page.Cursor, limit, withLimit, true); code != http.StatusOK {
			t.Fatalf("following an omit-pull cursor the server gave out: status %d %s", code, b)
		}
	}
}
