package pgstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/wirejson"
	"fieldsync/server"

	"github.com/jackc/pgx/v5"
)

const changeCols = `id, record_type, record_id, op_id, user_id, device_id, device_time, server_time, grp, field, old, new, note`

func (t *txn) Changes(recordID string) ([]contract.Change, error) {
	return t.changes("changes", `WHERE record_id = $1 ORDER BY id`, recordID)
}

func (t *txn) LastChange(recordID, group string) (*contract.Change, error) {
	cs, err := t.changes("last change", `WHERE record_id = $1 AND grp = $2 ORDER BY id DESC LIMIT 1`, recordID, group)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return &cs[0], nil
}

func (t *txn) changes(step, where string, args ...any) ([]contract.Change, error) {
	var out []contract.Change
	err := t.each(step, false, `SELECT `+changeCols+` FROM changes `+where, args, func(rows pgx.Rows) error {
		var (
			c          contract.Change
			dt, st     int64
			oldV, newV []byte
		)
		if err := rows.Scan(&c.ID, &c.RecordType, &c.RecordID, &c.OpID, &c.UserID, &c.DeviceID, &dt, &st,
			&c.Group, &c.Field, &oldV, &newV, &c.Note); err != nil {
			return err
		}
		c.DeviceTime, c.ServerTime = time.Unix(0, dt).UTC(), time.Unix(0, st).UTC()
		c.Old, c.New = oldV, newV
		out = append(out, c)
		return nil
	})
	return out, err
}

// addChanges returns the statement appending change-log rows.
func addChanges(changes []contract.Change) []*pgx.QueuedQuery {
	if len(changes) == 0 {
		return nil
	}
	n := len(changes)
	var (
		typ, rid, op, user, dev, grp, field, note = make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		dt, st     = make([]int64, n), make([]int64, n)
		oldV, newV = make([][]byte, n), make([][]byte, n)
	)
	for i, c := range changes {
		typ[i], rid[i], op[i], user[i], dev[i] = c.RecordType, c.RecordID, c.OpID, c.UserID, c.DeviceID
		dt[i], st[i] = c.DeviceTime.UnixNano(), c.ServerTime.UnixNano()
		grp[i], field[i], note[i] = c.Group, c.Field, c.Note
		oldV[i], newV[i] = c.Old, c.New
	}
	return []*pgx.QueuedQuery{{SQL: `INSERT INTO changes(record_type, record_id, op_id, user_id, device_id, device_time, server_time, grp, field, old, new, note)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
			$8::text[], $9::text[], $10::bytea[], $11::bytea[], $12::text[])`,
		Arguments: []any{typ, rid, op, user, dev, dt, st, grp, field, oldV, newV, note}}}
}

// opIDs returns the ids among ids that can be stored (UUIDs), each once,
// in order: claims taken in one order by everyone never wait in a circle.
func opIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if u, ok := contract.ValidUUID(id); ok {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// queueResults queues the read of the stored results among ids.
func queueResults(b *pgx.Batch, ids []string, out *[]server.StoredResult) {
	queueEach(b, `SELECT op_id::text, user_id, at, result FROM results WHERE op_id = ANY($1::uuid[]) AND result IS NOT NULL`,
		[]any{ids}, func(rows pgx.Rows) error {
			var (
				sr  server.StoredResult
				at  int64
				doc []byte
			)
			if err := rows.Scan(&sr.OpID, &sr.UserID, &at, &doc); err != nil {
				return err
			}
			sr.At = time.Unix(0, at).UTC()
			if err := json.Unmarshal(doc, &sr.Result); err != nil {
				return fmt.Errorf("result of %s: %w", sr.OpID, err)
			}
			*out = append(*out, sr)
			return nil
		})
}

func (t *txn) Results(ids []string) ([]server.StoredResult, error) {
	ids = opIDs(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	var out []server.StoredResult
	b := &pgx.Batch{}
	queueResults(b, ids, &out)
	return out, t.send("results", false, b)
}

func (t *txn) Result(opID string) (*server.StoredResult, error) {
	rs, err := t.Results([]string{opID})
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	return &rs[0], nil
}

// Claim inserts an empty result for each new operation id, in id order,
// and reads the stored results of the others, in one round trip. An id a
// running transaction has claimed makes the insert wait for it: then its
// result is there to read, or its claim is gone and the id is claimed here.
func (t *txn) Claim(ids []string) ([]server.StoredResult, error) {
	ids = opIDs(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	var out []server.StoredResult
	b := &pgx.Batch{}
	// Every id tried is released at commit unless it got a result: ids
	// another transaction claimed have a result or no row by now.
	t.claimed = append(t.claimed, ids...)
	b.Queue(`INSERT INTO results(op_id) SELECT u FROM unnest($1::uuid[]) AS u ORDER BY u ON CONFLICT DO NOTHING`, ids)
	queueResults(b, ids, &out)
	return out, t.send("claim", true, b)
}

// putResults returns the statement storing results in their claims, or
// in new rows. A result stored already by another transaction means this
// one raced it without a claim: the statement fails as a conflict, and the
// retry finds that result.
func putResults(rs []server.StoredResult) ([]*pgx.QueuedQuery, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	n := len(rs)
	ids, users, ats, docs := make([]string, n), make([]string, n), make([]int64, n), make([][]byte, n)
	for i := range rs {
		r := &rs[i]
		id, ok := contract.ValidUUID(r.OpID)
		if !ok {
			return nil, fmt.Errorf("put results: operation id %q is not a UUID", r.OpID)
		}
		doc := r.Doc
		if doc == nil {
			var err error
			if doc, err = wirejson.MarshalResult(&r.Result); err != nil {
				return nil, fmt.Errorf("put results: %w", err)
			}
		}
		ids[i], users[i], ats[i], docs[i] = id, r.UserID, r.At.UnixNano(), doc
	}
	return []*pgx.QueuedQuery{{SQL: `WITH put AS (
			INSERT INTO results(op_id, user_id, at, result)
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bytea[])
			ON CONFLICT (op_id) DO UPDATE SET user_id = excluded.user_id, at = excluded.at, result = excluded.result
			WHERE results.result IS NULL
			RETURNING 1)
		SELECT CASE WHEN count(*) = $5 THEN 0
			ELSE fieldsync_conflict('an operation of this batch has a result stored already') END FROM put`,
		Arguments: []any{ids, users, ats, docs, n}}}, nil
}
