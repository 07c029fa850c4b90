// Command fieldsoak runs a bounded soak of the FieldSync server: a real
// server on loopback over a temporary SQLite file, and many technicians'
// devices pushing small batches (notes, part lines, labour, status moves on
// their own jobs) and pulling, for a while. It prints one line:
//
//	devices=50 seconds=60 ops=… ops_per_sec=… push_p50_ms=… push_p99_ms=… mem_start_mb=… mem_end_mb=… mem_growth=ok …
//
// and exits 1 if the server's memory grew without bound (see package soak
// for the rule) or any request failed unexpectedly.
//
//	go run ./cmd/fieldsoak [--devices 50] [--duration 60s] [--think 100ms]
//
// It owns the flags and the exit code; the soak is internal/soak's, the
// only package of the module it imports.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"fieldsync/internal/soak"
)

func main() {
	fs := flag.NewFlagSet("fieldsoak", flag.ExitOnError)
	devices := fs.Int("devices", 50, "concurrent technicians' devices")
	duration := fs.Duration("duration", 60*time.Second, "how long to run the load")
	think := fs.Duration("think", 0, "a device's average pause between requests (default 100ms)")
	dir := fs.String("dir", "", "directory for the database (default: a temporary one, removed after)")
	quiet := fs.Bool("quiet", false, "print only the result line")
	fs.Parse(os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg := soak.Config{Devices: *devices, Duration: *duration, Think: *think, Dir: *dir}
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	rep, err := soak.Run(ctx, cfg)
	if err != nil && rep.Devices == 0 {
		fmt.Fprintln(os.Stderr, "fieldsoak:", err)
		os.Exit(2)
	}
	fmt.Println(rep.Line())
	if !rep.Bounded {
		fmt.Fprintf(os.Stderr, "fieldsoak: the heap in use grew from %.1f MiB to %.1f MiB, more than the allowance of %.0f MiB for %d records made\n",
			float64(rep.MemStart)/(1<<20), float64(rep.MemEnd)/(1<<20), float64(rep.AllowanceBytes)/(1<<20), rep.Records)
	}
	if rep.Failures > 0 {
		fmt.Fprintf(os.Stderr, "fieldsoak: %d failures; the first: %s\n", rep.Failures, rep.FirstFailure)
	}
	if !rep.OK() || err != nil {
		os.Exit(1)
	}
}
