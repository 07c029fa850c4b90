package sqlitestore

import (
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/wirejson"
	"fieldsync/server"
)

func (q query) Changes(recordID string) ([]contract.Change, error) {
	return q.changes(`WHERE record_id = ? ORDER BY id`, idKey(recordID))
}

func (q query) LastChange(recordID, group string) (*contract.Change, error) {
	cs, err := q.changes(`WHERE record_id = ? AND grp = ? ORDER BY id DESC LIMIT 1`, idKey(recordID), group)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return &cs[0], nil
}

func (q query) changes(where string, args ...any) ([]contract.Change, error) {
	rows, err := q.queryRows(`SELECT id, record_type, record_id, op_id, user_id, device_id, device_time, server_time, grp, field, old, new, note
		FROM changes `+where, args...)
	if err != nil {
		return nil, wrap("changes", err)
	}
	defer rows.Close()
	var out []contract.Change
	for rows.Next() {
		var (
			c               contract.Change
			dt, st          int64
			rid, oldV, newV []byte
		)
		if err := rows.Scan(&c.ID, &c.RecordType, &rid, &c.OpID, &c.UserID, &c.DeviceID, &dt, &st, &c.Group, &c.Field, &oldV, &newV, &c.Note); err != nil {
			return nil, wrap("changes", err)
		}
		c.RecordID = idString(rid)
		c.DeviceTime, c.ServerTime = time.Unix(0, dt).UTC(), time.Unix(0, st).UTC()
		c.Old, c.New = oldV, newV
		out = append(out, c)
	}
	return out, wrap("changes", rows.Err())
}

func (t *txn) addChanges(changes []contract.Change) error {
	for len(changes) > 0 {
		part := changes[:min(len(changes), perStatement)]
		changes = changes[len(part):]
		args := make([]any, 0, len(part)*12)
		for _, c := range part {
			args = append(args, c.RecordType, idKey(c.RecordID), c.OpID, c.UserID, c.DeviceID, c.DeviceTime.UnixNano(), c.ServerTime.UnixNano(),
				c.Group, c.Field, []byte(c.Old), []byte(c.New), c.Note)
		}
		_, err := t.raw().exec(`INSERT INTO changes(record_type, record_id, op_id, user_id, device_id, device_time, server_time, grp, field, old, new, note)
			VALUES `+valuesRows(len(part), 12), args...)
		if err != nil {
			return wrap("add changes", err)
		}
	}
	return nil
}

func (q query) Results(opIDs []string) ([]server.StoredResult, error) {
	var out []server.StoredResult
	err := chunks(opIDs, func(part []any) error {
		for i, id := range part {
			part[i] = idKey(id.(string))
		}
		rows, err := q.queryRows(`SELECT op_id, user_id, at, result FROM ops WHERE op_id IN (`+inList(len(part))+`)`, part...)
		if err != nil {
			return wrap("results", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				sr   server.StoredResult
				at   int64
				b, k sql.RawBytes // decoded before the next row: no copy needed
			)
			if err := rows.Scan(&k, &sr.UserID, &at, &b); err != nil {
				return wrap("results", err)
			}
			sr.OpID = idString(k)
			sr.At = time.Unix(0, at).UTC()
			if err := json.Unmarshal(b, &sr.Result); err != nil {
				return wrap("results", err)
			}
			out = append(out, sr)
		}
		return wrap("results", rows.Err())
	})
	return out, err
}

func (q query) Result(opID string) (*server.StoredResult, error) {
	var (
		userID string
		at     int64
		b      []byte
	)
	err := q.queryRow(`SELECT user_id, at, result FROM ops WHERE op_id = ?`, idKey(opID)).Scan(&userID, &at, &b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("result", err)
	}
	sr := &server.StoredResult{OpID: opID, UserID: userID, At: time.Unix(0, at).UTC()}
	return sr, wrap("result", json.Unmarshal(b, &sr.Result))
}

func (t *txn) putResults(rs []server.StoredResult) error {
	for len(rs) > 0 {
		part := rs[:min(len(rs), perStatement)]
		rs = rs[len(part):]
		args := make([]any, 0, len(part)*4)
		for _, r := range part {
			b := r.Doc
			if b == nil {
				var err error
				if b, err = wirejson.MarshalResult(&r.Result); err != nil {
					return wrap("put results", err)
				}
			}
			args = append(args, idKey(r.OpID), r.UserID, r.At.UnixNano(), b)
		}
		if _, err := t.raw().exec(`INSERT INTO ops(op_id, user_id, at, result) VALUES `+valuesRows(len(part), 4), args...); err != nil {
			return wrap("put results", err)
		}
	}
	return nil
}
