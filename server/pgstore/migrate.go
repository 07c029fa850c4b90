package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// migrations are applied in order, each once and in a transaction of its
// own; a migration's number is its index plus one. Never edit one that has
// shipped: add another.
//
// Documents (doc, result) are the exact JSON bytes the server made, kept
// as bytea: never parsed or reformatted on the way in or out. Times are
// Unix nanoseconds, as in the SQLite store, so that copies between the two
// keep every digit. epoch is the id of the transaction that last wrote a
// row and seq a number from feed_seq: together they place the row in the
// change feed.
var migrations = []string{
	// 1: the first schema.
	`CREATE SEQUENCE feed_seq;

	CREATE TABLE records (
		id        text PRIMARY KEY,
		type      text NOT NULL,
		scope     text,
		match_key text,
		number    text UNIQUE,
		answered  text,
		epoch     bigint NOT NULL,
		seq       bigint NOT NULL,
		doc       bytea NOT NULL
	);
	CREATE INDEX records_feed ON records(epoch, seq);
	CREATE INDEX records_scope ON records(scope);
	CREATE INDEX records_match ON records(type, match_key) WHERE match_key IS NOT NULL;

	CREATE TABLE links (
		from_id text NOT NULL,
		to_id   text NOT NULL,
		PRIMARY KEY (from_id, to_id)
	);
	CREATE INDEX links_to ON links(to_id);

	CREATE TABLE access (
		user_id text NOT NULL,
		job_id  text NOT NULL,
		PRIMARY KEY (user_id, job_id)
	);
	CREATE INDEX access_job ON access(job_id);

	-- A row with no result is a claim: the operation is being applied by
	-- a transaction still running.
	CREATE TABLE results (
		op_id   uuid PRIMARY KEY,
		user_id text,
		at      bigint,
		result  bytea
	);

	CREATE TABLE changes (
		id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		record_type text NOT NULL,
		record_id   text NOT NULL,
		op_id       text NOT NULL,
		user_id     text NOT NULL,
		device_id   text NOT NULL,
		device_time bigint NOT NULL,
		server_time bigint NOT NULL,
		grp         text NOT NULL,
		field       text NOT NULL,
		old         bytea,
		new         bytea,
		note        text NOT NULL DEFAULT ''
	);
	CREATE INDEX changes_record ON changes(record_id, id);

	CREATE TABLE reviews (
		id          text PRIMARY KEY,
		record_id   text NOT NULL,
		record_type text NOT NULL,
		scope       text,
		grp         text NOT NULL,
		status      text NOT NULL,
		match_id    text,
		epoch       bigint NOT NULL,
		seq         bigint NOT NULL,
		doc         bytea NOT NULL
	);
	CREATE INDEX reviews_feed ON reviews(epoch, seq);
	CREATE INDEX reviews_record ON reviews(record_id, grp, status);
	CREATE INDEX reviews_scope ON reviews(scope);
	CREATE INDEX reviews_match ON reviews(match_id) WHERE match_id IS NOT NULL;
	CREATE UNIQUE INDEX reviews_one_open ON reviews(record_id, grp) WHERE status = 'open';

	CREATE TABLE users (
		id         text PRIMARY KEY,
		name       text NOT NULL,
		role       text NOT NULL,
		pw_hash    bytea NOT NULL,
		created_at bigint NOT NULL,
		disabled   boolean NOT NULL DEFAULT false
	);
	CREATE UNIQUE INDEX users_name ON users(lower(name));

	CREATE TABLE sessions (
		hash       bytea PRIMARY KEY,
		user_id    text NOT NULL REFERENCES users(id),
		device_id  text NOT NULL,
		created_at bigint NOT NULL,
		expires_at bigint NOT NULL,
		revoked_at bigint NOT NULL DEFAULT 0
	);
	CREATE INDEX sessions_user ON sessions(user_id);

	CREATE TABLE devices (
		device_id text PRIMARY KEY,
		user_id   text NOT NULL,
		bound_at  bigint NOT NULL
	);

	CREATE TABLE login_throttle (
		key      text PRIMARY KEY,
		failures integer NOT NULL,
		last_at  bigint NOT NULL,
		until    bigint NOT NULL
	);
	CREATE INDEX login_throttle_last ON login_throttle(last_at);

	CREATE TABLE counters (
		name  text PRIMARY KEY,
		value bigint NOT NULL
	);

	-- Fails a statement as a unique violation, from inside it: a check
	-- made in Go would come after the rest of the round trip, COMMIT
	-- included, had run.
	CREATE FUNCTION fieldsync_conflict(msg text) RETURNS bigint LANGUAGE plpgsql AS $$
	BEGIN
		RAISE EXCEPTION USING ERRCODE = 'unique_violation', MESSAGE = msg;
	END $$;`,

	// 2: feed positions survive a dump restored into another cluster,
	// whose transaction ids start lower: shift is added to every
	// transaction id the feed uses, and high_water is the largest
	// position the feed is known to have shown (see checkEpochs).
	`CREATE TABLE feed_epoch (
		one        boolean PRIMARY KEY DEFAULT true CHECK (one),
		shift      bigint NOT NULL,
		high_water bigint NOT NULL
	);
	INSERT INTO feed_epoch(shift, high_water) VALUES (0, 0);`,

	// 3: the parts of photo uploads in progress, each a blob of its own,
	// so that a chunk may reach any server and uploads resume across them.
	`CREATE TABLE upload_parts (
		photo_id text NOT NULL,
		"offset" bigint NOT NULL,
		size     bigint NOT NULL,
		key      text NOT NULL,
		at       bigint NOT NULL,
		PRIMARY KEY (photo_id, "offset")
	);
	CREATE INDEX upload_parts_at ON upload_parts(at);`,
}

// migrateLock is the advisory lock key held while migrating, so that two
// servers starting at once do not both apply a migration.
const migrateLock = 0x6669656c6473796e // "fieldsyn"

// migrate brings the database's schema up to date, applying each missing
// migration in its own transaction, and checks the feed's epochs, under an
// advisory lock. It returns the shift to add to transaction ids.
func migrate(ctx context.Context, conn *pgx.Conn) (shift int64, err error) {
	err = migrateTo(ctx, conn, migrations, func() error {
		shift, err = checkEpochs(ctx, conn)
		return err
	})
	return shift, err
}

// restoreMargin is how far past the largest position known a restored
// database's feed goes on: more transaction ids than a server uses between
// two marks of its high water.
const restoreMargin = 1 << 32

// checkEpochs finds a database restored into a cluster whose transaction
// ids are below the positions its feed showed, and shifts its epochs past
// them, so that devices' cursors still lie before every new write. It
// then marks the high water.
func checkEpochs(ctx context.Context, conn *pgx.Conn) (int64, error) {
	var shift, high, top, next int64
	err := conn.QueryRow(ctx, `SELECT shift, high_water,
			GREATEST((SELECT max(epoch) FROM records), (SELECT max(epoch) FROM reviews), 0),
			pg_snapshot_xmax(pg_current_snapshot())::text::bigint
		FROM feed_epoch`).Scan(&shift, &high, &top, &next)
	if err != nil {
		return 0, fmt.Errorf("read the feed's epochs: %w", err)
	}
	top = max(top, high)
	if next+shift < top {
		shift = top + restoreMargin - next
	}
	if _, err := conn.Exec(ctx, `UPDATE feed_epoch SET shift = $1,
		high_water = GREATEST(high_water, pg_snapshot_xmax(pg_current_snapshot())::text::bigint + $1)`, shift); err != nil {
		return 0, fmt.Errorf("mark the feed's high water: %w", err)
	}
	return shift, nil
}

func migrateTo(ctx context.Context, conn *pgx.Conn, list []string, after func() error) (err error) {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLock)); err != nil {
		return fmt.Errorf("lock for migrating: %w", err)
	}
	defer func() {
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLock)); uerr != nil && err == nil {
			err = fmt.Errorf("unlock after migrating: %w", uerr)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("make the migrations table: %w", err)
	}
	var have int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	if have > len(list) {
		return fmt.Errorf("the database is at schema version %d but this build knows only %d; use a newer fieldsyncd", have, len(list))
	}
	for v := have + 1; v <= len(list); v++ {
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// The simple protocol runs a migration's several statements.
			if err := tx.Conn().PgConn().Exec(ctx, list[v-1]).Close(); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations(version) VALUES ($1)`, v)
			return err
		}); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return after()
}
