// Command fieldsim runs FieldSync's multi-device simulation (package sim):
// a real server on loopback and N device stores doing a random but
// rule-respecting mix of work under offline periods, dropped requests and
// replies, 503s, slow links, cut uploads and restarts; then every device
// syncs and the promises of the sync rules are checked. It prints one line:
//
//	devices=20 ops=200 lost=0 duplicated=0 reviews=… converged=yes requests_per_op=… attempts_per_offline_hour=… seed=…
//
// and exits 1, with the seed and what failed, if any promise broke. A run
// is deterministic for its seed:
//
//	go run ./cmd/fieldsim                             # 20 devices, 200 operations
//	go run ./cmd/fieldsim --devices 20 --ops 2000     # a long run
//	go run ./cmd/fieldsim --seed 42 --verbose         # rerun a seed, saying what happens
//	go run ./cmd/fieldsim --db postgres://… --instances 3  # three instances of the server on one database
//	go run ./cmd/fieldsim --db postgres://… --instances 3 --s3 s3://…  # and photos in an S3 bucket
//
// --ops counts user operations across all devices. The command owns only
// its flags and its line; it imports internal/sim and nothing else of
// ours.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"fieldsync/internal/sim"
)

func main() {
	fs := flag.NewFlagSet("fieldsim", flag.ExitOnError)
	devices := fs.Int("devices", 20, "devices (at least 3: a dispatcher, a supervisor, technicians)")
	ops := fs.Int("ops", 200, "user operations across all devices")
	seed := fs.Uint64("seed", 0, "the seed of every random choice (default: from the clock, printed)")
	faults := fs.Bool("faults", true, "offline periods, dropped requests and replies, 503s, slow links, cut uploads and restarts")
	merge := fs.Bool("merge", true, "let the office merge suspected duplicates")
	dir := fs.String("dir", "", "directory for the server's and devices' files (default: a temporary one, removed after)")
	db := fs.String("db", "", "postgres:// URL of an empty database to run the server on (default: a SQLite file in --dir)")
	instances := fs.Int("instances", 1, "server instances on the --db database, behind a load balancer; with --faults they crash and come back")
	s3url := fs.String("s3", "", "s3://ACCESS_KEY:SECRET_KEY@BUCKET?endpoint=HOST:PORT&insecure=1 keeps photo content in that bucket (default: a directory in --dir)")
	verbose := fs.Bool("verbose", false, "say what happens and every problem found, on stderr")
	fs.Parse(os.Args[1:])

	seeded := false
	fs.Visit(func(f *flag.Flag) { seeded = seeded || f.Name == "seed" })
	if !seeded {
		*seed = uint64(time.Now().UnixNano())
	}
	cfg := sim.Config{Devices: *devices, Ops: *ops, Seed: *seed, Faults: *faults, Merge: *merge, Dir: *dir, DB: *db, Instances: *instances, S3: *s3url}
	if *verbose {
		cfg.Log = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := sim.Run(ctx, cfg)
	rerun := fmt.Sprintf("go run ./cmd/fieldsim --seed %d --devices %d --ops %d", *seed, *devices, *ops)
	if !*faults {
		rerun += " --faults=false"
	}
	if !*merge {
		rerun += " --merge=false"
	}
	if *db != "" {
		rerun += " --db URL_OF_AN_EMPTY_DATABASE"
	}
	if *instances > 1 {
		rerun += fmt.Sprintf(" --instances %d", *instances)
	}
	if *s3url != "" {
		rerun += " --s3 URL_OF_A_BUCKET"
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fieldsim: seed=%d: %v\nrerun: %s --verbose\n", *seed, err, rerun)
		os.Exit(1)
	}
	fmt.Printf("%s seed=%d\n", rep.Line(), rep.Seed)
	if *verbose {
		fmt.Fprintf(os.Stderr, "took %s; server state digest %s\n", rep.Elapsed.Round(time.Millisecond), rep.Digest)
	}
	if !rep.OK() {
		fmt.Fprintf(os.Stderr, "fieldsim: FAILED seed=%d: %s\nrerun: %s --verbose\n", rep.Seed, rep.Failure(), rerun)
		os.Exit(1)
	}
}
