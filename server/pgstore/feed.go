package pgstore

import (
	"encoding/json"
	"fmt"
	"strings"

	"fieldsync/contract"
	"fieldsync/server"

	"github.com/jackc/pgx/v5"
)

// horizonSQL computes the feed's horizon in the statement's snapshot: the
// smallest id among the transactions running when the snapshot was taken
// that may be writing this database (those seen running in another
// database cannot), or the snapshot's end when there is none. Every
// transaction below the horizon that could write the feed had ended
// before the snapshot, so nothing can still commit there: rows below it
// are shown, the rest wait. Leaving out other databases' transactions
// keeps a long one there from holding back pulls here; leaving out the
// server's own workers (autovacuum's ANALYZE takes a transaction id in
// this database, but writes only catalogs) keeps them from holding back
// pulls right after a burst of writes.
const horizonSQL = `SELECT LEAST(pg_snapshot_xmax(s)::text::bigint,
		(SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) AS x
		 WHERE x::text::bigint % 4294967296 NOT IN (
			SELECT backend_xid::text::bigint FROM pg_stat_activity
			WHERE backend_xid IS NOT NULL
			  AND (datname IS DISTINCT FROM current_database() OR backend_type <> 'client backend')))) AS horizon
	FROM pg_current_snapshot() AS s`

// scopeClause limits rows of a table to a scope; typ, scope and rid name
// the table's record type, job and record id columns.
func scopeClause(sc server.Scope, a *args, typ, scope, rid string) string {
	var parts []string
	if len(sc.Types) > 0 {
		parts = append(parts, typ+" = ANY("+a.add(sc.Types)+"::text[])")
	}
	if sc.UserID != "" {
		u := a.add(sc.UserID)
		parts = append(parts,
			scope+" IN (SELECT job_id FROM access WHERE user_id = "+u+")",
			rid+" IN (SELECT l.to_id FROM links l JOIN access x ON x.job_id = l.from_id WHERE x.user_id = "+u+")")
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
	sql := `WITH h AS MATERIALIZED (` + horizonSQL + `)
		SELECT kind, epoch, seq, doc FROM (` + feed(0, "records", recWhere) + ` UNION ALL ` + feed(1, "reviews", rvWhere) + `) f
		ORDER BY epoch, seq, kind LIMIT ` + lim

	b := &pgx.Batch{}
	horizon := t.horizon
	if t.write || horizon < 0 {
		// In Read, the same snapshot, so the same horizon: Head needs no
		// query.
		b.Queue(horizonSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&horizon) })
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
		t.horizon = horizon
	}
	// Every position shown lies below the horizon of its time, and Head
	// is the horizon: nothing at or past it can have been given out.
	if after.Epoch > horizon || after.Epoch == horizon && after.Seq > 0 {
		return server.FeedPage{Last: after}, fmt.Errorf("pull after %d.%d, past the feed's head %d: %w", after.Epoch, after.Seq, horizon, server.ErrUnknownPosition)
	}
	return page, nil
}

// Head is the horizon: nothing can still commit at or before it.
func (t *txn) Head() (server.Position, error) {
	if !t.write && t.horizon >= 0 {
		return server.Position{Epoch: t.horizon}, nil
	}
	var h int64
	if _, err := t.queryRow("head", false, horizonSQL, nil, &h); err != nil {
		return server.Position{}, err
	}
	if !t.write {
		t.horizon = h
	}
	return server.Position{Epoch: h}, nil
}
