package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
	"fieldsync/server/blobstore"
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

// upload is what the server knows of a photo's upload.
type upload struct {
	contract.UploadStatus
	// Whole says the finished blob is in place; Complete says besides that
	// the photo's record says so, which every device learns by pulling.
	Whole bool
	// Parts are the parts from the first byte on, without a gap.
	Parts []Part
}

// uploadStatus says how much of a photo's content the server has, and
// whether the file is whole. The upload is complete only when the file is
// whole and the photo's record says so: when the store failed just after
// the last chunk, the file is in place but no other device has heard of
// it, and the author's device must finish the upload.
func (s *Server) uploadStatus(ctx context.Context, rec *contract.Record) (upload, error) {
	up := upload{UploadStatus: contract.UploadStatus{PhotoID: rec.ID, Size: rec.Int("size")}}
	key, err := photoKey(rec.ID)
	if err != nil {
		return up, err
	}
	info, err := s.blobs.Stat(ctx, key)
	switch {
	case err == nil:
		up.Received, up.Whole, up.Complete = info.Size, true, rec.ContentReady
		return up, nil
	case !errors.Is(err, blobstore.ErrNotFound):
		return up, err
	}
	var parts []Part
	err = s.store.Read(ctx, func(q Query) error {
		var err error
		parts, err = q.Parts(rec.ID)
		return err
	})
	up.Received, up.Parts = received(parts)
	return up, err
}

func (s *Server) handleUploadStatus(w http.ResponseWriter, r *http.Request, c *caller) {
	rec, ok := s.photoFor(w, r, c)
	if !ok {
		return
	}
	up, err := s.uploadStatus(r.Context(), rec)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(up.Received, 10))
	writeJSON(w, http.StatusOK, up.UploadStatus)
}

// handleUpload takes one chunk of a photo's content at ?offset=N. The offset
// must be the number of bytes the server already has; the last chunk is
// checked against the photo's sha256. Each chunk is kept as a part of its
// own, so the next chunk may go to any server sharing the database and
// the blob store. Of two chunks sent at the same offset at once, to one
// server or two, one is kept and the other refused.
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
	ctx := r.Context()
	size := rec.Int("size")
	up, err := s.uploadStatus(ctx, rec)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(up.Received, 10))
	if up.Whole {
		// Nothing more is written to a whole file. Its announcement may
		// have failed, when the store was busy just after the last chunk:
		// this request (an empty chunk at offset == size, or the last
		// chunk sent again) makes it now, or is told to try again.
		if !up.Complete {
			if err := s.markContentReady(r, c, rec.ID); err != nil {
				s.storeError(w, r, err)
				return
			}
			up.Complete = true
		}
		writeJSON(w, http.StatusOK, up.UploadStatus)
		return
	}
	if offset != up.Received {
		writeError(w, http.StatusConflict, contract.CodeOffset,
			fmt.Sprintf("the server has %d bytes of this photo; send from offset %d, not %d", up.Received, up.Received, offset))
		return
	}
	var cut error
	up, cut, ok = s.takeChunk(w, r, rec, up)
	if !ok {
		return
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(up.Received, 10))
	if cut != nil {
		// A cut connection keeps what arrived; the device asks and resumes.
		s.log.Info("upload cut short", "photo", rec.ID, "received", up.Received, "err", cut)
		writeError(w, http.StatusBadRequest, contract.CodeIncomplete,
			fmt.Sprintf("the upload was cut short after %d bytes; resume from offset %d", up.Received, up.Received))
		return
	}
	if up.Received < size {
		writeJSON(w, http.StatusOK, up.UploadStatus)
		return
	}
	// Every byte is in: check them and put the finished file in place.
	// When this fails part way, the parts stay, and the device's next
	// request (an empty chunk at the photo's end) finishes it.
	if err := s.finishUpload(r, c, rec, up.Parts); errors.Is(err, errChecksum) {
		w.Header().Set("Upload-Offset", "0")
		writeError(w, http.StatusUnprocessableEntity, contract.CodeChecksum,
			"the content's sha256 does not match the photo's; it was discarded: upload it again from offset 0")
		return
	} else if err != nil {
		s.storeError(w, r, err)
		return
	}
	up.Complete = true
	writeJSON(w, http.StatusOK, up.UploadStatus)
}

// takeChunk keeps the chunk of the request as the photo's next part, and
// returns the upload with it. cut is the error that ended a chunk cut
// short, whose bytes that arrived were kept. When it returns !ok it has
// written the answer.
func (s *Server) takeChunk(w http.ResponseWriter, r *http.Request, rec *contract.Record, up upload) (_ upload, cut error, ok bool) {
	ctx := r.Context()
	offset, size := up.Received, rec.Int("size")
	f, n, cut, err := spool(r.Body, size-offset)
	s.metrics.uploadBytes.Add(float64(n))
	switch {
	case errors.Is(err, errTooLong):
		writeError(w, http.StatusRequestEntityTooLarge, contract.CodeTooLarge,
			fmt.Sprintf("the upload is longer than the photo's declared size of %d bytes; nothing of this chunk was kept", size))
		return up, nil, false
	case err != nil:
		s.storeError(w, r, err)
		return up, nil, false
	}
	defer f.Close()
	if n == 0 {
		return up, cut, true
	}
	// The part goes on even if the device goes away now: its bytes arrived.
	ctx = context.WithoutCancel(ctx)
	part := Part{PhotoID: rec.ID, Offset: offset, Size: n, Key: newPartKey(rec.ID, offset), At: s.now().UTC()}
	if err := s.blobs.Put(ctx, part.Key, f, n); err != nil {
		s.storeError(w, r, fmt.Errorf("put upload part: %w", err))
		return up, nil, false
	}
	var parts []Part
	added := false
	err = s.store.Write(ctx, func(tx Tx) error {
		var err error
		if parts, err = tx.Parts(rec.ID); err != nil {
			return err
		}
		if have, _ := received(parts); have != offset {
			added = false
			return nil
		}
		added, err = tx.AddPart(part)
		return err
	})
	if err != nil || !added {
		s.deleteBlobs(ctx, []Part{part})
	}
	if err != nil {
		s.storeError(w, r, err)
		return up, nil, false
	}
	if !added {
		now, err := s.uploadStatus(ctx, rec)
		if err != nil {
			s.storeError(w, r, err)
			return up, nil, false
		}
		w.Header().Set("Upload-Offset", strconv.FormatInt(now.Received, 10))
		writeError(w, http.StatusConflict, contract.CodeOffset,
			fmt.Sprintf("another upload of this photo reached offset %d first; nothing of this chunk was kept; the server has %d bytes, send from offset %d",
				offset, now.Received, now.Received))
		return up, nil, false
	}
	up.Parts = append(up.Parts, part)
	up.Received += n
	return up, cut, true
}

// finishUpload checks the parts against the photo's sha256 and copies them
// into the finished file, then tells every device. A mismatch forgets the
// parts: the upload starts again from the first byte.
func (s *Server) finishUpload(r *http.Request, c *caller, rec *contract.Record, parts []Part) error {
	ctx := context.WithoutCancel(r.Context())
	ok, err := s.checkParts(ctx, parts, rec.Text("sha256"))
	if err != nil {
		return fmt.Errorf("check upload parts: %w", err)
	}
	if !ok {
		err := s.store.Write(ctx, func(tx Tx) error { return tx.DropParts(rec.ID) })
		if err != nil {
			return err
		}
		s.deleteBlobs(ctx, parts)
		return errChecksum
	}
	key, err := photoKey(rec.ID)
	if err != nil {
		return err
	}
	body := &partsReader{ctx: ctx, blobs: s.blobs, parts: parts}
	err = s.blobs.Put(ctx, key, body, rec.Int("size"))
	body.Close()
	if err != nil {
		return fmt.Errorf("put photo: %w", err)
	}
	if err := s.markContentReady(r, c, rec.ID); err != nil {
		return err
	}
	s.deleteBlobs(ctx, parts)
	return nil
}

// markContentReady tells every device that can see the photo that its
// content is on the server, and forgets the upload's parts. It goes on if
// the client goes away: the file is already in place. If it fails, the
// status does not say complete, and the author's device finishes the
// upload with another request.
func (s *Server) markContentReady(r *http.Request, c *caller, id string) error {
	return s.store.Write(context.WithoutCancel(r.Context()), func(tx Tx) error {
		if err := tx.DropParts(id); err != nil {
			return err
		}
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
	key, err := photoKey(rec.ID)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	f, _, err := s.blobs.Open(r.Context(), key)
	if errors.Is(err, blobstore.ErrNotFound) {
		writeError(w, http.StatusNotFound, contract.CodeIncomplete, "the photo's content has not been uploaded yet; try again later")
		return
	}
	if err != nil {
		s.storeError(w, r, err)
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
