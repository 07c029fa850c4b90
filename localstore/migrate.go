package localstore

import (
	"database/sql"
	"errors"
	"fmt"

	"fieldsync/internal/sqlitedb"
)

// migrations are applied in order, each once; a migration's number is its
// index plus one. Never edit one that has shipped: add another.
var migrations = []string{
	// 1: the first schema.
	`CREATE TABLE meta (
		key   TEXT PRIMARY KEY,
		value BLOB NOT NULL
	);

	-- A record as last heard from the server (server, NULL until the
	-- server has it) and as the user sees it: the server's copy with the
	-- device's pending edits on top (view).
	CREATE TABLE records (
		id        TEXT PRIMARY KEY,
		type      TEXT NOT NULL,
		parent_id TEXT,
		server    BLOB,
		view      BLOB NOT NULL
	);
	CREATE INDEX records_type ON records(type);
	CREATE INDEX records_parent ON records(parent_id);

	-- Operations in the order the user made them. AUTOINCREMENT keeps that
	-- order even after rows are deleted.
	CREATE TABLE outbox (
		seq         INTEGER PRIMARY KEY AUTOINCREMENT,
		op_id       TEXT NOT NULL UNIQUE,
		record_id   TEXT NOT NULL,
		record_type TEXT NOT NULL,
		op          BLOB NOT NULL,
		state       TEXT NOT NULL,
		result      BLOB,
		attempts    INTEGER NOT NULL DEFAULT 0,
		last_error  TEXT NOT NULL DEFAULT '',
		created_at  INTEGER NOT NULL,
		updated_at  INTEGER NOT NULL
	);
	CREATE INDEX outbox_record ON outbox(record_id);
	CREATE INDEX outbox_state ON outbox(state, seq);

	-- Photo content kept on the device until the server has all of it.
	CREATE TABLE photos (
		id       TEXT PRIMARY KEY,
		job_id   TEXT NOT NULL,
		path     TEXT NOT NULL,
		size     INTEGER NOT NULL,
		sha256   TEXT NOT NULL,
		uploaded INTEGER NOT NULL DEFAULT 0,
		state    TEXT NOT NULL,
		error    TEXT NOT NULL DEFAULT '',
		attempts INTEGER NOT NULL DEFAULT 0,
		added_at INTEGER NOT NULL
	);

	CREATE TABLE reviews (
		id        TEXT PRIMARY KEY,
		record_id TEXT NOT NULL,
		status    TEXT NOT NULL,
		doc       BLOB NOT NULL
	);
	CREATE INDEX reviews_record ON reviews(record_id);

	CREATE TABLE history (
		record_id  TEXT PRIMARY KEY,
		doc        BLOB NOT NULL,
		fetched_at INTEGER NOT NULL
	);

	CREATE TABLE users (
		id  TEXT PRIMARY KEY,
		doc BLOB NOT NULL
	);`,

	// 2: an item's parent kept with its operation, so a refused item still
	// marks its job after its own view is gone.
	`ALTER TABLE outbox ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';`,

	// 3: the server copy's place in the change stream, so that an older
	// copy never replaces a newer one.
	`ALTER TABLE records ADD COLUMN server_seq INTEGER NOT NULL DEFAULT 0;
	UPDATE records SET server_seq = COALESCE(json_extract(server, '$.seq'), 0) WHERE server IS NOT NULL;`,
}

// migrate brings the store's schema up to date.
func migrate(db *sql.DB) error {
	err := sqlitedb.Migrate(db, migrations)
	if newer, ok := errors.AsType[*sqlitedb.NewerError](err); ok {
		return fmt.Errorf("the device database is at schema version %d but this app knows only %d; update the app", newer.Version, newer.Known)
	}
	return err
}
