package app_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"fieldsync/app"
	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/internal/apiclient"
	"fieldsync/internal/rawsqlite"
	"fieldsync/internal/teststore"
	"fieldsync/server"

	"github.com/google/uuid"
)

// user signs user in with a plain client and returns who they are.
func (e *env) user(name string) contract.User {
	e.t.Helper()
	c, err := apiclient.New(e.ts.URL, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := c.Login(context.Background(), name, server.DemoPassword, "seed-login-"+name)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.User
}

// seedJobs has dispatcher dana create jobs for assignee on the server, and
// notes on them by the assignee, straight through the server's Push. It
// returns the job ids.
func (e *env) seedJobs(jobs, notesPerJob int, assignee string) []string {
	e.t.Helper()
	ctx := context.Background()
	dana, tech := e.user("dana"), e.user(assignee)
	danaActor := engine.Actor{UserID: dana.ID, Role: dana.Role, DeviceID: "seed-dana"}
	techActor := engine.Actor{UserID: tech.ID, Role: tech.Role, DeviceID: "seed-" + assignee}
	push := func(actor engine.Actor, ops []contract.Operation) {
		for len(ops) > 0 {
			n := min(500, len(ops))
			res, err := e.srv.Push(ctx, actor, ops[:n])
			if err != nil {
				e.t.Fatal(err)
			}
			for _, r := range res.Results {
				if r.Outcome != contract.Applied {
					e.t.Fatalf("seed: %s %s", r.Outcome, r.Message)
				}
			}
			ops = ops[n:]
		}
	}
	cust := uuid.NewString()
	push(danaActor, []contract.Operation{seedOp(danaActor, "customer", cust, contract.ActionCreate, map[string]any{"name": "Bench Customer"})})
	ids := make([]string, jobs)
	var ops []contract.Operation
	start := time.Now().UTC().Truncate(time.Hour)
	for i := range ids {
		ids[i] = uuid.NewString()
		ops = append(ops, seedOp(danaActor, "job", ids[i], contract.ActionCreate, map[string]any{
			"title": fmt.Sprintf("Bench job %d", i), "description": "Seeded for a benchmark", "customer_id": cust,
			"site_address": fmt.Sprintf("%d Bench Street", i), "assignee": tech.ID,
			"scheduled_start": start.Add(time.Duration(i) * time.Hour).Format(time.RFC3339)}))
	}
	push(danaActor, ops)
	ops = ops[:0]
	for _, id := range ids {
		for k := range notesPerJob {
			ops = append(ops, seedOp(techActor, "note", uuid.NewString(), contract.ActionAppend, map[string]any{"job_id": id, "text": fmt.Sprintf("Seeded note %d", k)}))
		}
	}
	push(techActor, ops)
	return ids
}

func seedOp(actor engine.Actor, typ, id string, action contract.Action, values map[string]any) contract.Operation {
	op := probeOp(typ, id, action, nil, values)
	op.DeviceID = actor.DeviceID
	return op
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func reportLatency(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(percentile(d, 0.50).Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(percentile(d, 0.99).Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(d[len(d)-1].Nanoseconds())/1e3, "max-µs")
	b.ReportMetric(0, "ns/op") // the per-edit figures above are the ones that count
}

// BenchmarkSaveEdit measures saving one edit on the device through the
// facade, on a device holding about 1,000 jobs: each iteration saves 1,000
// edits (offline, so they stay queued) and then syncs them away untimed.
// The edits alternate between a note appended to a random job and a change
// to a random job's labour minutes.
func BenchmarkSaveEdit(b *testing.B) {
	const perIter = 1000
	kinds := []struct {
		name string
		edit func(a *app.App, job string, i int) error
	}{
		{"note", func(a *app.App, job string, i int) error {
			_, err := a.AddNote(job, "", fmt.Sprintf("Checked the seal, visit %d", i))
			return err
		}},
		{"field", func(a *app.App, job string, i int) error {
			_, err := a.SetFields(job, map[string]any{"labor_minutes": i + 1})
			return err
		}},
	}
	for _, kind := range kinds {
		b.Run(kind.name, func(b *testing.B) {
			e := newEnv(b)
			jobs := e.seedJobs(1000, 0, "alex")
			a := e.device("alex")
			if all, _ := a.Jobs(); len(all) < 1000 {
				b.Fatalf("the device holds %d jobs", len(all))
			}
			rng := rand.New(rand.NewPCG(1, 2))
			var lat, first, last []time.Duration
			n := 0
			b.ResetTimer()
			for range b.N {
				a.SetOffline(true)
				for i := range perIter {
					job := jobs[rng.IntN(len(jobs))]
					t0 := time.Now()
					if err := kind.edit(a, job, n); err != nil {
						b.Fatal(err)
					}
					d := time.Since(t0)
					lat = append(lat, d)
					switch {
					case i < 100:
						first = append(first, d)
					case i >= perIter-100:
						last = append(last, d)
					}
					n++
				}
				b.StopTimer()
				a.SetOffline(false)
				if err := a.SyncRound(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			reportLatency(b, lat)
			// How the cost grows with the queue: saves made with under 100
			// edits queued, and with over 900.
			slices.Sort(first)
			slices.Sort(last)
			b.ReportMetric(float64(percentile(first, 0.5).Nanoseconds())/1e3, "p50-queue<100-µs")
			b.ReportMetric(float64(percentile(last, 0.5).Nanoseconds())/1e3, "p50-queue>900-µs")
			b.StopTimer()
			b.ReportMetric(rawsqlite.InsertRate(b), "raw-rows/s") // the machine, this moment
		})
	}
}

// BenchmarkSaveEditGrowingOutbox is BenchmarkSaveEdit's note case without
// the sync between iterations: the outbox keeps growing, as on a device
// that stays offline all day. It reports the latency of the last 1,000
// saves once 5,000 are queued.
func BenchmarkSaveEditGrowingOutbox(b *testing.B) {
	e := newEnv(b)
	jobs := e.seedJobs(1000, 0, "alex")
	rng := rand.New(rand.NewPCG(3, 4))
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		a := e.device("alex")
		a.SetOffline(true)
		b.StartTimer()
		for i := range 6000 {
			t0 := time.Now()
			if _, err := a.AddNote(jobs[rng.IntN(len(jobs))], "", "offline all day"); err != nil {
				b.Fatal(err)
			}
			if i >= 5000 {
				lat = append(lat, time.Since(t0))
			}
		}
	}
	reportLatency(b, lat)
}

// queueEdits saves edits on a device holding 1,000 jobs, untimed, through
// the device store with the app's own rebaser and ids: half are notes on
// the jobs and half are changes to their labour minutes.
func queueEdits(b *testing.B, a *app.App, jobs []string, edits int) {
	st := app.StoreOf(a)
	for i := range edits {
		j := jobs[i%len(jobs)]
		var op contract.Operation
		if i%2 == 0 {
			op = probeOp("note", app.NewID(time.Now()), contract.ActionAppend, nil, map[string]any{"job_id": j, "text": fmt.Sprintf("note %d", i)})
		} else {
			ent, _ := st.Record(j)
			op = probeOp("job", j, contract.ActionUpdate, map[string]int64{"work": ent.Server.Versions["work"]}, map[string]any{"labor_minutes": i})
		}
		op.DeviceID = a.DeviceID()
		if _, err := st.Save(op, nil); err != nil {
			b.Fatal(err)
		}
	}
	if q, _, _, _ := st.Counts(); q != edits {
		b.Fatalf("%d queued", q)
	}
}

// BenchmarkDrain measures draining 10,000 queued edits from a device to a
// real server on loopback, end to end: one sync round pushes them all in
// batches, pulls everything they changed back, and settles the outbox.
func BenchmarkDrain(b *testing.B) {
	const edits = 10000
	ctx := context.Background()
	total, elapsed := 0, time.Duration(0)
	for range b.N {
		b.StopTimer()
		e := newEnv(b)
		jobs := e.seedJobs(1000, 0, "alex")
		a := e.device("alex")
		queueEdits(b, a, jobs, edits)
		b.StartTimer()
		t0 := time.Now()
		if err := a.SyncRound(ctx); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t0)
		b.StopTimer()
		if out, _ := app.StoreOf(a).Outbox(); len(out) != 0 {
			b.Fatalf("%d operations left, first %s %+v", len(out), out[0].State, out[0].Result)
		}
		total += edits
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(total) / elapsed.Seconds()
	b.ReportMetric(rate, "ops/s")
	b.ReportMetric(elapsed.Seconds()*1e3/float64(b.N), "ms/drain")
	teststore.ReportRaw(b, rate) // the machine, this moment
}

// BenchmarkDrainSteps drains the same 10,000 edits as BenchmarkDrain the
// way a data round does, step by step through the exported store and
// client, timing each step apart: the push requests, storing their
// results, the pull requests, storing the pulled pages, and settling.
func BenchmarkDrainSteps(b *testing.B) {
	const edits = 10000
	ctx := context.Background()
	var push, results, fetch, apply, settle time.Duration
	for range b.N {
		b.StopTimer()
		e := newEnv(b)
		jobs := e.seedJobs(1000, 0, "alex")
		a := e.device("alex")
		queueEdits(b, a, jobs, edits)
		st := app.StoreOf(a)
		sess, _, _ := st.Session()
		c, _ := apiclient.New(e.ts.URL, nil)
		c.SetToken(sess.Token)
		b.StartTimer()
		for {
			batch, err := st.Queued(0, a.Rules().Limits.Batch)
			if err != nil {
				b.Fatal(err)
			}
			if len(batch) == 0 {
				break
			}
			ops := make([]contract.Operation, len(batch))
			for i, p := range batch {
				ops[i] = p.Op
			}
			t0 := time.Now()
			res, err := c.Push(ctx, ops)
			if err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := st.SaveResults(res.Results, res.Copies); err != nil {
				b.Fatal(err)
			}
			push += t1.Sub(t0)
			results += time.Since(t1)
		}
		upTo, _ := st.LastApplied()
		cursor, _ := st.Cursor()
		omit, _ := st.MayOmitAnswered()
		for {
			t0 := time.Now()
			page, err := c.Pull(ctx, cursor, 0, omit)
			if err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := st.ApplyPull(page); err != nil {
				b.Fatal(err)
			}
			fetch += t1.Sub(t0)
			apply += time.Since(t1)
			cursor = page.Cursor
			if !page.More {
				break
			}
		}
		t0 := time.Now()
		if _, err := st.Settle(upTo); err != nil {
			b.Fatal(err)
		}
		settle += time.Since(t0)
		b.StopTimer()
		if out, _ := st.Outbox(); len(out) != 0 {
			b.Fatalf("%d operations left", len(out))
		}
		b.StartTimer()
	}
	all := push + results + fetch + apply + settle
	b.ReportMetric(float64(edits*b.N)/all.Seconds(), "ops/s")
	per := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(b.N) }
	b.ReportMetric(per(push), "push-ms")
	b.ReportMetric(per(results), "save-results-ms")
	b.ReportMetric(per(fetch), "pull-ms")
	b.ReportMetric(per(apply), "apply-pull-ms")
	b.ReportMetric(per(settle), "settle-ms")
}

// BenchmarkPullInto measures pulling 10,000 records (1,000 jobs with nine
// notes each) into an empty, signed-in device through one data round.
func BenchmarkPullInto(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b)
	e.seedJobs(1000, 9, "alex")
	total, elapsed := 0, time.Duration(0)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		a := e.open()
		if _, err := a.Login(ctx, "", "alex", server.DemoPassword); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := a.SyncData(ctx); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t0)
		b.StopTimer()
		n := 0
		for _, typ := range []string{"job", "note", "part", "customer", "invoice", "photo"} {
			all, _ := app.StoreOf(a).Records(typ)
			n += len(all)
		}
		if n < 10000 {
			b.Fatalf("pulled %d records", n)
		}
		total += n
		a.Close(ctx)
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "records/s")
	b.ReportMetric(elapsed.Seconds()*1e3/float64(b.N), "ms/pull")
	b.StopTimer()
	b.ReportMetric(rawsqlite.InsertRate(b), "raw-rows/s") // the machine, this moment
}

// BenchmarkPullIntoSteps pulls the same 10,000 records as BenchmarkPullInto
// page by page, the way a data round does, timing the two halves apart:
// waiting for each page from the server, and storing it on the device.
func BenchmarkPullIntoSteps(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b)
	e.seedJobs(1000, 9, "alex")
	var fetch, store time.Duration
	total := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		a := e.open()
		if _, err := a.Login(ctx, "", "alex", server.DemoPassword); err != nil {
			b.Fatal(err)
		}
		c := e.client("alex")
		b.StartTimer()
		cursor := ""
		for {
			t0 := time.Now()
			page, err := c.Pull(ctx, cursor, 0, false)
			if err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := app.StoreOf(a).ApplyPull(page); err != nil {
				b.Fatal(err)
			}
			fetch += t1.Sub(t0)
			store += time.Since(t1)
			total += len(page.Records)
			cursor = page.Cursor
			if !page.More {
				break
			}
		}
		b.StopTimer()
		a.Close(ctx)
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/(fetch+store).Seconds(), "records/s")
	b.ReportMetric(fetch.Seconds()*1e3/float64(b.N), "fetch-ms")
	b.ReportMetric(store.Seconds()*1e3/float64(b.N), "store-ms")
}
