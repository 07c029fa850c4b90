// Package syncbench measures FieldSync end to end the way a newcomer can
// run it (cmd/syncbench): a real fieldsyncd in its own process on
// loopback, the real client facade (package app) on device stores in a
// temporary directory, and between them a proxy that counts every byte
// and request on the wire. Each scenario reports its rate, bytes and
// requests per change, latencies, the server's CPU time and peak memory,
// and the raw insert rate of the store's engine measured in the same run.
package syncbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"fieldsync/internal/rawpg"
	"fieldsync/internal/rawsqlite"
)

// The scenarios, in the order they run.
const (
	PushCreate    = "push_create"
	PushUpdate    = "push_update"
	PullFresh     = "pull_fresh"
	SmallSync     = "small_sync"
	PullOneOfMany = "pull_one_of_many"
	defaultJobs   = 10000
	defaultFew    = 1000
	defaultMany   = 50000
	defaultSmall  = 50
	defaultPulls  = 30
	seedBatch     = 500
	benchPassword = "syncbench-password"
	officeUser    = "dana"
	techUser      = "alex"
	fewUser       = "fay"
	manyUser      = "max"
)

// Scenarios lists every scenario, in the order they run.
var Scenarios = []string{PushCreate, PushUpdate, PullFresh, SmallSync, PullOneOfMany}

// Config says what to measure.
type Config struct {
	// Server is the fieldsyncd binary (BuildServer makes one).
	Server string
	// DB is empty for a SQLite file in a temporary directory, or a
	// postgres:// URL of a server on which a new database is made for
	// each run and dropped after it.
	DB string
	// Scenarios to run; empty means all.
	Scenarios []string
	// Jobs is how many jobs push_create makes, push_update edits and
	// pull_fresh pulls (10,000 when zero).
	Jobs int
	// Few and Many are how many jobs the two users of pull_one_of_many
	// see (1,000 and 50,000 when zero).
	Few, Many int
	// SmallSyncs is how many changes small_sync makes (50 when zero), and
	// Pulls how many single changes each user of pull_one_of_many pulls
	// (30 when zero).
	SmallSyncs, Pulls int
	// Runs is how many times everything runs (1 when zero); the report
	// gives the median of each figure.
	Runs int
	// Dir holds the temporary directories (os.TempDir when empty).
	Dir string
	// Progress, when not nil, hears what is being done.
	Progress io.Writer
}

func (c *Config) defaults() error {
	if c.Server == "" {
		return errors.New("no fieldsyncd binary given")
	}
	if c.DB != "" && !isPostgres(c.DB) {
		return fmt.Errorf("--db %q: want a postgres:// URL, or nothing for SQLite", c.DB)
	}
	def := func(v *int, d int, name string) error {
		if *v == 0 {
			*v = d
		}
		if *v < 0 {
			return fmt.Errorf("%s must be positive, not %d", name, *v)
		}
		return nil
	}
	if err := errors.Join(def(&c.Jobs, defaultJobs, "jobs"), def(&c.Few, defaultFew, "few"), def(&c.Many, defaultMany, "many"),
		def(&c.SmallSyncs, defaultSmall, "small syncs"), def(&c.Pulls, defaultPulls, "pulls"), def(&c.Runs, 1, "runs")); err != nil {
		return err
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = Scenarios
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(Scenarios, s) {
			return fmt.Errorf("unknown scenario %q; the scenarios are %v", s, Scenarios)
		}
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return nil
}

// Store names the store the configuration runs the server on.
func (c *Config) Store() string {
	if isPostgres(c.DB) {
		return "postgres"
	}
	return "sqlite"
}

// Run runs every chosen scenario Runs times, each run on a new server
// over an empty store, and returns every run's figures.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	rep := &Report{Store: cfg.Store(), Jobs: cfg.Jobs, Few: cfg.Few, Many: cfg.Many, Runs: cfg.Runs}
	for i := range cfg.Runs {
		fmt.Fprintf(cfg.Progress, "run %d of %d on %s\n", i+1, cfg.Runs, rep.Store)
		run, err := runOnce(ctx, cfg)
		if err != nil {
			return rep, fmt.Errorf("run %d: %w", i+1, err)
		}
		rep.All = append(rep.All, run)
	}
	rep.summarise()
	return rep, nil
}

// runOnce starts a server over an empty store, runs the scenarios on it,
// and stops it, also when a scenario fails.
func runOnce(ctx context.Context, cfg Config) (run []Measure, err error) {
	dir, err := os.MkdirTemp(cfg.Dir, "syncbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	db := filepath.Join(dir, "server.db")
	if cfg.DB != "" {
		dsn, drop, err := newDatabase(ctx, cfg.DB)
		if err != nil {
			return nil, err
		}
		defer func() {
			if derr := drop(); derr != nil && err == nil {
				err = fmt.Errorf("drop the run's database: %w", derr)
			}
		}()
		db = dsn
	}
	for _, u := range []struct{ name, role string }{
		{officeUser, "dispatcher"}, {techUser, "technician"}, {fewUser, "technician"}, {manyUser, "technician"},
	} {
		if err := addUser(ctx, cfg.Server, db, u.name, u.role, benchPassword); err != nil {
			return nil, err
		}
	}
	srv, err := startServer(ctx, cfg.Server, db, filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := srv.stop(); serr != nil && err == nil {
			err = fmt.Errorf("stop fieldsyncd: %w\n%s", serr, srv.output())
		}
	}()
	px, err := startProxy(srv.addr)
	if err != nil {
		return nil, err
	}
	defer px.Close()

	w := &world{cfg: cfg, dir: dir, db: db, srv: srv, px: px, tr: newTransport()}
	defer w.close()
	if w.rawSQLite, err = rawsqlite.Measure(dir); err != nil {
		return nil, err
	}
	w.raw = w.rawSQLite
	if cfg.DB != "" {
		if w.raw, _, err = rawpg.Measure(ctx, db); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(cfg.Progress, "  raw sqlite %.0f rows/s", w.rawSQLite)
	if cfg.DB != "" {
		fmt.Fprintf(cfg.Progress, ", raw postgres batched %.0f rows/s", w.raw)
	}
	fmt.Fprintln(cfg.Progress)
	for _, s := range Scenarios {
		if !slices.Contains(cfg.Scenarios, s) {
			continue
		}
		start := time.Now()
		ms, err := scenarios[s](ctx, w)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
		for _, m := range ms {
			fmt.Fprintf(cfg.Progress, "  %s\n", m.line(nil))
		}
		fmt.Fprintf(cfg.Progress, "  (%s took %s with its setup)\n", s, time.Since(start).Round(time.Millisecond))
		run = append(run, ms...)
	}
	return run, nil
}
