// Package teststore opens the server store that tests run on: a SQLite
// file by default, and a new PostgreSQL database of its own when
// FIELDSYNC_TEST_STORE is "postgres" (make test runs the server's suites
// both ways). It is for tests only.
package teststore

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // Answered reads the SQLite file

	"fieldsync/internal/pgtest"
	"fieldsync/internal/rawpg"
	"fieldsync/internal/rawsqlite"
	"fieldsync/server"
	"fieldsync/server/pgstore"
	"fieldsync/server/sqlitestore"
)

// Env names the store tests run on: "sqlite" (or unset) or "postgres".
const Env = "FIELDSYNC_TEST_STORE"

// Postgres reports whether tests run on PostgreSQL.
func Postgres() bool { return os.Getenv(Env) == "postgres" }

// Open returns a new, empty store, closed when tb ends: a SQLite file in
// dir, or a PostgreSQL database made for tb.
func Open(tb testing.TB, dir string) server.Store {
	tb.Helper()
	st, err := open(tb, dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func open(tb testing.TB, dir string) (server.Store, error) {
	switch kind := os.Getenv(Env); kind {
	case "", "sqlite":
		return sqlitestore.Open(filepath.Join(dir, "server.db"))
	case "postgres":
		dsn := pgtest.DSN(tb)
		st, err := pgstore.Open(context.Background(), dsn)
		if err == nil {
			dsns.Store(server.Store(st), dsn)
			tb.Cleanup(func() { dsns.Delete(server.Store(st)) })
		}
		return st, err
	default:
		tb.Fatalf("%s=%q: want sqlite or postgres", Env, kind)
		return nil, nil
	}
}

// DSN returns where a PostgreSQL store for tb lives, or "" when tests run
// on SQLite: for code that opens its store itself, given where.
func DSN(tb testing.TB) string {
	if !Postgres() {
		return ""
	}
	return pgtest.DSN(tb)
}

// dsns remembers the PostgreSQL database of each store Open made.
var dsns sync.Map // server.Store → string

// Answered reads behind the store's back which device a record's current
// state was sent to in a push answer ("" when none): what the server keeps
// so that the device's pulls can leave the record out. dir is the one Open
// was given.
func Answered(tb testing.TB, st server.Store, dir, id string) string {
	tb.Helper()
	var dev *string
	if dsn, ok := dsns.Load(st); ok {
		conn, err := pgx.Connect(context.Background(), dsn.(string))
		if err != nil {
			tb.Fatal(err)
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(context.Background(), `SELECT answered FROM records WHERE id = $1`, id).Scan(&dev); err != nil {
			tb.Fatalf("reading records.answered of %s: %v", id, err)
		}
	} else {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "server.db")+"?_pragma=busy_timeout(10000)")
		if err != nil {
			tb.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRow(`SELECT answered FROM records WHERE id = ?`, id).Scan(&dev); err != nil {
			tb.Fatalf("reading records.answered of %s: %v", id, err)
		}
	}
	if dev == nil {
		return ""
	}
	return *dev
}

// ReportRaw reports beside a benchmark's figure what the store's engine
// does raw on this machine at this moment, in rows per second: SQLite's
// inserts in one transaction (raw-rows/s), or PostgreSQL's batched inserts
// (raw-batched-rows/s) and COPY (raw-copy-rows/s). opsPerSec is then also
// given as a share of the raw insert rate (pct-of-raw). Call it with the
// timer stopped.
func ReportRaw(b *testing.B, opsPerSec float64) {
	raw := 0.0
	if Postgres() {
		batched, copied := rawpg.Rates(b, pgtest.DSN(b))
		b.ReportMetric(batched, "raw-batched-rows/s")
		b.ReportMetric(copied, "raw-copy-rows/s")
		raw = batched
	} else {
		raw = rawsqlite.InsertRate(b)
		b.ReportMetric(raw, "raw-rows/s")
	}
	b.ReportMetric(100*opsPerSec/raw, "pct-of-raw")
}
