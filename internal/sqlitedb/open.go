package sqlitedb

import (
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver
)

// Options say what a store's connections need beyond what every one gets.
type Options struct {
	// BusyTimeout is how long a statement waits for another connection's
	// lock before it fails with SQLITE_BUSY. Zero means 10 seconds.
	BusyTimeout time.Duration
	// Pragmas run on every new connection, each written as in the
	// connection string: "synchronous(FULL)". The driver runs busy_timeout
	// first and the others, journal_mode(WAL) among them, in the order of
	// their text, so none may count on another having run before it.
	Pragmas []string
	// Immediate makes each transaction take the write lock as it begins
	// (BEGIN IMMEDIATE): for the connection that writes, so that a
	// transaction never fails halfway for want of the lock.
	Immediate bool
	// MustExist opens the file only if it is there (mode=rw): SQLite then
	// never makes an empty database in its place.
	MustExist bool
	// MaxConns caps the pool's open connections; zero leaves it open-ended.
	MaxConns int
}

// DefaultBusyTimeout is the wait for a lock when Options leave it zero.
const DefaultBusyTimeout = 10 * time.Second

// DSN is the connection string that opens the database at path with o.
func DSN(path string, o Options) string {
	busy := o.BusyTimeout
	if busy == 0 {
		busy = DefaultBusyTimeout
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	for _, p := range o.Pragmas {
		q.Add("_pragma", p)
	}
	if o.Immediate {
		q.Add("_txlock", "immediate")
	}
	if o.MustExist {
		q.Add("mode", "rw")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens a pool of connections to the database at path, creating the
// file unless o.MustExist, and checks that the database is in WAL mode:
// a database that cannot be (one in memory, say) is refused, since the
// stores count on readers never blocking the writer.
func Open(path string, o Options) (*sql.DB, error) {
	db, err := sql.Open("sqlite", DSN(path, o))
	if err != nil {
		return nil, err
	}
	if o.MaxConns > 0 {
		db.SetMaxOpenConns(o.MaxConns)
	}
	if err := checkWAL(db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// checkWAL makes the pool's first connection, which runs the pragmas, and
// reads back the journal mode: SQLite answers a journal_mode it cannot
// take by keeping the one it has, without an error.
func checkWAL(db *sql.DB) error {
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	return nil
}
