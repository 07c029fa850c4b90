package syncbench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"fieldsync/internal/pgtest"
)

var (
	buildOnce sync.Once
	built     string
	buildErr  error
	buildDir  string
)

// TestMain removes the fieldsyncd the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// server builds fieldsyncd once for every test.
func server(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "syncbench-test-")
		if buildErr == nil {
			built, buildErr = BuildServer(context.Background(), buildDir)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// tiny is every scenario at a size that runs in seconds.
func tiny(t *testing.T, db string) Config {
	return Config{Server: server(t), DB: db, Jobs: 50, Few: 20, Many: 100, SmallSyncs: 5, Pulls: 4, Runs: 1, Dir: t.TempDir()}
}

func TestEveryScenarioAddsUp(t *testing.T) {
	checkReport(t, tiny(t, ""))
}

func TestEveryScenarioAddsUpOnPostgreSQL(t *testing.T) {
	pgtest.DSN(t) // skips without a cluster
	checkReport(t, tiny(t, os.Getenv(pgtest.EnvDSN)))
}

// checkReport runs every scenario and checks that each line's counts
// agree with what was done and with each other.
func checkReport(t *testing.T, cfg Config) {
	rep, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{PushCreate, PushUpdate, PullFresh, SmallSync, "pull_one_of_many/20", "pull_one_of_many/100"}
	if len(rep.Medians) != len(want) {
		t.Fatalf("%d lines; want one for each of %v", len(rep.Medians), want)
	}
	if rep.RawSQLite <= 0 || rep.Raw <= 0 {
		t.Errorf("raw rates %v (sqlite) and %v (store); want both measured", rep.RawSQLite, rep.Raw)
	}
	for i, m := range rep.Medians {
		t.Run(want[i], func(t *testing.T) {
			if m.Scenario != want[i] {
				t.Fatalf("line %d is %s; want %s", i, m.Scenario, want[i])
			}
			if m.Up <= 0 || m.Down <= 0 || m.Seconds <= 0 || m.Rate() <= 0 {
				t.Errorf("%d bytes up, %d down in %v s; want bytes both ways and a time", m.Up, m.Down, m.Seconds)
			}
			// Every request the devices sent crossed the proxy and reached
			// the server, and nothing else did.
			if m.Requests == 0 || m.Requests != m.ClientRequests || m.Requests != m.ServerRequests {
				t.Errorf("the proxy saw %d requests, the devices sent %d, the server answered %d; want the same, above zero",
					m.Requests, m.ClientRequests, m.ServerRequests)
			}
			// An HTTP request is at least its request line and headers; an
			// answer at least its status line and headers.
			if m.Up < 100*m.Requests || m.Down < 100*m.Requests {
				t.Errorf("%d bytes up and %d down for %d requests; want more than 100 each way per request", m.Up, m.Down, m.Requests)
			}
			if m.P50 <= 0 || m.P95 < m.P50 {
				t.Errorf("p50 %v ms, p95 %v ms; want 0 < p50 ≤ p95", m.P50, m.P95)
			}
			if m.ServerSeconds <= 0 || m.PeakRSS <= 1<<20 || m.ServerCPU < 0 {
				t.Errorf("server time %v s, CPU %v s, peak RSS %d B; want time and memory", m.ServerSeconds, m.ServerCPU, m.PeakRSS)
			}
			var applied int64
			switch m.Scenario {
			case PushCreate, PushUpdate:
				// Each new job, and each two-field edit, is one operation.
				applied = int64(cfg.Jobs)
				if m.Changes != cfg.Jobs || m.Requests < 2 {
					t.Errorf("%d changes in %d requests; want %d, pushed then pulled", m.Changes, m.Requests, cfg.Jobs)
				}
			case PullFresh:
				if m.Changes != cfg.Jobs {
					t.Errorf("%d records pulled; want %d", m.Changes, cfg.Jobs)
				}
			case SmallSync:
				// The phone pushes and pulls, the desk pulls: three requests
				// at least per change.
				applied = int64(cfg.SmallSyncs)
				if m.Requests < 3*int64(cfg.SmallSyncs) {
					t.Errorf("%d requests for %d changes; want at least 3 each", m.Requests, cfg.SmallSyncs)
				}
			default:
				if m.Changes != cfg.Pulls || m.Requests < int64(cfg.Pulls) {
					t.Errorf("%d pulls in %d requests; want %d, one request each at least", m.Changes, m.Requests, cfg.Pulls)
				}
			}
			if m.Applied != applied {
				t.Errorf("the server applied %d operations; want %d", m.Applied, applied)
			}
		})
	}
	var out bytes.Buffer
	rep.Print(&out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 1+len(want) {
		t.Fatalf("printed:\n%s\nwant a heading and one line per scenario", out.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[1+i], w+" ") {
			t.Errorf("line %d is %q; want it to start with %s", i+1, lines[1+i], w)
		}
	}
	// At this size no push reaches its rate target: the report must say so.
	if !strings.Contains(out.String(), "MISSED") {
		t.Errorf("printed:\n%s\nwant the missed rate targets marked", out.String())
	}
	t.Logf("\n%s", out.String())
}

func TestBadConfigIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"an unknown scenario", Config{Server: "x", Scenarios: []string{"push_everything"}}, "unknown scenario"},
		{"a database that is not PostgreSQL", Config{Server: "x", DB: "mysql://db"}, "postgres://"},
		{"a negative size", Config{Server: "x", Jobs: -1}, "jobs must be positive"},
		{"no server", Config{}, "no fieldsyncd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v; want an error saying %q", err, tc.want)
			}
		})
	}
}
