package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/internal/wirejson"
)

func (s *Server) handlePush(w http.ResponseWriter, r *http.Request, c *caller) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	// Requests of the usual shape are read without reflection; anything
	// else goes through encoding/json, which words the errors.
	req, ok := wirejson.DecodePushRequest(body)
	if !ok && !decodeJSON(w, body, &req) {
		return
	}
	if len(req.Ops) == 0 {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "a push needs at least one operation in ops")
		return
	}
	if max := s.rules.Limits.Batch; len(req.Ops) > max {
		writeError(w, http.StatusRequestEntityTooLarge, contract.CodeTooLarge,
			fmt.Sprintf("a push carries at most %d operations; this one has %d: split it", max, len(req.Ops)))
		return
	}
	out, docs, err := s.push(r.Context(), c.actor, req.Ops, true)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	// A push answer is results and records, encoded the fast way.
	size := len(`{"results":[],"copies":[]}`+"\n") + len(out.Results) + len(out.Copies)
	for i := range out.Results {
		if docs[i] == nil {
			var err error
			if docs[i], err = wirejson.MarshalResult(&out.Results[i]); err != nil {
				s.storeError(w, r, err)
				return
			}
		}
		size += len(docs[i])
	}
	for _, doc := range out.Copies {
		size += len(doc)
	}
	answer := append(make([]byte, 0, size), `{"results":[`...)
	for i, b := range docs {
		if i > 0 {
			answer = append(answer, ',')
		}
		answer = append(answer, b...)
	}
	answer = append(answer, `],"copies":[`...)
	for i, doc := range out.Copies {
		if i > 0 {
			answer = append(answer, ',')
		}
		answer = append(answer, doc...)
	}
	answer = append(answer, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
	w.WriteHeader(http.StatusOK)
	w.Write(answer)
}

// Push applies a batch of operations for actor in one transaction and
// returns the answer for actor's device: one result per operation, and
// copies of the records they wrote. Those records are marked as answered to
// that device, whose pulls may then leave them out: the caller must deliver
// the copies.
//
// actor's device is bound to actor's user, as a sign-in binds it, so that
// nobody can later sign in as that device; a device bound to another user
// is an error.
func (s *Server) Push(ctx context.Context, actor engine.Actor, ops []contract.Operation) (contract.PushResponse, error) {
	if err := s.store.Write(ctx, func(tx Tx) error {
		owner, err := tx.BindDevice(actor.DeviceID, actor.UserID, s.now().UTC())
		if err == nil && owner != actor.UserID {
			err = fmt.Errorf("push: device %q belongs to another user", actor.DeviceID)
		}
		return err
	}); err != nil {
		return contract.PushResponse{}, err
	}
	out, _, err := s.push(ctx, actor, ops, true)
	return out, err
}

// push applies a batch; with copies false the answer carries none and no
// record is marked as answered. It also returns each result's JSON where
// the store was given it (nil elsewhere), for the answer to reuse.
func (s *Server) push(ctx context.Context, actor engine.Actor, ops []contract.Operation, copies bool) (contract.PushResponse, [][]byte, error) {
	start := time.Now()
	var (
		out    contract.PushResponse
		docs   [][]byte
		failed []opFailure
	)
	err := s.store.Write(ctx, func(tx Tx) error {
		a := s.newApplier(tx)
		if copies {
			a.device = actor.DeviceID
		}
		var err error
		if out, err = a.applyBatch(actor, ops); err != nil {
			return err
		}
		docs = make([][]byte, len(out.Results))
		for i := range out.Results {
			docs[i] = a.resultDoc(&out.Results[i])
		}
		failed = a.failed
		return nil
	})
	s.metrics.pushSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return out, docs, err
	}
	// Counted and logged once the batch is stored: the store may have run
	// it more than once.
	for _, f := range failed {
		s.log.Error("apply operation", "op", f.op.ID, "type", f.op.RecordType, "action", f.op.Action, "err", f.err)
	}
	for i := range out.Results {
		s.metrics.ops.WithLabelValues(string(out.Results[i].Outcome)).Inc()
	}
	return out, docs, nil
}
