package app

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"fieldsync/contract"
	"fieldsync/localstore"
)

// AddNote appends a note to a job; its id comes from the form, so a second
// save of the same form changes nothing.
func (a *App) AddNote(jobRef, noteID, text string) (*contract.Record, error) {
	job, err := a.record(jobRef)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(text) == "" {
		return nil, contract.Errorf(contract.CodeBadValue, "a note needs some text")
	}
	return a.appendItem("note", noteID, job.View.ID, map[string]json.RawMessage{"text": contract.Text(text)}, nil)
}

// AddPart appends a part line to a job.
func (a *App) AddPart(jobRef, partID, sku, description string, qty int64) (*contract.Record, error) {
	job, err := a.record(jobRef)
	if err != nil {
		return nil, err
	}
	vals := map[string]json.RawMessage{"sku": contract.Text(sku), "quantity": contract.Int(qty)}
	if description != "" {
		vals["description"] = contract.Text(description)
	}
	return a.appendItem("part", partID, job.View.ID, vals, nil)
}

// AddPhoto copies a photo into the device's store and appends it to a job;
// its content uploads in the media lane.
func (a *App) AddPhoto(jobRef, photoID, filename, contentType string, content io.Reader) (*contract.Record, error) {
	job, err := a.record(jobRef)
	if err != nil {
		return nil, err
	}
	if photoID == "" {
		photoID = a.newID()
	}
	if e, err := a.store.Record(photoID); err != nil || e != nil {
		return viewOf(e), err // the same photo again
	}
	path, size, sum, err := a.store.ImportPhoto(photoID, content, a.currentRules().Limits.Photo)
	if err != nil {
		return nil, err
	}
	vals := map[string]json.RawMessage{"size": contract.Int(size), "sha256": contract.Text(sum),
		"filename": contract.Text(filepath.Base(filename))}
	if contentType != "" {
		vals["content_type"] = contract.Text(contentType)
	}
	rec, err := a.appendItem("photo", photoID, job.View.ID, vals,
		&localstore.Photo{ID: photoID, JobID: job.View.ID, Path: path, Size: size, SHA256: sum})
	if err != nil {
		os.Remove(path) // refused: the copy has no row and would never leave
	}
	return rec, err
}

func viewOf(e *localstore.Entry) *contract.Record {
	if e == nil {
		return nil
	}
	return e.View
}

func (a *App) appendItem(typ, id, jobID string, vals map[string]json.RawMessage, photo *localstore.Photo) (*contract.Record, error) {
	if id == "" {
		id = a.newID()
	}
	if e, err := a.store.Record(id); err != nil || e != nil {
		return viewOf(e), err // saved already: one record, one operation
	}
	vals["job_id"] = contract.Text(jobID)
	return a.submit(a.newOp(typ, id, contract.ActionAppend, nil, vals), photo)
}

// Sign records the customer's signature: the drawn image, when there is
// one, goes up as a photo; the name and time are set once.
func (a *App) Sign(jobRef, signer string, image io.Reader) (*contract.Record, error) {
	job, err := a.record(jobRef)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(signer) == "" {
		return nil, contract.Errorf(contract.CodeBadValue, "the signer's name is required")
	}
	vals := map[string]any{"signer_name": signer, "signed_at": a.cfg.Now().UTC().Format(time.RFC3339)}
	// Check the signature before the image goes anywhere: a refused
	// signature must not leave a photo behind.
	me, err := a.actor()
	if err != nil {
		return nil, err
	}
	if ok, why := a.eng().MayEdit(me, job.View, nil, "signature"); !ok {
		return nil, contract.Errorf(contract.CodeForbidden, "%s.", strings.TrimSuffix(why, "."))
	}
	if job.View.Text("signer_name") != "" {
		return nil, contract.Errorf(contract.CodeWriteOnce, "signature is already set and cannot change.")
	}
	if image != nil {
		photo, err := a.AddPhoto(job.View.ID, "", "signature.png", "image/png", image)
		if err != nil {
			return nil, err
		}
		vals["signature_photo"] = photo.ID
	}
	return a.SetFields(job.View.ID, vals)
}
