package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/internal/pgtest"
	"fieldsync/internal/s3test"
	"fieldsync/server"
	"fieldsync/server/blobstore/s3"
)

// s3Cluster is a bucket on a real versitygw, as --blobs names it, with the
// credentials the commands get from their environment.
type s3Cluster struct {
	cfg   s3.Config
	blobs string
	env   []string
}

func newS3Cluster(t *testing.T) s3Cluster {
	t.Helper()
	gw := s3test.Start(t)
	cfg := gw.NewBucket(t)
	cfg.Prefix = "team"
	return s3Cluster{
		cfg:   cfg,
		blobs: fmt.Sprintf("s3://%s/team?endpoint=%s&region=%s&insecure=1", cfg.Bucket, cfg.Endpoint, s3test.Region),
		env:   []string{s3.EnvAccessKey + "=" + cfg.AccessKey, s3.EnvSecretKey + "=" + cfg.SecretKey},
	}
}

// run runs fieldsyncd with args and the bucket's credentials to the end.
func (c s3Cluster) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := command(t, args...)
	cmd.Env = append(cmd.Env, c.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fieldsyncd %s: %v\n%s", args[0], err, out)
	}
	return string(out)
}

// serve starts fieldsyncd serve on db and the bucket.
func (c s3Cluster) serve(t *testing.T, db string) *serverProc {
	t.Helper()
	return startServerEnv(t, c.env, serving, "serve", "--addr", "127.0.0.1:0", "--db", db, "--blobs", c.blobs)
}

func TestServeKeepsPhotosInS3(t *testing.T) {
	t.Parallel()
	c := newS3Cluster(t)
	db := filepath.Join(t.TempDir(), "fieldsync.db")
	c.run(t, "demo", "--seed-only", "--db", db, "--blobs", c.blobs)
	srv := c.serve(t, db)
	if !strings.Contains(srv.output(), "s3://"+c.cfg.Bucket+"/team?endpoint=") {
		t.Errorf("the log does not name the bucket:\n%s", srv.output())
	}

	content := randomBytes(t, 300_000)
	token := signInOK(t, srv.addr, "alex", "alex-laptop")
	photo := pushPhoto(t, srv.addr, token, "alex-laptop", jobTitled(t, srv.addr, token, "Replace pump seal"), content)
	upload(t, srv.addr, token, photo, content, 0, 100_000)
	upload(t, srv.addr, token, photo, content, 100_000, len(content))
	if got := download(t, srv.addr, token, photo); !bytes.Equal(got, content) {
		t.Fatalf("the photo came back as %d bytes, not the %d sent", len(got), len(content))
	}
	srv.stop(t)

	// The photo is an object in the bucket, under the prefix, and nothing
	// of the upload's parts is left beside it.
	st, err := s3.New(context.Background(), c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := st.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 1 || !strings.HasPrefix(blobs[0].Key, "photos/") || blobs[0].Size != int64(len(content)) {
		t.Errorf("the bucket holds %+v, want the one photo of %d bytes under photos/", blobs, len(content))
	}
	if strings.Contains(srv.output(), c.cfg.SecretKey) {
		t.Errorf("the server's log shows the secret key:\n%s", srv.output())
	}
}

func TestTwoInstancesShareOneDatabaseAndOneBucket(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	c := newS3Cluster(t)
	out := c.run(t, "demo", "--seed-only", "--db", dsn, "--blobs", c.blobs)
	if !strings.Contains(out, "alex") {
		t.Errorf("demo --seed-only printed %q, want the demo's users", out)
	}
	a, b := c.serve(t, dsn), c.serve(t, dsn)

	// A sign-in on one instance holds on the other; an upload begun on one
	// is finished on the other, and both serve the photo.
	content := randomBytes(t, 250_000)
	token := signInOK(t, a.addr, "alex", "alex-phone")
	photo := pushPhoto(t, a.addr, token, "alex-phone", jobTitled(t, b.addr, token, "Replace pump seal"), content)
	upload(t, a.addr, token, photo, content, 0, 120_000)
	upload(t, b.addr, token, photo, content, 120_000, len(content))
	for name, p := range map[string]*serverProc{"the first": a, "the second": b} {
		if got := download(t, p.addr, token, photo); !bytes.Equal(got, content) {
			t.Errorf("%s instance serves the photo as %d bytes, not the %d sent", name, len(got), len(content))
		}
	}
	a.stop(t)
	b.stop(t)
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// signInOK signs a demo user in and returns the token.
func signInOK(t *testing.T, addr, user, device string) string {
	t.Helper()
	code, token := signIn(t, addr, user, server.DemoPassword, device)
	if code != http.StatusOK {
		t.Fatalf("%s signs in on %s: status %d", user, addr, code)
	}
	return token
}

// call sends a request with a token and returns the status and body.
func call(t *testing.T, method, url, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// jobTitled pulls everything and returns the id of the job with a title.
func jobTitled(t *testing.T, addr, token, title string) string {
	t.Helper()
	cursor := ""
	for {
		code, body := call(t, "GET", "http://"+addr+"/v1/pull?cursor="+cursor, token, nil)
		if code != http.StatusOK {
			t.Fatalf("pull: status %d: %s", code, body)
		}
		var page contract.PullResponse
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			var got string
			if r.Type == "job" && json.Unmarshal(r.Fields["title"], &got) == nil && got == title {
				return r.ID
			}
		}
		if !page.More {
			t.Fatalf("no job titled %q in the pull", title)
		}
		cursor = page.Cursor
	}
}

// pushPhoto pushes a photo's metadata for a job and returns its id.
func pushPhoto(t *testing.T, addr, token, device, job string, content []byte) string {
	t.Helper()
	sum := sha256.Sum256(content)
	photo := server.NewV7(time.Now())
	values := map[string]any{"job_id": job, "filename": "seal.jpg", "content_type": "image/jpeg",
		"size": len(content), "sha256": hex.EncodeToString(sum[:]), "caption": "Worn seal"}
	vs := map[string]json.RawMessage{}
	for k, v := range values {
		vs[k], _ = json.Marshal(v)
	}
	body, _ := json.Marshal(contract.PushRequest{Ops: []contract.Operation{{
		ID: server.NewV7(time.Now()), RecordType: "photo", RecordID: photo, Action: "append",
		Values: vs, DeviceID: device, DeviceTime: time.Now().UTC(),
	}}})
	code, resp := call(t, "POST", "http://"+addr+"/v1/push", token, body)
	if code != http.StatusOK || !strings.Contains(string(resp), `"outcome":"applied"`) {
		t.Fatalf("push of the photo's metadata: status %d: %s", code, resp)
	}
	return photo
}

// upload sends content[from:to] of a photo.
func upload(t *testing.T, addr, token, photo string, content []byte, from, to int) {
	t.Helper()
	url := fmt.Sprintf("http://%s/v1/photos/%s/content?offset=%d", addr, photo, from)
	code, body := call(t, "PUT", url, token, content[from:to])
	if code != http.StatusOK {
		t.Fatalf("upload of bytes %d to %d on %s: status %d: %s", from, to, addr, code, body)
	}
	var st contract.UploadStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Received != int64(to) || st.Complete != (to == len(content)) {
		t.Fatalf("after bytes %d to %d the server says %+v", from, to, st)
	}
}

// download returns a photo's content.
func download(t *testing.T, addr, token, photo string) []byte {
	t.Helper()
	code, body := call(t, "GET", "http://"+addr+"/v1/photos/"+photo+"/content", token, nil)
	if code != http.StatusOK {
		t.Fatalf("download from %s: status %d: %s", addr, code, body)
	}
	return body
}
