package server

import (
	"fmt"
	"net/http"

	"fieldsync/contract"
)

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request, c *caller) {
	id, ok := contract.ValidUUID(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "the record id in the path is not a UUID")
		return
	}
	typ := r.PathValue("type")
	if s.rules.Record(typ) == nil {
		writeError(w, http.StatusBadRequest, contract.CodeUnknownType, fmt.Sprintf("unknown record type %q", clip(typ)))
		return
	}
	var (
		changes []contract.Change
		found   bool
	)
	err := s.store.Read(r.Context(), func(q Query) error {
		rec, err := q.Record(id)
		if err != nil || rec == nil || rec.Type != typ {
			return err
		}
		if found, err = s.visible(q, c.actor, rec); err != nil || !found {
			return err
		}
		if changes, err = q.Changes(id); err != nil {
			return err
		}
		names := map[string]string{}
		for i := range changes {
			uid := changes[i].UserID
			if _, ok := names[uid]; !ok {
				if u, err := q.User(uid); err == nil && u != nil {
					names[uid] = u.Name
				}
			}
			changes[i].UserName = names[uid]
		}
		return nil
	})
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, contract.CodeNotFound, fmt.Sprintf("no %s %s that you can see", typ, id))
		return
	}
	if changes == nil {
		changes = []contract.Change{}
	}
	writeJSON(w, http.StatusOK, contract.HistoryResponse{Changes: changes})
}
