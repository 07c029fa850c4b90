package server_test

import (
	"fmt"
	"testing"
	"time"

	"fieldsync/contract"
)

// BenchmarkPush pushes 10,000 updates to existing jobs in batches of 500
// through the HTTP handler on loopback, over a real SQLite file, and reports
// operations per second.
func BenchmarkPush(b *testing.B) {
	const (
		jobs    = 1000
		updates = 10000
		batch   = 500
	)
	e := newEnv(b)
	dana := e.login("dana", "office-pc")
	cust := e.customer(dana, "Harbor Bakery")
	ids := make([]string, jobs)
	versions := make([]int64, jobs)
	var create []contract.Operation
	for i := range ids {
		ids[i] = newID()
		create = append(create, dana.op("job", ids[i], contract.ActionCreate, nil, map[string]any{
			"title": fmt.Sprintf("Job %d", i), "customer_id": cust, "assignee": e.users["alex"].ID}))
		versions[i] = 1
		if len(create) == batch {
			dana.push(create...)
			create = nil
		}
	}
	b.ResetTimer()
	start := time.Now()
	total := 0
	for n := 0; n < b.N; n++ {
		for sent := 0; sent < updates; sent += batch {
			ops := make([]contract.Operation, batch)
			for k := range ops {
				j := (sent + k) % jobs
				ops[k] = dana.op("job", ids[j], contract.ActionUpdate, map[string]int64{"summary": versions[j]},
					map[string]any{"title": fmt.Sprintf("Job %d, visit %d", j, n*updates+sent+k)})
			}
			for k, r := range dana.push(ops...) {
				if r.Outcome != contract.Applied {
					b.Fatalf("update: %s %s", r.Outcome, r.Message)
				}
				versions[(sent+k)%jobs] = r.Versions["summary"]
			}
			total += batch
		}
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "ops/s")
}
