package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/teststore"
)

// BenchmarkPush measures the server's push throughput: 10,000 updates to
// 1,000 existing jobs, in batches of 500, through the HTTP handler on
// loopback over a real SQLite file, or a PostgreSQL database when
// FIELDSYNC_TEST_STORE=postgres. Each update names the job's current
// version. Request bodies are encoded before the clock starts and answers
// are checked after it stops, so the figure is the server's work, not the
// benchmark's own client.
func BenchmarkPush(b *testing.B) { benchPush(b, 1) }

// BenchmarkPushParallel is BenchmarkPush with the same updates sent by
// four office PCs at once, each to its own quarter of the jobs: what a
// store that writes on many connections at once gains.
func BenchmarkPushParallel(b *testing.B) { benchPush(b, 4) }

func benchPush(b *testing.B, streams int) {
	const (
		jobs    = 1000
		updates = 10000
		batch   = 500
	)
	e := newEnv(b)
	pcs := make([]*device, streams)
	for i := range pcs {
		pcs[i] = e.login("dana", fmt.Sprintf("office-pc-%d", i))
	}
	dana := pcs[0]
	cust := e.customer(dana, "Harbor Bakery")
	ids := make([]string, jobs)
	var create []contract.Operation
	for i := range ids {
		ids[i] = newID()
		create = append(create, dana.op("job", ids[i], contract.ActionCreate, nil, map[string]any{
			"title": fmt.Sprintf("Job %d", i), "customer_id": cust, "assignee": e.users["alex"].ID}))
		if len(create) == batch {
			dana.push(create...)
			create = nil
		}
	}
	versions := make([]int64, jobs)
	for i := range versions {
		versions[i] = 1
	}
	total := 0
	var elapsed time.Duration
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		// Stream k updates the jobs j with j % streams == k.
		bodies := make([][][]byte, streams)
		for k, pc := range pcs {
			for sent := 0; sent < updates/streams; sent += batch {
				ops := make([]contract.Operation, 0, batch)
				for len(ops) < batch && sent+len(ops) < updates/streams {
					at := sent + len(ops)
					j := (at*streams + k) % jobs
					ops = append(ops, pc.op("job", ids[j], contract.ActionUpdate, map[string]int64{"summary": versions[j]},
						map[string]any{"title": fmt.Sprintf("Job %d, visit %d", j, n*updates+at*streams+k)}))
					versions[j]++
				}
				body, err := json.Marshal(contract.PushRequest{Ops: ops})
				if err != nil {
					b.Fatal(err)
				}
				bodies[k] = append(bodies[k], body)
			}
		}
		answers := make([][][]byte, streams)
		errs := make([]error, streams)
		var wg sync.WaitGroup
		b.StartTimer()
		start := time.Now()
		for k, pc := range pcs {
			wg.Go(func() {
				for _, body := range bodies[k] {
					req, _ := http.NewRequest("POST", e.ts.URL+"/v1/push", bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+pc.token)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						errs[k] = err
						return
					}
					a, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						errs[k] = fmt.Errorf("push: status %d: %s", resp.StatusCode, a)
						return
					}
					answers[k] = append(answers[k], a)
				}
			})
		}
		wg.Wait()
		elapsed += time.Since(start)
		b.StopTimer()
		for k := range pcs {
			if errs[k] != nil {
				b.Fatal(errs[k])
			}
			for _, a := range answers[k] {
				var pr contract.PushResponse
				if err := json.Unmarshal(a, &pr); err != nil {
					b.Fatal(err)
				}
				for _, r := range pr.Results {
					if r.Outcome != contract.Applied {
						b.Fatalf("update: %s %s %s", r.Outcome, r.Code, r.Message)
					}
				}
				total += len(pr.Results)
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(total) / elapsed.Seconds()
	b.ReportMetric(rate, "ops/s")
	teststore.ReportRaw(b, rate) // the machine, this moment
}

// BenchmarkPullOneOfMany times a technician's pull of one changed job,
// when they can see 1,000 jobs and when they can see 50,000: a pull's cost
// should follow what changed since the cursor, not everything the user
// sees. Each iteration the office edits one of the jobs and the
// technician pulls it; the timer runs around the pull alone.
func BenchmarkPullOneOfMany(b *testing.B) {
	for _, jobs := range []int{1000, 50000} {
		b.Run(fmt.Sprintf("jobs=%d", jobs), func(b *testing.B) {
			const batch = 500
			e := newEnv(b)
			dana, alex := e.login("dana", "office-pc"), e.login("alex", "alex-phone")
			cust := e.customer(dana, "Harbor Bakery")
			ids := make([]string, jobs)
			var create []contract.Operation
			for i := range ids {
				ids[i] = newID()
				create = append(create, dana.op("job", ids[i], contract.ActionCreate, nil, map[string]any{
					"title": fmt.Sprintf("Job %d", i), "customer_id": cust, "assignee": e.users["alex"].ID}))
				if len(create) == batch || i == len(ids)-1 {
					dana.push(create...)
					create = nil
				}
			}
			alex.pull()
			if len(alex.records) < jobs {
				b.Fatalf("alex pulled %d records, want the %d jobs at least", len(alex.records), jobs)
			}
			version := int64(1)
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				b.StopTimer()
				j := ids[n%jobs]
				if n >= jobs {
					b.Fatal("more iterations than jobs")
				}
				dana.push(dana.op("job", j, contract.ActionUpdate, map[string]int64{"summary": version},
					map[string]any{"title": fmt.Sprintf("Job %d, edited", n)}))
				b.StartTimer()
				alex.pull()
				b.StopTimer()
				if got := alex.text(j, "title"); got != fmt.Sprintf("Job %d, edited", n) {
					b.Fatalf("alex's pull brought %q for the edited job", got)
				}
			}
		})
	}
}
