package writebehind

import (
	"slices"
	"strings"
	"testing"

	"fieldsync/contract"
	"fieldsync/server"
)

// tape is a sink that keeps what reached the database, with savepoints
// applied, and the statements in the order they came.
type tape struct {
	stored    map[string]int64 // record id → seq stored
	results   []string
	saved     map[string]int64 // stored at the savepoint
	savedRes  []string
	sentRows  int
	relinked  []string // records whose links were replaced
	statement []string
}

func newTape() *tape { return &tape{stored: map[string]int64{}} }

func (k *tape) PutRecords(ws []server.RecordWrite) error {
	k.statement = append(k.statement, "records")
	for _, w := range ws {
		k.stored[w.Record.ID] = w.Record.Seq
		k.sentRows++
		if w.Index.LinksChanged {
			k.relinked = append(k.relinked, w.Record.ID)
		}
	}
	return nil
}

func (k *tape) AddChanges(cs []contract.Change) error {
	k.statement = append(k.statement, "changes")
	return nil
}

func (k *tape) PutResults(rs []server.StoredResult) error {
	k.statement = append(k.statement, "results")
	for _, r := range rs {
		k.results = append(k.results, r.OpID)
	}
	return nil
}

func (k *tape) Savepoint() error {
	k.statement = append(k.statement, "savepoint")
	k.saved = map[string]int64{}
	for id, seq := range k.stored {
		k.saved[id] = seq
	}
	k.savedRes = slices.Clone(k.results)
	return nil
}

func (k *tape) RollbackTo() error {
	k.statement = append(k.statement, "rollback")
	k.stored, k.results = k.saved, k.savedRes
	return nil
}

func (k *tape) Release() error {
	k.statement = append(k.statement, "release")
	return nil
}

func write(b *Buffer, id string, seq int64) {
	b.PutRecords([]server.RecordWrite{{Record: &contract.Record{ID: id, Seq: seq}, Doc: []byte("{}")}})
}

func TestAFailedOperationLeavesNothingAndTheOthersAllLand(t *testing.T) {
	k := newTape()
	b := New(k)
	b.BeginOp()
	write(b, "a", 1)
	b.PutResults([]server.StoredResult{{OpID: "op1", Doc: []byte("{}")}})
	b.EndOp(true)

	b.BeginOp()
	write(b, "a", 2) // the failing operation rewrites a and makes b
	write(b, "b", 3)
	b.PutResults([]server.StoredResult{{OpID: "op2", Doc: []byte("{}")}})
	b.EndOp(false)
	if rec, ok := b.Written("a"); !ok || rec.Seq != 1 {
		t.Errorf("after the failed operation the transaction sees a at %v, want its first write (seq 1)", rec)
	}
	if _, ok := b.Written("b"); ok {
		t.Errorf("the failed operation's new record b is still seen")
	}
	if len(k.statement) != 0 {
		t.Errorf("statements %v sent before the commit: nothing needed them", k.statement)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := k.stored; len(got) != 1 || got["a"] != 1 {
		t.Errorf("stored %v, want only a at seq 1", got)
	}
	if !slices.Equal(k.results, []string{"op1"}) {
		t.Errorf("results stored %v, want op1's only", k.results)
	}
}

func TestAnOperationSentEarlyIsUndoneToItsSavepoint(t *testing.T) {
	k := newTape()
	b := New(k)
	b.BeginOp()
	write(b, "a", 1)
	b.EndOp(true)

	b.BeginOp()
	write(b, "a", 2)
	write(b, "c", 3)
	if err := b.Flush(); err != nil { // a statement that must see them
		t.Fatal(err)
	}
	if got := strings.Join(k.statement, " "); got != "records savepoint records" {
		t.Errorf("statements %q, want the earlier operation's write, a savepoint, then this one's", got)
	}
	b.EndOp(false)
	if k.stored["a"] != 1 || len(k.stored) != 1 {
		t.Errorf("after the undo the database holds %v, want a at seq 1 only", k.stored)
	}
	if rec, ok := b.Written("a"); !ok || rec.Seq != 1 {
		t.Errorf("after the undo the transaction sees a at %v, want seq 1", rec)
	}
	if _, ok := b.Written("c"); ok {
		t.Errorf("after the undo the transaction still sees c")
	}
}

func TestARecordWrittenTwiceIsSentOnceAsItsLatest(t *testing.T) {
	k := newTape()
	b := New(k)
	for seq := int64(1); seq <= 3; seq++ {
		b.BeginOp()
		write(b, "a", seq)
		b.EndOp(true)
	}
	b.Commit()
	if k.sentRows != 1 || k.stored["a"] != 3 {
		t.Errorf("sent %d rows, stored a at %d; want one row at seq 3", k.sentRows, k.stored["a"])
	}
}

func TestOperationsDoNotNest(t *testing.T) {
	b := New(newTape())
	b.BeginOp()
	if err := b.BeginOp(); err == nil {
		t.Error("an operation began inside another without an error")
	}
	if err := b.Commit(); err == nil {
		t.Error("a commit inside an operation went through")
	}
}

func TestLinksChangedByAnEarlierWriteOfARecordAreStillStored(t *testing.T) {
	k := newTape()
	b := New(k)
	b.BeginOp() // made: its links are new
	b.PutRecords([]server.RecordWrite{{Record: &contract.Record{ID: "job", Seq: 1}, Index: server.Index{Links: []string{"customer"}, LinksChanged: true}}})
	b.EndOp(true)
	b.BeginOp() // edited: links as they were
	b.PutRecords([]server.RecordWrite{{Record: &contract.Record{ID: "job", Seq: 2}, Index: server.Index{Links: []string{"customer"}}, Stored: true}})
	b.EndOp(true)
	b.Commit()
	if k.stored["job"] != 2 || !slices.Equal(k.relinked, []string{"job"}) {
		t.Errorf("stored the job at %d, links replaced for %v; want its latest write (2) with the links the first made", k.stored["job"], k.relinked)
	}
}
