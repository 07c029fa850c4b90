package server_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSweepRemovesOnlyWhatNoUploadCanUse: the sweep forgets uploads that
// made no progress for a week and deletes part files the database does not
// name once they are an hour old (a chunk that lost a race, a server that
// stopped between storing a part and recording it, the partial files of
// earlier versions), and touches nothing an upload in progress still
// needs. The device of a forgotten upload uploads it again from the first
// byte and completes it.
func TestSweepRemovesOnlyWhatNoUploadCanUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dana, alex := e.login("dana", "office-pc"), e.login("alex", "alex-phone")
	job := e.job(dana, e.customer(dana, "Harbor Bakery"), "alex", "Replace pump seal", "12 Quay Street", day)
	content := fakeJPEG(5, 8000)
	stale, busy := alex.photo(job, "old.jpg", content), alex.photo(job, "new.jpg", content)
	alex.must(stale)
	alex.must(busy)
	if code, _, ed := alex.upload(stale.RecordID, 0, content[:3000]); code != http.StatusOK {
		t.Fatalf("first chunk of the stale upload: %d %s", code, ed.Message)
	}
	e.advance(8 * 24 * time.Hour) // a week and a day without progress
	if code, _, ed := alex.upload(busy.RecordID, 0, content[:3000]); code != http.StatusOK {
		t.Fatalf("first chunk of the busy upload: %d %s", code, ed.Message)
	}

	blobs := filepath.Join(e.dir, "blobs")
	hoursAgo := time.Now().Add(-2 * time.Hour)
	orphan := filepath.Join(blobs, "partial", busy.RecordID, "00000000000000003000-00000000000000aa")
	fresh := filepath.Join(blobs, "partial", busy.RecordID, "00000000000000003000-00000000000000bb")
	legacy := filepath.Join(blobs, "partial", stale.RecordID+".part")
	for _, f := range []string{orphan, fresh, legacy} {
		if err := os.WriteFile(f, []byte("left behind"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	// Every part file of the busy upload is old, the recorded one too: age
	// alone must not sweep it.
	parts, _ := filepath.Glob(filepath.Join(blobs, "partial", busy.RecordID, "*"))
	for _, f := range append(parts, legacy) {
		if f != fresh {
			if err := os.Chtimes(f, hoursAgo, hoursAgo); err != nil {
				t.Fatal(err)
			}
		}
	}

	rep, err := e.srv.SweepUploads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Abandoned != 1 || rep.Orphans != 2 {
		t.Errorf("the sweep reports %+v; want 1 abandoned upload and 2 orphan parts (the unnamed old part and the old partial file)", rep)
	}
	for _, f := range []string{orphan, legacy} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s is still there after the sweep", f)
		}
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a part file less than an hour old was swept: it may be a chunk about to be recorded: %v", err)
	}
	if st := alex.uploadStatus(busy.RecordID); st.Received != 3000 {
		t.Errorf("the upload in progress holds %d bytes after the sweep, want its 3000", st.Received)
	}
	if st := alex.uploadStatus(stale.RecordID); st.Received != 0 {
		t.Errorf("the abandoned upload holds %d bytes after the sweep, want 0", st.Received)
	}
	for _, p := range []string{stale.RecordID, busy.RecordID} {
		from := alex.uploadStatus(p).Received
		if code, st, ed := alex.upload(p, from, content[from:]); code != http.StatusOK || !st.Complete {
			t.Fatalf("finishing %s from %d after the sweep: %d %+v %s", p, from, code, st, ed.Message)
		}
		if code, got := dana.download(p); code != http.StatusOK || string(got) != string(content) {
			t.Errorf("download of %s: %d, %d bytes", p, code, len(got))
		}
	}
	if again, err := e.srv.SweepUploads(context.Background()); err != nil || again.Abandoned+again.Orphans != 0 {
		t.Errorf("a second sweep found %+v, %v; want nothing", again, err)
	}
}
