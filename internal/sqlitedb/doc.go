// Package sqlitedb opens the SQLite databases FieldSync keeps
// (modernc.org/sqlite, in WAL mode) and brings their schema up to date with
// numbered migrations, the same way for the device's store and the
// server's.
//
// It owns the connection string (busy_timeout and journal_mode(WAL) on
// every connection, then the caller's pragmas), the check that WAL took
// effect, and the schema_migrations table. What differs between stores is
// theirs and is passed in as data: the pragmas, the migrations, and any
// check a store makes of its file before it opens it.
//
// sqlitedb imports only the standard library and the SQLite driver; it
// knows nothing of records, devices or servers.
package sqlitedb
