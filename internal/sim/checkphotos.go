package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"time"

	"fieldsync/internal/apiclient"
)

// checkPhotos downloads the content of every photo the server says is
// whole, as the office sees it, through the server's own address (with
// several instances, the load balancer's, so any instance may serve it):
// a photo whose content is missing, or is not the bytes its sha256 and
// size promise, is lost, whatever its record says.
func (s *sim) checkPhotos(srv *serverState) error {
	var office string
	for _, u := range s.users {
		if u.Role == "supervisor" {
			office = u.Name
			break
		}
	}
	c, err := apiclient.New(s.url, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Minute)
	defer cancel()
	login, err := c.Login(ctx, office, password, "photo-check")
	if err != nil {
		return fmt.Errorf("photo check: sign in as %s: %w", office, err)
	}
	c.SetToken(login.Token)
	checked := 0
	for _, id := range srv.ids {
		rec := srv.records[id]
		if rec.Type != "photo" || !rec.ContentReady {
			continue
		}
		checked++
		h := &sizedHash{h: sha256.New()}
		if err := c.Download(ctx, id, h); err != nil {
			s.rep.Lost++
			s.rep.problem("photo %s: its record says its content is whole, but it does not download: %v", short(id), err)
			continue
		}
		sum := hex.EncodeToString(h.h.Sum(nil))
		if sum != rec.Text("sha256") || h.n != rec.Int("size") {
			s.rep.Lost++
			s.rep.problem("photo %s: downloads as %d bytes with sha256 %s; its record says %d bytes with %s",
				short(id), h.n, sum[:12], rec.Int("size"), rec.Text("sha256"))
		}
	}
	s.logf("photos: %d whole on the server, each downloaded and checked against its sha256", checked)
	return nil
}

// sizedHash hashes what is written to it and counts the bytes.
type sizedHash struct {
	h hash.Hash
	n int64
}

func (w *sizedHash) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.h.Write(p)
}
