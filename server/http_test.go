package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/server"
)

// Bad input and auth at the HTTP level. After every bad request the server
// must still serve everyone else, and nothing of the bad request may be kept.

// site is a small working day: Alex's job for one customer, Sam's job for
// another, and a device for each user.
type site struct {
	e                          *env
	dana, sue, alex, sam, fran *device
	cust, job, samCust, samJob string
	samNote, samPhoto          string
	samPhotoContent            []byte
}

func newSite(t *testing.T) *site {
	e := newEnv(t)
	s := &site{e: e, dana: e.login("dana", "office-pc"), sue: e.login("sue", "supervisor-tablet"),
		alex: e.login("alex", "alex-phone"), sam: e.login("sam", "sam-phone"), fran: e.login("fran", "finance-pc")}
	s.cust = e.customer(s.dana, "Harbor Bakery")
	s.job = e.job(s.dana, s.cust, "alex", "Replace pump seal", "12 Quay Street", day)
	s.samCust = e.customer(s.dana, "Mill Lane Dental")
	s.samJob = e.job(s.dana, s.samCust, "sam", "Service compressor", "3 Mill Lane", day)
	s.samPhotoContent = fakeJPEG(9, 1024)
	note, photo := s.sam.note(s.samJob, "Compressor is noisy."), s.sam.photo(s.samJob, "compressor.jpg", s.samPhotoContent)
	s.sam.must(note)
	s.sam.must(photo)
	if code, _, ed := s.sam.upload(photo.RecordID, 0, s.samPhotoContent); code != http.StatusOK {
		t.Fatalf("Sam's photo content: %d %s", code, ed.Message)
	}
	s.samNote, s.samPhoto = note.RecordID, photo.RecordID
	for _, d := range []*device{s.dana, s.sue, s.alex, s.sam, s.fran} {
		d.pull()
	}
	return s
}

// stillServing checks that the server answers other users as before: Dana
// changes a customer and Sam pulls it.
func (s *site) stillServing(t *testing.T) {
	t.Helper()
	nick := "nick " + newID()[:8]
	base := map[string]int64{"profile": s.e.stored(s.samCust).Versions["profile"]}
	r := s.dana.push(s.dana.op("customer", s.samCust, contract.ActionUpdate, base, map[string]any{"nickname": nick}))[0]
	if r.Outcome != contract.Applied {
		t.Fatalf("after the bad request, Dana's edit was not applied: %s %s", r.Outcome, r.Message)
	}
	s.sam.pull()
	if got := s.sam.text(s.samCust, "nickname"); got != nick {
		t.Fatalf("after the bad request, Sam pulled nickname %q, want %q", got, nick)
	}
}

// notKept checks that an operation sent in a refused request left nothing
// behind: its record does not exist and its id was not stored, so sending
// it again applies it.
func (s *site) notKept(t *testing.T, d *device, op contract.Operation) {
	t.Helper()
	if rec := s.e.stored(op.RecordID); rec != nil {
		t.Errorf("%s %s from a refused request is on the server", op.RecordType, op.RecordID)
	}
	if r := d.push(op)[0]; r.Outcome != contract.Applied {
		t.Errorf("sending the operation again: got %s (%s), want applied the first time", r.Outcome, r.Message)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBadRequestsGetAClear4xxAndChangeNothing(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	cases := []struct {
		name string
		// request returns the method, path and body; good is an operation
		// the body carries that must not be applied.
		request    func(t *testing.T, s *site, good contract.Operation) (string, string, string)
		wantStatus int
		wantCode   contract.Code
		wantMsg    string
	}{
		{
			name: "malformed JSON is 400",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				return "POST", "/v1/push", `{"ops": [` + mustJSON(t, good) + `,`
			},
			wantStatus: 400, wantCode: contract.CodeInvalid, wantMsg: "malformed JSON",
		},
		{
			name: "an empty body is 400",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				return "POST", "/v1/push", ""
			},
			wantStatus: 400, wantCode: contract.CodeInvalid, wantMsg: "empty",
		},
		{
			name: "an unknown field in the request is 400 and named",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				return "POST", "/v1/push", `{"ops": [` + mustJSON(t, good) + `], "force": true}`
			},
			wantStatus: 400, wantCode: contract.CodeInvalid, wantMsg: `"force"`,
		},
		{
			name: "an unknown field in an operation is 400 and named",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				op := mustJSON(t, good)
				return "POST", "/v1/push", `{"ops": [` + op[:len(op)-1] + `, "priority": 1}]}`
			},
			wantStatus: 400, wantCode: contract.CodeInvalid, wantMsg: `"priority"`,
		},
		{
			name: "data after the JSON value is 400",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				return "POST", "/v1/push", `{"ops": [` + mustJSON(t, good) + `]} {"ops": []}`
			},
			wantStatus: 400, wantCode: contract.CodeInvalid, wantMsg: "after the JSON value",
		},
		{
			name: "a base version that is not a number is 400 and names the field",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				op := mustJSON(t, good)
				return "POST", "/v1/push", `{"ops": [` + op[:len(op)-1] + `, "bases": {"status": "v3"}}]}`
			},
			wantStatus: 400, wantCode: contract.CodeInvalid, wantMsg: "bases",
		},
		{
			name: "a device time that is not a time is 400",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				op := strings.Replace(mustJSON(t, good), `"device_time":"`, `"device_time":"yesterday`, 1)
				return "POST", "/v1/push", `{"ops": [` + op + `]}`
			},
			wantStatus: 400, wantCode: contract.CodeInvalid, wantMsg: "malformed JSON",
		},
		{
			name: "ops that are not a list is 400",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				return "POST", "/v1/push", `{"ops": ` + mustJSON(t, good) + `}`
			},
			wantStatus: 400, wantCode: contract.CodeInvalid, wantMsg: "ops",
		},
		{
			name: "a push without operations is 400",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				return "POST", "/v1/push", `{"ops": []}`
			},
			wantStatus: 400, wantCode: contract.CodeInvalid, wantMsg: "at least one operation",
		},
		{
			name: "a body over 8 MiB is 413",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				big := s.alex.note(s.job, strings.Repeat("a", 8*mib+1024))
				return "POST", "/v1/push", `{"ops": [` + mustJSON(t, good) + `,` + mustJSON(t, big) + `]}`
			},
			wantStatus: 413, wantCode: contract.CodeTooLarge, wantMsg: "limit",
		},
		{
			name: "a batch of 501 operations is 413 and says to split it",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				ops := []contract.Operation{good}
				for i := 0; i < 500; i++ {
					ops = append(ops, s.alex.note(s.job, fmt.Sprintf("note %d", i)))
				}
				return "POST", "/v1/push", mustJSON(t, contract.PushRequest{Ops: ops})
			},
			wantStatus: 413, wantCode: contract.CodeTooLarge, wantMsg: "at most 500",
		},
		{
			name: "a cursor the server did not give out is 400",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				return "GET", "/v1/pull?cursor=" + url.QueryEscape("../../etc/passwd"), ""
			},
			wantStatus: 400, wantCode: contract.CodeInvalid, wantMsg: "cursor",
		},
		{
			name: "a history of an unknown record type is 400",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				return "GET", "/v1/records/spaceship/" + s.job + "/history", ""
			},
			wantStatus: 400, wantCode: contract.CodeUnknownType, wantMsg: "spaceship",
		},
		{
			name: "an upload status of a photo id that is not a UUID is 400",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				return "GET", "/v1/photos/passwd/upload", ""
			},
			wantStatus: 400, wantCode: contract.CodeInvalid, wantMsg: "not a UUID",
		},
		{
			name: "resolving a review id that is not a UUID is 400",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				return "POST", "/v1/reviews/passwd/resolve", `{"op_id": "` + newID() + `", "choice": "server"}`
			},
			wantStatus: 400, wantCode: contract.CodeInvalid, wantMsg: "not a UUID",
		},
		{
			name: "an unknown endpoint is 404",
			request: func(t *testing.T, s *site, good contract.Operation) (string, string, string) {
				return "DELETE", "/v1/records/job/" + s.job, ""
			},
			wantStatus: 404, wantCode: contract.CodeNotFound, wantMsg: "no such endpoint",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t)
			good := s.alex.note(s.job, "Arrived on site.")
			method, path, body := tc.request(t, s, good)
			resp, b := s.alex.send(method, path, strings.NewReader(body), http.Header{"Content-Type": {"application/json"}})
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tc.wantStatus)
			}
			ed := errorOf(t, b)
			if ed.Code != tc.wantCode || !strings.Contains(ed.Message, tc.wantMsg) {
				t.Errorf("error %s %q, want %s saying %q", ed.Code, ed.Message, tc.wantCode, tc.wantMsg)
			}
			if ed.Retry {
				t.Errorf("a bad request is marked as worth retrying")
			}
			s.stillServing(t)
			s.notKept(t, s.alex, good)
			s.e.converged(nil, s.alex, s.dana)
			noStrayFiles(t, s.e)
		})
	}
}

func TestBadOperationsAreRefusedAndTheRestOfTheBatchApplies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		who      string
		op       func(s *site, d *device) contract.Operation
		wantCode contract.Code
		wantMsg  string
	}{
		{name: "an operation id that is not a UUID", who: "alex", wantCode: contract.CodeInvalid, wantMsg: "operation id",
			op: func(s *site, d *device) contract.Operation {
				op := d.note(s.job, "x")
				op.ID = "1"
				return op
			}},
		{name: "a record id with a path trick", who: "alex", wantCode: contract.CodeInvalid, wantMsg: "not a UUID",
			op: func(s *site, d *device) contract.Operation {
				op := d.note(s.job, "x")
				op.RecordID = "../../etc/passwd"
				return op
			}},
		{name: "a photo id with a path trick", who: "alex", wantCode: contract.CodeInvalid, wantMsg: "not a UUID",
			op: func(s *site, d *device) contract.Operation {
				op := d.photo(s.job, "passwd", []byte("root:x:0:0"))
				op.RecordID = "../../../etc/passwd"
				return op
			}},
		{name: "a photo's job id with a path trick", who: "alex", wantCode: contract.CodeBadValue, wantMsg: "job_id",
			op: func(s *site, d *device) contract.Operation {
				return d.op("photo", newID(), contract.ActionAppend, nil, map[string]any{"job_id": "../" + s.job,
					"size": 10, "sha256": strings.Repeat("ab", 32)})
			}},
		{name: "an unknown record type", who: "alex", wantCode: contract.CodeUnknownType, wantMsg: "spaceship",
			op: func(s *site, d *device) contract.Operation {
				return d.op("spaceship", newID(), contract.ActionCreate, nil, map[string]any{"name": "x"})
			}},
		{name: "an unknown action", who: "alex", wantCode: contract.CodeInvalid, wantMsg: "delete",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", s.job, "delete", nil, nil)
			}},
		{name: "an unknown field", who: "alex", wantCode: contract.CodeUnknownField, wantMsg: "priority",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", s.job, contract.ActionUpdate, d.bases(s.job, "work"), map[string]any{"priority": "high"})
			}},
		{name: "text where a number belongs", who: "alex", wantCode: contract.CodeBadValue, wantMsg: "labor_minutes",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", s.job, contract.ActionUpdate, d.bases(s.job, "work"), map[string]any{"labor_minutes": "lots"})
			}},
		{name: "a number in quotes", who: "alex", wantCode: contract.CodeBadValue, wantMsg: "labor_minutes",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", s.job, contract.ActionUpdate, d.bases(s.job, "work"), map[string]any{"labor_minutes": "45"})
			}},
		{name: "a fraction where a whole number belongs", who: "alex", wantCode: contract.CodeBadValue, wantMsg: "labor_minutes",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", s.job, contract.ActionUpdate, d.bases(s.job, "work"), map[string]any{"labor_minutes": 1.5})
			}},
		{name: "a negative count", who: "alex", wantCode: contract.CodeBadValue, wantMsg: "zero or more",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", s.job, contract.ActionUpdate, d.bases(s.job, "work"), map[string]any{"labor_minutes": -30})
			}},
		{name: "a time that is not a time", who: "alex", wantCode: contract.CodeBadValue, wantMsg: "completed_at",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", s.job, contract.ActionUpdate, d.bases(s.job, "work"), map[string]any{"completed_at": "after lunch"})
			}},
		{name: "a text over the length limit", who: "alex", wantCode: contract.CodeBadValue, wantMsg: "limit",
			op: func(s *site, d *device) contract.Operation {
				return d.note(s.job, strings.Repeat("é", 20001))
			}},
		{name: "a checksum that is not hex", who: "alex", wantCode: contract.CodeBadValue, wantMsg: "sha256",
			op: func(s *site, d *device) contract.Operation {
				return d.op("photo", newID(), contract.ActionAppend, nil, map[string]any{"job_id": s.job, "size": 10, "sha256": "../../etc/passwd"})
			}},
		{name: "a photo over the size limit", who: "alex", wantCode: contract.CodeTooLarge, wantMsg: "limit",
			op: func(s *site, d *device) contract.Operation {
				return d.op("photo", newID(), contract.ActionAppend, nil, map[string]any{"job_id": s.job, "size": 26 << 20, "sha256": strings.Repeat("ab", 32)})
			}},
		{name: "an illegal status move, with the moves allowed", who: "alex", wantCode: contract.CodeIllegalMove, wantMsg: "it can move to opened",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", s.job, contract.ActionTransition, d.bases(s.job, "status"), map[string]any{"status": "completed"})
			}},
		{name: "a status that does not exist", who: "alex", wantCode: contract.CodeBadValue, wantMsg: "not a state",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", s.job, contract.ActionTransition, d.bases(s.job, "status"), map[string]any{"status": "done-ish"})
			}},
		{name: "a missing base version", who: "alex", wantCode: contract.CodeBadBase, wantMsg: "base version",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", s.job, contract.ActionUpdate, nil, map[string]any{"labor_minutes": 30})
			}},
		{name: "a base version from the future", who: "alex", wantCode: contract.CodeBadBase, wantMsg: "newer",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", s.job, contract.ActionUpdate, map[string]int64{"work": 99}, map[string]any{"labor_minutes": 30})
			}},
		{name: "an assignee who is not a user", who: "dana", wantCode: contract.CodeNotFound, wantMsg: "no user",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", s.job, contract.ActionReassign, d.bases(s.job, "assignment"), map[string]any{"assignee": newID()})
			}},
		{name: "a job for a customer that does not exist", who: "dana", wantCode: contract.CodeNotFound, wantMsg: "customer",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", newID(), contract.ActionCreate, nil, map[string]any{"title": "Ghost", "customer_id": newID(), "assignee": s.e.users["alex"].ID})
			}},
		{name: "a new job without a title", who: "dana", wantCode: contract.CodeBadValue, wantMsg: "title",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", newID(), contract.ActionCreate, nil, map[string]any{"customer_id": s.cust, "assignee": s.e.users["alex"].ID})
			}},
		{name: "a new job that starts voided", who: "dana", wantCode: contract.CodeInvalid, wantMsg: "voided",
			op: func(s *site, d *device) contract.Operation {
				return d.op("job", newID(), contract.ActionCreate, nil, map[string]any{"title": "x", "customer_id": s.cust, "assignee": s.e.users["alex"].ID, "voided": true})
			}},
		{name: "a missing device id", who: "alex", wantCode: contract.CodeInvalid, wantMsg: "device_id",
			op: func(s *site, d *device) contract.Operation {
				op := d.note(s.job, "x")
				op.DeviceID = ""
				return op
			}},
		{name: "a missing device time", who: "alex", wantCode: contract.CodeInvalid, wantMsg: "device_time",
			op: func(s *site, d *device) contract.Operation {
				op := d.note(s.job, "x")
				op.DeviceTime = time.Time{}
				return op
			}},
		{name: "a record id already used by another type", who: "alex", wantCode: contract.CodeInvalid, wantMsg: "is a job",
			op: func(s *site, d *device) contract.Operation {
				op := d.note(s.job, "x")
				op.RecordID = s.job
				return op
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t)
			d := map[string]*device{"alex": s.alex, "dana": s.dana}[tc.who]
			before := s.e.stored(s.job)
			bad := tc.op(s, d)
			good := d.note(s.job, "Arrived on site.")
			got := d.push(bad, good)
			wantResult(t, "the bad operation", got[0], contract.Refused, tc.wantCode)
			if !strings.Contains(got[0].Message, tc.wantMsg) {
				t.Errorf("message %q does not say %q", got[0].Message, tc.wantMsg)
			}
			if got[0].Retry {
				t.Errorf("a bad operation is marked as worth retrying")
			}
			wantResult(t, "the good operation after it in the batch", got[1], contract.Applied, "")
			if after := s.e.stored(s.job); jsonDiff(before, after) != "" {
				t.Errorf("job changed by a refused operation: %s", jsonDiff(before, after))
			}
			if _, ok := contract.ValidUUID(bad.RecordID); ok && bad.RecordID != s.job {
				if rec := s.e.stored(bad.RecordID); rec != nil {
					t.Errorf("the refused operation's %s is on the server", rec.Type)
				}
			}
			s.stillServing(t)
			s.e.converged([]string{good.RecordID}, s.alex, s.dana)
			noStrayFiles(t, s.e)
		})
	}
}

func TestPathTricksInIdsReachNoFile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, path string
	}{
		{"dot segments in a photo id to upload", "PUT", "/v1/photos/../../etc/passwd/content?offset=0"},
		{"encoded slashes in a photo id to upload", "PUT", "/v1/photos/..%2F..%2Fetc%2Fpasswd/content?offset=0"},
		{"encoded dots in a photo id to upload", "PUT", "/v1/photos/%2e%2e%2f%2e%2e%2fpasswd/content?offset=0"},
		{"backslashes in a photo id to upload", "PUT", "/v1/photos/..%5C..%5Cetc%5Cpasswd/content?offset=0"},
		{"encoded slashes in a photo id to download the database", "GET", "/v1/photos/..%2F..%2Fserver.db/content"},
		{"encoded slashes in a photo id to ask for upload status", "GET", "/v1/photos/..%2Fserver.db/upload"},
		{"encoded slashes in a record id for its history", "GET", "/v1/records/job/..%2F..%2Fetc%2Fpasswd/history"},
		{"encoded slashes in a record type for a history", "GET", "/v1/records/..%2Fjob/00000000-0000-0000-0000-000000000000/history"},
		{"encoded slashes in a review id to resolve", "POST", "/v1/reviews/..%2F..%2Fetc%2Fpasswd/resolve"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t)
			body := `root:x:0:0:root:/root:/bin/sh`
			if tc.method == "POST" {
				body = `{"op_id": "` + newID() + `", "choice": "server"}`
			}
			resp, b := s.alex.send(tc.method, tc.path, strings.NewReader(body), nil)
			if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 {
				// The router cleans dot segments and redirects; wherever
				// that leads, it is no endpoint.
				if strings.HasPrefix(loc, "/v1/") {
					t.Fatalf("redirected to %s, inside the API", loc)
				}
				resp, b = s.alex.send(tc.method, loc, strings.NewReader(body), nil)
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("following the redirect to %s: status %d, want 404", loc, resp.StatusCode)
				}
			} else if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d (%s), want 400", resp.StatusCode, b)
			}
			if ed := errorOf(t, b); ed.Message == "" {
				t.Errorf("no message saying what was wrong")
			}
			if bytes.Contains(b, []byte("root:")) || bytes.Contains(b, []byte("SQLite format")) {
				t.Errorf("the answer carries a file's content: %q", b)
			}
			s.stillServing(t)
			noStrayFiles(t, s.e)
		})
	}
}

// noStrayFiles checks that nothing was written beside the test's database
// and blob directory, and that blobs are named by lower-case UUIDs.
func noStrayFiles(t *testing.T, e *env) {
	t.Helper()
	blob := regexp.MustCompile(`^blobs/(photos/[0-9a-f]{2}/[0-9a-f-]{36}|partial/[0-9a-f-]{36}/[0-9]{20}-[0-9a-f]{16})$`)
	root := filepath.Dir(e.dir) // one level up, where "../" would land
	err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(e.dir, path)
		rel = filepath.ToSlash(rel)
		switch {
		case strings.HasPrefix(rel, "../"):
			t.Errorf("file %s written outside the server's directory", path)
		case strings.HasPrefix(rel, "server.db"):
		case !blob.MatchString(rel):
			t.Errorf("unexpected file %s in the server's directory", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPhotoContentUploads(t *testing.T) {
	t.Parallel()
	content := fakeJPEG(3, 10_000)
	cases := []struct {
		name string
		run  func(t *testing.T, s *site, photo string)
	}{
		{name: "an upload longer than the declared size is 413 and keeps nothing of it", run: func(t *testing.T, s *site, photo string) {
			code, _, ed := s.alex.upload(photo, 0, append(append([]byte{}, content...), "extra"...))
			if code != http.StatusRequestEntityTooLarge || ed.Code != contract.CodeTooLarge || !strings.Contains(ed.Message, "declared size") {
				t.Fatalf("too long: status %d %s %q, want 413 too_large about the declared size", code, ed.Code, ed.Message)
			}
			if st := s.alex.uploadStatus(photo); st.Received != 0 || st.Complete {
				t.Errorf("after a refused chunk the server holds %d bytes, want 0", st.Received)
			}
		}},
		{name: "a checksum mismatch is 422 and a correct upload from 0 then works", run: func(t *testing.T, s *site, photo string) {
			wrong := fakeJPEG(4, len(content))
			code, _, ed := s.alex.upload(photo, 0, wrong)
			if code != http.StatusUnprocessableEntity || ed.Code != contract.CodeChecksum || !strings.Contains(ed.Message, "offset 0") {
				t.Fatalf("wrong content: status %d %s %q, want 422 checksum_mismatch saying to start from offset 0", code, ed.Code, ed.Message)
			}
			if st := s.alex.uploadStatus(photo); st.Received != 0 || st.Complete {
				t.Errorf("after a mismatch the server holds %d bytes (complete %v), want 0", st.Received, st.Complete)
			}
			if code, _ := s.alex.download(photo); code != http.StatusNotFound {
				t.Errorf("downloading a photo whose content was discarded: status %d, want 404", code)
			}
		}},
		{name: "an interrupted upload resumes from the byte the server has", run: func(t *testing.T, s *site, photo string) {
			half := int64(len(content) / 2)
			if code, st, _ := s.alex.upload(photo, 0, content[:half]); code != http.StatusOK || st.Received != half {
				t.Fatalf("first half: status %d, received %d", code, st.Received)
			}
			resp, b := s.alex.send("GET", "/v1/photos/"+photo+"/upload", nil, nil)
			var st contract.UploadStatus
			_ = json.Unmarshal(b, &st)
			if resp.StatusCode != http.StatusOK || st.Received != half || st.Complete || st.Size != int64(len(content)) || resp.Header.Get("Upload-Offset") != fmt.Sprint(half) {
				t.Fatalf("upload status: %d %+v, Upload-Offset %q; want %d of %d bytes received", resp.StatusCode, st, resp.Header.Get("Upload-Offset"), half, len(content))
			}
			for _, off := range []int64{0, half - 1, half + 1} {
				code, _, ed := s.alex.upload(photo, off, content[off:])
				if code != http.StatusConflict || ed.Code != contract.CodeOffset || !strings.Contains(ed.Message, fmt.Sprintf("from offset %d", half)) {
					t.Errorf("resuming from %d: status %d %s %q, want 409 saying to send from %d", off, code, ed.Code, ed.Message, half)
				}
			}
		}},
		{name: "a connection cut mid-upload keeps what arrived", run: func(t *testing.T, s *site, photo string) {
			cut := 4000
			conn, err := net.Dial("tcp", s.e.ts.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "PUT /v1/photos/%s/content?offset=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", photo, s.alex.token, len(content))
			conn.Write(content[:cut])
			time.Sleep(50 * time.Millisecond)
			conn.Close()
			deadline := time.Now().Add(5 * time.Second)
			for s.alex.uploadStatus(photo).Received != int64(cut) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if st := s.alex.uploadStatus(photo); st.Received != int64(cut) || st.Complete {
				t.Fatalf("after the cut the server says %d bytes (complete %v), want the %d that arrived", st.Received, st.Complete, cut)
			}
		}},
		{name: "someone else cannot upload a technician's photo", run: func(t *testing.T, s *site, photo string) {
			if code, _, ed := s.dana.upload(photo, 0, content); code != http.StatusForbidden || ed.Code != contract.CodeForbidden {
				t.Errorf("Dana uploading Alex's photo: status %d %s, want 403", code, ed.Code)
			}
			if code, _, ed := s.sam.upload(photo, 0, content); code != http.StatusNotFound {
				t.Errorf("Sam, who cannot see the job, uploading Alex's photo: status %d %s, want 404", code, ed.Code)
			}
			if st := s.alex.uploadStatus(photo); st.Received != 0 {
				t.Errorf("the server holds %d bytes from other people's uploads", st.Received)
			}
		}},
		{name: "content for a photo whose metadata was refused has nowhere to go", run: func(t *testing.T, s *site, _ string) {
			big := s.alex.op("photo", newID(), contract.ActionAppend, nil, map[string]any{"job_id": s.job, "size": 26 << 20, "sha256": strings.Repeat("ab", 32)})
			wantResult(t, "a photo over the limit", s.alex.push(big)[0], contract.Refused, contract.CodeTooLarge)
			if code, _, ed := s.alex.upload(big.RecordID, 0, content); code != http.StatusNotFound || !strings.Contains(ed.Message, "metadata") {
				t.Errorf("uploading it anyway: status %d %q, want 404 saying to push the metadata first", code, ed.Message)
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

			// Whatever happened, the device asks where to go on and finishes.
			st := s.alex.uploadStatus(op.RecordID)
			code, st, ed := s.alex.upload(op.RecordID, st.Received, content[st.Received:])
			if code != http.StatusOK || !st.Complete {
				t.Fatalf("finishing the upload: status %d %+v %s", code, st, ed.Message)
			}
			if code, got := s.alex.download(op.RecordID); code != http.StatusOK || !bytes.Equal(got, content) {
				t.Errorf("download: status %d, %d bytes, want the %d bytes of the photo", code, len(got), len(content))
			}
			// A retry of the last chunk after completion changes nothing.
			if code, st, _ := s.alex.upload(op.RecordID, 0, content); code != http.StatusOK || !st.Complete || st.Received != int64(len(content)) {
				t.Errorf("re-sending a finished photo: status %d %+v, want complete", code, st)
			}
			s.stillServing(t)
			s.e.converged([]string{op.RecordID}, s.alex, s.dana)
			if !s.alex.rec(op.RecordID).ContentReady {
				t.Errorf("Alex's device does not show the photo's content as on the server")
			}
			noStrayFiles(t, s.e)
		})
	}
}

func TestSignInAndTokens(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// token returns the Authorization header to send; "" sends none.
		token   func(t *testing.T, s *site) string
		wantMsg string
	}{
		{name: "no token is 401", wantMsg: "sign in", token: func(*testing.T, *site) string { return "" }},
		{name: "a token in the wrong scheme is 401", wantMsg: "sign in", token: func(_ *testing.T, s *site) string { return "Basic " + s.alex.token }},
		{name: "a made-up token is 401", wantMsg: "not valid", token: func(*testing.T, *site) string { return "Bearer " + strings.Repeat("A", 43) }},
		{name: "a token after signing out is 401", wantMsg: "signed out", token: func(t *testing.T, s *site) string {
			old := relogin(t, s, "alex", "old-phone")
			resp, _ := old.send("POST", "/v1/logout", nil, nil)
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("logout: status %d", resp.StatusCode)
			}
			return "Bearer " + old.token
		}},
		{name: "an expired token is 401", wantMsg: "expired", token: func(t *testing.T, s *site) string {
			old := s.alex.token
			s.e.advance(31 * 24 * time.Hour)
			// Everyone signs in again after a month away.
			s.dana, s.sam = relogin(t, s, "dana", "office-pc"), relogin(t, s, "sam", "sam-phone")
			return "Bearer " + old
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t)
			auth := tc.token(t, s)
			good := s.alex.note(s.job, "Arrived on site.")
			for _, req := range []struct{ method, path, body string }{
				{"POST", "/v1/push", mustJSON(t, contract.PushRequest{Ops: []contract.Operation{good}})},
				{"GET", "/v1/pull", ""},
				{"GET", "/v1/reviews", ""},
				{"GET", "/v1/photos/" + s.samPhoto + "/content", ""},
			} {
				h := http.Header{}
				if auth != "" {
					h.Set("Authorization", auth)
				}
				anon := &device{e: s.e, t: t, name: "nobody"}
				resp, b := anon.send(req.method, req.path, strings.NewReader(req.body), h)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s: status %d, want 401", req.method, req.path, resp.StatusCode)
					continue
				}
				if ed := errorOf(t, b); ed.Code != contract.CodeUnauthorized || !strings.Contains(ed.Message, tc.wantMsg) {
					t.Errorf("%s %s: %s %q, want unauthorized saying %q", req.method, req.path, ed.Code, ed.Message, tc.wantMsg)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s: 401 without WWW-Authenticate", req.method, req.path)
				}
				if bytes.Contains(b, s.samPhotoContent[:64]) || bytes.Contains(b, []byte("Harbor Bakery")) {
					t.Errorf("%s %s: a 401 answer carries data", req.method, req.path)
				}
			}
			s.stillServing(t)
			s.alex = relogin(t, s, "alex", "alex-phone")
			s.notKept(t, s.alex, good)
		})
	}
}

// relogin signs a user in from a device and pulls.
func relogin(t *testing.T, s *site, user, deviceID string) *device {
	t.Helper()
	d := s.e.login(user, deviceID)
	d.pull()
	return d
}

func TestLoginRefusesBadCredentials(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		body       string
		wantStatus int
		wantMsg    string
	}{
		{"a wrong password is 401", `{"username": "alex", "password": "password2", "device_id": "p"}`, 401, "wrong username or password"},
		{"an unknown user is 401 with the same words", `{"username": "mallory", "password": "password1", "device_id": "p"}`, 401, "wrong username or password"},
		{"a missing device id is 400", `{"username": "alex", "password": "password1"}`, 400, "device_id"},
		{"a missing password is 400", `{"username": "alex", "device_id": "p"}`, 400, "password"},
		{"an unknown field is 400", `{"username": "alex", "password": "password1", "device_id": "p", "admin": true}`, 400, `"admin"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t)
			anon := &device{e: s.e, t: t, name: "nobody"}
			resp, b := anon.send("POST", "/v1/login", strings.NewReader(tc.body), http.Header{"Content-Type": {"application/json"}})
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tc.wantStatus)
			}
			if ed := errorOf(t, b); !strings.Contains(ed.Message, tc.wantMsg) {
				t.Errorf("message %q, want it to say %q", ed.Message, tc.wantMsg)
			}
			if bytes.Contains(b, []byte("token")) {
				t.Errorf("a refused login answers a token: %s", b)
			}
			s.stillServing(t)
		})
	}
}

func TestRolesAndOwnership(t *testing.T) {
	t.Parallel()
	t.Run("a technician resolving a review is 403 and the review stays open", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		s.alex.move(s.job, "opened", "in_progress")
		stale := s.alex.bases(s.job, "status")
		s.dana.pull()
		s.dana.must(s.dana.op("job", s.job, contract.ActionTransition, s.dana.bases(s.job, "status"), map[string]any{"status": "waiting_for_approval"}))
		held := s.alex.push(s.alex.op("job", s.job, contract.ActionTransition, stale, map[string]any{"status": "completed"}))[0]
		wantResult(t, "Alex's stale move", held, contract.Held, contract.CodeConflict)

		code, _, ed := s.alex.resolve(held.ReviewID, contract.ResolveRequest{Choice: contract.TakeDevice})
		if code != http.StatusForbidden || ed.Code != contract.CodeForbidden || !strings.Contains(ed.Message, "Only") {
			t.Fatalf("Alex resolving: status %d %s %q, want 403 saying who can", code, ed.Code, ed.Message)
		}
		if rv := s.e.storedReview(held.ReviewID); rv.Status != "open" || s.e.status(s.job) != "waiting_for_approval" {
			t.Errorf("after a refused resolve: review %s, job %s; want open and unchanged", rv.Status, s.e.status(s.job))
		}
		s.stillServing(t)
		sues := contract.ResolveRequest{OpID: newID(), Choice: contract.KeepServer}
		if code, _, ed := s.sue.resolve(held.ReviewID, sues); code != http.StatusOK {
			t.Fatalf("Sue resolving after: status %d %s", code, ed.Message)
		}
		// Sue's reply was lost; her tablet sends the same resolution again.
		if code, res, ed := s.sue.resolve(held.ReviewID, sues); code != http.StatusOK || res.Outcome != contract.AlreadyApplied {
			t.Errorf("Sue's retry: status %d %s %s, want 200 already_applied", code, res.Outcome, ed.Message)
		}
		if code, _, ed := s.dana.resolve(held.ReviewID, contract.ResolveRequest{Choice: contract.TakeDevice}); code != http.StatusConflict || ed.Code != contract.CodeResolved || !strings.Contains(ed.Message, "sue") {
			t.Errorf("resolving twice: status %d %s %q, want 409 saying sue resolved it", code, ed.Code, ed.Message)
		}
		s.e.converged([]string{s.job}, s.alex, s.dana, s.sue)
	})

	t.Run("a technician never pulls another technician's job, its items or customer, nor invoices", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		inv := s.fran.op("invoice", newID(), contract.ActionCreate, nil, map[string]any{"job_id": s.job, "customer_id": s.cust,
			"lines": []contract.InvoiceLine{{Description: "Seal", Quantity: 1, UnitCents: 4200}}, "total": 4200})
		wantResult(t, "Fran's invoice for Alex's job", s.fran.push(inv)[0], contract.Applied, "")
		// A fresh device pulls everything Alex may see.
		fresh := relogin(t, s, "alex", "alex-tablet")
		for _, hidden := range []struct{ what, id string }{
			{"Sam's job", s.samJob}, {"Sam's note", s.samNote}, {"Sam's photo", s.samPhoto},
			{"Sam's customer", s.samCust}, {"the invoice of Alex's own job", inv.RecordID},
		} {
			if _, ok := fresh.records[hidden.id]; ok {
				t.Errorf("Alex pulled %s", hidden.what)
			}
		}
		for _, seen := range []string{s.job, s.cust} {
			if _, ok := fresh.records[seen]; !ok {
				t.Errorf("Alex did not pull his own job and its customer (%s)", seen)
			}
		}
		for _, r := range fresh.records {
			if r.Type == "invoice" {
				t.Errorf("Alex pulled an invoice")
			}
		}
		for path, want := range map[string]int{
			"/v1/records/job/" + s.samJob + "/history":         404,
			"/v1/records/note/" + s.samNote + "/history":       404,
			"/v1/records/invoice/" + inv.RecordID + "/history": 404,
			"/v1/photos/" + s.samPhoto + "/content":            404,
			"/v1/photos/" + s.samPhoto + "/upload":             404,
		} {
			resp, b := fresh.send("GET", path, nil, nil)
			if resp.StatusCode != want || bytes.Contains(b, []byte("Compressor")) || bytes.Contains(b, s.samPhotoContent[:64]) {
				t.Errorf("GET %s as Alex: status %d, want %d without the data", path, resp.StatusCode, want)
			}
		}
		r := fresh.push(fresh.note(s.samJob, "Can I help?"))[0]
		wantResult(t, "Alex's note on Sam's job", r, contract.Refused, contract.CodeForbidden)
		// Sam, Dana and Fran see what is theirs.
		s.e.converged([]string{s.samJob, s.samNote, s.samPhoto, s.samCust}, s.sam)
		s.e.converged([]string{inv.RecordID, s.job, s.samJob}, s.fran, s.dana)
		s.e.converged([]string{s.job, s.cust}, fresh)
	})

	t.Run("finance creates invoices but cannot change jobs", func(t *testing.T) {
		t.Parallel()
		s := newSite(t)
		inv := s.fran.op("invoice", newID(), contract.ActionCreate, nil, map[string]any{"job_id": s.job, "customer_id": s.cust, "total": 4200})
		wantResult(t, "Fran's invoice", s.fran.push(inv)[0], contract.Applied, "")
		before := s.e.stored(s.job)
		for _, op := range []contract.Operation{
			s.fran.note(s.job, "Invoice sent."),
			s.fran.part(s.job, "SEAL-40", 1),
			s.fran.op("job", s.job, contract.ActionUpdate, s.fran.bases(s.job, "summary"), map[string]any{"title": "Paid"}),
			s.fran.op("job", s.job, contract.ActionTransition, s.fran.bases(s.job, "status"), map[string]any{"status": "opened"}),
			s.fran.op("job", s.job, contract.ActionReassign, s.fran.bases(s.job, "assignment"), map[string]any{"assignee": s.e.users["fran"].ID}),
			s.fran.op("job", s.job, contract.ActionVoid, s.fran.bases(s.job, "lifecycle"), nil),
			s.fran.op("job", newID(), contract.ActionCreate, nil, map[string]any{"title": "x", "customer_id": s.cust}),
		} {
			r := s.fran.push(op)[0]
			wantResult(t, fmt.Sprintf("Fran's %s on a %s", op.Action, op.RecordType), r, contract.Refused, contract.CodeForbidden)
			if !strings.Contains(r.Message, "Only") {
				t.Errorf("Fran's %s: message %q does not say who can", op.Action, r.Message)
			}
		}
		if diff := jsonDiff(before, s.e.stored(s.job)); diff != "" {
			t.Errorf("finance's refused pushes changed the job: %s", diff)
		}
		// Others may not make invoices.
		for _, d := range []*device{s.dana, s.alex} {
			op := d.op("invoice", newID(), contract.ActionCreate, nil, map[string]any{"customer_id": s.cust, "total": 1})
			wantResult(t, d.name+"'s invoice", d.push(op)[0], contract.Refused, contract.CodeForbidden)
		}
		s.stillServing(t)
		s.e.converged([]string{inv.RecordID, s.job}, s.fran, s.dana)
	})
}

func TestBadResolutionsAreRefusedAndTheReviewStaysOpen(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		review     func(heldID string) string
		req        func(heldOp string) contract.ResolveRequest
		wantStatus int
		wantCode   contract.Code
		wantMsg    string
	}{
		{name: "an unknown choice", wantStatus: 400, wantCode: contract.CodeBadValue, wantMsg: "choice",
			req: func(string) contract.ResolveRequest { return contract.ResolveRequest{Choice: "coin_toss"} }},
		{name: "a typed value without a value", wantStatus: 400, wantCode: contract.CodeBadValue, wantMsg: "needs values",
			req: func(string) contract.ResolveRequest { return contract.ResolveRequest{Choice: contract.TypeValue} }},
		{name: "a typed status that is not a state", wantStatus: 400, wantCode: contract.CodeBadValue, wantMsg: "not a state",
			req: func(string) contract.ResolveRequest {
				return contract.ResolveRequest{Choice: contract.TypeValue, Values: map[string]json.RawMessage{"status": contract.Text("banana")}}
			}},
		{name: "a typed value for a field of another group", wantStatus: 400, wantCode: contract.CodeBadValue, wantMsg: "title",
			req: func(string) contract.ResolveRequest {
				return contract.ResolveRequest{Choice: contract.TypeValue, Values: map[string]json.RawMessage{"title": contract.Text("x")}}
			}},
		{name: "taking a device version that is not in the review", wantStatus: 404, wantCode: contract.CodeNotFound, wantMsg: "no device version",
			req: func(string) contract.ResolveRequest {
				return contract.ResolveRequest{Choice: contract.TakeDevice, Entry: newID()}
			}},
		{name: "a duplicate's choice on a conflict", wantStatus: 400, wantCode: contract.CodeBadValue, wantMsg: "choice",
			req: func(string) contract.ResolveRequest { return contract.ResolveRequest{Choice: contract.Merge} }},
		{name: "a resolution without an operation id", wantStatus: 400, wantCode: contract.CodeInvalid, wantMsg: "op_id",
			req: func(string) contract.ResolveRequest {
				return contract.ResolveRequest{OpID: "retry-me", Choice: contract.KeepServer}
			}},
		{name: "a review that does not exist", wantStatus: 404, wantCode: contract.CodeNotFound, wantMsg: "no review",
			review: func(string) string { return newID() },
			req:    func(string) contract.ResolveRequest { return contract.ResolveRequest{Choice: contract.KeepServer} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t)
			s.alex.move(s.job, "opened", "in_progress")
			stale := s.alex.bases(s.job, "status")
			s.dana.pull()
			s.dana.must(s.dana.op("job", s.job, contract.ActionTransition, s.dana.bases(s.job, "status"), map[string]any{"status": "waiting_for_approval"}))
			statusOp := s.alex.op("job", s.job, contract.ActionTransition, stale, map[string]any{"status": "completed"})
			held := s.alex.push(statusOp)[0]
			wantResult(t, "Alex's stale move", held, contract.Held, contract.CodeConflict)
			before := s.e.stored(s.job)

			id := held.ReviewID
			if tc.review != nil {
				id = tc.review(id)
			}
			code, _, ed := s.sue.resolve(id, tc.req(statusOp.ID))
			if code != tc.wantStatus || ed.Code != tc.wantCode || !strings.Contains(ed.Message, tc.wantMsg) {
				t.Errorf("status %d %s %q, want %d %s saying %q", code, ed.Code, ed.Message, tc.wantStatus, tc.wantCode, tc.wantMsg)
			}
			if rv := s.e.storedReview(held.ReviewID); rv.Status != "open" {
				t.Errorf("review is %s after a refused resolution, want open", rv.Status)
			}
			if diff := jsonDiff(before, s.e.stored(s.job)); diff != "" {
				t.Errorf("a refused resolution changed the job: %s", diff)
			}
			// The same person can still resolve it properly.
			if code, _, ed := s.sue.resolve(held.ReviewID, contract.ResolveRequest{Choice: contract.TakeDevice, Entry: statusOp.ID}); code != http.StatusOK {
				t.Fatalf("resolving properly after: status %d %s", code, ed.Message)
			}
			if got := s.e.status(s.job); got != "completed" {
				t.Errorf("after taking Alex's version the job is %s, want completed", got)
			}
			s.e.converged([]string{s.job}, s.alex, s.sue, s.dana)
		})
	}
}

func TestPullPagesThroughEverythingOnce(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	var ops []contract.Operation
	for i := 0; i < 7; i++ {
		ops = append(ops, s.alex.note(s.job, fmt.Sprintf("note %d", i)))
	}
	s.alex.push(ops...)
	// Make a review as well, so records and reviews interleave.
	s.alex.move(s.job, "opened", "in_progress")
	stale := s.alex.bases(s.job, "status")
	s.dana.pull()
	s.dana.must(s.dana.op("job", s.job, contract.ActionTransition, s.dana.bases(s.job, "status"), map[string]any{"status": "waiting_for_approval"}))
	wantResult(t, "stale move", s.alex.push(s.alex.op("job", s.job, contract.ActionTransition, stale, map[string]any{"status": "completed"}))[0], contract.Held, contract.CodeConflict)

	for _, limit := range []int{1, 2, 3, 1000} {
		whole := relogin(t, s, "alex", fmt.Sprintf("whole-%d", limit)) // everything in one pull
		t.Run(fmt.Sprintf("pages of %d", limit), func(t *testing.T) {
			paged := &device{e: s.e, t: t, name: "alex", token: whole.token}
			seen := map[string]int{}
			cursor, pages := "", 0
			for {
				var page contract.PullResponse
				if code := paged.call("GET", fmt.Sprintf("/v1/pull?limit=%d&cursor=%s", limit, cursor), nil, &page); code != http.StatusOK {
					t.Fatalf("pull: status %d", code)
				}
				pages++
				if n := len(page.Records) + len(page.Reviews); n > limit {
					t.Fatalf("a page of %d entries, over the limit of %d", n, limit)
				}
				for _, r := range page.Records {
					seen["record "+r.ID]++
				}
				for _, r := range page.Reviews {
					seen["review "+r.ID]++
				}
				cursor = page.Cursor
				if !page.More {
					break
				}
				if pages > 100 {
					t.Fatalf("pulling never ends")
				}
			}
			want := len(whole.records) + len(whole.reviews)
			if len(seen) != want {
				t.Errorf("paged pull saw %d entries, one pull %d", len(seen), want)
			}
			for k, n := range seen {
				if n != 1 {
					t.Errorf("%s came %d times", k, n)
				}
			}
			for id := range whole.records {
				if seen["record "+id] == 0 {
					t.Errorf("paged pull missed record %s", id)
				}
			}
		})
	}
}

// TestHealthSaysWhichPartIsDown: a load balancer asks /healthz; when the
// photo store cannot take writes, the server must say so, or it would be
// sent uploads it cannot keep.
func TestHealthSaysWhichPartIsDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anon := &device{e: e, t: t, name: "balancer"}
	if resp, b := anon.send("GET", "/healthz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: status %d %s, want 200", resp.StatusCode, b)
	}
	if err := os.RemoveAll(filepath.Join(e.dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	resp, b := anon.send("GET", "/healthz", nil, nil)
	if ed := errorOf(t, b); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(ed.Message, "photo store") || strings.Contains(ed.Message, "database") {
		t.Errorf("/healthz with the photo store gone: status %d %s, want 503 naming the photo store alone", resp.StatusCode, b)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	anon := &device{e: s.e, t: t, name: "monitor"}
	resp, b := anon.send("GET", "/healthz", nil, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"ok"`)) {
		t.Errorf("/healthz: status %d %s, want 200 ok", resp.StatusCode, b)
	}
	resp, b = anon.send("GET", "/metrics", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: status %d", resp.StatusCode)
	}
	applied := regexp.MustCompile(`(?m)^fieldsync_operations_total\{outcome="applied"\} ([0-9]+)$`).FindSubmatch(b)
	if applied == nil || string(applied[1]) == "0" {
		t.Errorf("/metrics does not count the applied operations:\n%s", firstLines(b, "fieldsync_"))
	}
	// A store with a connection pool and concurrent writers (PostgreSQL)
	// says how its pool and its retries fare.
	if _, ok := s.e.store.(server.StatsReporter); ok {
		for _, series := range []string{"fieldsync_store_write_retries_total", "fieldsync_store_conns_in_use", "fieldsync_store_conns_max", "fieldsync_store_conn_waits_total", "fieldsync_feed_lag_seconds"} {
			if !regexp.MustCompile(`(?m)^` + series + ` [0-9.e+-]+$`).Match(b) {
				t.Errorf("/metrics lacks %s:\n%s", series, firstLines(b, "fieldsync_"))
			}
		}
		if max := regexp.MustCompile(`(?m)^fieldsync_store_conns_max ([0-9]+)$`).FindSubmatch(b); max == nil || string(max[1]) == "0" {
			t.Errorf("/metrics says the pool opens no connections:\n%s", firstLines(b, "fieldsync_store"))
		}
	}
}

// firstLines returns the lines of b that start with prefix.
func firstLines(b []byte, prefix string) string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			out = append(out, sc.Text())
		}
	}
	return strings.Join(out, "\n")
}

// A push is read the same however it arrives: with its size stated or
// chunked, in the shape devices send or in one only encoding/json reads.
// The answer states its size.
func TestPushBodiesOfEveryShapeAreRead(t *testing.T) {
	s := newSite(t)
	push := func(name string, body io.Reader) contract.PushResponse {
		t.Helper()
		// As it is: a compressed answer states its size too, which is
		// checked in compress_test.go.
		resp, b := s.alex.send("POST", "/v1/push", body, http.Header{"Content-Type": {"application/json"}, "Accept-Encoding": {"identity"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", name, resp.StatusCode, b)
		}
		if resp.ContentLength != int64(len(b)) {
			t.Errorf("%s: the answer says %d bytes and has %d", name, resp.ContentLength, len(b))
		}
		var out contract.PushResponse
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return out
	}
	applied := func(name string, out contract.PushResponse, op contract.Operation, text string) {
		t.Helper()
		if len(out.Results) != 1 || out.Results[0].Outcome != contract.Applied || out.Results[0].OpID != op.ID {
			t.Fatalf("%s: results %+v", name, out.Results)
		}
		if got := s.e.stored(op.RecordID); got == nil || got.Text("text") != text {
			t.Fatalf("%s: the server keeps %+v", name, got)
		}
	}
	body := func(op contract.Operation) []byte {
		b, err := json.Marshal(contract.PushRequest{Ops: []contract.Operation{op}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	sized := s.alex.note(s.job, "Sized body.")
	applied("sized", push("sized", bytes.NewReader(body(sized))), sized, "Sized body.")

	// A reader that is not a *bytes.Reader leaves the size unknown: chunked.
	chunked := s.alex.note(s.job, "Chunked body.")
	applied("chunked", push("chunked", io.MultiReader(bytes.NewReader(body(chunked)))), chunked, "Chunked body.")

	// encoding/json matches member names whatever their case; so does the
	// server, by leaving such bodies to it.
	cased := s.alex.note(s.job, "Odd case.")
	odd := bytes.Replace(body(cased), []byte(`"record_type"`), []byte(`"Record_Type"`), 1)
	applied("odd case", push("odd case", bytes.NewReader(odd)), cased, "Odd case.")

	unknown := bytes.Replace(body(s.alex.note(s.job, "Unknown member.")), []byte(`"device_id"`), []byte(`"device":"x","device_id"`), 1)
	resp, b := s.alex.send("POST", "/v1/push", bytes.NewReader(unknown), nil)
	if ed := errorOf(t, b); resp.StatusCode != http.StatusBadRequest || !strings.Contains(ed.Message, `unknown field "device"`) {
		t.Fatalf("unknown member: status %d, %q", resp.StatusCode, ed.Message)
	}
}
