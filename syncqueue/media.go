package syncqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"fieldsync/contract"
	"fieldsync/internal/apiclient"
	"fieldsync/localstore"
)

// mediaRound uploads every photo whose metadata the server has. Photos
// that went up, and one whose upload failed, are added to the summary of
// the data round that sent their metadata.
func (q *Queue) mediaRound(ctx context.Context) error {
	st := q.opt.Store
	photos, err := st.Photos(localstore.PhotoWaiting)
	if err != nil {
		return err
	}
	uploaded, failed := 0, map[string]bool{}
	defer func() {
		q.mu.Lock()
		if uploaded > 0 {
			q.summary.PhotosUp = true
		}
		q.summary.Unfinished = len(failed)
		q.uploadFailed = failed
		q.mu.Unlock()
	}()
	for i, p := range photos {
		e, err := st.Record(p.ID)
		if err != nil {
			return err
		}
		if e == nil || e.Server == nil {
			// Its metadata has not reached the server yet, or never will: an
			// append the server refused, or one held for review and settled
			// without it, leaves content that can never go up.
			if why, never, err := photoNotTaken(st, p.ID); err != nil {
				return err
			} else if never {
				if err := st.PhotoFailed(p.ID, why); err != nil {
					return err
				}
			}
			continue
		}
		done, err := q.upload(ctx, p, i+1, len(photos))
		if err != nil {
			// With no signal, or signed out, nothing was tried: the line
			// says why. Anything else failed this photo's upload.
			if !errors.Is(err, apiclient.ErrNoSignal) && !apiclient.IsUnauthorized(err) && !errors.Is(err, context.Canceled) {
				failed[p.ID] = true
			}
			return err
		}
		if done {
			uploaded++
		}
	}
	return nil
}

// photoNotTaken reports whether the server will never have a photo's
// record: none is stored and no operation that may still make it (queued,
// applied and not yet pulled, or held for review) is in the outbox. why is
// the server's reason, for the user.
func photoNotTaken(st Outbox, id string) (why string, never bool, err error) {
	ops, err := st.PendingFor(id)
	if err != nil {
		return "", false, err
	}
	why = "the server did not take this photo"
	for _, p := range ops {
		switch p.State {
		case localstore.Queued, localstore.Applied, localstore.Held:
			return "", false, nil
		case localstore.Refused:
			if p.Result != nil && p.Result.Message != "" {
				why = "the server did not take this photo: " + p.Result.Message
			}
		}
	}
	return why, true, nil
}

// upload sends one photo's content from the last byte the server has. It
// reports whether the photo is now wholly on the server.
func (q *Queue) upload(ctx context.Context, p localstore.Photo, index, of int) (bool, error) {
	st, c := q.opt.Store, q.opt.Client
	defer q.progress(p, 0, 0, 0, false)
	status, err := c.UploadStatus(ctx, p.ID)
	if err != nil {
		var e *apiclient.Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			return false, nil // not visible on the server yet
		}
		return false, err
	}
	if status.Complete {
		return true, st.PhotoDone(p.ID, p.Size)
	}
	f, err := os.Open(p.Path)
	if err != nil {
		st.PhotoFailed(p.ID, "the photo's file is gone from this device")
		return false, nil
	}
	defer f.Close()
	offset := status.Received
	for {
		q.progress(p, index, of, offset, true)
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return false, err
		}
		from := offset
		status, err = c.UploadChunk(ctx, p.ID, offset, io.LimitReader(f, q.opt.ChunkSize))
		if err != nil {
			var e *apiclient.Error
			errors.As(err, &e)
			switch {
			case e != nil && e.Detail.Code == contract.CodeChecksum:
				if p.Attempts++; p.Attempts >= 3 {
					st.PhotoFailed(p.ID, "the photo keeps arriving damaged; add it again")
					return false, nil
				}
				st.PhotoAttempt(p.ID, e.Detail.Message)
				offset = 0
				continue
			case e != nil && e.Detail.Code == contract.CodeOffset:
				if status, err = c.UploadStatus(ctx, p.ID); err != nil {
					return false, err
				}
				offset = status.Received
				continue
			case e != nil && e.Status == http.StatusRequestEntityTooLarge:
				st.PhotoFailed(p.ID, e.Detail.Message)
				return false, nil
			}
			// Cut short: remember what arrived; the next round resumes there.
			if s2, err2 := c.UploadStatus(ctx, p.ID); err2 == nil {
				st.SetUploaded(p.ID, s2.Received)
			}
			st.PhotoAttempt(p.ID, err.Error())
			return false, err
		}
		offset = status.Received
		if err := st.SetUploaded(p.ID, offset); err != nil {
			return false, err
		}
		if status.Complete {
			return true, st.PhotoDone(p.ID, p.Size)
		}
		if offset <= from {
			// The server took nothing and did not finish: the whole file
			// is there (the empty chunk at its end asks it to finish) but
			// it could not record so. Try again after the lane's wait,
			// never in a loop.
			err := fmt.Errorf("the server has %d of %d bytes of the photo but did not finish it", offset, p.Size)
			st.PhotoAttempt(p.ID, err.Error())
			return false, err
		}
	}
}

// progress records an upload's progress and tells subscribers.
func (q *Queue) progress(p localstore.Photo, index, of int, sent int64, active bool) {
	q.mu.Lock()
	if active {
		q.uploads[p.ID] = Upload{PhotoID: p.ID, JobID: p.JobID, Index: index, Of: of, Sent: sent, Size: p.Size}
	} else {
		delete(q.uploads, p.ID)
	}
	q.mu.Unlock()
	q.Refresh()
}
