// Package pgtest gives tests and benchmarks their own PostgreSQL database.
//
// The cluster comes from the environment: FIELDSYNC_PG_DSN names a
// PostgreSQL server on which the DSN's user may create databases (make
// test starts a throwaway one with scripts/pg and sets it). Each call to
// DSN creates a new, empty database there and drops it when the test ends,
// so tests never see each other's rows and may run in parallel.
//
// Without FIELDSYNC_PG_DSN, PostgreSQL tests skip, so that go test works
// on a machine without PostgreSQL. FIELDSYNC_REQUIRE_PG turns that skip
// into a failure: make test sets it, so a PostgreSQL test can never pass
// there by not running.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The environment variables this package reads.
const (
	// EnvDSN names the PostgreSQL server tests make their databases on.
	EnvDSN = "FIELDSYNC_PG_DSN"
	// EnvRequire, set to anything but "" or "0", makes a missing EnvDSN
	// fail PostgreSQL tests instead of skipping them.
	EnvRequire = "FIELDSYNC_REQUIRE_PG"
)

// timeout bounds each step of making or dropping a database, so that an
// unreachable server fails the test instead of hanging it.
const timeout = 30 * time.Second

// Available reports whether a PostgreSQL server is configured for tests.
func Available() bool {
	return os.Getenv(EnvDSN) != ""
}

// required reports whether PostgreSQL tests must run rather than skip.
func required() bool {
	v := os.Getenv(EnvRequire)
	return v != "" && v != "0"
}

// DSN creates a new, empty database for tb and returns a DSN that connects
// to it. The database is dropped, along with any sessions still connected
// to it, when tb and its subtests have finished. Without a configured
// server it skips tb, or fails it when EnvRequire is set.
func DSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvDSN)
	if base == "" {
		if required() {
			tb.Fatalf("%s is set, so PostgreSQL tests must run, but %s is not set: "+
				"start a cluster with scripts/pg start DIR and set %s to the DSN it prints",
				EnvRequire, EnvDSN, EnvDSN)
		}
		tb.Skip("FIELDSYNC_PG_DSN is not set: PostgreSQL tests skipped; make test starts a cluster")
	}

	name := newName(tb)
	dsn, err := withDatabase(base, name)
	if err != nil {
		tb.Fatalf("%s: %v", EnvDSN, err)
	}
	ident := pgx.Identifier{name}.Sanitize()
	// template0 rather than the default template1: CREATE DATABASE fails
	// while anyone else is connected to its template, and nothing ever
	// connects to template0.
	if err := admin(base, "CREATE DATABASE "+ident+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		tb.Fatalf("create test database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		// FORCE ends sessions a test left open, such as a pool it did not
		// close, which would otherwise keep the database alive.
		if err := admin(base, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	return dsn
}

// newName returns a database name no other test will pick: fs_ and 16
// random hex digits.
func newName(tb testing.TB) string {
	tb.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("random database name: %v", err)
	}
	return "fs_" + hex.EncodeToString(b[:])
}

// admin runs one statement on the server's own database, in a connection
// of its own: CREATE and DROP DATABASE cannot run inside a transaction or
// on the database they name.
func admin(base, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(base), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return err
	}
	return nil
}

// withDatabase returns base, a URL or keyword/value DSN, naming database
// name instead of its own.
func withDatabase(base, name string) (string, error) {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			return "", fmt.Errorf("not a valid URL: %w", err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In a keyword/value DSN the last setting of a keyword wins.
	return base + " dbname=" + name, nil
}

// redact returns dsn without its password, for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "the server in " + EnvDSN
	}
	return u.Redacted()
}
