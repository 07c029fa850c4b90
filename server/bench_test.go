package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
		var bodies [][]byte
		for sent := 0; sent < updates; sent += batch {
			ops := make([]contract.Operation, batch)
			for k := range ops {
				j := (sent + k) % jobs
				ops[k] = dana.op("job", ids[j], contract.ActionUpdate, map[string]int64{"summary": versions[j]},
					map[string]any{"title": fmt.Sprintf("Job %d, visit %d", j, n*updates+sent+k)})
				versions[j]++
			}
			body, err := json.Marshal(contract.PushRequest{Ops: ops})
			if err != nil {
				b.Fatal(err)
			}
			bodies = append(bodies, body)
		}
		answers := make([][]byte, len(bodies))
		b.StartTimer()
		start := time.Now()
		for i, body := range bodies {
			req, _ := http.NewRequest("POST", e.ts.URL+"/v1/push", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+dana.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			answers[i], _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("push: status %d: %s", resp.StatusCode, answers[i])
			}
		}
		elapsed += time.Since(start)
		b.StopTimer()
		for _, a := range answers {
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
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(total) / elapsed.Seconds()
	b.ReportMetric(rate, "ops/s")
	teststore.ReportRaw(b, rate) // the machine, this moment
}
