package sqlitestore

import (
	"encoding/json"

	"fieldsync/contract"
	"fieldsync/server"
)

func (q query) reviews(step, sqlText string, args ...any) ([]contract.Review, error) {
	rows, err := q.queryRows(sqlText, args...)
	if err != nil {
		return nil, wrap(step, err)
	}
	defer rows.Close()
	var out []contract.Review
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, wrap(step, err)
		}
		var rv contract.Review
		if err := json.Unmarshal(b, &rv); err != nil {
			return nil, wrap(step, err)
		}
		out = append(out, rv)
	}
	return out, wrap(step, rows.Err())
}

func (q query) Review(id string) (*contract.Review, error) {
	var rv contract.Review
	ok, err := q.doc(q.queryRow(`SELECT doc FROM reviews WHERE id = ?`, id), &rv)
	if !ok || err != nil {
		return nil, wrap("review", err)
	}
	return &rv, nil
}

func (q query) OpenReview(recordID, group string) (*contract.Review, error) {
	var rv contract.Review
	ok, err := q.doc(q.queryRow(`SELECT doc FROM reviews WHERE record_id = ? AND grp = ? AND status = 'open'`, recordID, group), &rv)
	if !ok || err != nil {
		return nil, wrap("open review", err)
	}
	return &rv, nil
}

func (q query) Reviews(sc server.Scope, openOnly bool) ([]contract.Review, error) {
	args := []any{}
	where := scopeClause(sc, &args)
	if openOnly {
		where += " AND status = 'open'"
	}
	return q.reviews("reviews", `SELECT doc FROM (SELECT doc, record_type AS type, scope, record_id AS rid, status, seq FROM reviews) WHERE `+where+` ORDER BY seq`, args...)
}

func (t *txn) PutReview(rv *contract.Review, scope string) error {
	b, err := json.Marshal(rv)
	if err != nil {
		return wrap("put review", err)
	}
	_, err = t.exec(`INSERT INTO reviews(id, record_id, record_type, scope, grp, status, seq, doc, match_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET status = excluded.status, seq = excluded.seq, doc = excluded.doc, scope = excluded.scope, match_id = excluded.match_id`,
		rv.ID, rv.RecordID, rv.RecordType, nullable(scope), rv.Group, rv.Status, rv.Seq, b, nullable(rv.MatchID))
	return wrap("put review", err)
}
