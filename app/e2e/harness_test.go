// Package e2e_test holds the end-to-end acceptance tests of FieldSync's
// device core: the scenarios S1–S14 of shared/spec/scenarios.md, played
// through the app facade on two or three devices, each a real device store
// in its own temp dir, against a real server in-process on loopback. Each
// device reaches the server through its own fault-injecting proxy
// (internal/faultproxy): "offline" is that proxy down, and lost requests,
// lost replies, 503s and cut uploads are its rules.
package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fieldsync/app"
	"fieldsync/contract"
	"fieldsync/contract/rulebook"
	"fieldsync/internal/apiclient"
	"fieldsync/internal/faultproxy"
	"fieldsync/internal/teststore"
	"fieldsync/localstore"
	"fieldsync/server"

	"golang.org/x/crypto/bcrypt"
)

// password is every test user's password.
const password = "password1"

// world is one real server on loopback over a real SQLite file, with one
// user of each role: alex and sam (technicians), dana (dispatcher), sue
// (supervisor), ada (admin) and fran (finance).
type world struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	store server.Store
	srv   *server.Server
	ts    *httptest.Server
	users map[string]contract.User
}

type worldOptions struct {
	// rulesText replaces the default rules, as a team may load its own.
	rulesText string
}

func newWorld(t *testing.T, opts ...worldOptions) *world {
	t.Helper()
	var o worldOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx := context.Background()
	dir := t.TempDir()
	st := teststore.Open(t, dir)
	sopts := server.Options{Store: st, BlobDir: filepath.Join(dir, "blobs")}
	if o.rulesText != "" {
		rules, err := rulebook.Parse("test.rules", o.rulesText)
		if err != nil {
			t.Fatal(err)
		}
		sopts.Rules, sopts.RulesText = rules, o.rulesText
	}
	srv, err := server.New(sopts)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, dir: dir, store: st, srv: srv, users: map[string]contract.User{}}
	for _, u := range []struct{ name, role string }{
		{"alex", "technician"}, {"sam", "technician"}, {"dana", "dispatcher"},
		{"sue", "supervisor"}, {"ada", "admin"}, {"fran", "finance"},
	} {
		nu, err := server.AddUser(ctx, st, srv.Rules(), server.NewUser{Name: u.name, Role: u.role, Password: password, Cost: bcrypt.MinCost})
		if err != nil {
			t.Fatal(err)
		}
		w.users[u.name] = nu
	}
	w.ts = httptest.NewServer(srv)
	t.Cleanup(w.ts.Close) // before the store closes (teststore.Open)
	return w
}

// rulesWith returns the default rules text with lines replaced: each key is
// a line's start ("retry data", "limits"), each value its new line.
func rulesWith(lines map[string]string) string {
	var out []string
	for _, l := range strings.Split(rulebook.DefaultText(), "\n") {
		for prefix, repl := range lines {
			if strings.HasPrefix(l, prefix+" ") {
				l = repl
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// device is one phone, tablet or office PC: an app over its own store, in
// its own directory, reaching the server through its own fault proxy.
type device struct {
	w     *world
	t     *testing.T
	name  string // alex-phone
	user  string // alex
	dir   string
	proxy *faultproxy.Proxy
	cfg   app.Config
	*app.App
	store *localstore.Store // a second look at the device's store file (local)
}

type deviceOptions struct {
	background bool   // run the real sync loops
	chunk      int64  // upload chunk size; zero: the queue's default
	seed       uint64 // for the proxy's random faults
	// fresh makes every request use a new connection, so that the client
	// never retries a request on its own and a seed always gives the same
	// faults.
	fresh bool
}

// device opens an app for user in a new directory and signs in. With the
// loops off (the default) rounds are driven by hand.
func (w *world) device(name, user string, opts ...deviceOptions) *device {
	w.t.Helper()
	var o deviceOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	p := faultproxy.New(w.ts.URL)
	if o.seed != 0 {
		p.Seed(o.seed)
	}
	w.t.Cleanup(p.Close)
	d := &device{w: w, t: w.t, name: name, user: user, dir: filepath.Join(w.dir, name), proxy: p}
	d.cfg = app.Config{ServerURL: p.URL(), Background: o.background, ChunkSize: o.chunk,
		// Its own connections, so that one device's faults never touch another's.
		HTTPClient: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableKeepAlives: o.fresh}}}
	d.open()
	if _, err := d.Login(w.ctx, "", user, password); err != nil {
		w.t.Fatalf("%s: login: %v", name, err)
	}
	if !o.background {
		d.mustSync()
	}
	return d
}

func (d *device) open() {
	d.t.Helper()
	a, err := app.Open(d.dir, d.cfg)
	if err != nil {
		d.t.Fatalf("%s: open: %v", d.name, err)
	}
	d.App = a
	d.t.Cleanup(func() {
		if d.App == a {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			a.Close(ctx)
		}
	})
}

// local opens the device's store file beside the app, as a person with
// the file in hand would, to see what the app keeps there: the facade
// shows the work, not the outbox. It stays open across restarts.
func (d *device) local() *localstore.Store {
	d.t.Helper()
	if d.store == nil {
		st, err := localstore.Open(d.dir)
		if err != nil {
			d.t.Fatalf("%s: open the store file: %v", d.name, err)
		}
		d.t.Cleanup(func() { st.Close() })
		d.store = st
	}
	return d.store
}

// restart closes the app and opens it again on the same directory: a
// simulated restart.
func (d *device) restart() {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.w.ctx, 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		d.t.Fatalf("%s: close: %v", d.name, err)
	}
	d.open()
}

func (d *device) String() string { return d.name }

// offline takes the device's link down (a closed port); online brings it back.
func (d *device) offline() {
	d.t.Helper()
	if err := d.proxy.SetDown(true); err != nil {
		d.t.Fatal(err)
	}
}

func (d *device) online() {
	d.t.Helper()
	if err := d.proxy.SetDown(false); err != nil {
		d.t.Fatal(err)
	}
}

// sync runs one data round and one media round by hand.
func (d *device) sync() error {
	ctx, cancel := context.WithTimeout(d.w.ctx, 30*time.Second)
	defer cancel()
	return d.SyncRound(ctx)
}

func (d *device) mustSync() {
	d.t.Helper()
	if err := d.sync(); err != nil {
		d.t.Fatalf("%s: sync: %v", d.name, err)
	}
}

// pending says what the device has not got through to the server.
func (d *device) pending() (queued, held, refused, photos int) {
	d.t.Helper()
	q, h, r, err := d.local().Counts()
	if err != nil {
		d.t.Fatal(err)
	}
	ph, err := d.local().Photos(localstore.PhotoWaiting)
	if err != nil {
		d.t.Fatal(err)
	}
	return q, h, r, len(ph)
}

// quiet reports whether nothing waits to be sent.
func (d *device) quiet() bool {
	q, _, _, ph := d.pending()
	return q == 0 && ph == 0
}

// syncAll runs rounds on every device until nothing is waiting on any of
// them, then one more data round each, so every device has pulled what the
// others sent.
func (w *world) syncAll(devs ...*device) {
	w.t.Helper()
	for round := 1; ; round++ {
		var errs []error
		for _, d := range devs {
			if err := d.sync(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.name, err))
			} else if !d.quiet() {
				errs = append(errs, fmt.Errorf("%s: still has work waiting", d.name))
			}
		}
		if len(errs) == 0 {
			break
		}
		if round == 10 {
			w.t.Fatalf("devices did not sync in 10 rounds: %v", errors.Join(errs...))
		}
	}
	for _, d := range devs {
		if err := d.SyncData(w.ctx); err != nil {
			w.t.Fatalf("%s: last pull: %v", d.name, err)
		}
	}
}

// --- the server's side ---

func (w *world) read(fn func(q server.Query) error) {
	w.t.Helper()
	if err := w.store.Read(w.ctx, fn); err != nil {
		w.t.Fatal(err)
	}
}

// record returns a record as the server holds it, or nil.
func (w *world) record(id string) *contract.Record {
	w.t.Helper()
	var rec *contract.Record
	w.read(func(q server.Query) (err error) { rec, err = q.Record(id); return })
	return rec
}

// items returns a job's notes, photos and part lines on the server, by type.
func (w *world) items(job string) map[string][]contract.Record {
	w.t.Helper()
	var recs []contract.Record
	w.read(func(q server.Query) (err error) { recs, err = q.Items(job); return })
	out := map[string][]contract.Record{}
	for _, r := range recs {
		out[r.Type] = append(out[r.Type], r)
	}
	return out
}

// all returns every record on the server.
func (w *world) all() []contract.Record {
	w.t.Helper()
	var recs []contract.Record
	w.read(func(q server.Query) error {
		page, err := q.Pull(server.Scope{Types: w.srv.Rules().RecordTypes()}, server.Position{}, 1<<30, "")
		recs = page.Records
		return err
	})
	return recs
}

// jobsTitled returns the server's jobs with a title.
func (w *world) jobsTitled(title string) []contract.Record {
	var out []contract.Record
	for _, r := range w.all() {
		if r.Type == "job" && r.Text("title") == title {
			out = append(out, r)
		}
	}
	return out
}

// reviews returns the server's review items, open ones only if asked.
func (w *world) reviews(openOnly bool) []contract.Review {
	w.t.Helper()
	var rvs []contract.Review
	w.read(func(q server.Query) (err error) {
		rvs, err = q.Reviews(server.Scope{Types: w.srv.Rules().RecordTypes()}, openOnly)
		return
	})
	return rvs
}

func (w *world) review(id string) *contract.Review {
	w.t.Helper()
	var rv *contract.Review
	w.read(func(q server.Query) (err error) { rv, err = q.Review(id); return })
	return rv
}

// changes returns a record's change log on the server.
func (w *world) changes(id string) []contract.Change {
	w.t.Helper()
	var out []contract.Change
	w.read(func(q server.Query) (err error) { out, err = q.Changes(id); return })
	return out
}

// download fetches a photo's content from the server as the office would.
func (w *world) download(photo string) []byte {
	w.t.Helper()
	c, err := apiclient.New(w.ts.URL, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := c.Login(w.ctx, "dana", password, "verifier"); err != nil {
		w.t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.Download(w.ctx, photo, &buf); err != nil {
		w.t.Fatalf("download photo %s: %v", photo, err)
	}
	return buf.Bytes()
}

// --- what a device shows ---

// view returns what the device shows of a record, or nil.
func (d *device) view(id string) *contract.Record {
	d.t.Helper()
	e, err := d.local().Record(id)
	if err != nil {
		d.t.Fatal(err)
	}
	if e == nil {
		return nil
	}
	return e.View
}

func (d *device) job(ref string) *app.JobDetail {
	d.t.Helper()
	j, err := d.Job(ref)
	if err != nil {
		d.t.Fatalf("%s: job %s: %v", d.name, ref, err)
	}
	return j
}

func (d *device) words(id string) string {
	d.t.Helper()
	w, err := d.StatusWords(id)
	if err != nil {
		d.t.Fatalf("%s: status of %s: %v", d.name, id, err)
	}
	return w
}

func (d *device) line() string {
	st := d.State()
	return st.Line(time.Now())
}

// reviewOn returns the device's open review item on a group of a record.
func (d *device) reviewOn(record, group string) contract.Review {
	d.t.Helper()
	rvs, err := d.Reviews()
	if err != nil {
		d.t.Fatal(err)
	}
	for _, rv := range rvs {
		if rv.RecordID == record && rv.Group == group {
			return rv
		}
	}
	d.t.Fatalf("%s: no open review of %s on %s; it has %d open", d.name, group, record, len(rvs))
	return contract.Review{}
}

// converged checks that every device shows the server's state: each record
// and review item it holds is exactly what the server stores, it holds every
// record in want, and nothing is queued, held, refused or waiting to upload.
func (w *world) converged(want []string, devs ...*device) {
	w.t.Helper()
	for _, d := range devs {
		q, h, r, ph := d.pending()
		if q+h+r+ph != 0 {
			w.t.Errorf("%s: %d queued, %d held, %d refused, %d photos waiting; want all synced", d.name, q, h, r, ph)
		}
		if got := d.line(); got != "Synced" {
			w.t.Errorf("%s: the sync bar says %q, want Synced", d.name, got)
		}
		w.sameAsServer(want, d)
	}
}

// sameAsServer checks that what d holds is what the server stores.
func (w *world) sameAsServer(want []string, d *device) {
	w.t.Helper()
	for _, id := range want {
		if d.view(id) == nil {
			w.t.Errorf("%s does not have record %s", d.name, id)
		} else if got := d.words(id); got != "Synced" {
			w.t.Errorf("%s: record %s says %q, want Synced", d.name, id, got)
		}
	}
	server := map[string]*contract.Record{}
	for _, r := range w.all() {
		server[r.ID] = &r
	}
	for _, typ := range w.srv.Rules().RecordTypes() {
		entries, err := d.local().Records(typ)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, e := range entries {
			if diff := jsonDiff(e.View, server[e.View.ID]); diff != "" {
				w.t.Errorf("%s shows %s %s unlike the server: %s", d.name, typ, e.View.ID, diff)
			}
		}
	}
	reviews := map[string]*contract.Review{}
	for _, rv := range w.reviews(false) {
		reviews[rv.ID] = &rv
	}
	rvs, err := d.local().Reviews(false)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, rv := range rvs {
		if diff := jsonDiff(rv, reviews[rv.ID]); diff != "" {
			w.t.Errorf("%s shows review %s unlike the server: %s", d.name, rv.ID, diff)
		}
	}
}

// jsonDiff returns "" when a and b encode to the same JSON.
func jsonDiff(a, b any) string {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if bytes.Equal(ja, jb) {
		return ""
	}
	return fmt.Sprintf("\n device %s\n server %s", ja, jb)
}

// --- making things ---

// photoBytes returns n bytes of made-up photo content, the same for a seed.
func photoBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// customer makes a customer on an office device and syncs it.
func (d *device) customer(name string) string {
	d.t.Helper()
	c, err := d.NewCustomer("", map[string]any{"name": name, "phone": "+44 20 7946 0000"})
	if err != nil {
		d.t.Fatalf("%s: new customer: %v", d.name, err)
	}
	return c.ID
}

// newJob makes a job on an office device for a technician, without syncing.
func (d *device) newJob(customer, tech, title, site string, start time.Time) string {
	d.t.Helper()
	j, err := d.NewJob(d.w.ctx, app.JobForm{CustomerID: customer, Title: title, Site: site, Start: start, Assignee: tech}, false)
	if err != nil {
		d.t.Fatalf("%s: new job: %v", d.name, err)
	}
	return j.ID
}

// move moves a job through states on the device.
func (d *device) move(job string, states ...string) {
	d.t.Helper()
	for _, s := range states {
		if _, err := d.Move(job, s); err != nil {
			d.t.Fatalf("%s: move %s to %s: %v", d.name, job, s, err)
		}
	}
}

func (d *device) note(job, text string) string {
	d.t.Helper()
	n, err := d.AddNote(job, "", text)
	if err != nil {
		d.t.Fatalf("%s: note: %v", d.name, err)
	}
	return n.ID
}

func (d *device) part(job, sku string, qty int64) string {
	d.t.Helper()
	p, err := d.AddPart(job, "", sku, "", qty)
	if err != nil {
		d.t.Fatalf("%s: part: %v", d.name, err)
	}
	return p.ID
}

func (d *device) photo(job, filename string, content []byte) string {
	d.t.Helper()
	p, err := d.AddPhoto(job, "", filename, "image/jpeg", bytes.NewReader(content))
	if err != nil {
		d.t.Fatalf("%s: photo: %v", d.name, err)
	}
	return p.ID
}

// today is a time during today's working day, for jobs that match by day.
func today() time.Time {
	n := time.Now()
	return time.Date(n.Year(), n.Month(), n.Day(), 12, 0, 0, 0, time.Local)
}

// scene is the usual start: Dana in the office makes a customer and a job
// for Alex, and Alex starts it; every device has synced.
func (w *world) scene(dana, alex *device, title string) (cust, job string) {
	w.t.Helper()
	cust = dana.customer("Harbor Bakery")
	job = dana.newJob(cust, "alex", title, "12 Quay Street", today())
	dana.mustSync()
	alex.mustSync()
	alex.move(job, "opened", "in_progress")
	alex.mustSync()
	dana.mustSync()
	if st := w.record(job).Text("status"); st != "in_progress" {
		w.t.Fatalf("scene: job is %s on the server, want in_progress", st)
	}
	return cust, job
}

// itemIDs returns the ids of the items in a list.
func itemIDs(items []app.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Record.ID
	}
	return out
}

func ids(recs []contract.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// eventually polls cond every 10 ms until it holds or timeout passes, and
// reports whether it held.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// resolveAll has the office keep the server's version of every open review
// item, until none is left, and syncs every device.
func (w *world) resolveAll(office *device, devs ...*device) {
	w.t.Helper()
	all := append([]*device{office}, devs...)
	for pass := 0; pass < 3; pass++ {
		w.syncAll(all...)
		rvs, err := office.Reviews()
		if err != nil {
			w.t.Fatal(err)
		}
		if len(rvs) == 0 {
			return
		}
		for _, rv := range rvs {
			choice := "server"
			if rv.Kind == "duplicate" {
				choice = "keep_both"
			}
			if err := office.Resolve(rv.ID, choice, "", nil); err != nil {
				w.t.Fatalf("%s: resolve %s: %v", office.name, rv.ID, err)
			}
		}
	}
	w.t.Fatalf("review items keep opening: %d open on the server", len(w.reviews(true)))
}
