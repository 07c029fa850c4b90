package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"fieldsync/contract"
)

func (s *Server) handleReviews(w http.ResponseWriter, r *http.Request, c *caller) {
	status := r.URL.Query().Get("status")
	if status != "" && status != "open" && status != "all" {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "status must be open or all")
		return
	}
	var rvs []contract.Review
	if err := s.store.Read(r.Context(), func(q Query) error {
		var err error
		if rvs, err = q.Reviews(s.scope(c.actor), status != "all"); err != nil {
			return err
		}
		return s.hideMatches(q, c.actor, nil, rvs)
	}); err != nil {
		s.storeError(w, r, err)
		return
	}
	if rvs == nil {
		rvs = []contract.Review{}
	}
	writeJSON(w, http.StatusOK, contract.ReviewsResponse{Reviews: rvs})
}

func (s *Server) handleResolve(w http.ResponseWriter, r *http.Request, c *caller) {
	var req contract.ResolveRequest
	if !s.decodeBody(w, r, &req) {
		return
	}
	if _, ok := contract.ValidUUID(r.PathValue("id")); !ok {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "the review id in the path is not a UUID")
		return
	}
	if _, ok := contract.ValidUUID(req.OpID); !ok {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "op_id must be a UUID made by the client, so that a retry is not applied twice")
		return
	}
	values := map[string]json.RawMessage{"choice": contract.Text(req.Choice)}
	if req.Entry != "" {
		values["entry"] = contract.Text(req.Entry)
	}
	if req.Values != nil {
		b, _ := json.Marshal(req.Values)
		values["values"] = b
	}
	if req.DeviceID != "" && req.DeviceID != c.session.DeviceID {
		writeError(w, http.StatusBadRequest, contract.CodeWrongDevice,
			fmt.Sprintf("device_id %q is not the device you signed in from (%q); leave it out", clip(req.DeviceID), c.session.DeviceID))
		return
	}
	op := contract.Operation{ID: req.OpID, RecordType: contract.ReviewType, RecordID: r.PathValue("id"),
		Action: contract.ActionResolve, Values: values, DeviceID: c.session.DeviceID, DeviceTime: s.now().UTC()}
	// The answer is one result, without copies: the caller pulls the
	// records the decision changed.
	out, _, err := s.push(r.Context(), c.actor, []contract.Operation{op}, false)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	res := out.Results[0]
	final := res.Final()
	if final.Outcome == contract.Refused {
		status := http.StatusConflict
		switch final.Code {
		case contract.CodeForbidden:
			status = http.StatusForbidden
		case contract.CodeNotFound:
			status = http.StatusNotFound
		case contract.CodeBadValue, contract.CodeInvalid:
			status = http.StatusBadRequest
		case contract.CodeInternal:
			status = http.StatusServiceUnavailable
		}
		writeError(w, status, final.Code, final.Message)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
