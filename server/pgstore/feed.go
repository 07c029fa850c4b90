package pgstore

import (
	"encoding/json"
	"fmt"
	"strings"

	"fieldsync/contract"
	"fieldsync/server"

	"github.com/jackc/pgx/v5"
)

// horizonSQL is the feed's horizon in the statement's snapshot: every
// transaction with a smaller id has ended, so nothing can still commit
// there. Rows below it are shown; the rest wait.
const horizonSQL = `pg_snapshot_xmin(pg_current_snapshot())::text::bigint`

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
			WHERE (epoch, seq) > (%s, %s) AND epoch < (SELECT xmin FROM h) AND %s
			ORDER BY epoch, seq LIMIT %s)`, kind, table, ae, as, where, lim)
	}
	sql := `WITH h AS MATERIALIZED (SELECT ` + horizonSQL + ` AS xmin)
		SELECT kind, epoch, seq, doc FROM (` + feed(0, "records", recWhere) + ` UNION ALL ` + feed(1, "reviews", rvWhere) + `) f
		ORDER BY epoch, seq, kind LIMIT ` + lim

	b := &pgx.Batch{}
	if !t.write && t.horizon < 0 {
		// The same snapshot, so the same horizon: Head needs no query.
		b.Queue(`SELECT ` + horizonSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&t.horizon) })
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
	return page, nil
}

// Head is the horizon: nothing can still commit at or before it.
func (t *txn) Head() (server.Position, error) {
	if !t.write && t.horizon >= 0 {
		return server.Position{Epoch: t.horizon}, nil
	}
	var h int64
	if _, err := t.queryRow("head", false, `SELECT `+horizonSQL, nil, &h); err != nil {
		return server.Position{}, err
	}
	if !t.write {
		t.horizon = h
	}
	return server.Position{Epoch: h}, nil
}
