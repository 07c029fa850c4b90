// Package writebehind holds a server store transaction's plain writes
// (records, change-log rows, results) in memory and sends them in
// multi-row statements, rather than one statement per operation. The
// SQLite and PostgreSQL stores both use it.
//
// Operations within a transaction fail one at a time: a failed operation's
// writes are undone and the others are kept. While an operation's writes
// all wait in memory, undoing them means dropping them. When the store must
// send them early (a statement that has to see them, or a write that
// cannot wait), the buffer first opens a savepoint, so that undoing the
// operation rolls back to it.
package writebehind

import (
	"errors"

	"fieldsync/contract"
	"fieldsync/server"
)

// Sink sends writes to the database inside the store's transaction. A
// PutRecords call names each record once. Savepoints do not nest: one is
// open at a time.
type Sink interface {
	PutRecords(ws []server.RecordWrite) error
	AddChanges(cs []contract.Change) error
	PutResults(rs []server.StoredResult) error
	Savepoint() error
	RollbackTo() error
	Release() error
}

// Buffer holds one transaction's waiting writes. It is not safe for
// concurrent use; neither is a transaction.
type Buffer struct {
	sink  Sink
	batch writes // kept by earlier operations, not sent yet
	op    writes // written by the current operation, not sent yet
	inOp  bool
	inSP  bool // a savepoint is open for the current operation

	// written is the latest record each write of this transaction left;
	// undo is what the current operation replaced in it (nil: nothing).
	written map[string]*contract.Record
	undo    map[string]*contract.Record
}

// writes wait to be sent.
type writes struct {
	records []server.RecordWrite
	changes []contract.Change
	results []server.StoredResult
}

func (w *writes) reset() {
	*w = writes{records: w.records[:0], changes: w.changes[:0], results: w.results[:0]}
}

func (w *writes) add(o *writes) {
	w.records = append(w.records, o.records...)
	w.changes = append(w.changes, o.changes...)
	w.results = append(w.results, o.results...)
}

// New returns an empty buffer over sink.
func New(sink Sink) *Buffer {
	return &Buffer{sink: sink, written: map[string]*contract.Record{}, undo: map[string]*contract.Record{}}
}

func (b *Buffer) pending() *writes {
	if b.inOp {
		return &b.op
	}
	return &b.batch
}

// PutRecords holds records to store.
func (b *Buffer) PutRecords(ws []server.RecordWrite) error {
	p := b.pending()
	p.records = append(p.records, ws...)
	for _, w := range ws {
		id := w.Record.ID
		if b.inOp {
			if _, saved := b.undo[id]; !saved {
				b.undo[id] = b.written[id]
			}
		}
		b.written[id] = w.Record
	}
	return nil
}

// AddChanges holds change-log rows to store.
func (b *Buffer) AddChanges(cs []contract.Change) error {
	p := b.pending()
	p.changes = append(p.changes, cs...)
	return nil
}

// PutResults holds results to store.
func (b *Buffer) PutResults(rs []server.StoredResult) error {
	p := b.pending()
	p.results = append(p.results, rs...)
	return nil
}

// Written returns the record as this transaction last wrote it, if it
// wrote it since the last Forget.
func (b *Buffer) Written(id string) (*contract.Record, bool) {
	rec, ok := b.written[id]
	return rec, ok && rec != nil
}

// Each calls fn with every record this transaction wrote, as it last wrote
// it since the last Forget.
func (b *Buffer) Each(fn func(*contract.Record)) {
	for _, rec := range b.written {
		if rec != nil {
			fn(rec)
		}
	}
}

// Forget drops what the buffer knows of the records written so far, after
// the store changed them behind its back (a renumbering): from then on
// they are read from the database. Writes still waiting are sent first.
func (b *Buffer) Forget() error {
	if err := b.Flush(); err != nil {
		return err
	}
	clear(b.written)
	clear(b.undo)
	return nil
}

// Flush sends every waiting write, for a statement that must see them or
// must be undone with the current operation. Inside an operation it opens
// the operation's savepoint first.
func (b *Buffer) Flush() error {
	if !b.inOp {
		return b.send(&b.batch)
	}
	if !b.inSP {
		if err := b.send(&b.batch); err != nil {
			return err
		}
		if err := b.sink.Savepoint(); err != nil {
			return err
		}
		b.inSP = true
	}
	return b.send(&b.op)
}

// BeginOp starts an operation's writes.
func (b *Buffer) BeginOp() error {
	if b.inOp {
		return errors.New("writebehind: an operation began inside another")
	}
	b.inOp = true
	clear(b.undo)
	return nil
}

// EndOp keeps or undoes the current operation's writes.
func (b *Buffer) EndOp(keep bool) error {
	if !b.inOp {
		return errors.New("writebehind: an operation ended that had not begun")
	}
	b.inOp = false
	defer b.op.reset()
	if !keep {
		for id, rec := range b.undo {
			if rec == nil {
				delete(b.written, id)
			} else {
				b.written[id] = rec
			}
		}
		clear(b.undo)
		if !b.inSP {
			return nil
		}
		b.inSP = false
		return errors.Join(b.sink.RollbackTo(), b.sink.Release())
	}
	clear(b.undo)
	if !b.inSP {
		b.batch.add(&b.op)
		return nil
	}
	b.inSP = false
	if err := b.send(&b.op); err != nil {
		return errors.Join(err, b.sink.RollbackTo(), b.sink.Release())
	}
	return b.sink.Release()
}

// Commit sends every waiting write: call it before the transaction commits.
func (b *Buffer) Commit() error {
	if b.inOp {
		return errors.New("writebehind: the transaction committed inside an operation")
	}
	return b.send(&b.batch)
}

// send writes w to the sink, a record written twice only once, its latest.
func (b *Buffer) send(w *writes) error {
	if len(w.records) > 1 {
		// Keep each record's latest write; it counts as stored only if
		// every write of it in the list does, and its links changed if
		// any write changed them.
		latest, stored, links := map[string]int{}, map[string]bool{}, map[string]bool{}
		for i, rw := range w.records {
			id := rw.Record.ID
			if _, seen := latest[id]; !seen {
				stored[id] = true
			}
			latest[id] = i
			stored[id] = stored[id] && rw.Stored
			links[id] = links[id] || rw.Index.LinksChanged
		}
		kept := w.records[:0]
		for i, rw := range w.records {
			if id := rw.Record.ID; latest[id] == i {
				rw.Stored, rw.Index.LinksChanged = stored[id], links[id]
				kept = append(kept, rw)
			}
		}
		w.records = kept
	}
	if len(w.records) > 0 {
		if err := b.sink.PutRecords(w.records); err != nil {
			return err
		}
	}
	if len(w.changes) > 0 {
		if err := b.sink.AddChanges(w.changes); err != nil {
			return err
		}
	}
	if len(w.results) > 0 {
		if err := b.sink.PutResults(w.results); err != nil {
			return err
		}
	}
	w.reset()
	return nil
}
