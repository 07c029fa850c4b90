package syncqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"fieldsync/contract"
	"fieldsync/internal/apiclient"
	"fieldsync/localstore"
)

// batchSize is how many operations go in one push.
func (q *Queue) batchSize() int {
	if n := q.opt.Rules().Limits.Batch; n > 0 {
		return n
	}
	return 100
}

// dataRound pushes every queued operation in order, in batches, then pulls
// every page of changes, then settles what the pull brought back.
func (q *Queue) dataRound(ctx context.Context) error {
	st := q.opt.Store
	var log Round
	defer func() {
		if !log.moved() {
			return // the summary stays about the last round that moved something
		}
		q.mu.Lock()
		q.summary = log
		if !log.Empty() {
			q.state.LastRound = log
		}
		q.mu.Unlock()
	}()
	if err := q.pushAll(ctx, &log); err != nil {
		return err
	}
	upTo, err := st.LastApplied()
	if err != nil {
		return err
	}
	cursor, err := st.Cursor()
	if err != nil {
		return err
	}
	// The device keeps every copy a push answer gave it, so the pull may
	// leave those records out.
	omit, err := st.MayOmitAnswered()
	if err != nil {
		return err
	}
	for {
		page, err := q.opt.Client.Pull(ctx, cursor, 0, omit)
		if err != nil {
			return err
		}
		if err := st.ApplyPull(page); err != nil {
			return err
		}
		cursor = page.Cursor
		if !page.More {
			break
		}
	}
	if !omit {
		if err := st.PulledAll(); err != nil {
			return err
		}
	}
	if _, err := st.Settle(upTo); err != nil {
		return err
	}
	st.CheckpointSoon()
	return nil
}

// pushAll sends every queued operation, in batches. Batches go one after
// another, never two at once, so the server applies operations in the
// order they were made; the work around each push is done while another
// is on its way. The next batch is read before this one's answer arrives,
// and each answer is decoded and stored while the server applies the next
// batch. An answer that asks for a retry, or cannot be
// stored, stops the sending; what was sent after it is answered and
// stored as usual (its operations are independent of the stopped one's,
// as they are inside one batch).
func (q *Queue) pushAll(ctx context.Context, log *Round) error {
	st := q.opt.Store
	size := q.batchSize()

	// Answers are decoded, counted and stored in order, by one goroutine.
	type arrival struct {
		raw *apiclient.RawAnswer // as it arrived, or
		got []answer             // decoded already, for a batch sent one by one
		out []localstore.Outgoing
	}
	arrivals := make(chan arrival, 1)
	handled := make(chan error, 1)
	var stop atomic.Bool
	go func() {
		var err error
		for a := range arrivals {
			if err != nil {
				continue // the operations stay queued; the next round replays them
			}
			answers := a.got
			if a.raw != nil {
				resp, derr := a.raw.Decode()
				if derr != nil {
					seqs := make([]int64, len(a.out))
					for i, o := range a.out {
						seqs[i] = o.Seq
					}
					err = errors.Join(derr, st.NoteAttempt(seqs, derr.Error()))
					stop.Store(true)
					continue
				}
				// The summary needs only what kind of change each was.
				ops := make([]contract.Operation, len(a.out))
				for i, o := range a.out {
					ops[i] = contract.Operation{RecordType: o.RecordType, Action: o.Action}
				}
				answers = []answer{{PushResponse: resp, ops: ops}}
			}
			for _, an := range answers {
				for i, r := range an.Results {
					if f := r.Final(); f.Outcome == contract.Refused && f.Retry {
						// What the server asked to resend waits for the
						// next round, never a hot loop.
						stop.Store(true)
					}
					log.Add(an.ops[i], r)
				}
			}
			if err = q.keep(answers); err != nil {
				stop.Store(true)
			}
		}
		handled <- err
	}()

	// The next batch is read while this one is on its way. Operations go
	// as they were saved, without being decoded and encoded again.
	type prepared struct {
		out  []localstore.Outgoing
		body []byte
		err  error
	}
	prepare := func(after int64) <-chan prepared {
		ch := make(chan prepared, 1)
		go func() {
			var p prepared
			if p.out, p.err = st.Outgoing(after, size); p.err == nil && len(p.out) > 0 {
				raw := make([]json.RawMessage, len(p.out))
				for i := range p.out {
					raw[i] = p.out[i].JSON
				}
				p.body = apiclient.PushBodyOf(raw)
			}
			ch <- p
		}()
		return ch
	}

	var sendErr error
	next := prepare(0)
	for !stop.Load() {
		p := <-next
		if p.err != nil || len(p.out) == 0 {
			sendErr = p.err
			break
		}
		full := len(p.out) == size
		if full {
			next = prepare(p.out[len(p.out)-1].Seq)
		}
		raw, err := q.opt.Client.SendPush(ctx, p.body, len(p.out))
		if err != nil {
			got, err := q.pushFailedOutgoing(ctx, p.out, err)
			if len(got) > 0 {
				arrivals <- arrival{got: got}
			}
			if err != nil {
				sendErr = err
				break
			}
		} else {
			arrivals <- arrival{raw: raw, out: p.out}
		}
		if !full {
			break
		}
	}
	close(arrivals)
	return errors.Join(sendErr, <-handled)
}

// answer is the server's answer to one push, with the operations sent.
type answer struct {
	contract.PushResponse
	ops []contract.Operation
}

// push sends one batch and returns its answers; see pushFailed.
func (q *Queue) push(ctx context.Context, batch []localstore.Pending) ([]answer, error) {
	ops := make([]contract.Operation, len(batch))
	for i, p := range batch {
		ops[i] = p.Op
	}
	resp, err := q.opt.Client.Push(ctx, ops)
	if err != nil {
		return q.pushFailed(ctx, batch, ops, err)
	}
	return []answer{{PushResponse: resp, ops: ops}}, nil
}

// pushFailedOutgoing is pushFailed for operations not decoded yet.
func (q *Queue) pushFailedOutgoing(ctx context.Context, out []localstore.Outgoing, err error) ([]answer, error) {
	batch := make([]localstore.Pending, len(out))
	ops := make([]contract.Operation, len(out))
	for i, o := range out {
		if derr := json.Unmarshal(o.JSON, &ops[i]); derr != nil {
			return nil, errors.Join(err, fmt.Errorf("operation %d in the outbox: %w", o.Seq, derr))
		}
		batch[i] = localstore.Pending{Seq: o.Seq, Op: ops[i], State: localstore.Queued}
	}
	return q.pushFailed(ctx, batch, ops, err)
}

// pushFailed handles a push that got no answer. A transient failure is
// noted on each operation. A batch the server rejects as a whole, for a
// reason a retry cannot fix, is sent one operation at a time, so that one
// bad operation is refused on its own and never blocks the queue. It
// returns the answers it got, also when it stops at an error.
func (q *Queue) pushFailed(ctx context.Context, batch []localstore.Pending, ops []contract.Operation, err error) ([]answer, error) {
	var e *apiclient.Error
	if apiclient.IsTransient(err) || apiclient.IsUnauthorized(err) || errors.Is(err, context.Canceled) || !errors.As(err, &e) {
		seqs := make([]int64, len(batch))
		for i, p := range batch {
			seqs[i] = p.Seq
		}
		if nerr := q.opt.Store.NoteAttempt(seqs, err.Error()); nerr != nil {
			return nil, errors.Join(err, nerr)
		}
		return nil, err
	}
	if len(batch) > 1 {
		var all []answer
		for i := range batch {
			got, err := q.push(ctx, batch[i:i+1])
			all = append(all, got...)
			if err != nil {
				return all, err
			}
		}
		return all, nil
	}
	resp := contract.PushResponse{Results: []contract.Result{{OpID: ops[0].ID, Outcome: contract.Refused, Code: e.Detail.Code, Message: e.Detail.Message}}}
	return []answer{{PushResponse: resp, ops: ops}}, nil
}

// keep stores answers.
func (q *Queue) keep(answers []answer) error {
	for _, a := range answers {
		if err := q.opt.Store.SaveResults(a.Results, a.Copies); err != nil {
			return err
		}
	}
	return nil
}
