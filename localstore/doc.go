// Package localstore keeps a device's FieldSync data in one SQLite file
// (modernc.org/sqlite, WAL): records as last heard from the server with the
// device's pending edits on top, the outbox of operations, photo files,
// the pull cursor, the rules, reviews and history.
//
// An edit and its outbox row commit in one transaction. An edit reported as
// saved has been written with synchronous=FULL, so it survives the app or the
// device stopping at any point after.
//
// Where things are: the store, its transactions and checkpoints (store.go);
// opening, and refusing a file that is not a whole store (open.go); the
// schema (migrate.go); records, their views and the edits that change them
// (records.go); the outbox (outbox.go); what a push answer and a pull bring
// (push.go, pull.go); photos (photos.go); reviews and history (reviews.go);
// the sign-in, settings, rules and people (meta.go); the device id
// (device.go).
//
// localstore imports the contract packages, fieldsync/internal/...
// (sqlitedb opens the file and runs the migrations; wirejson reads and
// writes record documents), the SQLite driver and uuid. It never imports
// app, server, syncqueue or Fyne: the app calls the store, and the store
// calls back only through the Rebaser it is given.
package localstore
