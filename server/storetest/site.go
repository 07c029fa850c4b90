package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/server"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// password is every user's password.
const password = "password1"

// day is the working day the jobs are scheduled on.
var day = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// site is a real server over the store under test, served on loopback,
// with alex and sam (technicians), dana (dispatcher), sue (supervisor) and
// ada (admin).
type site struct {
	t     *testing.T
	store server.Store
	srv   *server.Server
	ts    *httptest.Server
	// other is a second server over the same store and blob directory, as
	// a second instance behind a load balancer would be.
	other *httptest.Server
	blobs string
	users map[string]contract.User
}

func newSite(t *testing.T, open func(t *testing.T) server.Store) *site {
	t.Helper()
	st := open(t)
	blobs := filepath.Join(t.TempDir(), "blobs")
	srv, err := server.New(server.Options{Store: st, BlobDir: blobs})
	if err != nil {
		t.Fatal(err)
	}
	other, err := server.New(server.Options{Store: st, BlobDir: blobs})
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, store: st, srv: srv, blobs: blobs, users: map[string]contract.User{}}
	for _, u := range []struct{ name, role string }{
		{"alex", "technician"}, {"sam", "technician"}, {"dana", "dispatcher"},
		{"sue", "supervisor"}, {"ada", "admin"},
	} {
		s.users[u.name] = s.addUser(u.name, u.role)
	}
	s.ts, s.other = httptest.NewServer(srv), httptest.NewServer(other)
	t.Cleanup(s.ts.Close)
	t.Cleanup(s.other.Close)
	return s
}

func (s *site) addUser(name, role string) contract.User {
	s.t.Helper()
	u, err := s.srv.AddUser(context.Background(), server.NewUser{Name: name, Role: role, Password: password, Cost: bcrypt.MinCost})
	if err != nil {
		s.t.Fatalf("add user %s: %v", name, err)
	}
	return u
}

// client is one device of one user, talking HTTP to the site. Its methods
// return errors rather than failing the test, so that goroutines may use
// them; the must methods fail the test and belong on the test's goroutine.
type client struct {
	s      *site
	via    *httptest.Server // the server it talks to; nil is the site's first
	name   string
	device string
	token  string
	user   contract.User
}

// login signs user in from a device.
func (s *site) login(user, device string) *client {
	s.t.Helper()
	c := &client{s: s, name: user, device: device}
	var resp contract.LoginResponse
	code, err := c.call("POST", "/v1/login", contract.LoginRequest{Username: user, Password: password, DeviceID: device}, &resp)
	if err != nil || code != http.StatusOK {
		s.t.Fatalf("%s signs in from %s: status %d, %v", user, device, code, err)
	}
	c.token, c.user = resp.Token, resp.User
	return c
}

func (c *client) String() string { return c.name + "@" + c.device }

// call sends a JSON request, decodes a JSON answer into out, and returns
// the status code.
func (c *client) call(method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	return c.send(method, path, rd, "application/json", out)
}

// send sends a request with a body of a content type, decodes a JSON
// answer of 200 into out, and returns the status code.
func (c *client) send(method, path string, rd io.Reader, contentType string, out any) (int, error) {
	ts := c.s.ts
	if c.via != nil {
		ts = c.via
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		return 0, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := ts.Client().Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if out != nil && resp.StatusCode == http.StatusOK && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: answer %q: %w", method, path, b, err)
		}
	}
	return resp.StatusCode, nil
}

// op makes an operation with a new id from this device.
func (c *client) op(typ, id string, action contract.Action, bases map[string]int64, values map[string]any) contract.Operation {
	vals := map[string]json.RawMessage{}
	for k, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		vals[k] = b
	}
	return contract.Operation{ID: uuid.NewString(), RecordType: typ, RecordID: id, Action: action,
		Bases: bases, Values: vals, DeviceID: c.device, DeviceTime: time.Now().UTC()}
}

// push sends operations and returns one result per operation.
func (c *client) push(ops ...contract.Operation) ([]contract.Result, error) {
	var resp contract.PushResponse
	code, err := c.call("POST", "/v1/push", contract.PushRequest{Ops: ops}, &resp)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("%s push: status %d", c, code)
	}
	if len(resp.Results) != len(ops) {
		return nil, fmt.Errorf("%s push: %d results for %d operations", c, len(resp.Results), len(ops))
	}
	return resp.Results, nil
}

// apply pushes one operation and returns its result, or an error unless
// it was applied.
func (c *client) apply(op contract.Operation) (contract.Result, error) {
	rs, err := c.push(op)
	if err != nil {
		return contract.Result{}, err
	}
	if r := rs[0]; r.Outcome != contract.Applied {
		return r, fmt.Errorf("%s %s %s: %s %s: %s", c, op.Action, op.RecordType, r.Outcome, r.Code, r.Message)
	}
	return rs[0], nil
}

// must pushes one operation and fails the test unless it is applied.
func (c *client) must(op contract.Operation) contract.Result {
	c.s.t.Helper()
	r, err := c.apply(op)
	if err != nil {
		c.s.t.Fatal(err)
	}
	return r
}

// customer makes a customer and returns its id.
func (c *client) customer(name string) string {
	c.s.t.Helper()
	id := uuid.NewString()
	c.must(c.op("customer", id, contract.ActionCreate, nil, map[string]any{"name": name, "phone": "+44 20 7946 0000"}))
	return id
}

// jobOp makes an operation creating a job for a technician.
func (c *client) jobOp(customer, tech, title, siteAddress string, start time.Time) contract.Operation {
	return c.op("job", uuid.NewString(), contract.ActionCreate, nil, map[string]any{
		"title": title, "customer_id": customer, "assignee": c.s.users[tech].ID,
		"site_address": siteAddress, "scheduled_start": start.Format(time.RFC3339)})
}

// job makes a job and returns its id.
func (c *client) job(customer, tech, title, siteAddress string, start time.Time) string {
	c.s.t.Helper()
	op := c.jobOp(customer, tech, title, siteAddress, start)
	c.must(op)
	return op.RecordID
}

// feed is what a device holds from pulling with its cursor.
type feed struct {
	cursor  string
	records map[string]contract.Record
	reviews map[string]contract.Review
	// arrivals counts how often each record came.
	arrivals map[string]int
}

func newFeed() *feed {
	return &feed{records: map[string]contract.Record{}, reviews: map[string]contract.Review{}, arrivals: map[string]int{}}
}

// pull fetches every page after the feed's cursor and returns how many
// records and reviews came. Each must lie after the cursor it was asked
// for, and a record must never come older than a copy already held.
func (c *client) pull(f *feed) (int, error) {
	n := 0
	for pages := 0; ; pages++ {
		if pages > 1000 {
			return n, fmt.Errorf("%s: pulling never ends", c)
		}
		after, err := server.ParseCursor(f.cursor)
		if err != nil {
			return n, err
		}
		var page contract.PullResponse
		code, err := c.call("GET", "/v1/pull?cursor="+f.cursor, nil, &page)
		if err != nil {
			return n, err
		}
		if code != http.StatusOK {
			return n, fmt.Errorf("%s pull: status %d", c, code)
		}
		for _, r := range page.Records {
			// Sequence numbers follow the feed where positions are
			// sequence numbers alone (epoch 0): one writer.
			if after.Epoch == 0 && r.Seq <= after.Seq {
				return n, fmt.Errorf("%s pull after %+v: record %s came at %d, not after the cursor", c, after, r.ID, r.Seq)
			}
			if old, ok := f.records[r.ID]; ok && r.Seq < old.Seq {
				return n, fmt.Errorf("%s pull: record %s came at %d after it came at %d", c, r.ID, r.Seq, old.Seq)
			}
			f.records[r.ID] = r
			f.arrivals[r.ID]++
		}
		for _, r := range page.Reviews {
			if after.Epoch == 0 && r.Seq <= after.Seq {
				return n, fmt.Errorf("%s pull after %+v: review %s came at %d, not after the cursor", c, after, r.ID, r.Seq)
			}
			f.reviews[r.ID] = r
		}
		n += len(page.Records) + len(page.Reviews)
		f.cursor = page.Cursor
		if !page.More {
			return n, nil
		}
	}
}

// mustPull pulls on the test's goroutine.
func (c *client) mustPull(f *feed) {
	c.s.t.Helper()
	if _, err := c.pull(f); err != nil {
		c.s.t.Fatal(err)
	}
}

// record pulls everything afresh and returns one record as this device
// sees it.
func (c *client) record(id string) contract.Record {
	c.s.t.Helper()
	f := newFeed()
	c.mustPull(f)
	r, ok := f.records[id]
	if !ok {
		c.s.t.Fatalf("%s does not pull record %s", c, id)
	}
	return r
}

// history returns a record's change log.
func (c *client) history(typ, id string) []contract.Change {
	c.s.t.Helper()
	var resp contract.HistoryResponse
	code, err := c.call("GET", "/v1/records/"+typ+"/"+id+"/history", nil, &resp)
	if err != nil || code != http.StatusOK {
		c.s.t.Fatalf("%s history of %s %s: status %d, %v", c, typ, id, code, err)
	}
	return resp.Changes
}

// openReviews lists the open review items this user may see.
func (c *client) openReviews() []contract.Review {
	c.s.t.Helper()
	var resp contract.ReviewsResponse
	code, err := c.call("GET", "/v1/reviews", nil, &resp)
	if err != nil || code != http.StatusOK {
		c.s.t.Fatalf("%s reviews: status %d, %v", c, code, err)
	}
	return resp.Reviews
}

// me answers the status of GET /v1/me with this device's token.
func (c *client) me() int {
	c.s.t.Helper()
	code, err := c.call("GET", "/v1/me", nil, nil)
	if err != nil {
		c.s.t.Fatal(err)
	}
	return code
}

// together runs fn(0) … fn(n-1) each on its own goroutine, released at
// once, and waits for them all.
func together(n int, fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// sameJSON reports whether a and b encode alike.
func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}
