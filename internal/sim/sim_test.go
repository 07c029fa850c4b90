package sim

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"fieldsync/internal/pgtest"
	"fieldsync/internal/s3test"
)

var (
	long      = flag.Bool("long", false, "run TestLongRunWithInstances: several seeds of 2000 operations on several server instances")
	longSeeds = flag.Int("long-seeds", 4, "seeds for -long, from 1")
)

// TestShortRun is the short simulation CI runs: 20 devices, 200 operations,
// faults on, for a fixed seed and a second one. Every promise must hold and
// the mix must have produced collisions. A failure names its seed; rerun it
// with go run ./cmd/fieldsim --seed N --verbose.
func TestShortRun(t *testing.T) {
	for _, seed := range []uint64{1, 20260302} {
		rep, err := Run(context.Background(), Config{Devices: 20, Ops: 200, Seed: seed, Faults: true, Merge: true, Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		t.Logf("%s seed=%d (%s)", rep.Line(), seed, rep.Elapsed.Round(1e6))
		if rep.Lost != 0 || rep.Duplicated != 0 || !rep.Converged || !rep.OK() {
			t.Errorf("seed %d: %s", seed, rep.Failure())
		}
		if rep.Reviews == 0 {
			t.Errorf("seed %d: no review items: the mix made no collisions", seed)
		}
		if rep.Ops != 200 || rep.Saved < 150 {
			t.Errorf("seed %d: %d operations attempted, %d saved; want 200 attempted and most saved", seed, rep.Ops, rep.Saved)
		}
		if rep.OfflineHours == 0 || rep.OfflineAttempts == 0 {
			t.Errorf("seed %d: no offline periods (%.1f h, %d attempts)", seed, rep.OfflineHours, rep.OfflineAttempts)
		}
	}
}

// TestShortRunOnPostgreSQL is the short run with the server on
// PostgreSQL, whose writers apply pushes on many connections at once.
func TestShortRunOnPostgreSQL(t *testing.T) {
	const seed = 1
	rep, err := Run(context.Background(), Config{Devices: 20, Ops: 200, Seed: seed, Faults: true, Merge: true, Dir: t.TempDir(), DB: pgtest.DSN(t)})
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	t.Logf("%s seed=%d (%s)", rep.Line(), seed, rep.Elapsed.Round(1e6))
	if rep.Lost != 0 || rep.Duplicated != 0 || !rep.Converged || !rep.OK() {
		t.Errorf("seed %d on PostgreSQL: %s", seed, rep.Failure())
	}
	if rep.Reviews == 0 {
		t.Errorf("seed %d: no review items: the mix made no collisions", seed)
	}
}

// TestShortRunWithInstances is the short run with the server as three
// instances on one PostgreSQL database behind a load balancer, which
// crash and come back, over a few seeds: every promise must hold whatever
// instance each request lands on.
func TestShortRunWithInstances(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			rep, err := Run(context.Background(), Config{Devices: 10, Ops: 120, Seed: seed, Faults: true, Merge: true,
				Dir: t.TempDir(), DB: pgtest.DSN(t), Instances: 3, S3: photoBucket(t)})
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			checkInstancesRun(t, rep)
		})
	}
}

// TestLongRunWithInstances is the long run: go test -run
// TestLongRunWithInstances -long ./internal/sim under a PostgreSQL cluster.
// Each seed runs 20 devices and 2000 operations on three instances.
func TestLongRunWithInstances(t *testing.T) {
	if !*long {
		t.Skip("the long run: go test -run TestLongRunWithInstances ./internal/sim -args -long [-long-seeds N]")
	}
	for seed := uint64(1); seed <= uint64(*longSeeds); seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			rep, err := Run(context.Background(), Config{Devices: 20, Ops: 2000, Seed: seed, Faults: true, Merge: true,
				Dir: t.TempDir(), DB: pgtest.DSN(t), Instances: 3, S3: photoBucket(t)})
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			checkInstancesRun(t, rep)
		})
	}
}

// photoBucket returns the s3:// URL of a new bucket on a versitygw of the
// test's own, where instances keep photo content as they would in
// production. Without versitygw it says so and returns "": the instances
// then share a directory, unless FIELDSYNC_REQUIRE_S3 makes that a
// failure.
func photoBucket(t *testing.T) string {
	t.Helper()
	if _, err := s3test.Binary(); err != nil {
		if v := os.Getenv(s3test.EnvRequire); v == "" || v == "0" {
			t.Logf("photos in a directory the instances share, not in S3: %v", err)
			return ""
		}
	}
	srv := s3test.Start(t) // fails the test without versitygw
	return srv.URL(srv.NewBucket(t).Bucket)
}

// checkInstancesRun checks a run on several instances: every promise held,
// and the run did what it is for: every instance served requests, and
// instances crashed.
func checkInstancesRun(t *testing.T, rep Report) {
	t.Helper()
	t.Logf("%s seed=%d (%s); requests per instance %v", rep.Line(), rep.Seed, rep.Elapsed.Round(1e6), rep.PerInstance)
	if rep.Lost != 0 || rep.Duplicated != 0 || !rep.Converged || !rep.OK() {
		t.Errorf("seed %d on %d instances: %s", rep.Seed, rep.Instances, rep.Failure())
	}
	if len(rep.PerInstance) != rep.Instances {
		t.Fatalf("seed %d: requests counted for %d instances, want %d", rep.Seed, len(rep.PerInstance), rep.Instances)
	}
	for i, n := range rep.PerInstance {
		if n == 0 {
			t.Errorf("seed %d: instance %d served no request", rep.Seed, i+1)
		}
	}
	if rep.Crashes == 0 {
		t.Errorf("seed %d: no instance crashed", rep.Seed)
	}
}

// TestDeterministic runs one small seed twice: the line and the server's
// final state must be the same.
func TestDeterministic(t *testing.T) {
	cfg := Config{Devices: 5, Ops: 50, Seed: 7, Faults: true}
	var lines, digests [2]string
	for i := range 2 {
		cfg.Dir = t.TempDir()
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Fatalf("seed %d: %s", cfg.Seed, rep.Failure())
		}
		lines[i], digests[i] = rep.Line(), rep.Digest
	}
	if lines[0] != lines[1] || digests[0] != digests[1] {
		t.Errorf("seed %d gave two runs:\n%s (%s)\n%s (%s)", cfg.Seed, lines[0], digests[0], lines[1], digests[1])
	}
}

// TestWithoutFaults runs with every device online and every request
// answered: devices still collide through stale views.
func TestWithoutFaults(t *testing.T) {
	rep, err := Run(context.Background(), Config{Devices: 6, Ops: 80, Seed: 3, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("seed 3 without faults: %s", rep.Failure())
	}
	if rep.OfflineHours != 0 {
		t.Errorf("%.1f hours offline without faults", rep.OfflineHours)
	}
}
