package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

// photoFor loads the record whose content an upload request is about and
// checks the caller may see it. It writes the error answer itself.
func (s *Server) photoFor(w http.ResponseWriter, r *http.Request, c *caller) (*contract.Record, bool) {
	id, ok := contract.ValidUUID(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "the photo id in the path is not a UUID")
		return nil, false
	}
	var (
		rec *contract.Record
		vis bool
	)
	err := s.store.Read(r.Context(), func(q Query) error {
		var err error
		if rec, err = q.Record(id); err != nil || rec == nil {
			return err
		}
		vis, err = s.visible(q, c.actor, rec)
		return err
	})
	if err != nil {
		s.storeError(w, r, err)
		return nil, false
	}
	if rec == nil || !vis || !hasContent(s.rules.Record(rec.Type)) {
		writeError(w, http.StatusNotFound, contract.CodeNotFound, fmt.Sprintf("no photo %s that you can see; push its metadata first", id))
		return nil, false
	}
	return rec, true
}

// hasContent reports whether records of a type carry uploaded content.
func hasContent(rr *rulebook.RecordRule) bool {
	if rr == nil {
		return false
	}
	sha, size := rr.Field("sha256"), rr.Field("size")
	return sha != nil && sha.Type == rulebook.TypeSHA256 && size != nil
}

// uploadStatus says how much of a photo's content the server has, and
// whether the file is whole. The upload is complete only when the file is
// whole and the photo's record says so: when the store failed just after
// the last chunk, the file is in place but no other device has heard of
// it, and the author's device must finish the upload.
func (s *Server) uploadStatus(rec *contract.Record) (st contract.UploadStatus, whole bool, err error) {
	n, whole, err := s.blobs.status(rec.ID)
	st = contract.UploadStatus{PhotoID: rec.ID, Size: rec.Int("size"), Received: n, Complete: whole && rec.ContentReady}
	return st, whole, err
}

func (s *Server) handleUploadStatus(w http.ResponseWriter, r *http.Request, c *caller) {
	rec, ok := s.photoFor(w, r, c)
	if !ok {
		return
	}
	st, _, err := s.uploadStatus(rec)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(st.Received, 10))
	writeJSON(w, http.StatusOK, st)
}

// handleUpload takes one chunk of a photo's content at ?offset=N. The offset
// must be the number of bytes the server already has; the last chunk is
// checked against the photo's sha256.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request, c *caller) {
	rec, ok := s.photoFor(w, r, c)
	if !ok {
		return
	}
	if rec.Author != c.actor.UserID {
		writeError(w, http.StatusForbidden, contract.CodeForbidden, "only the person who added the photo uploads its content")
		return
	}
	offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if err != nil || offset < 0 {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "offset must be given as a whole number of bytes, 0 or more")
		return
	}
	size, sha := rec.Int("size"), rec.Text("sha256")
	mu := s.blobs.lock(rec.ID)
	mu.Lock()
	defer mu.Unlock()
	st, whole, err := s.uploadStatus(rec)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(st.Received, 10))
	if whole {
		// Nothing more is written to a whole file. Its announcement may
		// have failed, when the store was busy just after the last chunk:
		// this request (an empty chunk at offset == size, or the last
		// chunk sent again) makes it now, or is told to try again.
		if !st.Complete {
			if err := s.markContentReady(r, c, rec.ID); err != nil {
				s.storeError(w, r, err)
				return
			}
			st.Complete = true
		}
		writeJSON(w, http.StatusOK, st)
		return
	}
	if offset != st.Received {
		writeError(w, http.StatusConflict, contract.CodeOffset,
			fmt.Sprintf("the server has %d bytes of this photo; send from offset %d, not %d", st.Received, st.Received, offset))
		return
	}
	n, err := s.blobs.write(rec.ID, offset, r.Body, size-offset)
	s.metrics.uploadBytes.Add(float64(n))
	switch {
	case errors.Is(err, errTooLong):
		writeError(w, http.StatusRequestEntityTooLarge, contract.CodeTooLarge,
			fmt.Sprintf("the upload is longer than the photo's declared size of %d bytes; nothing of this chunk was kept", size))
		return
	case err != nil:
		// A cut connection keeps what arrived; the device asks and resumes.
		s.log.Info("upload cut short", "photo", rec.ID, "received", offset+n, "err", err)
		w.Header().Set("Upload-Offset", strconv.FormatInt(offset+n, 10))
		writeError(w, http.StatusBadRequest, contract.CodeIncomplete,
			fmt.Sprintf("the upload was cut short after %d bytes; resume from offset %d", offset+n, offset+n))
		return
	}
	st.Received = offset + n
	w.Header().Set("Upload-Offset", strconv.FormatInt(st.Received, 10))
	if st.Received < size {
		writeJSON(w, http.StatusOK, st)
		return
	}
	if err := s.blobs.finish(rec.ID, sha); errors.Is(err, errChecksum) {
		w.Header().Set("Upload-Offset", "0")
		writeError(w, http.StatusUnprocessableEntity, contract.CodeChecksum,
			"the content's sha256 does not match the photo's; it was discarded: upload it again from offset 0")
		return
	} else if err != nil {
		s.storeError(w, r, err)
		return
	}
	if err := s.markContentReady(r, c, rec.ID); err != nil {
		s.storeError(w, r, err)
		return
	}
	st.Complete = true
	writeJSON(w, http.StatusOK, st)
}

// markContentReady tells every device that can see the photo that its
// content is on the server. It goes on if the client goes away: the file
// is already in place. If it fails, the status does not say complete, and
// the author's device finishes the upload with another request.
func (s *Server) markContentReady(r *http.Request, c *caller, id string) error {
	return s.store.Write(context.WithoutCancel(r.Context()), func(tx Tx) error {
		rec, err := tx.Record(id)
		if err != nil || rec == nil || rec.ContentReady {
			return err
		}
		next := rec.Clone()
		next.ContentReady = true
		op := &contract.Operation{ID: "upload:" + id, DeviceID: c.actor.DeviceID, DeviceTime: s.now().UTC()}
		a := s.newApplier(tx)
		return a.save(rec, next, op, c.actor, nil, "Photo content uploaded.")
	})
}

func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request, c *caller) {
	rec, ok := s.photoFor(w, r, c)
	if !ok {
		return
	}
	f, err := s.blobs.open(rec.ID)
	if err != nil {
		writeError(w, http.StatusNotFound, contract.CodeIncomplete, "the photo's content has not been uploaded yet; try again later")
		return
	}
	defer f.Close()
	ct := rec.Text("content_type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", rec.UpdatedAt, f)
}
