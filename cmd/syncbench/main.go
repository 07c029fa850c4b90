// Command syncbench measures FieldSync end to end: it builds fieldsyncd,
// runs it in its own process on loopback over a new SQLite file (or a new
// PostgreSQL database), drives real devices through the app facade and a
// byte-counting proxy, and prints one line per scenario with the issue's
// targets beside each figure.
//
//	go run ./cmd/syncbench [--db postgres://USER@HOST:PORT/DB] [--scenarios push_create,push_update,…]
//	                       [--jobs 10000] [--few 1000] [--many 50000] [--runs 3] [--json] [--server PATH]
//
// With --db, the user in the URL must be allowed to create databases:
// each run makes a new one and drops it at the end. The figures are the
// median over --runs runs, each on a new server; progress goes to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"fieldsync/internal/syncbench"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "syncbench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("syncbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "a postgres:// URL to run the server on PostgreSQL (a new database per run, dropped after); SQLite in a temporary directory when empty")
	scenarios := fs.String("scenarios", strings.Join(syncbench.Scenarios, ","), "the scenarios to run, separated by commas")
	jobs := fs.Int("jobs", 10000, "jobs that push_create makes, push_update edits and pull_fresh pulls")
	few := fs.Int("few", 1000, "jobs the first user of pull_one_of_many sees")
	many := fs.Int("many", 50000, "jobs the second user of pull_one_of_many sees")
	small := fs.Int("small-syncs", 50, "changes small_sync makes")
	pulls := fs.Int("pulls", 30, "single changes each user of pull_one_of_many pulls")
	runs := fs.Int("runs", 3, "runs, each on a new server; figures are the median")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	bin := fs.String("server", "", "the fieldsyncd binary to run (default: build it from this repository)")
	quiet := fs.Bool("quiet", false, "print no progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	progress := stderr
	if *quiet {
		progress = io.Discard
	}
	if *bin == "" {
		dir, err := os.MkdirTemp("", "syncbench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		fmt.Fprintln(progress, "building fieldsyncd")
		if *bin, err = syncbench.BuildServer(ctx, dir); err != nil {
			return err
		}
	}
	var names []string
	for _, s := range strings.Split(*scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			names = append(names, s)
		}
	}
	if len(names) == 0 {
		return errors.New("--scenarios names none")
	}
	rep, err := syncbench.Run(ctx, syncbench.Config{
		Server: *bin, DB: *db, Scenarios: names, Jobs: *jobs, Few: *few, Many: *many,
		SmallSyncs: *small, Pulls: *pulls, Runs: *runs, Progress: progress,
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return rep.JSON(stdout)
	}
	rep.Print(stdout)
	return nil
}
