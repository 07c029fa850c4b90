package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"fieldsync/contract"
	"fieldsync/server/blobstore"

	"github.com/google/uuid"
)

// at returns the same device talking to the site's other server.
func (c *client) at(other bool) *client {
	cc := *c
	cc.via = nil
	if other {
		cc.via = c.s.other
	}
	return &cc
}

// upload sends a chunk of a photo's content and returns the status code
// and, on 200, the upload's status.
func (c *client) upload(photo string, offset int, chunk []byte) (int, contract.UploadStatus, error) {
	var st contract.UploadStatus
	code, err := c.send("PUT", fmt.Sprintf("/v1/photos/%s/content?offset=%d", photo, offset), bytes.NewReader(chunk), "application/octet-stream", &st)
	return code, st, err
}

// uploadsAcrossServers: an upload's chunks may reach different servers
// sharing the store, and of chunks sent at the same offset at once, to
// either server, exactly one is kept, whole: never two merged. The photo
// then completes once, and no part is left behind.
func uploadsAcrossServers(t *testing.T, s *site) {
	dana, alex := s.login("dana", "office-pc"), s.login("alex", "alex-phone")
	job := dana.job(dana.customer("Harbor Bakery"), "alex", "Replace pump seal", "12 Quay Street", day)
	content := make([]byte, 30_000)
	for i := range content {
		content[i] = byte(i*7 + i/251)
	}
	sum := sha256.Sum256(content)
	photo := uuid.NewString()
	alex.must(alex.op("photo", photo, contract.ActionAppend, nil, map[string]any{"job_id": job, "filename": "seal.jpg",
		"content_type": "image/jpeg", "size": len(content), "sha256": hex.EncodeToString(sum[:])}))

	for i, other := range []bool{false, true} {
		code, st, err := alex.at(other).upload(photo, i*10_000, content[i*10_000:(i+1)*10_000])
		if err != nil || code != http.StatusOK || st.Received != int64((i+1)*10_000) {
			t.Fatalf("chunk %d to server %d: status %d %+v %v", i+1, i+1, code, st, err)
		}
	}

	// Eight sends at offset 20,000 at once, of different lengths, half to
	// each server: one is kept.
	const racers = 8
	codes := make([]int, racers)
	got := make([]contract.UploadStatus, racers)
	together(racers, func(i int) {
		var err error
		codes[i], got[i], err = alex.at(i%2 == 1).upload(photo, 20_000, content[20_000:20_000+1000*(i+1)])
		if err != nil {
			t.Error(err)
		}
	})
	kept := -1
	for i, code := range codes {
		switch code {
		case http.StatusOK:
			if kept >= 0 {
				t.Errorf("two chunks at offset 20000 were both kept: %d and %d bytes", 1000*(kept+1), 1000*(i+1))
			}
			kept = i
		case http.StatusConflict:
		default:
			t.Errorf("racing chunk %d: status %d, want 200 or 409", i, code)
		}
	}
	if kept < 0 {
		t.Fatalf("none of the chunks racing for offset 20000 was kept: %v", codes)
	}
	have := 20_000 + 1000*(kept+1)
	for _, other := range []bool{false, true} {
		var st contract.UploadStatus
		code, err := alex.at(other).send("GET", "/v1/photos/"+photo+"/upload", nil, "", &st)
		if err != nil || code != http.StatusOK || st.Received != int64(have) || st.Complete {
			t.Fatalf("status from server %v: %d %+v %v; want %d bytes, the kept chunk's end, not complete", other, code, st, err, have)
		}
	}

	// The device finishes from there, on the other server.
	code, st, err := alex.at(true).upload(photo, have, content[have:])
	if err != nil || code != http.StatusOK || !st.Complete || st.Received != int64(len(content)) {
		t.Fatalf("the last chunk: status %d %+v %v; want complete", code, st, err)
	}
	for _, other := range []bool{false, true} {
		req, _ := http.NewRequest("GET", map[bool]string{false: s.ts.URL, true: s.other.URL}[other]+"/v1/photos/"+photo+"/content", nil)
		req.Header.Set("Authorization", "Bearer "+dana.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, content) {
			t.Errorf("download from server %v: status %d, %d bytes, want the %d sent", other, resp.StatusCode, len(b), len(content))
		}
	}
	if !dana.record(photo).ContentReady {
		t.Errorf("the office's pull does not show the photo's content as ready")
	}
	uploaded := 0
	for _, ch := range dana.history("photo", photo) {
		if strings.Contains(ch.Note, "uploaded") {
			uploaded++
		}
	}
	if uploaded != 1 {
		t.Errorf("the photo's history says its content was uploaded %d times, want once", uploaded)
	}
	d, err := blobstore.Dir(s.blobs)
	if err != nil {
		t.Fatal(err)
	}
	if left, err := d.List(context.Background(), "partial/"); err != nil || len(left) > 0 {
		t.Errorf("after the upload finished, parts were left behind: %v %v", left, err)
	}
}
