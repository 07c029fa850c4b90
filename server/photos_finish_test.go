package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
)

// TestAPhotoIsCompleteOnlyWhenItsRecordSaysSo: when the last chunk of a
// photo is in place but the store cannot record the content as ready, the
// status says every byte arrived but not complete, and no other device
// hears of the content. The author finishes it by asking again, with an
// empty chunk at the photo's end (what a device's upload loop sends) or
// with the last chunk again; while the store is still busy the answer is
// 503 with Retry-After, and someone else cannot finish it.
func TestAPhotoIsCompleteOnlyWhenItsRecordSaysSo(t *testing.T) {
	content := fakeJPEG(42, 6000)
	size := int64(len(content))
	for _, finish := range []struct {
		name   string
		offset int64
		body   []byte
	}{
		{"an empty chunk at the photo's end finishes it", size, nil},
		{"the last chunk sent again finishes it", 4000, content[4000:]},
	} {
		t.Run(finish.name, func(t *testing.T) {
			t.Parallel()
			e, store := newFlakyEnv(t)
			dana, alex := e.login("dana", "office-pc"), e.login("alex", "alex-phone")
			job := e.job(dana, e.customer(dana, "Harbor Bakery"), "alex", "Replace pump seal", "12 Quay Street", day)
			photo := alex.photo(job, "seal.jpg", content)
			alex.must(photo)
			id := photo.RecordID
			if code, st, ed := alex.upload(id, 0, content[:4000]); code != http.StatusOK || st.Received != 4000 {
				t.Fatalf("first chunk: status %d %+v %s", code, st, ed.Message)
			}

			store.pass.Store(1)       // the write that records the last chunk
			store.fail.Store(1 << 30) // and after it every write refused until further notice
			if code, _, ed := alex.upload(id, 4000, content[4000:]); code != http.StatusServiceUnavailable || !ed.Retry {
				t.Fatalf("the last chunk while the store is busy: status %d %s, want 503 to retry", code, ed.Code)
			}
			if st := alex.uploadStatus(id); st.Received != size || st.Complete {
				t.Errorf("the status says %d of %d bytes, complete %v; want every byte, not complete: the photo is not recorded", st.Received, size, st.Complete)
			}
			if st := dana.uploadStatus(id); st.Complete {
				t.Errorf("the office's status says complete")
			}
			dana.pull()
			if dana.rec(id).ContentReady {
				t.Errorf("the office's pull shows the content as ready")
			}

			// Still busy: the device is told to come back.
			resp, b := alex.send("PUT", fmt.Sprintf("/v1/photos/%s/content?offset=%d", id, finish.offset), bytes.NewReader(finish.body), nil)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !errorOf(t, b).Retry {
				t.Fatalf("finishing while the store is busy: status %d, Retry-After %q, %s; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), b)
			}
			if st := alex.uploadStatus(id); st.Complete {
				t.Errorf("the status says complete though finishing failed")
			}

			store.fail.Store(0)
			if code, _, _ := dana.upload(id, size, nil); code != http.StatusForbidden {
				t.Errorf("the office finishing Alex's photo: status %d, want 403", code)
			}
			if dana.pull(); dana.rec(id).ContentReady {
				t.Errorf("the office's request finished the photo")
			}
			code, st, ed := alex.upload(id, finish.offset, finish.body)
			if code != http.StatusOK || !st.Complete || st.Received != size {
				t.Fatalf("finishing: status %d %+v %s; want 200, complete", code, st, ed.Message)
			}
			if st := alex.uploadStatus(id); !st.Complete {
				t.Errorf("the status after finishing: %+v", st)
			}
			dana.pull()
			if !dana.rec(id).ContentReady {
				t.Errorf("the office's pull does not show the finished photo's content as ready")
			}
			if code, got := dana.download(id); code != http.StatusOK || !bytes.Equal(got, content) {
				t.Errorf("the office's download: status %d, %d bytes, want the %d sent", code, len(got), size)
			}
			noStrayFiles(t, e)
		})
	}
}
