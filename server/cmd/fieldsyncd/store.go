package main

import (
	"context"
	"net/url"
	"strings"

	"fieldsync/server"
	"fieldsync/server/pgstore"
	"fieldsync/server/sqlitestore"
)

// dbHelp is the help text of every --db flag that opens the server's store.
const dbHelp = "the database: a postgres:// or postgresql:// URL for PostgreSQL, anything else a SQLite file"

// isPostgres reports whether a --db value names a PostgreSQL database
// rather than a SQLite file.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// openStore opens the store a --db value names: PostgreSQL for a
// postgres:// or postgresql:// URL, else the SQLite file at that path. A
// PostgreSQL database that cannot be reached is an error naming its
// host and port, never its password.
func openStore(ctx context.Context, db string) (server.Store, error) {
	// A failed open returns a nil interface, not a nil *Store in one.
	if isPostgres(db) {
		st, err := pgstore.Open(ctx, db)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	st, err := sqlitestore.Open(db)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// describeDB is how logs and messages name a --db value: a PostgreSQL URL
// without its password, a SQLite path as it is.
func describeDB(db string) string {
	if !isPostgres(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "a PostgreSQL database (its URL does not parse)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
