package syncbench

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"fieldsync/app"
	"fieldsync/contract"
	"fieldsync/internal/apiclient"
)

// world is one run: a server, the proxy before it, and the devices and
// records the scenarios share.
type world struct {
	cfg       Config
	dir, db   string
	srv       *serverProc
	px        *proxy
	tr        *transport
	raw       float64 // the store's raw insert rate: SQLite, or PostgreSQL batched
	rawSQLite float64

	devices  []*app.App
	office   *app.App // dana's desk, a dispatcher
	tech     *app.App // alex's phone, a technician, synced
	customer string
	jobs     []string // the jobs push_create made, assigned to alex
	made     bool     // whether jobs have reached the server
}

var scenarios = map[string]func(context.Context, *world) ([]Measure, error){
	PushCreate:    pushCreate,
	PushUpdate:    pushUpdate,
	PullFresh:     pullFresh,
	SmallSync:     smallSync,
	PullOneOfMany: pullOneOfMany,
}

func (w *world) close() {
	for _, a := range w.devices {
		a.Close(context.Background())
	}
}

// device opens a new device through the proxy and signs user in.
func (w *world) device(ctx context.Context, user string) (*app.App, error) {
	dir := filepath.Join(w.dir, fmt.Sprintf("device-%d-%s", len(w.devices), user))
	a, err := app.Open(dir, app.Config{ServerURL: w.px.URL(), HTTPClient: w.tr.client()})
	if err != nil {
		return nil, fmt.Errorf("open a device: %w", err)
	}
	w.devices = append(w.devices, a)
	if _, err := a.Login(ctx, "", user, benchPassword); err != nil {
		return nil, fmt.Errorf("sign in %s: %w", user, err)
	}
	return a, nil
}

// ensureOffice opens dana's desk and gives it a customer for the jobs.
func (w *world) ensureOffice(ctx context.Context) error {
	if w.office != nil {
		return nil
	}
	a, err := w.device(ctx, officeUser)
	if err != nil {
		return err
	}
	c, err := a.NewCustomer("", map[string]any{"name": "Harbour Facilities Ltd", "phone": "+44 113 496 0000"})
	if err != nil {
		return fmt.Errorf("new customer: %w", err)
	}
	if err := a.SyncData(ctx); err != nil {
		return fmt.Errorf("sync the customer: %w", err)
	}
	w.office, w.customer = a, c.ID
	return nil
}

// jobForm is the i-th job: about 310 bytes of what a dispatcher types.
func jobForm(i int, customer, assignee string) app.JobForm {
	start := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC).Add(time.Duration(i%2000) * 30 * time.Minute)
	return app.JobForm{
		Title:      fmt.Sprintf("Boiler service and flue check, unit %05d", i),
		CustomerID: customer,
		Site:       fmt.Sprintf("%d Harbour Road, Leeds LS1 4AB (53.%05d, -1.%05d)", i%900+1, 79650+i%1000, 54785+i%1000),
		Start:      start,
		Description: fmt.Sprintf("Annual service of the gas boiler in plant room %d: check the flue, the pressure "+
			"vessel and the condensate trap, and leave the certificate.", i%40+1),
		Assignee: assignee,
	}
}

// saveJobs saves the jobs on dana's desk, not yet sent.
func (w *world) saveJobs(ctx context.Context) error {
	if err := w.ensureOffice(ctx); err != nil {
		return err
	}
	w.jobs = w.jobs[:0]
	for i := range w.cfg.Jobs {
		r, err := w.office.NewJob(ctx, jobForm(i, w.customer, techUser), true)
		if err != nil {
			return fmt.Errorf("new job %d: %w", i, err)
		}
		w.jobs = append(w.jobs, r.ID)
	}
	return nil
}

// ensureJobs makes the jobs on the server, unmeasured, unless
// push_create did.
func (w *world) ensureJobs(ctx context.Context) error {
	if w.made {
		return nil
	}
	if err := w.saveJobs(ctx); err != nil {
		return err
	}
	if err := w.office.SyncData(ctx); err != nil {
		return err
	}
	w.made = true
	return nil
}

// ensureTech opens alex's phone and pulls his jobs, unmeasured, unless
// pull_fresh did.
func (w *world) ensureTech(ctx context.Context) error {
	if w.tech != nil {
		return nil
	}
	if err := w.ensureJobs(ctx); err != nil {
		return err
	}
	a, err := w.device(ctx, techUser)
	if err != nil {
		return err
	}
	if err := a.SyncData(ctx); err != nil {
		return err
	}
	w.tech = a
	return nil
}

// drained checks that a device has nothing left to send.
func drained(a *app.App) error {
	if st := a.State(); st.Queued+st.Held+st.Refused != 0 {
		return fmt.Errorf("after the sync %d edits are queued, %d held, %d not sent; want none", st.Queued, st.Held, st.Refused)
	}
	return nil
}

func pushCreate(ctx context.Context, w *world) ([]Measure, error) {
	if err := w.saveJobs(ctx); err != nil {
		return nil, err
	}
	m := w.newMeter(PushCreate, "job", "request")
	m.start(ctx)
	err := w.office.SyncData(ctx)
	m.stop(ctx)
	if err != nil {
		return nil, err
	}
	w.made = true
	return []Measure{m.done(len(w.jobs))}, drained(w.office)
}

func pushUpdate(ctx context.Context, w *world) ([]Measure, error) {
	if err := w.ensureJobs(ctx); err != nil {
		return nil, err
	}
	for i, id := range w.jobs {
		// Two fields of one group: one operation.
		if _, err := w.office.SetFields(id, map[string]any{
			"title":       fmt.Sprintf("Boiler service and flue check, unit %05d (second visit)", i),
			"description": "Second visit: replace the condensate trap seal.",
		}); err != nil {
			return nil, fmt.Errorf("edit job %d: %w", i, err)
		}
	}
	m := w.newMeter(PushUpdate, "edit", "request")
	m.start(ctx)
	err := w.office.SyncData(ctx)
	m.stop(ctx)
	if err != nil {
		return nil, err
	}
	return []Measure{m.done(len(w.jobs))}, drained(w.office)
}

func pullFresh(ctx context.Context, w *world) ([]Measure, error) {
	if err := w.ensureJobs(ctx); err != nil {
		return nil, err
	}
	a, err := w.device(ctx, techUser)
	if err != nil {
		return nil, err
	}
	m := w.newMeter(PullFresh, "record", "request")
	m.start(ctx)
	err = a.SyncData(ctx)
	m.stop(ctx)
	if err != nil {
		return nil, err
	}
	jobs, err := a.Jobs()
	if err != nil {
		return nil, err
	}
	if len(jobs) != len(w.jobs) {
		return nil, fmt.Errorf("the new device holds %d jobs after its pull; want %d", len(jobs), len(w.jobs))
	}
	w.tech = a
	return m.finish(len(jobs), nil)
}

func smallSync(ctx context.Context, w *world) ([]Measure, error) {
	if err := w.ensureTech(ctx); err != nil {
		return nil, err
	}
	m := w.newMeter(SmallSync, "change", "change")
	for i := range w.cfg.SmallSyncs {
		id := w.jobs[i%len(w.jobs)]
		minutes := 30 + i
		if _, err := w.tech.SetFields(id, map[string]any{"labor_minutes": minutes}); err != nil {
			return nil, fmt.Errorf("edit on the phone: %w", err)
		}
		t0 := time.Now()
		m.start(ctx)
		err := w.tech.SyncData(ctx)
		if err == nil {
			err = w.office.SyncData(ctx)
		}
		m.stop(ctx)
		m.latency(time.Since(t0))
		if err != nil {
			return nil, err
		}
		j, err := w.office.Job(id)
		if err != nil {
			return nil, err
		}
		if got := j.Record.Int("labor_minutes"); got != int64(minutes) {
			return nil, fmt.Errorf("the office shows %d labour minutes after both synced; want %d", got, minutes)
		}
	}
	return m.finish(w.cfg.SmallSyncs, drained(w.tech))
}

// pullOneOfMany has two technicians, one who sees Few jobs and one who
// sees Many, each pull single changes the office makes to their jobs.
// The jobs are made straight on the server, in large batches.
func pullOneOfMany(ctx context.Context, w *world) ([]Measure, error) {
	office, err := apiclient.New(w.srv.URL(), nil)
	if err != nil {
		return nil, err
	}
	if _, err := office.Login(ctx, officeUser, benchPassword, "syncbench-seed"); err != nil {
		return nil, fmt.Errorf("seed: sign in: %w", err)
	}
	seed := &seeder{c: office, device: "syncbench-seed"}
	cust, err := seed.customer(ctx)
	if err != nil {
		return nil, err
	}
	var out []Measure
	for _, u := range []struct {
		name string
		jobs int
	}{{fewUser, w.cfg.Few}, {manyUser, w.cfg.Many}} {
		fmt.Fprintf(w.cfg.Progress, "  seeding %d jobs for %s\n", u.jobs, u.name)
		who, err := w.userID(ctx, office, u.name)
		if err != nil {
			return nil, err
		}
		ids, err := seed.jobs(ctx, u.jobs, cust, who)
		if err != nil {
			return nil, err
		}
		a, err := w.device(ctx, u.name)
		if err != nil {
			return nil, err
		}
		if err := a.SyncData(ctx); err != nil {
			return nil, fmt.Errorf("%s's first pull: %w", u.name, err)
		}
		m := w.newMeter(fmt.Sprintf("%s/%d", PullOneOfMany, u.jobs), "pull", "pull")
		for i := range w.cfg.Pulls {
			id := ids[(i*7919)%len(ids)]
			title := fmt.Sprintf("Boiler service, changed by the office (%d)", i)
			if err := seed.retitle(ctx, id, title); err != nil {
				return nil, err
			}
			t0 := time.Now()
			m.start(ctx)
			err := a.SyncData(ctx)
			m.stop(ctx)
			m.latency(time.Since(t0))
			if err != nil {
				return nil, err
			}
			j, err := a.Job(id)
			if err != nil {
				return nil, err
			}
			if j.Title != title {
				return nil, fmt.Errorf("%s's device shows %q after the pull; want %q", u.name, j.Title, title)
			}
		}
		if err := m.err(); err != nil {
			return nil, err
		}
		out = append(out, m.done(w.cfg.Pulls))
	}
	return out, nil
}

func (w *world) userID(ctx context.Context, c *apiclient.Client, name string) (string, error) {
	users, err := c.Users(ctx)
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(users, func(u contract.User) bool { return u.Name == name })
	if i < 0 {
		return "", fmt.Errorf("no user %s on the server", name)
	}
	return users[i].ID, nil
}

// seeder writes records straight to the server as an office device would,
// many to a push.
type seeder struct {
	c        *apiclient.Client
	device   string
	versions map[string]map[string]int64 // record → group → version
}

func (s *seeder) op(typ, id string, action contract.Action, bases map[string]int64, values map[string]any) (contract.Operation, error) {
	vals := make(map[string]json.RawMessage, len(values))
	for k, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			return contract.Operation{}, err
		}
		vals[k] = b
	}
	now := time.Now()
	return contract.Operation{ID: app.NewID(now), RecordType: typ, RecordID: id, Action: action, Bases: bases,
		Values: vals, DeviceID: s.device, DeviceTime: now.UTC()}, nil
}

// push sends ops in batches and wants every one applied.
func (s *seeder) push(ctx context.Context, ops []contract.Operation) error {
	if s.versions == nil {
		s.versions = map[string]map[string]int64{}
	}
	for len(ops) > 0 {
		n := min(seedBatch, len(ops))
		res, err := s.c.Push(ctx, ops[:n])
		if err != nil {
			return fmt.Errorf("seed: push: %w", err)
		}
		for _, r := range res.Results {
			if r.Outcome != contract.Applied {
				return fmt.Errorf("seed: an operation was %s: %+v", r.Outcome, r)
			}
			s.versions[r.RecordID] = r.Versions
		}
		ops = ops[n:]
	}
	return nil
}

func (s *seeder) customer(ctx context.Context) (string, error) {
	id := app.NewID(time.Now())
	op, err := s.op("customer", id, contract.ActionCreate, nil, map[string]any{"name": "Northern Estates"})
	if err != nil {
		return "", err
	}
	return id, s.push(ctx, []contract.Operation{op})
}

// jobs makes n jobs assigned to user and returns their ids.
func (s *seeder) jobs(ctx context.Context, n int, customer, user string) ([]string, error) {
	ids := make([]string, n)
	ops := make([]contract.Operation, 0, min(n, seedBatch))
	for i := range n {
		f := jobForm(i, customer, "")
		ids[i] = app.NewID(time.Now())
		op, err := s.op("job", ids[i], contract.ActionCreate, nil, map[string]any{
			"title": f.Title, "customer_id": customer, "site_address": f.Site, "description": f.Description,
			"scheduled_start": f.Start.Format(time.RFC3339), "assignee": user,
		})
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
		if len(ops) == cap(ops) || i == n-1 {
			if err := s.push(ctx, ops); err != nil {
				return nil, err
			}
			ops = ops[:0]
		}
	}
	return ids, nil
}

// retitle changes one job's title, from the version last heard.
func (s *seeder) retitle(ctx context.Context, id, title string) error {
	op, err := s.op("job", id, contract.ActionUpdate, map[string]int64{"summary": s.versions[id]["summary"]}, map[string]any{"title": title})
	if err != nil {
		return err
	}
	return s.push(ctx, []contract.Operation{op})
}
