package server_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"fieldsync/internal/soak"
)

// TestSoakTenSeconds is the CI version of the soak of issue 5: 50 devices
// for 10 seconds against a real server (what `go run ./cmd/fieldsoak`
// does for 60), checked through the line it prints. It is not parallel, so
// that the heap it measures is the soak's alone.
func TestSoakTenSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak runs for 10 seconds")
	}
	rep, err := soak.Run(context.Background(), soak.Config{Devices: 50, Duration: 10 * time.Second, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	line := rep.Line()
	t.Log(line)
	if strings.Contains(line, "\n") {
		t.Fatalf("the report is more than one line: %q", line)
	}
	kv := map[string]string{}
	var keys []string
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("%q in the line is not key=value", f)
		}
		kv[k] = v
		keys = append(keys, k)
	}
	want := []string{"devices", "seconds", "ops", "ops_per_sec", "push_p50_ms", "push_p99_ms", "mem_start_mb", "mem_end_mb", "mem_growth"}
	if len(keys) < len(want) || strings.Join(keys[:len(want)], " ") != strings.Join(want, " ") {
		t.Fatalf("the line starts with %v, want %v", keys, want)
	}
	num := func(k string) float64 {
		t.Helper()
		f, err := strconv.ParseFloat(kv[k], 64)
		if err != nil {
			t.Fatalf("%s=%q is not a number", k, kv[k])
		}
		return f
	}
	if num("devices") != 50 {
		t.Errorf("devices=%s, want 50", kv["devices"])
	}
	if s := num("seconds"); s < 9.5 || s > 15 {
		t.Errorf("seconds=%s, want about 10", kv["seconds"])
	}
	if num("ops") <= 0 || num("ops_per_sec") <= 0 {
		t.Errorf("no operations applied: ops=%s ops_per_sec=%s", kv["ops"], kv["ops_per_sec"])
	}
	if got, want := num("ops_per_sec"), num("ops")/num("seconds"); got < want*0.9 || got > want*1.1 {
		t.Errorf("ops_per_sec=%v, but ops/seconds is %v", got, want)
	}
	if p50, p99 := num("push_p50_ms"), num("push_p99_ms"); p50 <= 0 || p99 < p50 {
		t.Errorf("push latency p50 %v ms, p99 %v ms: want 0 < p50 ≤ p99", p50, p99)
	}
	if p99 := num("push_p99_ms"); p99 > 10000 {
		t.Errorf("push p99 is %v ms: the server is not keeping up with 50 devices", p99)
	}
	if num("mem_start_mb") <= 0 || num("mem_end_mb") <= 0 {
		t.Errorf("memory not measured: start %s, end %s", kv["mem_start_mb"], kv["mem_end_mb"])
	}
	if kv["mem_growth"] != "ok" || !rep.Bounded {
		t.Errorf("mem_growth=%s: the heap grew from %s MiB to %s MiB, over the allowance of %s MiB", kv["mem_growth"], kv["mem_start_mb"], kv["mem_end_mb"], kv["mem_allowance_mb"])
	}
	if kv["failures"] != "0" || rep.Failures != 0 {
		t.Errorf("failures=%s; the first: %s", kv["failures"], rep.FirstFailure)
	}
	if !rep.OK() {
		t.Errorf("the soak did not pass: %s", line)
	}
}
