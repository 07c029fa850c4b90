package sqlitestore

import (
	"database/sql"
	"errors"
	"fmt"

	"fieldsync/internal/sqlitedb"
)

// migrations are applied in order, each once; a migration's number is its
// index plus one. Never edit one that has shipped: add another. Change-log
// rows are never deleted, so their plain rowids only grow.
var migrations = []string{
	// 1: the first schema.
	`CREATE TABLE records (
		id        TEXT PRIMARY KEY,
		type      TEXT NOT NULL,
		scope     TEXT,
		match_key TEXT,
		number    TEXT UNIQUE,
		seq       INTEGER NOT NULL,
		doc       BLOB NOT NULL
	);
	CREATE INDEX records_seq ON records(seq);
	CREATE INDEX records_scope ON records(scope);
	CREATE INDEX records_match ON records(type, match_key) WHERE match_key IS NOT NULL;

	CREATE TABLE links (
		from_id TEXT NOT NULL,
		to_id   TEXT NOT NULL,
		PRIMARY KEY (from_id, to_id)
	) WITHOUT ROWID;
	CREATE INDEX links_to ON links(to_id);

	CREATE TABLE access (
		user_id TEXT NOT NULL,
		job_id  TEXT NOT NULL,
		PRIMARY KEY (user_id, job_id)
	) WITHOUT ROWID;
	CREATE INDEX access_job ON access(job_id);

	CREATE TABLE ops (
		op_id   BLOB NOT NULL UNIQUE, -- 16 bytes: small keys keep the index small

		user_id TEXT NOT NULL,
		at      INTEGER NOT NULL,
		result  BLOB NOT NULL
	);

	CREATE TABLE changes (
		id          INTEGER PRIMARY KEY,
		record_type TEXT NOT NULL,
		record_id   BLOB NOT NULL, -- 16 bytes
		op_id       TEXT NOT NULL,
		user_id     TEXT NOT NULL,
		device_id   TEXT NOT NULL,
		device_time INTEGER NOT NULL,
		server_time INTEGER NOT NULL,
		grp         TEXT NOT NULL,
		field       TEXT NOT NULL,
		old         BLOB,
		new         BLOB,
		note        TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX changes_record ON changes(record_id);

	CREATE TABLE reviews (
		id          TEXT PRIMARY KEY,
		record_id   TEXT NOT NULL,
		record_type TEXT NOT NULL,
		scope       TEXT,
		grp         TEXT NOT NULL,
		status      TEXT NOT NULL,
		seq         INTEGER NOT NULL,
		doc         BLOB NOT NULL
	);
	CREATE INDEX reviews_seq ON reviews(seq);
	CREATE INDEX reviews_record ON reviews(record_id, grp, status);
	CREATE INDEX reviews_scope ON reviews(scope);

	CREATE TABLE users (
		id         TEXT PRIMARY KEY,
		name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
		role       TEXT NOT NULL,
		pw_hash    BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		disabled   INTEGER NOT NULL DEFAULT 0
	);

	CREATE TABLE sessions (
		hash       BLOB PRIMARY KEY,
		user_id    TEXT NOT NULL REFERENCES users(id),
		device_id  TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		revoked_at INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID;
	CREATE INDEX sessions_user ON sessions(user_id);

	CREATE TABLE counters (
		name  TEXT PRIMARY KEY,
		value INTEGER NOT NULL
	);`,

	// 2: the device whose push answer carried a record's current state, so
	// that its pulls can leave the record out.
	`ALTER TABLE records ADD COLUMN answered TEXT;`,

	// 3: devices belong to the user who first signed in with them, bound
	// first by the sessions already made, oldest first; and the sign-in
	// throttle, kept here so that it holds across restarts.
	`CREATE TABLE devices (
		device_id TEXT PRIMARY KEY,
		user_id   TEXT NOT NULL,
		bound_at  INTEGER NOT NULL
	) WITHOUT ROWID;
	INSERT OR IGNORE INTO devices(device_id, user_id, bound_at)
		SELECT device_id, user_id, created_at FROM sessions ORDER BY created_at, hash;

	CREATE TABLE login_throttle (
		key      TEXT PRIMARY KEY,
		failures INTEGER NOT NULL,
		last_at  INTEGER NOT NULL,
		until    INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX login_throttle_last ON login_throttle(last_at);`,

	// 4: the job a suspected duplicate's review names as its match, so that
	// people put on that job later are sent the review again, now naming it.
	`ALTER TABLE reviews ADD COLUMN match_id TEXT;
	UPDATE reviews SET match_id = json_extract(CAST(doc AS TEXT), '$.match_id');
	CREATE INDEX reviews_match ON reviews(match_id) WHERE match_id IS NOT NULL;`,

	// 5: the parts of photo uploads in progress, each a blob of its own,
	// so that uploads resume across restarts and across servers sharing a
	// blob store. Partial files of earlier versions are swept; their
	// devices upload again from the first byte.
	`CREATE TABLE upload_parts (
		photo_id TEXT NOT NULL,
		offset   INTEGER NOT NULL,
		size     INTEGER NOT NULL,
		key      TEXT NOT NULL,
		at       INTEGER NOT NULL,
		PRIMARY KEY (photo_id, offset)
	) WITHOUT ROWID;
	CREATE INDEX upload_parts_at ON upload_parts(at);`,
}

// migrate brings the database's schema up to date.
func migrate(db *sql.DB) error {
	err := sqlitedb.Migrate(db, migrations)
	if newer, ok := errors.AsType[*sqlitedb.NewerError](err); ok {
		return fmt.Errorf("the database is at schema version %d but this build knows only %d; use a newer fieldsyncd", newer.Version, newer.Known)
	}
	return err
}
