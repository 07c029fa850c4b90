package pgstore

import (
	"encoding/json"
	"fmt"

	"fieldsync/contract"
	"fieldsync/server"

	"github.com/jackc/pgx/v5"
)

// reviews runs a statement whose first column is a review document.
func (t *txn) reviews(step, sql string, args ...any) ([]contract.Review, error) {
	var out []contract.Review
	err := t.each(step, false, sql, args, func(rows pgx.Rows) error {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return err
		}
		var rv contract.Review
		if err := json.Unmarshal(doc, &rv); err != nil {
			return err
		}
		out = append(out, rv)
		return nil
	})
	return out, err
}

func (t *txn) one(step, sql string, args ...any) (*contract.Review, error) {
	rvs, err := t.reviews(step, sql, args...)
	if err != nil || len(rvs) == 0 {
		return nil, err
	}
	return &rvs[0], nil
}

func (t *txn) Review(id string) (*contract.Review, error) {
	return t.one("review", `SELECT doc FROM reviews WHERE id = $1`, id)
}

func (t *txn) OpenReview(recordID, group string) (*contract.Review, error) {
	return t.one("open review", `SELECT doc FROM reviews WHERE record_id = $1 AND grp = $2 AND status = 'open'`, recordID, group)
}

func (t *txn) Reviews(sc server.Scope, openOnly bool) ([]contract.Review, error) {
	var a args
	where := scopeClause(sc, &a, "record_type", "scope", "record_id")
	if openOnly {
		where += " AND status = 'open'"
	}
	return t.reviews("reviews", `SELECT doc FROM reviews WHERE `+where+` ORDER BY seq`, a...)
}

// PutReview stores a review. Of two transactions opening a review of the
// same field group at once, the second fails on reviews_one_open and runs
// again, when it finds the first one's review.
func (t *txn) PutReview(rv *contract.Review, scope string) error {
	doc, err := json.Marshal(rv)
	if err != nil {
		return fmt.Errorf("put review: %w", err)
	}
	_, err = t.exec("put review", true, `INSERT INTO reviews(id, record_id, record_type, scope, grp, status, match_id, epoch, seq, doc)
		VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, NULLIF($7, ''), `+t.s.epoch+`, $8, $9)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, scope = excluded.scope, match_id = excluded.match_id,
			epoch = excluded.epoch, seq = excluded.seq, doc = excluded.doc`,
		rv.ID, rv.RecordID, rv.RecordType, scope, rv.Group, rv.Status, rv.MatchID, rv.Seq, doc)
	return err
}
