package localstore_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"fieldsync/contract"

	"github.com/google/uuid"
)

// BenchmarkSaveEdit measures Store.Save alone, under the facade: a store
// holding 1,000 jobs saves 1,000 edits per iteration (a note appended to a
// random job, or a field change on one), each its own transaction with
// synchronous=FULL. It reports the p50 and p99 of one save.
func BenchmarkSaveEdit(b *testing.B) {
	for _, kind := range []string{"note", "field"} {
		b.Run(kind, func(b *testing.B) {
			st := openStore(b)
			jobs := make([]string, 1000)
			recs := make([]contract.Record, len(jobs))
			for i := range jobs {
				jobs[i] = uuid.NewString()
				recs[i] = serverJob(jobs[i], int64(i+1), map[string]string{"title": fmt.Sprintf("Job %d", i), "site_address": "1 Bench Street"})
			}
			if err := st.ApplyPull(contract.PullResponse{Records: recs, Cursor: "c"}); err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			var lat []time.Duration
			b.ResetTimer()
			for n := range b.N {
				for i := range 1000 {
					job := jobs[rng.IntN(len(jobs))]
					var op contract.Operation
					if kind == "note" {
						op = newOp("note", uuid.NewString(), contract.ActionAppend, map[string]string{"job_id": job, "text": "checked"})
					} else {
						op = newOp("job", job, contract.ActionUpdate, map[string]string{"description": fmt.Sprintf("visit %d", n*1000+i)})
					}
					t0 := time.Now()
					if _, err := st.Save(op, nil); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[(len(lat)-1)*99/100].Nanoseconds())/1e3, "p99-µs")
			b.ReportMetric(0, "ns/op")
		})
	}
}
