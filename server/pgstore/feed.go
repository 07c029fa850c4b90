package pgstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"fieldsync/contract"
	"fieldsync/server"

	"github.com/jackc/pgx/v5"
)

// horizonSQL computes the feed's horizon in the statement's snapshot, and
// the snapshot's end (the next transaction id). The horizon is the
// smallest id among the transactions running when the snapshot was taken
// that may be writing this database, or the snapshot's end when there is
// none: every transaction below it that could write the feed had ended
// before the snapshot, so nothing can still commit there. Rows below it
// are shown, the rest wait.
//
// foreign is a subquery listing (modulo 2^32) the ids known not to write
// this database: those of foreignSQL. Leaving them out keeps a long
// transaction in another database from holding back pulls here.
//
// Both are shifted as epochs are (see checkEpochs).
func (t *txn) horizonSQL(foreign string) string {
	shift := strconv.FormatInt(t.s.shift, 10)
	return `SELECT LEAST(pg_snapshot_xmax(s)::text::bigint,
		(SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) AS x
		 WHERE x::text::bigint % 4294967296 NOT IN ` + foreign + `)) + ` + shift + ` AS horizon,
		pg_snapshot_xmax(s)::text::bigint + ` + shift + ` AS next
	FROM pg_current_snapshot() AS s`
}

// foreignSQL lists the transactions pg_stat_activity shows running in
// another database, or as an autovacuum worker here (whose ANALYZE takes a
// transaction id but writes only catalogs), and nowhere as a client of
// this database (a parallel worker shares its leader's id).
//
// A look taken after the snapshot would count a foreign transaction that
// ended in between, holding back the horizon for no reason: so a Read
// whose first statement is a pull looks before it begins, in a round trip
// of its own, and passes what it saw to the pull.
const foreignSQL = `SELECT backend_xid::text::bigint FROM pg_stat_activity
	WHERE backend_xid IS NOT NULL
	GROUP BY backend_xid
	HAVING bool_and(datname IS DISTINCT FROM current_database() OR backend_type = 'autovacuum worker')`

// foreignIn returns the subquery of ids not writing this database, taken
// before the transaction began when it could be, adding its parameter to a.
func (t *txn) foreignIn(a *args) (string, error) {
	if !t.write && !t.begun && !t.lookedAbroad {
		if err := t.conn.QueryRow(t.ctx, `SELECT COALESCE(array_agg(x), '{}') FROM (`+foreignSQL+`) AS f(x)`).Scan(&t.foreign); err != nil {
			return "", t.check("look for other databases' transactions", err)
		}
		t.lookedAbroad = true
	}
	if !t.lookedAbroad {
		return "(" + foreignSQL + ")", nil
	}
	return "(SELECT unnest(" + a.add(t.foreign) + "::bigint[]))", nil
}

// scopeClause limits rows of a table to a scope; typ, scope and rid name
// the table's record type, job and record id columns.
func scopeClause(sc server.Scope, a *args, typ, scope, rid string) string {
	var parts []string
	if len(sc.Types) > 0 {
		parts = append(parts, typ+" = ANY("+a.add(sc.Types)+"::text[])")
	}
	if sc.UserID != "" {
		u := a.add(sc.UserID)
		// Lookups, one per row the pull walks in feed order: their cost
		// follows the changes after the cursor. "IN (SELECT … access …)"
		// read every job the user is on, on every pull; so does EXISTS
		// under a plan made for any cursor (PostgreSQL may hash it). A
		// subquery with LIMIT is never hashed: NULL when it finds nothing.
		parts = append(parts,
			"(SELECT true FROM access x WHERE x.user_id = "+u+" AND x.job_id = "+scope+" LIMIT 1)",
			"(SELECT true FROM links l JOIN access x ON x.job_id = l.from_id WHERE l.to_id = "+rid+" AND x.user_id = "+u+" LIMIT 1)")
	}
	if len(parts) == 0 {
		return "false"
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// Pull reads records and reviews after a position and below the horizon,
// merged in feed order by one statement that walks the (epoch, seq)
// indexes of both tables and stops after limit+1 rows.
func (t *txn) Pull(sc server.Scope, after server.Position, limit int, answered string) (server.FeedPage, error) {
	page := server.FeedPage{Last: after}
	if limit < 1 {
		return page, fmt.Errorf("pull: limit %d, want 1 or more", limit)
	}
	var a args
	foreign, err := t.foreignIn(&a)
	if err != nil {
		return page, err
	}
	hsql := t.horizonSQL(foreign)
	ae, as, lim := a.add(after.Epoch), a.add(after.Seq), a.add(limit+1)
	recWhere := scopeClause(sc, &a, "type", "scope", "id")
	if answered != "" {
		recWhere += " AND answered IS DISTINCT FROM " + a.add(answered)
	}
	rvWhere := scopeClause(sc, &a, "record_type", "scope", "record_id")
	feed := func(kind int, table, where string) string {
		return fmt.Sprintf(`(SELECT %d AS kind, epoch, seq, doc FROM %s
			WHERE (epoch, seq) > (%s, %s) AND epoch < (SELECT horizon FROM h) AND %s
			ORDER BY epoch, seq LIMIT %s)`, kind, table, ae, as, where, lim)
	}
	sql := `WITH h AS MATERIALIZED (` + hsql + `)
		SELECT kind, epoch, seq, doc FROM (` + feed(0, "records", recWhere) + ` UNION ALL ` + feed(1, "reviews", rvWhere) + `) f
		ORDER BY epoch, seq, kind LIMIT ` + lim

	b := &pgx.Batch{}
	horizon, next := t.horizon, t.next
	if t.write || horizon < 0 {
		// In Read, the same snapshot, so the same horizon: Head needs no
		// query.
		var ha args
		hf, _ := t.foreignIn(&ha) // known by now
		b.Queue(t.horizonSQL(hf), ha...).QueryRow(func(row pgx.Row) error { return row.Scan(&horizon, &next) })
	}
	n := 0
	queueEach(b, sql, a, func(rows pgx.Rows) error {
		var (
			kind int
			pos  server.Position
			doc  []byte
		)
		if err := rows.Scan(&kind, &pos.Epoch, &pos.Seq, &doc); err != nil {
			return err
		}
		if n++; n > limit {
			page.More = true
			return nil
		}
		page.Last = pos
		if kind == 0 {
			var rec contract.Record
			if err := json.Unmarshal(doc, &rec); err != nil {
				return fmt.Errorf("record at %d/%d: %w", pos.Epoch, pos.Seq, err)
			}
			page.Records = append(page.Records, rec)
			return nil
		}
		var rv contract.Review
		if err := json.Unmarshal(doc, &rv); err != nil {
			return fmt.Errorf("review at %d/%d: %w", pos.Epoch, pos.Seq, err)
		}
		page.Reviews = append(page.Reviews, rv)
		return nil
	})
	if err := t.send("pull", false, b); err != nil {
		return server.FeedPage{Last: after}, err
	}
	if !t.write {
		t.horizon, t.next = horizon, next
	}
	// Every position shown lies below the horizon of its time, and Head
	// is the horizon, which never passes the snapshot's end: nothing at
	// or past the end can have been given out.
	if after.Epoch > next || after.Epoch == next && after.Seq > 0 {
		return server.FeedPage{Last: after}, fmt.Errorf("pull after %d.%d, past the feed's end %d: %w", after.Epoch, after.Seq, next, server.ErrUnknownPosition)
	}
	return page, nil
}

// Head is the horizon: nothing can still commit at or before it.
func (t *txn) Head() (server.Position, error) {
	if !t.write && t.horizon >= 0 {
		return server.Position{Epoch: t.horizon}, nil
	}
	var a args
	foreign, err := t.foreignIn(&a)
	if err != nil {
		return server.Position{}, err
	}
	var h, next int64
	if _, err := t.queryRow("head", false, t.horizonSQL(foreign), a, &h, &next); err != nil {
		return server.Position{}, err
	}
	if !t.write {
		t.horizon, t.next = h, next
	}
	return server.Position{Epoch: h}, nil
}
