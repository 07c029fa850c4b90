// Package sim is FieldSync's multi-device simulation: one real server on
// loopback over a real SQLite file or PostgreSQL database, or several
// instances of it over one PostgreSQL database behind a load balancer, and
// N devices, each a real device store in its own directory driven through
// the app facade, each reaching the server through its own fault-injecting
// proxy (internal/faultproxy).
//
// The devices do a random but rule-respecting mix of work: technicians
// create follow-up jobs, move statuses, add notes, photos and part lines,
// change labour and part quantities and take signatures; the office
// creates customers and jobs, edits summaries, schedules and contacts,
// reassigns, moves statuses, voids, reopens and resolves review items. They
// do it under random offline periods, dropped requests and replies, 503s,
// slow links, cut uploads and random restarts (the store closed and
// reopened, sometimes while a push or an upload is in flight). Then every
// device syncs and Run checks the promises of shared/spec/rules.md; see
// check.go for exactly how.
//
// Determinism. Every choice comes from one seeded source; the clock is
// virtual (app.Config.Now and server.Options.Now), advanced by the
// simulation; rounds are driven by hand, one request at a time, each
// device's HTTP client opens a new connection per request (so Go's
// transport never retries on its own), and the proxies' random sources are
// seeded from the same seed. Ids (operation, record, device, user and
// review ids) come from id makers over sources seeded from the seed, given
// to the server and to each app through their options, and so does each
// device's retry jitter (app.Config.Rand). A given seed therefore gives
// the same run and the same line; nothing process-wide is changed, so
// runs may overlap in one process.
//
// Where things are: the configuration and report (sim.go); the world, its
// devices and clock (world.go); several instances, their load balancer
// and crashes (cluster.go, pglink.go); rounds, restarts, crashes and offline
// periods (rounds.go); what users do (actions.go); the ledger of what they
// saved (ledger.go); the checks (check.go and the check*.go files,
// converged.go).
//
// It is a tool, under internal/ so that nobody builds on it: it imports
// the server (server, server/sqlitestore) to run one and read its store,
// the app facade to drive each device, localstore to look at each
// device's store file beside its app, internal/faultproxy, and the
// contract packages. Nothing but cmd/fieldsim and its own tests imports
// it.
package sim

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// Config says how big a run is.
type Config struct {
	Devices int    // devices; 0 means 20
	Ops     int    // user operations across all devices; 0 means 200
	Seed    uint64 // every random choice follows from it
	// Faults turns on offline periods, dropped requests and replies, 503s,
	// slow links, cut uploads and restarts. Without it the devices only
	// collide through stale views.
	Faults bool
	// Merge lets the office settle some suspected duplicates by merging
	// them: the duplicate's items move to the surviving job, whose crew the
	// duplicate's technician joins.
	Merge bool
	// Dir holds the server's and the devices' files; "" means a temporary
	// directory, removed after the run.
	Dir string
	// DB, a postgres:// URL of an empty database, runs the server on
	// PostgreSQL; "" keeps it on a SQLite file in Dir.
	DB string
	// Instances above 1 runs the server as that many instances on the one
	// PostgreSQL database DB, behind a load balancer that sends each
	// request to one of them at random; with Faults they crash and come
	// back (see cluster.go). 0 and 1 run one server.
	Instances int
	// S3, an s3:// URL of a bucket (as server/blobstore/s3.Open takes it),
	// keeps photo content there, each instance with a client of its own;
	// "" keeps it in a directory under Dir, which every instance shares.
	S3 string
	// Log, when set, gets progress and every problem found.
	Log io.Writer
}

// Report is what a run found.
type Report struct {
	Seed      uint64
	Devices   int
	Instances int // server instances; 1 for one server
	Ops       int // user operations attempted
	Saved     int // operations the devices saved (the ledger)

	Lost       int // saved edits neither on the server nor visibly held with their input
	Duplicated int // records, items, review entries or operations that exist or were applied twice
	Missed     int // collisions on review groups that were applied instead of held
	LWWWrong   int // last-write-wins fields not holding the last write the server received
	LogWrong   int // fields whose value is not the last value their change log wrote
	Unexpected int // the facade or a device contradicting the server (saved after a refusal, not sent but applied)
	Reviews    int // review items on the server
	Converged  bool
	Diverged   int // devices that do not show the server's state

	// Digest is a hash of the server's records, review items and change
	// logs at the end: two runs of one seed end with the same.
	Digest string

	Requests        int     // requests the devices made (through their proxies)
	OfflineAttempts int     // sync attempts while offline
	OfflineHours    float64 // virtual hours devices spent offline
	Crashes         int     // instances that crashed, with several
	PerInstance     []int   // requests the load balancer sent each instance, with several
	Elapsed         time.Duration

	// Outcomes of the saved operations on the server.
	Applied, Held, NotSent, KeptAsNote int
	Problems                           []string // one line per problem, the first 50
	problems                           int
	refusedLocally                     int
}

// RequestsPerOp is requests over operations.
func (r Report) RequestsPerOp() float64 {
	if r.Ops == 0 {
		return 0
	}
	return float64(r.Requests) / float64(r.Ops)
}

// AttemptsPerOfflineHour is sync attempts made while offline per virtual
// hour offline.
func (r Report) AttemptsPerOfflineHour() float64 {
	if r.OfflineHours == 0 {
		return 0
	}
	return float64(r.OfflineAttempts) / r.OfflineHours
}

// OK reports whether every promise held.
func (r Report) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Missed == 0 && r.LWWWrong == 0 && r.LogWrong == 0 && r.Unexpected == 0 && r.Converged
}

// Line is the one line the command prints.
func (r Report) Line() string {
	conv := "yes"
	if !r.Converged {
		conv = "no"
	}
	line := fmt.Sprintf("devices=%d ops=%d lost=%d duplicated=%d reviews=%d converged=%s requests_per_op=%.1f attempts_per_offline_hour=%.1f",
		r.Devices, r.Ops, r.Lost, r.Duplicated, r.Reviews, conv, r.RequestsPerOp(), r.AttemptsPerOfflineHour())
	if r.Instances > 1 {
		line += fmt.Sprintf(" instances=%d crashes=%d", r.Instances, r.Crashes)
	}
	return line
}

// Failure says in one paragraph what failed, for a failed run.
func (r Report) Failure() string {
	var what []string
	add := func(n int, s string) {
		if n > 0 {
			what = append(what, fmt.Sprintf("%d %s", n, s))
		}
	}
	add(r.Lost, "lost")
	add(r.Duplicated, "duplicated")
	add(r.Missed, "collisions applied instead of held for review")
	add(r.LWWWrong, "last-write-wins fields not holding the last write")
	add(r.LogWrong, "fields unlike their change log")
	add(r.Unexpected, "contradictions between a device and the server")
	if !r.Converged {
		what = append(what, fmt.Sprintf("%d devices not converged", r.Diverged))
	}
	s := strings.Join(what, ", ")
	if len(r.Problems) > 0 {
		s += ":\n  " + strings.Join(r.Problems, "\n  ")
		if r.problems > len(r.Problems) {
			s += fmt.Sprintf("\n  … and %d more", r.problems-len(r.Problems))
		}
	}
	return s
}

func (r *Report) problem(format string, args ...any) {
	r.problems++
	if len(r.Problems) < 50 {
		r.Problems = append(r.Problems, strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", "; "))
	}
}

// Run runs one simulation and checks it. An error means the simulation
// itself could not run (a server that would not start, a facade call that
// failed for a reason no rule gives); a run that ran and found broken
// promises returns a Report whose OK is false.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Devices == 0 {
		cfg.Devices = 20
	}
	if cfg.Ops == 0 {
		cfg.Ops = 200
	}
	if cfg.Devices < 3 {
		return Report{}, fmt.Errorf("a run needs at least 3 devices (a dispatcher, a supervisor and a technician); got %d", cfg.Devices)
	}
	switch {
	case cfg.Instances < 0:
		return Report{}, fmt.Errorf("instances must be 0 or more; got %d", cfg.Instances)
	case cfg.Instances > 1 && cfg.DB == "":
		return Report{}, fmt.Errorf("%d instances share one PostgreSQL database: give its postgres:// URL (DB)", cfg.Instances)
	}
	start := time.Now()
	s, err := newSim(ctx, cfg)
	if err != nil {
		return Report{}, err
	}
	defer s.close()
	if err := s.setup(); err != nil {
		return s.rep, fmt.Errorf("setup: %w", err)
	}
	if err := s.work(); err != nil {
		return s.rep, fmt.Errorf("seed %d: %w", cfg.Seed, err)
	}
	if err := s.settle(); err != nil {
		return s.rep, fmt.Errorf("seed %d: final sync: %w", cfg.Seed, err)
	}
	if err := s.check(); err != nil {
		return s.rep, fmt.Errorf("seed %d: check: %w", cfg.Seed, err)
	}
	s.rep.Elapsed = time.Since(start)
	return s.rep, nil
}
