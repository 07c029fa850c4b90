package pgtest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// connect opens a connection to dsn that is closed when tb ends.
func connect(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), dsn)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// exists reports whether the server in EnvDSN has a database called name.
func exists(t *testing.T, name string) bool {
	t.Helper()
	var found bool
	err := connect(t, os.Getenv(EnvDSN)).QueryRow(t.Context(),
		`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&found)
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestEachCallGetsItsOwnEmptyDatabase(t *testing.T) {
	a, b := connect(t, DSN(t)), connect(t, DSN(t))

	names := make([]string, 2)
	for i, conn := range []*pgx.Conn{a, b} {
		if err := conn.QueryRow(t.Context(), `SELECT current_database()`).Scan(&names[i]); err != nil {
			t.Fatal(err)
		}
		var tables int
		err := conn.QueryRow(t.Context(),
			`SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&tables)
		if err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("database %s starts with %d tables, want none", names[i], tables)
		}
	}
	if names[0] == names[1] {
		t.Fatalf("both calls gave database %s", names[0])
	}

	// What one test writes, another cannot see.
	if _, err := a.Exec(t.Context(), `CREATE TABLE notes (id text PRIMARY KEY, body text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Exec(t.Context(), `INSERT INTO notes VALUES ('n1', 'gate left open')`); err != nil {
		t.Fatal(err)
	}
	var body string
	if err := a.QueryRow(t.Context(), `SELECT body FROM notes WHERE id = 'n1'`).Scan(&body); err != nil || body != "gate left open" {
		t.Fatalf("read back %q, %v; want the row just written", body, err)
	}
	var seen *string
	if err := b.QueryRow(t.Context(), `SELECT to_regclass('public.notes')::text`).Scan(&seen); err != nil {
		t.Fatal(err)
	}
	if seen != nil {
		t.Errorf("database %s sees table %s made in database %s", names[1], *seen, names[0])
	}
}

func TestDatabaseIsDroppedWhenTheTestEnds(t *testing.T) {
	if !Available() && !required() {
		t.Skip("FIELDSYNC_PG_DSN is not set: PostgreSQL tests skipped; make test starts a cluster")
	}
	var name string
	var leftOpen *pgx.Conn
	t.Run("a test using the database", func(t *testing.T) {
		dsn := DSN(t)
		conn := connect(t, dsn)
		if err := conn.QueryRow(t.Context(), `SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !exists(t, name) {
			t.Fatalf("database %s is not listed while the test uses it", name)
		}
		if _, err := conn.Exec(t.Context(), `CREATE TABLE findings (id int)`); err != nil {
			t.Fatal(err)
		}
		// A connection the test forgets to close must not keep the
		// database alive.
		var err error
		if leftOpen, err = pgx.Connect(context.Background(), dsn); err != nil {
			t.Fatal(err)
		}
	})
	if leftOpen != nil {
		defer leftOpen.Close(context.Background())
	}
	if name == "" {
		t.Fatal("the subtest did not learn its database's name")
	}
	if exists(t, name) {
		t.Errorf("database %s still exists after its test ended", name)
	}
	if leftOpen != nil && leftOpen.Ping(t.Context()) == nil {
		t.Errorf("a connection left open to database %s still works after its test ended", name)
	}
}

// TestWithoutAServer runs this package's helper test in a child process
// with no FIELDSYNC_PG_DSN, to see what a developer without PostgreSQL and
// what make test would see.
func TestWithoutAServer(t *testing.T) {
	tests := []struct {
		name    string
		require string
		want    []string
	}{
		{"a developer's run skips PostgreSQL tests", "", []string{"--- SKIP: TestChildAsksForADatabase", "FIELDSYNC_PG_DSN is not set: PostgreSQL tests skipped"}},
		{"a run that requires PostgreSQL fails them", "1", []string{"--- FAIL: TestChildAsksForADatabase", "FIELDSYNC_REQUIRE_PG is set, so PostgreSQL tests must run"}},
		{"FIELDSYNC_REQUIRE_PG=0 does not require them", "0", []string{"--- SKIP: TestChildAsksForADatabase"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestChildAsksForADatabase$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "PGTEST_CHILD=1", EnvDSN+"=", EnvRequire+"="+tt.require)
			out, _ := cmd.CombinedOutput()
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestChildAsksForADatabase is TestWithoutAServer's child; run on its own,
// it does nothing.
func TestChildAsksForADatabase(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") != "1" {
		t.Skip("runs only as TestWithoutAServer's child process")
	}
	DSN(t)
	t.Error("DSN returned without a server")
}
