package syncqueue

import (
	"testing"

	"fieldsync/contract"
)

func TestPhotosAreSaidToSyncOnlyOnceTheirContentIsUp(t *testing.T) {
	applied := contract.Result{Outcome: contract.Applied}
	note := contract.Operation{RecordType: "note", Action: contract.ActionAppend}
	photo := contract.Operation{RecordType: "photo", Action: contract.ActionAppend}

	t.Run("a photo's metadata alone moves the round but says nothing yet", func(t *testing.T) {
		var l roundLog
		l.add(photo, applied, func(string) bool { return false })
		if got := l.line(); got != "" {
			t.Errorf("line %q, want nothing until the content is up", got)
		}
		if !l.moved() {
			t.Errorf("the round that sent the photo's metadata did not count as moving anything")
		}
	})
	t.Run("content that failed to upload is said, with the next try", func(t *testing.T) {
		var l roundLog
		l.add(note, applied, func(string) bool { return false })
		l.add(photo, applied, func(string) bool { return false })
		l.unfinished, l.retry = 1, "retrying in 15 seconds"
		if got, want := l.line(), "Your notes synced. 1 photo did not finish uploading; retrying in 15 seconds."; got != want {
			t.Errorf("line %q\nwant %q", got, want)
		}
	})
	t.Run("content that went up is photos synced", func(t *testing.T) {
		var l roundLog
		l.add(note, applied, func(string) bool { return false })
		l.add(photo, applied, func(string) bool { return false })
		l.photoUploaded()
		if got, want := l.line(), "Your notes and photos synced."; got != want {
			t.Errorf("line %q\nwant %q", got, want)
		}
	})
}
