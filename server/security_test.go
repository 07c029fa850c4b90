package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/teststore"
	"fieldsync/server"
)

// The security proofs of issue 5: who may do what (the role × action
// matrix of ../shared/spec/rules.md), 401 for every dead token on every
// authenticated endpoint, and hostile input refused while the server keeps
// serving everyone else.

// secWorld is newSite's working day plus Ada (admin), Alex's job under way,
// and an open review on Sam's job.
type secWorld struct {
	*site
	ada       *device
	samReview string
}

func newSecWorld(t *testing.T) *secWorld {
	t.Helper()
	s := newSite(t)
	w := &secWorld{site: s, ada: s.e.login("ada", "admin-pc")}
	s.alex.move(s.job, "opened", "in_progress")
	// Sam's stale status move collides with the office's: a review on his job.
	s.sam.move(s.samJob, "opened", "in_progress")
	stale := s.sam.bases(s.samJob, "status")
	s.dana.pull()
	s.dana.must(s.dana.op("job", s.samJob, contract.ActionTransition, s.dana.bases(s.samJob, "status"), map[string]any{"status": "waiting_for_approval"}))
	held := s.sam.push(s.sam.op("job", s.samJob, contract.ActionTransition, stale, map[string]any{"status": "completed"}))[0]
	wantResult(t, "Sam's stale status move", held, contract.Held, contract.CodeConflict)
	w.samReview = held.ReviewID
	return w
}

func (w *secWorld) dev(name string) *device {
	return map[string]*device{"alex": w.alex, "sam": w.sam, "dana": w.dana, "sue": w.sue, "fran": w.fran, "ada": w.ada}[name]
}

// version is a group's version of a record as the server holds it, so that
// an attempt is refused or allowed for who makes it, never for a stale base.
func (w *secWorld) version(t *testing.T, id, group string) map[string]int64 {
	t.Helper()
	rec := w.e.stored(id)
	if rec == nil {
		t.Fatalf("record %s is not on the server", id)
	}
	return map[string]int64{group: rec.Versions[group]}
}

// jobReview makes an open review on Alex's job: his stale status move
// collides with the office's. The job ends up waiting for approval.
func (w *secWorld) jobReview(t *testing.T) string {
	t.Helper()
	w.alex.pull()
	stale := w.alex.bases(w.job, "status")
	w.dana.must(w.dana.op("job", w.job, contract.ActionTransition, w.version(t, w.job, "status"), map[string]any{"status": "waiting_for_approval"}))
	held := w.alex.push(w.alex.op("job", w.job, contract.ActionTransition, stale, map[string]any{"status": "paused"}))[0]
	wantResult(t, "Alex's stale status move", held, contract.Held, contract.CodeConflict)
	return held.ReviewID
}

// signedOff takes Alex's job to signed off, with the customer's signature.
func (w *secWorld) signedOff(t *testing.T) {
	t.Helper()
	w.alex.move(w.job, "completed")
	w.alex.must(w.alex.op("job", w.job, contract.ActionUpdate, w.alex.bases(w.job, "signature"),
		map[string]any{"signer_name": "Pat Okafor", "signed_at": day.Add(3 * time.Hour).Format(time.RFC3339)}))
	w.alex.move(w.job, "signed_off")
}

// invoice makes Fran's draft invoice for Alex's job.
func (w *secWorld) invoice(t *testing.T) string {
	t.Helper()
	op := w.fran.op("invoice", newID(), contract.ActionCreate, nil, map[string]any{"job_id": w.job, "customer_id": w.cust,
		"lines": []contract.InvoiceLine{{Description: "Seal", Quantity: 1, UnitCents: 4200}}, "total": 4200})
	w.fran.must(op)
	return op.RecordID
}

// invoiceReview makes an open review on an invoice: Fran changes the total
// on two devices from the same version.
func (w *secWorld) invoiceReview(t *testing.T) (invoice, review string) {
	t.Helper()
	inv := w.invoice(t)
	base := w.version(t, inv, "amounts")
	w.fran.must(w.fran.op("invoice", inv, contract.ActionUpdate, base, map[string]any{"total": 5000}))
	laptop := w.e.login("fran", "finance-laptop")
	held := laptop.push(laptop.op("invoice", inv, contract.ActionUpdate, base, map[string]any{"total": 6000}))[0]
	wantResult(t, "Fran's stale invoice total", held, contract.Held, contract.CodeConflict)
	return inv, held.ReviewID
}

// verdict is what came of one attempt.
type verdict struct {
	ok     bool          // it took effect, or the data was handed over
	read   bool          // a read through pull: no status or code to check
	status int           // HTTP status
	code   contract.Code // the refusal's code
	msg    string
}

// pushed sends op as d and says whether it was applied. When it was not,
// it checks that nothing changed: neither the record nor, for an item, its job.
func (w *secWorld) pushed(t *testing.T, d *device, op contract.Operation) verdict {
	t.Helper()
	var parent string
	if raw, ok := op.Values["job_id"]; ok {
		_ = json.Unmarshal(raw, &parent)
	}
	before, parentBefore := w.e.stored(op.RecordID), (*contract.Record)(nil)
	if parent != "" {
		parentBefore = w.e.stored(parent)
	}
	r := d.push(op)[0]
	v := verdict{ok: r.Outcome == contract.Applied, status: http.StatusOK, code: r.Code, msg: r.Message}
	if v.ok {
		return v
	}
	if r.Outcome != contract.Refused {
		t.Errorf("%s %s by %s: %s %s (%s), want applied or refused", op.Action, op.RecordType, d.name, r.Outcome, r.Code, r.Message)
	}
	if diff := jsonDiff(before, w.e.stored(op.RecordID)); diff != "" {
		t.Errorf("a refused %s changed the %s: %s", op.Action, op.RecordType, diff)
	}
	if parent != "" {
		if diff := jsonDiff(parentBefore, w.e.stored(parent)); diff != "" {
			t.Errorf("a refused %s changed its job: %s", op.Action, diff)
		}
	}
	return v
}

// got makes a plain request as d; it is ok on 2xx. A refused answer must
// carry none of Sam's data.
func (w *secWorld) got(t *testing.T, d *device, method, path string, body []byte) verdict {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	resp, b := d.send(method, path, rd, http.Header{"Content-Type": {"application/json"}})
	v := verdict{ok: resp.StatusCode/100 == 2, status: resp.StatusCode}
	if !v.ok {
		ed := errorOf(t, b)
		v.code, v.msg = ed.Code, ed.Message
		if bytes.Contains(b, w.samPhotoContent[:64]) || bytes.Contains(b, []byte("Compressor")) || bytes.Contains(b, []byte("Mill Lane")) {
			t.Errorf("%s %s: a refusal carries another technician's data: %q", method, path, b)
		}
	}
	return v
}

// pulls says whether a pull from the start, as d, brings id as a record or
// a review item. When it does not, id appears nowhere in what d pulled.
func (w *secWorld) pulls(t *testing.T, d *device, id string) verdict {
	t.Helper()
	fresh := &device{e: w.e, t: t, name: d.name, token: d.token}
	cursor, found, mentioned := "", false, false
	for range 1000 {
		resp, b := fresh.send("GET", "/v1/pull?cursor="+cursor, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s pull: status %d %s", d.name, resp.StatusCode, b)
		}
		var page contract.PullResponse
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			found = found || r.ID == id
		}
		for _, r := range page.Reviews {
			found = found || r.ID == id
		}
		mentioned = mentioned || bytes.Contains(b, []byte(id))
		if cursor = page.Cursor; !page.More {
			break
		}
	}
	if !found && mentioned {
		t.Errorf("%s's pull does not bring %s but mentions it", d.name, id)
	}
	return verdict{ok: found, read: true}
}

// listsReview says whether GET /v1/reviews?status=all shows a review to d.
func (w *secWorld) listsReview(t *testing.T, d *device, id string) verdict {
	t.Helper()
	resp, b := d.send("GET", "/v1/reviews?status=all", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s reviews: status %d", d.name, resp.StatusCode)
	}
	var rr contract.ReviewsResponse
	if err := json.Unmarshal(b, &rr); err != nil {
		t.Fatal(err)
	}
	for _, rv := range rr.Reviews {
		if rv.ID == id {
			return verdict{ok: true, read: true}
		}
	}
	return verdict{read: true}
}

// resolved tries to settle a review as d; when refused, the review stays open.
func (w *secWorld) resolved(t *testing.T, d *device, review string, req contract.ResolveRequest) verdict {
	t.Helper()
	before := w.e.storedReview(review)
	code, res, ed := d.resolve(review, req)
	v := verdict{ok: code == http.StatusOK && res.Outcome == contract.Applied, status: code, code: ed.Code, msg: ed.Message}
	if !v.ok {
		if diff := jsonDiff(before, w.e.storedReview(review)); diff != "" {
			t.Errorf("a refused resolution changed the review: %s", diff)
		}
	}
	return v
}

// jobOp builds an operation on a job from the server's current versions.
func (w *secWorld) jobOp(t *testing.T, d *device, job string, action contract.Action, group string, values map[string]any) contract.Operation {
	t.Helper()
	var bases map[string]int64
	if group != "" {
		bases = w.version(t, job, group)
	}
	return d.op("job", job, action, bases, values)
}

type matrixRow struct {
	name    string
	who     string
	allowed bool
	try     func(t *testing.T, w *secWorld, d *device) verdict
}

// knownMatrixBugs are reported bugs outside the server that make a row
// fail today, by row name: the row skips with the bug, and fails once the
// bug is fixed so that the mark comes off.
var knownMatrixBugs = map[string]string{}

// Shorthands for the matrix.
func statusTo(st string) map[string]any { return map[string]any{"status": st} }

func technicianRows() []matrixRow {
	return []matrixRow{
		// Another technician's job: nothing of it is readable.
		{"a technician cannot pull another technician's job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict { return w.pulls(t, d, w.samJob) }},
		{"a technician cannot pull another technician's notes", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict { return w.pulls(t, d, w.samNote) }},
		{"a technician cannot pull another technician's photos", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict { return w.pulls(t, d, w.samPhoto) }},
		{"a technician cannot pull the customer of another technician's job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict { return w.pulls(t, d, w.samCust) }},
		{"a technician cannot pull a review of another technician's job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict { return w.pulls(t, d, w.samReview) }},
		{"a technician cannot list the reviews of another technician's job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict { return w.listsReview(t, d, w.samReview) }},
		{"a technician cannot read another technician's job history", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.got(t, d, "GET", "/v1/records/job/"+w.samJob+"/history", nil)
		}},
		{"a technician cannot read the history of another technician's note", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.got(t, d, "GET", "/v1/records/note/"+w.samNote+"/history", nil)
		}},
		{"a technician cannot read the history of another technician's customer", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.got(t, d, "GET", "/v1/records/customer/"+w.samCust+"/history", nil)
		}},
		{"a technician cannot download another technician's photo", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.got(t, d, "GET", "/v1/photos/"+w.samPhoto+"/content", nil)
		}},
		{"a technician cannot download another technician's photo by its upper-case id", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.got(t, d, "GET", "/v1/photos/"+strings.ToUpper(w.samPhoto)+"/content", nil)
		}},
		{"a technician cannot ask how much of another technician's photo arrived", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.got(t, d, "GET", "/v1/photos/"+w.samPhoto+"/upload", nil)
		}},
		{"a technician cannot probe another technician's customer for duplicate jobs", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			q := url.Values{"customer_id": {w.samCust}, "site_address": {"3 Mill Lane"}, "date": {day.Format(time.DateOnly)}}
			return w.got(t, d, "GET", "/v1/jobs/matches?"+q.Encode(), nil)
		}},
		// Another technician's job: nothing of it is editable.
		{"a technician cannot add a note to another technician's job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.note(w.samJob, "Can I help?"))
		}},
		{"a technician cannot add a photo to another technician's job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.photo(w.samJob, "x.jpg", fakeJPEG(1, 10)))
		}},
		{"a technician cannot add a part line to another technician's job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.part(w.samJob, "SEAL-40", 1))
		}},
		{"a technician cannot move another technician's job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.samJob, contract.ActionTransition, "status", statusTo("in_progress")))
		}},
		{"a technician cannot book time on another technician's job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.samJob, contract.ActionUpdate, "work", map[string]any{"labor_minutes": 45}))
		}},
		{"a technician cannot sign another technician's job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.samJob, contract.ActionUpdate, "signature", map[string]any{"signer_name": "Mallory"}))
		}},
		{"a technician cannot take another technician's job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.samJob, contract.ActionReassign, "assignment", map[string]any{"assignee": w.e.users["alex"].ID}))
		}},
		{"a technician cannot void another technician's note", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.op("note", w.samNote, contract.ActionVoid, w.version(t, w.samNote, "lifecycle"), nil))
		}},
		{"a technician cannot upload content for another technician's photo", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.got(t, d, "PUT", "/v1/photos/"+w.samPhoto+"/content?offset=0", []byte("forged"))
		}},
		{"a technician cannot resolve a review of another technician's job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.resolved(t, d, w.samReview, contract.ResolveRequest{Choice: contract.KeepServer})
		}},
		{"a technician cannot make a follow-up job for another technician's customer", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.op("job", newID(), contract.ActionCreate, nil, map[string]any{"title": "Follow-up", "customer_id": w.samCust}))
		}},
		{"a technician cannot make a follow-up of another technician's job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.op("job", newID(), contract.ActionCreate, nil, map[string]any{"title": "Follow-up", "customer_id": w.cust, "follows_job_id": w.samJob}))
		}},
		{"a technician cannot make a job for another technician", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.op("job", newID(), contract.ActionCreate, nil, map[string]any{"title": "For Sam", "customer_id": w.cust, "assignee": w.e.users["sam"].ID}))
		}},
		// Their own job: only the owner's groups.
		{"a technician cannot edit their job's customer", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.op("customer", w.cust, contract.ActionUpdate, w.version(t, w.cust, "contact"), map[string]any{"phone": "+44 0000"}))
		}},
		{"a technician cannot create a customer", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.op("customer", newID(), contract.ActionCreate, nil, map[string]any{"name": "New Co"}))
		}},
		{"a technician cannot resolve a review of their own job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.resolved(t, d, w.jobReview(t), contract.ResolveRequest{Choice: contract.TakeDevice})
		}},
		{"a technician cannot reassign their own job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionReassign, "assignment", map[string]any{"assignee": w.e.users["sam"].ID}))
		}},
		{"a technician cannot reopen their own signed-off job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			w.signedOff(t)
			return w.pushed(t, d, d.op("job", w.job, contract.ActionReopen, nil, nil))
		}},
		{"a technician cannot make the office's move to waiting for approval", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionTransition, "status", statusTo("waiting_for_approval")))
		}},
		{"a technician cannot close their own signed-off job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			w.signedOff(t)
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionTransition, "status", statusTo("closed")))
		}},
		{"a technician cannot void their own job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionVoid, "lifecycle", nil))
		}},
		{"a technician cannot change their own job's title", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionUpdate, "summary", map[string]any{"title": "Easy job"}))
		}},
		{"a technician cannot reschedule their own job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionUpdate, "scheduling", map[string]any{"site_address": "Home"}))
		}},
		{"a technician cannot add to their own job's crew", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionUpdate, "assignment", map[string]any{"crew": []string{w.e.users["sam"].ID}}))
		}},
		{"a technician cannot put another technician on the crew of a job they create", "alex", false,
			func(t *testing.T, w *secWorld, d *device) verdict {
				op := d.op("job", newID(), contract.ActionCreate, nil, map[string]any{"title": "Follow-up", "customer_id": w.cust, "crew": []string{w.e.users["sam"].ID}})
				v := w.pushed(t, d, op)
				if v.ok {
					if w.pulls(t, w.sam, w.cust).ok {
						v.msg = "Sam now pulls Alex's customer"
					}
				}
				return v
			}},
		{"a technician cannot create an invoice", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.op("invoice", newID(), contract.ActionCreate, nil, map[string]any{"customer_id": w.cust, "total": 1}))
		}},
		{"a technician cannot pull the invoice of their own job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict { return w.pulls(t, d, w.invoice(t)) }},
		{"a technician cannot read the history of their own job's invoice", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.got(t, d, "GET", "/v1/records/invoice/"+w.invoice(t)+"/history", nil)
		}},
		{"a technician cannot void another person's note on their own job", "alex", false, func(t *testing.T, w *secWorld, d *device) verdict {
			note := w.dana.note(w.job, "Customer called.")
			w.dana.must(note)
			return w.pushed(t, d, d.op("note", note.RecordID, contract.ActionVoid, w.version(t, note.RecordID, "lifecycle"), nil))
		}},
		// What a technician may do, so the refusals above are not all there is.
		{"a technician pulls their own job, its customer and its reviews", "alex", true, func(t *testing.T, w *secWorld, d *device) verdict {
			for _, id := range []string{w.job, w.cust} {
				if v := w.pulls(t, d, id); !v.ok {
					return v
				}
			}
			return w.pulls(t, d, w.jobReview(t))
		}},
		{"a technician moves their own job", "alex", true, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionTransition, "status", statusTo("paused")))
		}},
		{"a technician books time on their own job", "alex", true, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionUpdate, "work", map[string]any{"labor_minutes": 45}))
		}},
		{"a technician adds notes, photos and part lines to their own job", "alex", true, func(t *testing.T, w *secWorld, d *device) verdict {
			for _, op := range []contract.Operation{d.note(w.job, "Done."), d.photo(w.job, "a.jpg", fakeJPEG(2, 10))} {
				if v := w.pushed(t, d, op); !v.ok {
					return v
				}
			}
			return w.pushed(t, d, d.part(w.job, "SEAL-40", 1))
		}},
		{"a technician voids their own note", "alex", true, func(t *testing.T, w *secWorld, d *device) verdict {
			note := d.note(w.job, "Wrong job.")
			d.must(note)
			return w.pushed(t, d, d.op("note", note.RecordID, contract.ActionVoid, w.version(t, note.RecordID, "lifecycle"), nil))
		}},
		{"a technician makes a follow-up job that becomes theirs", "alex", true, func(t *testing.T, w *secWorld, d *device) verdict {
			op := d.op("job", newID(), contract.ActionCreate, nil, map[string]any{"title": "Follow-up", "customer_id": w.cust, "follows_job_id": w.job})
			v := w.pushed(t, d, op)
			if rec := w.e.stored(op.RecordID); v.ok && rec.Text("assignee") != w.e.users["alex"].ID {
				t.Errorf("the follow-up job is assigned to %q, want Alex", rec.Text("assignee"))
			}
			return v
		}},
	}
}

func financeRows() []matrixRow {
	return []matrixRow{
		{"finance pulls jobs, their items and customers", "fran", true, func(t *testing.T, w *secWorld, d *device) verdict {
			for _, id := range []string{w.job, w.samJob, w.samNote, w.cust} {
				if v := w.pulls(t, d, id); !v.ok {
					return v
				}
			}
			return w.pulls(t, d, w.samCust)
		}},
		{"finance reads a job's history", "fran", true, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.got(t, d, "GET", "/v1/records/job/"+w.samJob+"/history", nil)
		}},
		{"finance cannot add a note to a job", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.note(w.job, "Invoice sent."))
		}},
		{"finance cannot add a photo to a job", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.photo(w.job, "receipt.jpg", fakeJPEG(3, 10)))
		}},
		{"finance cannot add a part line to a job", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict { return w.pushed(t, d, d.part(w.job, "SEAL-40", 1)) }},
		{"finance cannot move a job", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionTransition, "status", statusTo("waiting_for_approval")))
		}},
		{"finance cannot change a job's title", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionUpdate, "summary", map[string]any{"title": "Paid"}))
		}},
		{"finance cannot book time on a job", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionUpdate, "work", map[string]any{"labor_minutes": 1}))
		}},
		{"finance cannot reassign a job", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionReassign, "assignment", map[string]any{"assignee": w.e.users["sam"].ID}))
		}},
		{"finance cannot void a job", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionVoid, "lifecycle", nil))
		}},
		{"finance cannot reopen a job", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			w.signedOff(t)
			return w.pushed(t, d, d.op("job", w.job, contract.ActionReopen, nil, nil))
		}},
		{"finance cannot create a job", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.op("job", newID(), contract.ActionCreate, nil, map[string]any{"title": "x", "customer_id": w.cust}))
		}},
		{"finance cannot edit a customer", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.op("customer", w.cust, contract.ActionUpdate, w.version(t, w.cust, "contact"), map[string]any{"billing_contact": "Fran"}))
		}},
		{"finance cannot create a customer", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.op("customer", newID(), contract.ActionCreate, nil, map[string]any{"name": "New Co"}))
		}},
		{"finance cannot resolve a review of a job", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.resolved(t, d, w.samReview, contract.ResolveRequest{Choice: contract.KeepServer})
		}},
		{"finance cannot upload content for a technician's photo", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.got(t, d, "PUT", "/v1/photos/"+w.samPhoto+"/content?offset=0", []byte("forged"))
		}},
		{"finance creates an invoice", "fran", true, func(t *testing.T, w *secWorld, d *device) verdict {
			return w.pushed(t, d, d.op("invoice", newID(), contract.ActionCreate, nil, map[string]any{"job_id": w.job, "customer_id": w.cust, "total": 4200}))
		}},
		{"finance edits an invoice's amounts", "fran", true, func(t *testing.T, w *secWorld, d *device) verdict {
			inv := w.invoice(t)
			return w.pushed(t, d, d.op("invoice", inv, contract.ActionUpdate, w.version(t, inv, "amounts"), map[string]any{"total": 4300}))
		}},
		{"finance sends an invoice", "fran", true, func(t *testing.T, w *secWorld, d *device) verdict {
			inv := w.invoice(t)
			return w.pushed(t, d, d.op("invoice", inv, contract.ActionTransition, w.version(t, inv, "status"), statusTo("sent")))
		}},
		{"finance cannot change a sent invoice's amounts", "fran", false, func(t *testing.T, w *secWorld, d *device) verdict {
			inv := w.invoice(t)
			d.must(d.op("invoice", inv, contract.ActionTransition, w.version(t, inv, "status"), statusTo("sent")))
			return w.pushed(t, d, d.op("invoice", inv, contract.ActionUpdate, w.version(t, inv, "amounts"), map[string]any{"total": 1}))
		}},
		{"finance resolves a review of an invoice", "fran", true, func(t *testing.T, w *secWorld, d *device) verdict {
			_, rv := w.invoiceReview(t)
			return w.resolved(t, d, rv, contract.ResolveRequest{Choice: contract.KeepServer})
		}},
	}
}

func officeRows() []matrixRow {
	var rows []matrixRow
	// What the whole office (and the admin, who acts as office) may do.
	for _, who := range []string{"dana", "sue", "ada"} {
		role := map[string]string{"dana": "a dispatcher", "sue": "a supervisor", "ada": "an admin"}[who]
		rows = append(rows,
			matrixRow{role + " pulls every job and invoice", who, true, func(t *testing.T, w *secWorld, d *device) verdict {
				for _, id := range []string{w.job, w.samJob, w.samPhoto, w.samCust} {
					if v := w.pulls(t, d, id); !v.ok {
						return v
					}
				}
				return w.pulls(t, d, w.invoice(t))
			}},
			matrixRow{role + " moves a job to waiting for approval", who, true, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionTransition, "status", statusTo("waiting_for_approval")))
			}},
			matrixRow{role + " closes a signed-off job", who, true, func(t *testing.T, w *secWorld, d *device) verdict {
				w.signedOff(t)
				return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionTransition, "status", statusTo("closed")))
			}},
			matrixRow{role + " reopens a signed-off job", who, true, func(t *testing.T, w *secWorld, d *device) verdict {
				w.signedOff(t)
				return w.pushed(t, d, d.op("job", w.job, contract.ActionReopen, nil, nil))
			}},
			matrixRow{role + " resolves a review of a job", who, true, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.resolved(t, d, w.samReview, contract.ResolveRequest{Choice: contract.KeepServer})
			}},
			matrixRow{role + " adds a note to a job", who, true, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, d.note(w.job, "Customer called."))
			}},
			matrixRow{role + " cannot make the owner's status moves", who, false, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionTransition, "status", statusTo("paused")))
			}},
			matrixRow{role + " cannot book time on a technician's job", who, false, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionUpdate, "work", map[string]any{"labor_minutes": 600}))
			}},
			matrixRow{role + " cannot add part lines to a technician's job", who, false, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, d.part(w.job, "SEAL-40", 3))
			}},
			matrixRow{role + " cannot sign a technician's job", who, false, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionUpdate, "signature", map[string]any{"signer_name": "Pat"}))
			}},
			matrixRow{role + " cannot upload content for a technician's photo", who, false, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.got(t, d, "PUT", "/v1/photos/"+w.samPhoto+"/content?offset=0", []byte("forged"))
			}},
			matrixRow{role + " cannot create an invoice", who, false, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, d.op("invoice", newID(), contract.ActionCreate, nil, map[string]any{"customer_id": w.cust, "total": 1}))
			}},
			matrixRow{role + " cannot edit an invoice", who, false, func(t *testing.T, w *secWorld, d *device) verdict {
				inv := w.invoice(t)
				return w.pushed(t, d, d.op("invoice", inv, contract.ActionUpdate, w.version(t, inv, "amounts"), map[string]any{"total": 1}))
			}},
			matrixRow{role + " cannot resolve a review of an invoice", who, false, func(t *testing.T, w *secWorld, d *device) verdict {
				_, rv := w.invoiceReview(t)
				return w.resolved(t, d, rv, contract.ResolveRequest{Choice: contract.KeepServer})
			}},
		)
	}
	// What only dispatchers (and the admin) may do: the rest of the office
	// may not.
	for _, who := range []string{"dana", "ada", "sue"} {
		role := map[string]string{"dana": "a dispatcher", "sue": "a supervisor", "ada": "an admin"}[who]
		may := who != "sue"
		name := func(does, cannot string) string {
			if may {
				return role + " " + does
			}
			return role + " cannot " + cannot
		}
		rows = append(rows,
			matrixRow{name("reassigns a job", "reassign a job"), who, may, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionReassign, "assignment", map[string]any{"assignee": w.e.users["sam"].ID}))
			}},
			matrixRow{name("voids a job", "void a job"), who, may, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionVoid, "lifecycle", nil))
			}},
			matrixRow{name("creates a job for a technician", "create a job"), who, may, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, d.op("job", newID(), contract.ActionCreate, nil, map[string]any{"title": "New", "customer_id": w.cust, "assignee": w.e.users["alex"].ID}))
			}},
			matrixRow{name("changes a job's title", "change a job's title"), who, may, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionUpdate, "summary", map[string]any{"title": "Replace both seals"}))
			}},
			matrixRow{name("reschedules a job", "reschedule a job"), who, may, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, w.jobOp(t, d, w.job, contract.ActionUpdate, "scheduling", map[string]any{"site_address": "14 Quay Street"}))
			}},
			matrixRow{name("edits a customer", "edit a customer"), who, may, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, d.op("customer", w.cust, contract.ActionUpdate, w.version(t, w.cust, "contact"), map[string]any{"phone": "+44 20 7946 0999"}))
			}},
			matrixRow{name("creates a customer", "create a customer"), who, may, func(t *testing.T, w *secWorld, d *device) verdict {
				return w.pushed(t, d, d.op("customer", newID(), contract.ActionCreate, nil, map[string]any{"name": "New Co"}))
			}},
		)
	}
	return rows
}

// TestRoleActionMatrix proves that the server enforces rules.md: each row
// is one role trying one action on a fresh working day. A refused attempt
// is a 403 or 404 (or a refused result: forbidden, not_found, or locked for
// a sent invoice) with a message, and changes nothing; a refused read
// brings nothing of the record.
func TestRoleActionMatrix(t *testing.T) {
	t.Parallel()
	var rows []matrixRow
	rows = append(rows, technicianRows()...)
	rows = append(rows, financeRows()...)
	rows = append(rows, officeRows()...)
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.name] {
			t.Fatalf("two rows are called %q", r.name)
		}
		seen[r.name] = true
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			w := newSecWorld(t)
			v := r.try(t, w, w.dev(r.who))
			if bug := knownMatrixBugs[r.name]; bug != "" {
				if r.allowed == v.ok {
					t.Fatalf("the known bug is fixed (%s): take this row out of knownMatrixBugs", bug)
				}
				t.Skipf("known bug, reported: %s (%s)", bug, v.msg)
			}
			switch {
			case r.allowed && !v.ok:
				t.Fatalf("refused: status %d %s %q; rules.md allows it", v.status, v.code, v.msg)
			case r.allowed:
			case v.ok:
				t.Fatalf("allowed (status %d); rules.md forbids it", v.status)
			case v.read:
			case v.status == http.StatusOK && v.code != contract.CodeForbidden && v.code != contract.CodeNotFound && v.code != contract.CodeLocked:
				t.Errorf("refused with %s %q, want forbidden, not_found or locked", v.code, v.msg)
			case v.status != http.StatusOK && v.status != http.StatusForbidden && v.status != http.StatusNotFound:
				t.Errorf("status %d %s %q, want 403 or 404", v.status, v.code, v.msg)
			case strings.TrimSpace(v.msg) == "":
				t.Errorf("refused without a message saying why")
			}
		})
	}
}

// authedRoutes reads the routes server.go guards with authed, so that a new
// endpoint cannot slip past the token test below.
func authedRoutes(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`handle\("([A-Z]+ /[^"]*)", s\.authed\(`).FindAllSubmatch(src, -1) {
		out = append(out, string(m[1]))
	}
	if len(out) < 10 {
		t.Fatalf("found only %d authenticated routes in server.go: %v", len(out), out)
	}
	return out
}

// TestEveryAuthenticatedEndpointRefusesAMissingExpiredOrRevokedToken sends
// a request that would otherwise succeed to every authenticated endpoint,
// with no token and with tokens that are dead in each way there is. Each
// is 401 with WWW-Authenticate and the reason, carries no data, and changes
// nothing; other users are served right after.
func TestEveryAuthenticatedEndpointRefusesAMissingExpiredOrRevokedToken(t *testing.T) {
	t.Parallel()
	kinds := []struct {
		name string
		// dead returns the Authorization header to send ("" sends none) and
		// what the 401 must say.
		dead func(t *testing.T, w *secWorld) (string, string)
	}{
		{"without a token", func(t *testing.T, w *secWorld) (string, string) { return "", "sign in first" }},
		{"with a token in another scheme", func(t *testing.T, w *secWorld) (string, string) { return "Token " + w.alex.token, "sign in first" }},
		{"with an empty bearer token", func(t *testing.T, w *secWorld) (string, string) { return "Bearer ", "sign in first" }},
		{"with a token the server never gave out", func(t *testing.T, w *secWorld) (string, string) {
			return "Bearer " + w.alex.token[:len(w.alex.token)-1] + "x", "not valid"
		}},
		{"with an expired token", func(t *testing.T, w *secWorld) (string, string) {
			// A minute before its 30 days are up the token still works.
			w.e.advance(30*24*time.Hour - time.Minute)
			if code := w.alex.call("GET", "/v1/me", nil, nil); code != http.StatusOK {
				t.Fatalf("a token a minute before it expires: status %d, want 200", code)
			}
			w.e.advance(2 * time.Minute)
			old := w.alex.token
			// Everyone else signs in again after a month away.
			w.dana, w.sam = relogin(t, w.site, "dana", "office-pc"), relogin(t, w.site, "sam", "sam-phone")
			return "Bearer " + old, "expired"
		}},
		{"with a token signed out with logout", func(t *testing.T, w *secWorld) (string, string) {
			if code := w.alex.call("POST", "/v1/logout", nil, nil); code != http.StatusNoContent {
				t.Fatalf("logout: status %d", code)
			}
			return "Bearer " + w.alex.token, "signed out"
		}},
		{"with a token revoked by server.RevokeUser", func(t *testing.T, w *secWorld) (string, string) {
			n, err := server.RevokeUser(context.Background(), w.e.store, "alex")
			if err != nil || n == 0 {
				t.Fatalf("RevokeUser: %d sessions, %v", n, err)
			}
			return "Bearer " + w.alex.token, "signed out"
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			w := newSecWorld(t)
			// Alex's own photo, its metadata pushed and no content yet; a
			// review he can see; a note he means to send.
			content := fakeJPEG(5, 2000)
			photo := w.alex.photo(w.job, "seal.jpg", content)
			w.alex.must(photo)
			review := w.jobReview(t)
			note := w.alex.note(w.job, "Arrived on site.")
			jobBefore, reviewBefore := w.e.stored(w.job), w.e.storedReview(review)

			auth, wantMsg := k.dead(t, w)
			requests := map[string]struct{ path, body string }{
				"POST /v1/logout":                     {"/v1/logout", ""},
				"GET /v1/me":                          {"/v1/me", ""},
				"GET /v1/users":                       {"/v1/users", ""},
				"GET /v1/rules":                       {"/v1/rules", ""},
				"POST /v1/push":                       {"/v1/push", mustJSON(t, contract.PushRequest{Ops: []contract.Operation{note}})},
				"GET /v1/pull":                        {"/v1/pull", ""},
				"GET /v1/reviews":                     {"/v1/reviews?status=all", ""},
				"POST /v1/reviews/{id}/resolve":       {"/v1/reviews/" + review + "/resolve", mustJSON(t, contract.ResolveRequest{OpID: newID(), Choice: contract.KeepServer})},
				"GET /v1/jobs/matches":                {"/v1/jobs/matches?" + url.Values{"customer_id": {w.cust}, "site_address": {"12 Quay Street"}}.Encode(), ""},
				"GET /v1/records/{type}/{id}/history": {"/v1/records/job/" + w.job + "/history", ""},
				"GET /v1/photos/{id}/upload":          {"/v1/photos/" + photo.RecordID + "/upload", ""},
				"PUT /v1/photos/{id}/content":         {"/v1/photos/" + photo.RecordID + "/content?offset=0", string(content)},
				"GET /v1/photos/{id}/content":         {"/v1/photos/" + w.samPhoto + "/content", ""},
			}
			for _, route := range authedRoutes(t) {
				if _, ok := requests[route]; !ok {
					t.Errorf("authenticated route %s is not in this test: add a request for it", route)
				}
			}
			anon := &device{e: w.e, t: t, name: "nobody"}
			for route, req := range requests {
				method, _, _ := strings.Cut(route, " ")
				h := http.Header{"Content-Type": {"application/json"}}
				if auth != "" {
					h.Set("Authorization", auth)
				}
				resp, b := anon.send(method, req.path, strings.NewReader(req.body), h)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s: status %d (%s), want 401", route, resp.StatusCode, b)
					continue
				}
				if ed := errorOf(t, b); ed.Code != contract.CodeUnauthorized || !strings.Contains(ed.Message, wantMsg) || ed.Retry {
					t.Errorf("%s: %s %q retry %v, want unauthorized saying %q, not to retry", route, ed.Code, ed.Message, ed.Retry, wantMsg)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: 401 without WWW-Authenticate", route)
				}
				for _, secret := range [][]byte{[]byte("Harbor Bakery"), []byte("Replace pump seal"), w.samPhotoContent[:64], []byte(w.e.users["alex"].ID)} {
					if bytes.Contains(b, secret) {
						t.Errorf("%s: the 401 answer carries data: %q", route, b)
					}
				}
				// Others are served right after each refusal.
				if code := w.dana.call("GET", "/v1/me", nil, nil); code != http.StatusOK {
					t.Fatalf("after %s, Dana's GET /v1/me: status %d", route, code)
				}
			}
			w.stillServing(t)
			// Nothing of the refused requests was kept.
			if rec := w.e.stored(note.RecordID); rec != nil {
				t.Errorf("the note pushed with a dead token is on the server")
			}
			if diff := jsonDiff(jobBefore, w.e.stored(w.job)); diff != "" {
				t.Errorf("the job changed: %s", diff)
			}
			if diff := jsonDiff(reviewBefore, w.e.storedReview(review)); diff != "" {
				t.Errorf("the review changed: %s", diff)
			}
			alex := relogin(t, w.site, "alex", "alex-phone")
			if st := alex.uploadStatus(photo.RecordID); st.Received != 0 || st.Complete {
				t.Errorf("the upload sent with a dead token left %d bytes (complete %v)", st.Received, st.Complete)
			}
			if rv := alex.openReviews(); len(rv) != 1 || rv[0].ID != review {
				t.Errorf("after the refused resolve Alex sees open reviews %v, want just %s", rv, review)
			}
			// Signing in again, the same operation applies once.
			w.notKept(t, alex, note)
		})
	}
}

// TestPathTricksInIdsAreRefusedAndWriteNothing sends ids that are not plain
// UUIDs wherever an id goes: in an operation, in a photo's job, and in
// every path that carries one. Each is a clear 4xx; nothing lands outside
// the blob directory and other users are served right after. (The dot
// segments the router cleans are in TestPathTricksInIdsReachNoFile.)
func TestPathTricksInIdsAreRefusedAndWriteNothing(t *testing.T) {
	t.Parallel()
	base := "4f1c2b7e-9d3a-4c5b-8e6f-0a1b2c3d4e5f"
	tricks := []struct{ name, id string }{
		{"a UUID in urn form", "urn:uuid:" + base},
		{"a UUID in braces", "{" + base + "}"},
		{"a UUID with a NUL byte after it", base + "\x00"},
		{"a UUID with a newline after it", base + "\n"},
		{"a UUID followed by dot segments", base + "/../../../etc/passwd"},
		{"dot segments as long as a UUID", "../../../../../../../../../etc/passwd"[:36]},
		{"an absolute path", "/etc/passwd"},
		{"Windows separators", `..\..\..\..\..\windows\win.ini`},
		{"a UUID with full-width hyphens", strings.ReplaceAll(base, "-", "－")},
		{"a UUID with hyphens moved", base[:7] + "-" + base[7:8] + base[9:]},
		{"a UUID of the right length with a slash in it", base[:35] + "/"},
		{"an id of 10,000 characters", strings.Repeat("a", 10000)},
	}
	for _, tc := range tricks {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t)
			esc := url.PathEscape(tc.id)

			// In a push: the photo and the note are refused, the good note applies.
			photo := s.alex.photo(s.job, "passwd", []byte("root:x:0:0"))
			photo.RecordID = tc.id
			onTrick := s.alex.op("note", newID(), contract.ActionAppend, nil, map[string]any{"job_id": tc.id, "text": "x"})
			good := s.alex.note(s.job, "Arrived on site.")
			got := s.alex.push(photo, onTrick, good)
			for i, what := range []string{"a photo with this id", "a note on a job with this id"} {
				if r := got[i]; r.Outcome != contract.Refused || (r.Code != contract.CodeInvalid && r.Code != contract.CodeBadValue) || r.Message == "" {
					t.Errorf("%s: %s %s %q, want refused as invalid or bad_value with a reason", what, r.Outcome, r.Code, r.Message)
				}
			}
			wantResult(t, "the good note after them", got[2], contract.Applied, "")

			// In every path that carries an id.
			for _, req := range []struct{ method, path, body string }{
				{"PUT", "/v1/photos/" + esc + "/content?offset=0", "root:x:0:0"},
				{"GET", "/v1/photos/" + esc + "/upload", ""},
				{"GET", "/v1/photos/" + esc + "/content", ""},
				{"GET", "/v1/records/job/" + esc + "/history", ""},
				{"GET", "/v1/records/" + esc + "/" + s.job + "/history", ""},
				{"POST", "/v1/reviews/" + esc + "/resolve", `{"op_id": "` + newID() + `", "choice": "server"}`},
				{"GET", "/v1/jobs/matches?" + url.Values{"customer_id": {tc.id}, "site_address": {"x"}}.Encode(), ""},
			} {
				resp, b := s.alex.send(req.method, req.path, strings.NewReader(req.body), nil)
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Errorf("%s %s: status %d (%.200s), want a 4xx", req.method, req.path, resp.StatusCode, b)
					continue
				}
				if ed := errorOf(t, b); ed.Message == "" || ed.Retry {
					t.Errorf("%s %s: %s %q retry %v, want a reason and no retry", req.method, req.path, ed.Code, ed.Message, ed.Retry)
				}
				if bytes.Contains(b, []byte("root:")) || bytes.Contains(b, []byte("SQLite format")) {
					t.Errorf("%s %s: the answer carries a file's content", req.method, req.path)
				}
				s.dana.pull() // others are served right after each
			}
			s.stillServing(t)
			noStrayFiles(t, s.e)
		})
	}
	t.Run("an upper-case id is the same photo, with the same rights and one file", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		content := fakeJPEG(6, 3000)
		photo := s.alex.photo(s.job, "meter.jpg", content)
		photo.RecordID = strings.ToUpper(photo.RecordID)
		s.alex.must(photo)
		up := strings.ToUpper(photo.RecordID)
		if code, st, ed := s.alex.upload(up, 0, content[:1000]); code != http.StatusOK || st.Received != 1000 {
			t.Fatalf("first chunk by the upper-case id: %d %+v %s", code, st, ed.Message)
		}
		lower := strings.ToLower(photo.RecordID)
		if code, st, ed := s.alex.upload(lower, 1000, content[1000:]); code != http.StatusOK || !st.Complete {
			t.Fatalf("the rest by the lower-case id: %d %+v %s", code, st, ed.Message)
		}
		if code, _ := s.sam.download(up); code != http.StatusNotFound {
			t.Errorf("Sam downloading Alex's photo by its upper-case id: status %d, want 404", code)
		}
		if code, got := s.alex.download(up); code != http.StatusOK || !bytes.Equal(got, content) {
			t.Errorf("Alex downloading by the upper-case id: status %d, %d bytes", code, len(got))
		}
		noStrayFiles(t, s.e)
	})
}

// nested returns n levels of JSON arrays or objects.
func nested(n int, objects bool) string {
	if objects {
		return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)
	}
	return strings.Repeat("[", n) + strings.Repeat("]", n)
}

// unsized hides a reader's length, so the client sends it in chunks.
type unsized struct{ io.Reader }

// TestOversizedAndDeeplyNestedJSONIsRefused sends bodies built to exhaust
// the decoder to every endpoint that decodes JSON. Each is a clear 4xx
// within the body limit's budget, nothing of it is kept, and other users
// are served right after.
func TestOversizedAndDeeplyNestedJSONIsRefused(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	opWith := func(t *testing.T, s *site, value string) string {
		op := mustJSON(t, s.alex.note(s.job, "placeholder"))
		return `{"ops": [` + strings.Replace(op, `"placeholder"`, value, 1) + `]}`
	}
	cases := []struct {
		name       string
		method     string
		path       func(s *site) string
		body       func(t *testing.T, s *site) io.Reader
		wantStatus int
		wantMsg    string
	}{
		{name: "a push of 100,000 nested arrays is 400", method: "POST", path: func(*site) string { return "/v1/push" },
			body:       func(*testing.T, *site) io.Reader { return strings.NewReader(nested(100000, false)) },
			wantStatus: 400, wantMsg: "malformed JSON"},
		{name: "a push whose ops hold 100,000 nested arrays is 400", method: "POST", path: func(*site) string { return "/v1/push" },
			body:       func(*testing.T, *site) io.Reader { return strings.NewReader(`{"ops": ` + nested(100000, false) + `}`) },
			wantStatus: 400, wantMsg: "malformed JSON"},
		{name: "a note whose text is 100,000 nested objects is 400", method: "POST", path: func(*site) string { return "/v1/push" },
			body:       func(t *testing.T, s *site) io.Reader { return strings.NewReader(opWith(t, s, nested(100000, true))) },
			wantStatus: 400, wantMsg: "malformed JSON"},
		{name: "a sign-in of 100,000 nested arrays is 400", method: "POST", path: func(*site) string { return "/v1/login" },
			body:       func(*testing.T, *site) io.Reader { return strings.NewReader(nested(100000, false)) },
			wantStatus: 400, wantMsg: "malformed JSON"},
		{name: "a resolution whose values are 100,000 nested objects is 400", method: "POST", path: func(*site) string { return "/v1/reviews/" + newID() + "/resolve" },
			body: func(*testing.T, *site) io.Reader {
				return strings.NewReader(`{"op_id": "` + newID() + `", "choice": "type_value", "values": {"status": ` + nested(100000, true) + `}}`)
			},
			wantStatus: 400, wantMsg: "malformed JSON"},
		{name: "a sign-in over 8 MiB is 413", method: "POST", path: func(*site) string { return "/v1/login" },
			body: func(*testing.T, *site) io.Reader {
				return strings.NewReader(`{"username": "alex", "password": "` + strings.Repeat("p", 9*mib) + `", "device_id": "x"}`)
			},
			wantStatus: 413, wantMsg: "limit"},
		{name: "a resolution over 8 MiB is 413", method: "POST", path: func(*site) string { return "/v1/reviews/" + newID() + "/resolve" },
			body: func(*testing.T, *site) io.Reader {
				return strings.NewReader(`{"op_id": "` + newID() + `", "choice": "server", "entry": "` + strings.Repeat("e", 9*mib) + `"}`)
			},
			wantStatus: 413, wantMsg: "limit"},
		{name: "a push over 8 MiB sent in chunks without a length is 413", method: "POST", path: func(*site) string { return "/v1/push" },
			body: func(t *testing.T, s *site) io.Reader {
				return unsized{strings.NewReader(opWith(t, s, `"`+strings.Repeat("a", 9*mib)+`"`))}
			},
			wantStatus: 413, wantMsg: "limit"},
		{name: "a push of 9 MiB of whitespace is 413", method: "POST", path: func(*site) string { return "/v1/push" },
			body: func(*testing.T, *site) io.Reader {
				return strings.NewReader(strings.Repeat(" ", 9*mib) + `{"ops": []}`)
			},
			wantStatus: 413, wantMsg: "limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t)
			before := s.e.stored(s.job)
			start := time.Now()
			resp, b := s.alex.send(tc.method, tc.path(s), tc.body(t, s), http.Header{"Content-Type": {"application/json"}})
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d (%.300s), want %d", resp.StatusCode, b, tc.wantStatus)
			}
			if ed := errorOf(t, b); !strings.Contains(ed.Message, tc.wantMsg) || ed.Retry {
				t.Errorf("%s %q retry %v, want it to say %q and not to retry", ed.Code, ed.Message, ed.Retry, tc.wantMsg)
			}
			if len(b) > 4096 {
				t.Errorf("the refusal is %d bytes: it echoes the input", len(b))
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the refusal took %v", d)
			}
			if diff := jsonDiff(before, s.e.stored(s.job)); diff != "" {
				t.Errorf("the job changed: %s", diff)
			}
			if items := s.e.items(s.job); len(items["note"]) != 0 {
				t.Errorf("a note from the refused body is on the server")
			}
			s.stillServing(t)
			noStrayFiles(t, s.e)
		})
	}
	// Inside the decoder's depth limit the body decodes; the engine refuses
	// the value and the rest of the batch applies.
	t.Run("deep nesting inside a value is refused and the rest of the batch applies", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		deep := []contract.Operation{
			s.alex.note(s.job, "placeholder"),
			s.alex.op("job", s.job, contract.ActionUpdate, s.alex.bases(s.job, "work"), map[string]any{"labor_minutes": "placeholder"}),
			s.alex.part(s.job, "placeholder", 1),
		}
		good := s.alex.note(s.job, "Arrived on site.")
		var parts []string
		for i, op := range deep {
			v := nested(5000, i%2 == 0)
			parts = append(parts, strings.Replace(mustJSON(t, op), `"placeholder"`, v, 1))
		}
		parts = append(parts, mustJSON(t, good))
		resp, b := s.alex.send("POST", "/v1/push", strings.NewReader(`{"ops": [`+strings.Join(parts, ",")+`]}`), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %.300s, want 200 with a result per operation", resp.StatusCode, b)
		}
		var pr contract.PushResponse
		if err := json.Unmarshal(b, &pr); err != nil || len(pr.Results) != 4 {
			t.Fatalf("results %d, %v", len(pr.Results), err)
		}
		for i := range deep {
			if r := pr.Results[i]; r.Outcome != contract.Refused || r.Code != contract.CodeBadValue {
				t.Errorf("deep value %d: %s %s %q, want refused bad_value", i, r.Outcome, r.Code, r.Message)
			}
		}
		wantResult(t, "the good note", pr.Results[3], contract.Applied, "")
		s.stillServing(t)
	})
}

// TestHugeBatchesAreRefusedWholeOrAppliedOnce sends batches at and far past
// the batch limit.
func TestHugeBatchesAreRefusedWholeOrAppliedOnce(t *testing.T) {
	t.Parallel()
	t.Run("100,000 empty operations within the body limit are refused whole", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		body := `{"ops": [` + strings.TrimSuffix(strings.Repeat("{},", 100000), ",") + `]}`
		start := time.Now()
		resp, b := s.alex.send("POST", "/v1/push", strings.NewReader(body), nil)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(errorOf(t, b).Message, "at most 500") {
			t.Fatalf("status %d %.300s, want 413 saying at most 500", resp.StatusCode, b)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("refusing took %v", d)
		}
		s.stillServing(t)
	})
	t.Run("30,000 real operations within the body limit are refused whole and none applies", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		ops := make([]contract.Operation, 30000)
		for i := range ops {
			ops[i] = s.alex.note(s.job, fmt.Sprintf("note %d", i))
		}
		body := mustJSON(t, contract.PushRequest{Ops: ops})
		if len(body) > 8<<20 {
			t.Fatalf("the body is %d bytes, over the body limit; this case is about the batch limit", len(body))
		}
		resp, b := s.alex.send("POST", "/v1/push", strings.NewReader(body), nil)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(errorOf(t, b).Message, "this one has 30000") {
			t.Fatalf("status %d %.300s, want 413 saying this one has 30000", resp.StatusCode, b)
		}
		if n := len(s.e.items(s.job)["note"]); n != 0 {
			t.Errorf("%d notes of the refused batch are on the server", n)
		}
		s.stillServing(t)
		s.notKept(t, s.alex, ops[0])
	})
	t.Run("500 operations, the limit, apply once each however often they are sent", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		ops := make([]contract.Operation, 500)
		for i := range ops {
			ops[i] = s.alex.note(s.job, fmt.Sprintf("note %d", i))
		}
		for round := range 2 {
			for i, r := range s.alex.push(ops...) {
				if want := []contract.Outcome{contract.Applied, contract.AlreadyApplied}[round]; r.Outcome != want {
					t.Fatalf("round %d, op %d: %s %s, want %s", round, i, r.Outcome, r.Message, want)
				}
			}
		}
		if n := len(s.e.items(s.job)["note"]); n != 500 {
			t.Errorf("%d notes on the server, want 500", n)
		}
		s.stillServing(t)
	})
	t.Run("one operation 500 times in one batch applies once", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		op := s.alex.note(s.job, "Only once.")
		ops := slices.Repeat([]contract.Operation{op}, 500)
		got := s.alex.push(ops...)
		wantResult(t, "the first copy", got[0], contract.Applied, "")
		for i, r := range got[1:] {
			if r.Outcome != contract.AlreadyApplied {
				t.Fatalf("copy %d: %s, want already_applied", i+1, r.Outcome)
			}
		}
		if n := len(s.e.items(s.job)["note"]); n != 1 {
			t.Errorf("%d notes on the server, want 1", n)
		}
		s.stillServing(t)
	})
}

// realServer serves e's server through server.NewHTTPServerWith on a
// loopback listener of its own, with timeouts short enough for a test.
func realServer(t *testing.T, e *env, to server.Timeouts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := server.NewHTTPServerWith(ln.Addr().String(), e.srv, nil, to)
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// testTimeouts are the timeouts of realServer in these tests.
var testTimeouts = server.Timeouts{ReadHeader: 300 * time.Millisecond, Read: time.Second, Write: time.Second, Idle: time.Second}

// meanwhile keeps another user busy against addr until stop is closed:
// Dana asks who she is and pulls, over and over. It returns a function that
// reports how many requests were served and the slowest, failing the test
// on any that was not 200.
func meanwhile(t *testing.T, addr string, dana *device, stop <-chan struct{}) func() (int, time.Duration) {
	var (
		n       atomic.Int64
		slowest atomic.Int64
		wg      sync.WaitGroup
		failed  atomic.Value
	)
	client := &http.Client{Timeout: 5 * time.Second}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			path := []string{"/v1/me", "/v1/pull"}[i%2]
			req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
			req.Header.Set("Authorization", "Bearer "+dana.token)
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				failed.Store(err.Error())
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failed.Store(fmt.Sprintf("GET %s: status %d", path, resp.StatusCode))
				return
			}
			n.Add(1)
			if d := int64(time.Since(start)); d > slowest.Load() {
				slowest.Store(d)
			}
		}
	}()
	return func() (int, time.Duration) {
		wg.Wait()
		if f := failed.Load(); f != nil {
			t.Errorf("another user was not served meanwhile: %v", f)
		}
		return int(n.Load()), time.Duration(slowest.Load())
	}
}

// closedWithin reads conn until the server closes it and returns when that
// was and what the server sent.
func closedWithin(conn net.Conn, limit time.Duration) (time.Duration, []byte, bool) {
	start := time.Now()
	conn.SetReadDeadline(start.Add(limit))
	b, err := io.ReadAll(conn)
	var ne net.Error
	timedOut := err != nil && errors.As(err, &ne) && ne.Timeout()
	return time.Since(start), b, !timedOut
}

// bufioReader reads b; Reset it to read something else.
func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// TestSlowClientsAreCutOffWhileOthersAreServed proves the server's timeouts:
// a client that holds a connection by sending slowly, or by not reading,
// is cut off, and other users are served at full speed meanwhile.
func TestSlowClientsAreCutOffWhileOthersAreServed(t *testing.T) {
	t.Parallel()
	t.Run("clients that send their headers byte by byte are cut off at the header timeout", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		addr := realServer(t, s.e, testTimeouts)
		stop := make(chan struct{})
		done := meanwhile(t, addr, s.dana, stop)
		request := "GET /v1/me HTTP/1.1\r\nHost: fieldsync\r\nAuthorization: Bearer " + s.alex.token + "\r\nAccept: */*\r\n\r\n"
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				start := time.Now()
				var sent atomic.Int64
				go func() {
					for i := range len(request) {
						if _, err := conn.Write([]byte{request[i]}); err != nil {
							return
						}
						sent.Add(1)
						time.Sleep(25 * time.Millisecond) // the whole request would take 2.5 s or more
					}
				}()
				_, answer, closed := closedWithin(conn, 4*time.Second)
				took := time.Since(start)
				switch {
				case sent.Load() == int64(len(request)):
					t.Errorf("slow client %d sent all %d bytes of its headers: it was not cut off", i, len(request))
				case !closed:
					t.Errorf("slow client %d: the server kept the connection open", i)
				case took > 2*time.Second:
					t.Errorf("slow client %d was cut off after %v, want about the header timeout of %v", i, took, testTimeouts.ReadHeader)
				case bytes.Contains(answer, []byte("200 OK")) || bytes.Contains(answer, []byte(s.e.users["alex"].ID)):
					t.Errorf("slow client %d got an answer: %q", i, answer)
				}
			}()
		}
		wg.Wait()
		close(stop)
		n, slowest := done()
		if n < 3 || slowest > 2*time.Second {
			t.Errorf("meanwhile Dana was served %d requests, the slowest in %v; want many, quickly", n, slowest)
		}
		s.stillServing(t)
	})

	t.Run("a client that sends its body byte by byte is cut off at the read timeout, told to send it again, and nothing of it is kept", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		// The answer may go out after the read timeout, as it may with the
		// default timeouts when reading the headers took a moment.
		to := testTimeouts
		to.Write = 3 * time.Second
		addr := realServer(t, s.e, to)
		stop := make(chan struct{})
		done := meanwhile(t, addr, s.dana, stop)
		note := s.alex.note(s.job, "Sent very slowly.")
		body := mustJSON(t, contract.PushRequest{Ops: []contract.Operation{note}})
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/push HTTP/1.1\r\nHost: fieldsync\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", s.alex.token, len(body))
		start := time.Now()
		go func() {
			for i := 0; i < len(body)-1; i++ { // never the last byte
				if _, err := conn.Write([]byte{body[i]}); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		_, answer, closed := closedWithin(conn, 6*time.Second)
		took := time.Since(start)
		close(stop)
		done()
		if !closed || took > 4*time.Second {
			t.Fatalf("the slow body held the connection for %v (closed %v)", took, closed)
		}
		resp, err := http.ReadResponse(bufioReader(answer), nil)
		if err != nil {
			t.Fatalf("no answer to the cut-off push: %q", answer)
		}
		b, _ := io.ReadAll(resp.Body)
		if ed := errorOf(t, b); resp.StatusCode < 500 || ed.Kind != contract.Transient || !ed.Retry {
			t.Errorf("a push cut off by the read timeout is answered %d %s %s %q: a device would not send it again", resp.StatusCode, ed.Code, ed.Kind, ed.Message)
		} else if resp.Header.Get("Retry-After") == "" {
			t.Errorf("a %d without Retry-After", resp.StatusCode)
		}
		if rec := s.e.stored(note.RecordID); rec != nil {
			t.Errorf("the note of the cut-off push is on the server")
		}
		s.stillServing(t)
		s.notKept(t, s.alex, note)
	})

	t.Run("an idle kept-alive connection is closed after the idle timeout", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		addr := realServer(t, s.e, testTimeouts)
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: fieldsync\r\n\r\n")
		br := bufioReader(nil)
		br.Reset(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		start := time.Now()
		conn.SetReadDeadline(start.Add(5 * time.Second))
		_, err = br.ReadByte()
		if took := time.Since(start); err == nil || took > 3*time.Second {
			t.Errorf("the idle connection stayed open %v (%v), want it closed after about %v", took, err, testTimeouts.Idle)
		}
		s.stillServing(t)
	})

	t.Run("a client that never reads its download is cut off at the write timeout", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		addr := realServer(t, s.e, testTimeouts)
		content := fakeJPEG(8, 12<<20)
		photo := s.alex.photo(s.job, "big.jpg", content)
		s.alex.must(photo)
		for off := 0; off < len(content); off += 4 << 20 {
			if code, _, ed := s.alex.upload(photo.RecordID, int64(off), content[off:min(off+4<<20, len(content))]); code != http.StatusOK {
				t.Fatalf("upload at %d: %d %s", off, code, ed.Message)
			}
		}
		stop := make(chan struct{})
		done := meanwhile(t, addr, s.dana, stop)
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET /v1/photos/%s/content HTTP/1.1\r\nHost: fieldsync\r\nAuthorization: Bearer %s\r\n\r\n", photo.RecordID, s.alex.token)
		time.Sleep(testTimeouts.Write + time.Second) // not reading
		close(stop)
		done()
		_, got, closed := closedWithin(conn, 10*time.Second)
		if !closed || len(got) >= len(content) {
			t.Errorf("the stalled download got %d of %d bytes (closed %v): the server did not give up", len(got), len(content), closed)
		}
		s.stillServing(t)
	})
}

// partialBytes returns the bytes of a photo the server holds so far, from
// the blob directory itself.
func partialBytes(t *testing.T, e *env, photo string) []byte {
	t.Helper()
	id := strings.ToLower(photo)
	if b, err := os.ReadFile(filepath.Join(e.dir, "blobs", "photos", id[:2], id)); err == nil {
		return b
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	// The parts, named by their offsets, in order.
	dir := filepath.Join(e.dir, "blobs", "partial", id)
	des, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// TestUploadsThatLieAboutSizeOrChecksumKeepNothingWrong sends photo content
// whose length, offset or checksum is not what it claims. The server keeps
// at most the declared size, only bytes that arrived at the right offset,
// and completes a photo only with content matching its sha256; a device
// telling the truth then finishes the upload.
func TestUploadsThatLieAboutSizeOrChecksumKeepNothingWrong(t *testing.T) {
	t.Parallel()
	content := fakeJPEG(11, 10_000)
	cases := []struct {
		name string
		run  func(t *testing.T, s *site, photo string)
	}{
		{name: "a Content-Length longer than the body, held open, is cut at the read timeout and keeps what arrived", run: func(t *testing.T, s *site, photo string) {
			addr := realServer(t, s.e, testTimeouts)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "PUT /v1/photos/%s/content?offset=0 HTTP/1.1\r\nHost: fieldsync\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", photo, s.alex.token, len(content))
			conn.Write(content[:4000])
			took, _, closed := closedWithin(conn, 5*time.Second)
			if !closed || took > 3*time.Second {
				t.Fatalf("the stalled upload held the connection %v (closed %v)", took, closed)
			}
			if st := s.alex.uploadStatus(photo); st.Received != 4000 || st.Complete {
				t.Errorf("after the stall the server holds %d bytes (complete %v), want the 4000 that arrived", st.Received, st.Complete)
			}
			if got := partialBytes(t, s.e, photo); !bytes.Equal(got, content[:4000]) {
				t.Errorf("the server holds %d bytes that are not the ones sent", len(got))
			}
		}},
		{name: "a Content-Length shorter than the body keeps only that many bytes and the rest is no request", run: func(t *testing.T, s *site, photo string) {
			conn, err := net.Dial("tcp", s.e.ts.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "PUT /v1/photos/%s/content?offset=0 HTTP/1.1\r\nHost: fieldsync\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n", photo, s.alex.token)
			conn.Write(content[:5000])
			br := bufio.NewReader(conn)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			var st contract.UploadStatus
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || st.Received != 100 {
				t.Errorf("the chunk: status %d %+v, want 200 with 100 bytes received", resp.StatusCode, st)
			}
			// The 4900 bytes after it are not a request.
			if next, err := http.ReadResponse(br, nil); err == nil && next.StatusCode < 400 {
				t.Errorf("the bytes after the declared length were answered %d", next.StatusCode)
			}
			if got := partialBytes(t, s.e, photo); !bytes.Equal(got, content[:100]) {
				t.Errorf("the server holds %d bytes, want the first 100", len(got))
			}
		}},
		{name: "a body in chunks without a length, longer than the declared size, is 413 and keeps nothing", run: func(t *testing.T, s *site, photo string) {
			long := append(append([]byte{}, content...), content[:500]...)
			resp, b := s.alex.send("PUT", "/v1/photos/"+photo+"/content?offset=0", unsized{bytes.NewReader(long)}, nil)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || errorOf(t, b).Code != contract.CodeTooLarge {
				t.Fatalf("status %d %s, want 413 too_large", resp.StatusCode, b)
			}
			if got := partialBytes(t, s.e, photo); len(got) != 0 {
				t.Errorf("the server kept %d bytes of a refused chunk", len(got))
			}
		}},
		{name: "a last chunk that would run past the declared size is 413 and keeps the chunks before it", run: func(t *testing.T, s *site, photo string) {
			if code, _, _ := s.alex.upload(photo, 0, content[:6000]); code != http.StatusOK {
				t.Fatalf("first chunk: %d", code)
			}
			code, _, ed := s.alex.upload(photo, 6000, append(append([]byte{}, content[6000:]...), 'x'))
			if code != http.StatusRequestEntityTooLarge || ed.Code != contract.CodeTooLarge {
				t.Fatalf("too long a last chunk: %d %s", code, ed.Code)
			}
			if got := partialBytes(t, s.e, photo); !bytes.Equal(got, content[:6000]) {
				t.Errorf("the server holds %d bytes, want the 6000 of the first chunk", len(got))
			}
		}},
		{name: "the status never says more than the photo's size, even while too long a chunk arrives", run: func(t *testing.T, s *site, photo string) {
			long := append(append([]byte{}, content...), bytes.Repeat([]byte{1}, 100)...)
			var stop atomic.Bool
			var worst atomic.Int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				for !stop.Load() {
					var st contract.UploadStatus
					s.sam.call("GET", "/v1/photos/"+photo+"/upload", nil, nil) // others keep being served
					s.alex.call("GET", "/v1/photos/"+photo+"/upload", nil, &st)
					worst.Store(max(worst.Load(), st.Received))
				}
			}()
			for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); {
				if code, _, ed := s.alex.upload(photo, 0, long); code != http.StatusRequestEntityTooLarge {
					t.Fatalf("too long a chunk: status %d %s", code, ed.Message)
				}
			}
			stop.Store(true)
			<-done
			if w := worst.Load(); w > int64(len(content)) {
				t.Errorf("meanwhile the status said %d bytes received of a %d-byte photo", w, len(content))
			}
		}},
		{name: "content of the right size but another checksum never completes the photo", run: func(t *testing.T, s *site, photo string) {
			forged := append([]byte{}, content...)
			forged[len(forged)-1] ^= 0xff
			for try := range 2 {
				code, _, ed := s.alex.upload(photo, 0, forged)
				if code != http.StatusUnprocessableEntity || ed.Code != contract.CodeChecksum {
					t.Fatalf("forged content, try %d: status %d %s, want 422 checksum_mismatch", try, code, ed.Code)
				}
				if st := s.alex.uploadStatus(photo); st.Received != 0 || st.Complete {
					t.Fatalf("after forged content the server holds %d bytes (complete %v)", st.Received, st.Complete)
				}
			}
			if code, _ := s.alex.download(photo); code != http.StatusNotFound {
				t.Errorf("downloading after forged content: status %d, want 404", code)
			}
			if rec := s.e.stored(photo); rec.ContentReady {
				t.Errorf("the photo is marked as having its content")
			}
		}},
		{name: "offsets that lie are refused and write nothing", run: func(t *testing.T, s *site, photo string) {
			if code, _, _ := s.alex.upload(photo, 0, content[:1000]); code != http.StatusOK {
				t.Fatalf("first chunk: %d", code)
			}
			for _, off := range []string{"-1", "999", "1001", "10000", "10001", "9223372036854775807", "9223372036854775808", "1e3", "0x3e8", "-0", " 1000", "1000.0", ""} {
				resp, b := s.alex.send("PUT", "/v1/photos/"+photo+"/content?offset="+url.QueryEscape(off), bytes.NewReader(content[1000:2000]), nil)
				if resp.StatusCode != http.StatusConflict && resp.StatusCode != http.StatusBadRequest {
					t.Errorf("offset %q: status %d (%s), want 409 or 400", off, resp.StatusCode, b)
				}
				if got := partialBytes(t, s.e, photo); !bytes.Equal(got, content[:1000]) {
					t.Fatalf("after offset %q the server holds %d bytes, want the first 1000 unchanged", off, len(got))
				}
			}
		}},
		{name: "two devices of the author racing with different content complete it only with the true content", run: func(t *testing.T, s *site, photo string) {
			tablet := s.e.login("alex", "alex-tablet")
			forged := append([]byte{}, content...)
			forged[0] ^= 0xff
			var wg sync.WaitGroup
			for _, up := range []struct {
				d *device
				b []byte
			}{{s.alex, content}, {tablet, forged}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, _ := up.d.send("PUT", "/v1/photos/"+photo+"/content?offset=0", bytes.NewReader(up.b), nil)
					if resp.StatusCode >= 500 {
						t.Errorf("racing upload: status %d", resp.StatusCode)
					}
				}()
			}
			wg.Wait()
			if st := s.alex.uploadStatus(photo); st.Complete {
				if got := partialBytes(t, s.e, photo); !bytes.Equal(got, content) {
					t.Errorf("the photo completed with content that is not its own")
				}
			} else if st.Received != 0 {
				t.Errorf("after the race the server holds %d bytes of an incomplete photo, want 0", st.Received)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t)
			op := s.alex.photo(s.job, "meter.jpg", content)
			s.alex.must(op)
			tc.run(t, s, op.RecordID)
			s.stillServing(t)
			// A device telling the truth finishes from where the server is.
			st := s.alex.uploadStatus(op.RecordID)
			if !st.Complete {
				code, st2, ed := s.alex.upload(op.RecordID, st.Received, content[st.Received:])
				if code != http.StatusOK || !st2.Complete {
					t.Fatalf("finishing from %d: status %d %+v %s", st.Received, code, st2, ed.Message)
				}
			}
			if code, got := s.alex.download(op.RecordID); code != http.StatusOK || !bytes.Equal(got, content) {
				t.Errorf("download: status %d, %d bytes, want the photo's %d", code, len(got), len(content))
			}
			if !s.e.stored(op.RecordID).ContentReady {
				t.Errorf("the finished photo is not marked as having its content")
			}
			noStrayFiles(t, s.e)
		})
	}
}

// flakyStore fails the next writes it is told to with ErrBusy, as a store
// under load does, after letting pass through the writes it is told to.
type flakyStore struct {
	server.Store
	pass, fail atomic.Int32
}

func (f *flakyStore) Write(ctx context.Context, fn func(server.Tx) error) error {
	if n := f.pass.Load(); n > 0 && f.pass.CompareAndSwap(n, n-1) {
		return f.Store.Write(ctx, fn)
	}
	if n := f.fail.Load(); n > 0 && f.fail.CompareAndSwap(n, n-1) {
		return server.ErrBusy
	}
	return f.Store.Write(ctx, fn)
}

// newFlakyEnv is newEnv over a store that fails writes on demand.
func newFlakyEnv(t *testing.T) (*env, *flakyStore) {
	t.Helper()
	dir := t.TempDir()
	st := teststore.Open(t, dir)
	fl := &flakyStore{Store: st}
	e := &env{t: t, store: st, users: map[string]contract.User{}, dir: dir}
	srv, err := server.New(server.Options{Store: fl, BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	for _, u := range []struct{ name, role string }{{"alex", "technician"}, {"dana", "dispatcher"}} {
		e.addUser(u.name, u.role)
	}
	e.ts = httptest.NewServer(e.srv)
	t.Cleanup(e.ts.Close) // before the store closes (teststore.Open)
	return e, fl
}

// TestPhotoContentIsAnnouncedEvenIfTheFirstTryFails: when the store is busy
// just as the last chunk completes a photo, the device is told to try
// again (503), and its retry must still tell everyone the content is there,
// though the file is already in place.
func TestPhotoContentIsAnnouncedEvenIfTheFirstTryFails(t *testing.T) {
	t.Parallel()
	e, fl := newFlakyEnv(t)
	dana, alex := e.login("dana", "office-pc"), e.login("alex", "alex-phone")
	job := e.job(dana, e.customer(dana, "Harbor Bakery"), "alex", "Replace pump seal", "12 Quay Street", day)
	content := fakeJPEG(12, 5000)
	photo := alex.photo(job, "seal.jpg", content)
	alex.must(photo)

	fl.pass.Store(1) // the write that records the chunk
	fl.fail.Store(1) // the write that announces the content
	code, _, ed := alex.upload(photo.RecordID, 0, content)
	if code != http.StatusServiceUnavailable || !ed.Retry {
		t.Fatalf("the last chunk while the store is busy: status %d %s retry %v, want 503 to retry", code, ed.Code, ed.Retry)
	}
	// The device sends the same request again, as told.
	if code, st, ed := alex.upload(photo.RecordID, 0, content); code != http.StatusOK || !st.Complete {
		t.Fatalf("the retry: status %d %+v %s", code, st, ed.Message)
	}
	if !e.stored(photo.RecordID).ContentReady {
		t.Errorf("the photo's content is on the server but the photo does not say so: other devices never fetch it")
	}
	dana.pull()
	if !dana.rec(photo.RecordID).ContentReady {
		t.Errorf("the office's pull does not show the photo's content as ready")
	}
}
