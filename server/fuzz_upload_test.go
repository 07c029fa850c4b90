package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"fieldsync/contract"
	"fieldsync/server"
)

// uploadModel is what the protocol says the server holds of one photo.
type uploadModel struct {
	content  []byte // the photo's true content; its sha256 is declared
	sum      [32]byte
	held     []byte // the bytes the server has so far
	complete bool
}

// expect returns the status a chunk at offset (as sent in the query) with
// data must get, and moves the model on as the server must.
func (m *uploadModel) expect(offset string, data []byte) int {
	off, err := strconv.ParseInt(offset, 10, 64)
	switch {
	case err != nil || off < 0:
		return http.StatusBadRequest
	case m.complete:
		return http.StatusOK // a retry after the last chunk changes nothing
	case off != int64(len(m.held)):
		return http.StatusConflict
	case len(m.held)+len(data) > len(m.content):
		return http.StatusRequestEntityTooLarge
	}
	m.held = append(m.held, data...)
	if len(m.held) < len(m.content) {
		return http.StatusOK
	}
	if sha256.Sum256(m.held) != m.sum {
		m.held = nil
		return http.StatusUnprocessableEntity
	}
	m.complete = true
	return http.StatusOK
}

// weirdOffsets are offsets a broken or hostile device might send.
var weirdOffsets = []string{"", "-1", "-0", "+0", " 0", "0x0", "1e3", "1.0", "９", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "0\x00", "%00"}

// contentPath matches the path of photo content, where a redirect must never lead.
var contentPath = regexp.MustCompile(`^/v1/photos/[^/?]+/content`)

var blobName = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\.part)?$`)

// onlyBlobs checks, cheaply, that the server's directory holds only its
// database and blob directory, that nothing sits beside it, and that the
// uploads in progress are named by lower-case UUIDs.
func onlyBlobs(t *testing.T, e *env) {
	t.Helper()
	list := func(dir string) []string {
		des, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			return nil // made only once something is stored in it
		}
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, de := range des {
			out = append(out, de.Name())
		}
		return out
	}
	for _, name := range list(filepath.Dir(e.dir)) {
		if name != filepath.Base(e.dir) {
			t.Fatalf("%s written beside the server's directory", name)
		}
	}
	for _, name := range list(e.dir) {
		if name != "blobs" && !strings.HasPrefix(name, "server.db") {
			t.Fatalf("%s written in the server's directory", name)
		}
	}
	for _, name := range list(filepath.Join(e.dir, "blobs")) {
		if name != "photos" && name != "partial" {
			t.Fatalf("%s written in the blob directory", name)
		}
	}
	for _, name := range list(filepath.Join(e.dir, "blobs", "partial")) {
		if !blobName.MatchString(name) {
			t.Fatalf("partial/%s is not named by a lower-case UUID", name)
		}
		for _, part := range list(filepath.Join(e.dir, "blobs", "partial", name)) {
			if !partName.MatchString(part) {
				t.Fatalf("partial/%s/%s is not named by an offset and a random tail", name, part)
			}
		}
	}
}

// partName is the name of a part of an upload: its offset, then a random
// tail.
var partName = regexp.MustCompile(`^[0-9]{20}-[0-9a-f]{16}$`)

// FuzzUploadRanges sends arbitrary sequences of chunks, each an offset, a
// length and bytes, to PUT /v1/photos/{id}/content for a photo of known
// size and sha256, as its author and now and then as someone else or to a
// mangled id. After every request the server's answer and what it holds,
// read from the blob directory itself, are exactly what the protocol says:
// never a 5xx; never more than the declared size; a chunk at the wrong
// offset, too long, or from someone else changes nothing; content that
// completes has the declared sha256 and downloads as it was sent; and
// nothing is written outside the blob directory.
//
// The script is read six bytes to a chunk: mode, offset (2 bytes), length
// (2 bytes) and a byte that varies the content. Modes: 0 the true bytes
// from where the server is; 1 the true bytes from the given offset; 2
// made-up bytes from where the server is; 3 the true bytes with one
// flipped; 4 a weird offset; 5 the true bytes from someone else; 6 to a
// mangled photo id; 7 only ask for the status.
func FuzzUploadRanges(f *testing.F) {
	e := newEnv(f)
	dana, alex, sam := e.login("dana", "office-pc"), e.login("alex", "alex-phone"), e.login("sam", "sam-phone")
	cust := e.customer(dana, "Harbor Bakery")
	job := e.job(dana, cust, "alex", "Replace pump seal", "12 Quay Street", day)
	iterations := 0

	// The seed corpus is in testdata/fuzz/FuzzUploadRanges.
	f.Fuzz(func(t *testing.T, size uint16, script []byte) {
		// The devices report to this run, not to the fuzz target.
		dev := func(d *device) *device { c := *d; c.t = t; return &c }
		alex, dana, sam := dev(alex), dev(dana), dev(sam)
		n := int(size) % 4097
		m := &uploadModel{content: fakeJPEG(byte(size>>8)^byte(n), n)}
		m.sum = sha256.Sum256(m.content)
		op := alex.photo(job, "fuzz.jpg", m.content)
		if r := alex.push(op)[0]; r.Outcome != contract.Applied {
			t.Fatalf("photo metadata: %s %s", r.Outcome, r.Message)
		}
		photo := op.RecordID
		check := func(step int, what string) {
			t.Helper()
			st := alex.uploadStatus(photo)
			if st.Size != int64(n) || st.Received > st.Size {
				t.Fatalf("step %d (%s): the server says %d of %d bytes received", step, what, st.Received, st.Size)
			}
			if st.Received != int64(len(m.held)) || st.Complete != m.complete {
				t.Fatalf("step %d (%s): the server has %d bytes (complete %v), want %d (complete %v)", step, what, st.Received, st.Complete, len(m.held), m.complete)
			}
			if got := partialBytes(t, e, photo); !bytes.Equal(got, m.held) {
				t.Fatalf("step %d (%s): the blob directory holds %d bytes that are not the %d accepted", step, what, len(got), len(m.held))
			}
			if m.complete {
				if got := partialBytes(t, e, photo); sha256.Sum256(got) != m.sum {
					t.Fatalf("step %d (%s): the stored content's sha256 is not the declared one", step, what)
				}
			}
		}
		for step := 0; step+6 <= len(script) && step < 6*24; step += 6 {
			c := script[step : step+6]
			mode, off, length, vary := c[0]%8, int(c[1])|int(c[2])<<8, int(c[3])|int(c[4])<<8, c[5]
			held := len(m.held)
			truth := func(from int) []byte {
				from = min(from, n)
				data := append([]byte{}, m.content[from:min(from+length, n)]...)
				for len(data) < length { // past the end: more than the photo
					data = append(data, vary)
				}
				return data
			}
			var (
				who    = alex
				path   = "/v1/photos/" + photo + "/content?offset="
				offset = strconv.Itoa(held)
				data   []byte
				want   int
			)
			switch mode {
			case 0:
				data = truth(held)
			case 1:
				offset, data = strconv.Itoa(off), truth(off)
			case 2:
				data = bytes.Repeat([]byte{vary}, length)
			case 3:
				data = truth(held)
				if len(data) > 0 {
					data[int(vary)%len(data)] ^= 0x5a
				}
			case 4:
				offset, data = weirdOffsets[int(vary)%len(weirdOffsets)], truth(held)
			case 5:
				who, data = []*device{dana, sam}[vary%2], truth(held)
				want = []int{http.StatusForbidden, http.StatusNotFound}[vary%2]
			case 6:
				mangled := photo[:int(vary)%37] + string(script[step+1:step+3])
				if strings.EqualFold(mangled, photo) {
					continue
				}
				path, data = "/v1/photos/"+url.PathEscape(mangled)+"/content?offset=", truth(held)
				want = -1 // some 4xx (or a redirect away from the API)
			case 7:
				check(step/6, "status")
				continue
			}
			if want == 0 {
				want = m.expect(offset, data)
			}
			resp, b := who.send("PUT", path+url.QueryEscape(offset), bytes.NewReader(data), http.Header{"Content-Type": {"application/octet-stream"}})
			what := "mode " + strconv.Itoa(int(mode)) + " offset " + strconv.Quote(offset) + " length " + strconv.Itoa(len(data))
			switch {
			case resp.StatusCode >= 500:
				t.Fatalf("step %d (%s): status %d %s", step/6, what, resp.StatusCode, b)
			case want == -1 && resp.StatusCode/100 == 3 && !contentPath.MatchString(resp.Header.Get("Location")):
			case want == -1 && resp.StatusCode/100 == 4:
			case resp.StatusCode != want:
				t.Fatalf("step %d (%s): status %d %s, want %d", step/6, what, resp.StatusCode, b, want)
			}
			if resp.StatusCode == http.StatusOK {
				var st contract.UploadStatus
				if err := json.Unmarshal(b, &st); err != nil || st.Received != int64(len(m.held)) || st.Complete != m.complete {
					t.Fatalf("step %d (%s): answer %s, want %d bytes received (complete %v)", step/6, what, b, len(m.held), m.complete)
				}
			} else if resp.StatusCode >= 400 {
				if ed := errorOf(t, b); ed.Message == "" {
					t.Fatalf("step %d (%s): a %d without a reason", step/6, what, resp.StatusCode)
				}
			}
			check(step/6, what)
		}
		if m.complete {
			if code, got := alex.download(photo); code != http.StatusOK || !bytes.Equal(got, m.content) {
				t.Fatalf("download of the complete photo: status %d, %d bytes, want the %d sent", code, len(got), n)
			}
		}
		var rec *contract.Record
		if err := e.store.Read(context.Background(), func(q server.Query) (err error) {
			rec, err = q.Record(photo)
			return err
		}); err != nil || rec == nil {
			t.Fatalf("the photo's record: %v", err)
		}
		if rec.ContentReady != m.complete {
			t.Fatalf("the photo says its content is ready: %v; complete: %v", rec.ContentReady, m.complete)
		}
		onlyBlobs(t, e)
		if iterations++; iterations%256 == 0 {
			noStrayFiles(t, e)
		}
	})
}
