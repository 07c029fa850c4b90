// Package sqlitestore keeps the FieldSync server's data in one SQLite file
// (modernc.org/sqlite, WAL) and implements server.Store over it. One
// connection writes; a small pool reads; a connection of its own copies the
// write-ahead log back after commits.
//
// It owns the server's schema and its migrations, and the SQL behind each
// part of the store contract, a file for each: the store, its connections
// and transactions (store.go); prepared statements and SQL helpers
// (query.go); records, their links, who may see them and the change stream
// (records.go); the change log and each operation's stored result
// (changes.go); review items (reviews.go); users, sessions, bound devices
// and sign-in throttles (users.go). Speed-ups that only SQLite needs stay
// here: cached prepared statements, 16-byte keys for big random-keyed
// indexes, multi-row statements.
//
// It imports server (the contract it implements), the contract packages
// and fieldsync/internal/... (sqlitedb opens the file and runs the
// migrations; wirejson writes record documents). It knows nothing of the
// device.
package sqlitestore
