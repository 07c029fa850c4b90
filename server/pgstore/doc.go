// Package pgstore keeps the FieldSync server's data in PostgreSQL
// (github.com/jackc/pgx/v5 and its pool) and implements server.Store over
// it, for servers that write from many connections at once.
//
// It owns the PostgreSQL schema and its numbered migrations (migrate.go),
// and the SQL behind each part of the store contract, a file for each: the
// store, its pool, transactions, retries and error kinds (store.go); how a
// transaction sends its statements, in as few round trips as it can, with
// the savepoint of an operation opened only when the operation writes
// (txn.go); records, their links, who may see them, sequence numbers and
// job numbers (records.go); the change feed behind pulls (feed.go); the
// change log and each operation's claimed and stored result (changes.go);
// review items (reviews.go); users, sessions, bound devices and sign-in
// throttles (users.go); moving a SQLite server's data in, for fieldsyncd
// copy (copy.go).
//
// The feed orders rows by the id of the transaction that wrote them, then
// by a sequence number, and a pull shows only rows of transactions older
// than the oldest one still running: so no write can still commit at a
// position a pull has shown. Sequence numbers are drawn after the records
// they are for are locked, so each record's versions carry growing numbers.
//
// It imports server (the contract it implements), the contract packages,
// internal/wirejson (record documents) and internal/writebehind (a
// transaction's waiting writes); copy.go also reads the SQLite store's
// file. It knows nothing of the device.
package pgstore
