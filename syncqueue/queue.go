// Package syncqueue moves a device's work to the server in two lanes that
// never wait for each other: the data lane pushes operations in batches and
// then pulls, and the media lane uploads photo content in chunks, resuming
// from the last byte the server has. Each lane retries with jittered
// exponential backoff (github.com/cenkalti/backoff/v4), honours Retry-After,
// and does not retry what retrying cannot fix.
package syncqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
	"fieldsync/internal/apiclient"
	"fieldsync/localstore"

	"github.com/cenkalti/backoff/v4"
)

// Options configure a Queue.
type Options struct {
	Store  *localstore.Store
	Client *apiclient.Client
	// Rules returns the rules in force, for retry timing and batch size.
	Rules func() *rulebook.Rules
	Now   func() time.Time
	Log   *slog.Logger
	// PullEvery is how often the data lane pulls when nothing fails; zero
	// means once a minute.
	PullEvery time.Duration
	// ChunkSize is the size of one upload request; zero means 256 KiB.
	ChunkSize int64
}

// Queue is the device's sync queue. Whatever starts it closes it.
type Queue struct {
	opt   Options
	data  *lane
	media *lane

	mu      sync.Mutex
	state   State
	subs    map[int]func(State)
	nextSub int
	uploads map[string]Upload
	// summary is what state.LastRound holds: the last data round that moved
	// something, with what the media rounds since did to its photos.
	summary Round
	// uploadFailed holds the photos whose upload failed in the last media
	// round, for as long as the media lane is failing.
	uploadFailed map[string]bool

	// refreshMu makes each refresh compute and publish as one step, so an
	// older state never lands after a newer one.
	refreshMu sync.Mutex
	refreshCh chan struct{} // refreshes wanted by the loops' refresher
	running   bool
	dirty     atomic.Bool // new work since the last refresh, with no loops to refresh

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// lane is one retry loop.
type lane struct {
	name  string
	round func(context.Context) error
	bo    *backoff.ExponentialBackOff
	rt    rulebook.RetryRule // the timing bo was set up with
	kick  chan struct{}
	reset chan struct{}
	mu    sync.Mutex // serialises rounds, loop or by hand
}

// New returns a queue; Start runs its loops, or tests drive rounds by hand.
func New(opt Options) *Queue {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.PullEvery == 0 {
		opt.PullEvery = time.Minute
	}
	if opt.ChunkSize == 0 {
		opt.ChunkSize = 256 << 10
	}
	q := &Queue{opt: opt, subs: map[int]func(State){}, uploads: map[string]Upload{}, uploadFailed: map[string]bool{},
		refreshCh: make(chan struct{}, 1)}
	rules := opt.Rules()
	q.data = newLane("data", rules.RetryFor(rulebook.LaneData), q.dataRound)
	q.media = newLane("media", rules.RetryFor(rulebook.LaneMedia), q.mediaRound)
	q.state.Records = map[string]RecordState{}
	return q
}

func newLane(name string, rt rulebook.RetryRule, round func(context.Context) error) *lane {
	l := &lane{name: name, round: round, kick: make(chan struct{}, 1), reset: make(chan struct{}, 1)}
	l.tune(rt)
	return l
}

// tune sets the lane's backoff to the rules' timing, afresh when it changed:
// the rules arrive from the server after the queue is made.
func (l *lane) tune(rt rulebook.RetryRule) {
	if l.bo != nil && rt == l.rt {
		return
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = time.Duration(rt.First)
	bo.MaxInterval = time.Duration(rt.Cap)
	bo.Multiplier = 2
	bo.RandomizationFactor = 0.25
	bo.MaxElapsedTime = 0 // never give up: the work is the user's
	bo.Reset()
	l.bo, l.rt = bo, rt
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Start runs both lanes until Close.
func (q *Queue) Start() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	q.running = true
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		q.refresher(ctx)
	}()
	for _, l := range []*lane{q.data, q.media} {
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			q.loop(ctx, l)
		}()
	}
	poke(q.data.kick)
	poke(q.media.kick)
}

// Close stops both lanes and waits for a round under way to end, or for
// ctx. Work not yet sent stays in the store for next time.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	cancel := q.cancel
	q.cancel = nil
	q.running = false
	q.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	done := make(chan struct{})
	go func() {
		q.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SyncNow tries both lanes at once and starts their backoff afresh: for
// the Sync now button, the app coming to the front, and the network coming back.
func (q *Queue) SyncNow() {
	for _, l := range []*lane{q.data, q.media} {
		poke(l.reset)
		poke(l.kick)
	}
}

// Kick tells the queue there is new work. A lane that is backing off after
// failures keeps its wait: new edits never start a storm of retries.
func (q *Queue) Kick() {
	poke(q.data.kick)
	poke(q.media.kick)
	q.mu.Lock()
	running := q.running
	q.mu.Unlock()
	if running {
		poke(q.refreshCh) // off the saver's path: saving stays quick however long the queue
		return
	}
	q.dirty.Store(true) // worked out when someone next asks for the state
}

// refresher recomputes the state when kicks ask for it, coalescing bursts.
func (q *Queue) refresher(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.refreshCh:
			q.Refresh()
		}
	}
}

// loop runs rounds of one lane when kicked, when its retry is due, or, for
// the data lane, every PullEvery.
func (q *Queue) loop(ctx context.Context, l *lane) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var wait time.Duration
		st := q.laneState(l)
		switch {
		case st.Failures > 0:
			wait = st.NextTry.Sub(q.opt.Now())
		case l == q.data:
			wait = q.opt.PullEvery
		default:
			wait = q.opt.PullEvery // the media lane also looks for photos now and then
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
			if st.Failures > 0 && q.opt.Now().Before(st.NextTry) && len(l.reset) == 0 {
				continue // backing off; a reset (Sync now) would have come with the kick
			}
		case <-timer.C:
		}
		select {
		case <-l.reset:
			l.bo.Reset()
			q.setLane(l, func(s *LaneState) { s.Failures, s.NextTry = 0, time.Time{} })
		default:
		}
		q.run(ctx, l)
	}
}

// RunData runs one data round now: push everything queued, then pull.
func (q *Queue) RunData(ctx context.Context) error { return q.run(ctx, q.data) }

// RunMedia runs one media round now: upload every photo that is ready.
func (q *Queue) RunMedia(ctx context.Context) error { return q.run(ctx, q.media) }

// run runs a round of l and works out when to try again.
func (q *Queue) run(ctx context.Context, l *lane) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := q.opt.Now()
	rules := q.opt.Rules()
	if l == q.data {
		l.tune(rules.RetryFor(rulebook.LaneData))
	} else {
		l.tune(rules.RetryFor(rulebook.LaneMedia))
	}
	q.setLane(l, func(s *LaneState) { s.Running, s.LastTry = true, start })
	err := l.round(ctx)
	now := q.opt.Now()
	q.setLane(l, func(s *LaneState) {
		s.Running = false
		switch {
		case err == nil:
			l.bo.Reset()
			s.LastOK, s.Failures, s.NextTry, s.LastError = now, 0, time.Time{}, ""
			if l == q.data {
				// Photos whose metadata just reached the server can go up now.
				poke(q.media.kick)
			}
		case errors.Is(err, context.Canceled):
		case apiclient.IsUnauthorized(err):
			s.LastError = err.Error()
		default:
			// Jitter never takes a wait past the cap; only the server's
			// Retry-After may.
			wait := min(l.bo.NextBackOff(), time.Duration(l.rt.Cap))
			if ra := apiclient.RetryAfter(err); ra > wait {
				wait = ra
			}
			s.Failures++
			s.NextTry = now.Add(wait)
			s.LastError = err.Error()
			q.opt.Log.Info("sync round failed", "lane", l.name, "err", err, "retry_in", wait.Round(time.Second))
		}
	})
	q.mu.Lock()
	switch {
	case apiclient.IsUnauthorized(err):
		q.state.SignedOut = true
	case err == nil && l == q.data:
		q.state.SignedOut = false // only the data lane's sign-in proves it again
	}
	if l == q.media {
		// Only now is the next try known, for photos that did not go up.
		q.summary.Retry, q.summary.At = q.state.Media.NextTry, now
		if !q.summary.Empty() {
			q.state.LastRound = q.summary
		}
	}
	q.mu.Unlock()
	q.Refresh()
	return err
}

func (q *Queue) laneState(l *lane) LaneState {
	q.mu.Lock()
	defer q.mu.Unlock()
	if l == q.data {
		return q.state.Data
	}
	return q.state.Media
}

func (q *Queue) setLane(l *lane, f func(*LaneState)) {
	q.mu.Lock()
	if l == q.data {
		f(&q.state.Data)
	} else {
		f(&q.state.Media)
	}
	q.mu.Unlock()
}

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

// mediaRound uploads every photo whose metadata the server has. Photos
// that went up, and one whose upload failed, are added to the summary of
// the data round that sent their metadata.
func (q *Queue) mediaRound(ctx context.Context) error {
	st := q.opt.Store
	photos, err := st.Photos(localstore.PhotoWaiting)
	if err != nil {
		return err
	}
	uploaded, failed := 0, map[string]bool{}
	defer func() {
		q.mu.Lock()
		if uploaded > 0 {
			q.summary.PhotosUp = true
		}
		q.summary.Unfinished = len(failed)
		q.uploadFailed = failed
		q.mu.Unlock()
	}()
	for i, p := range photos {
		e, err := st.Record(p.ID)
		if err != nil {
			return err
		}
		if e == nil || e.Server == nil {
			// Its metadata has not reached the server yet, or never will: an
			// append the server refused, or one held for review and settled
			// without it, leaves content that can never go up.
			if why, never, err := photoNotTaken(st, p.ID); err != nil {
				return err
			} else if never {
				if err := st.PhotoFailed(p.ID, why); err != nil {
					return err
				}
			}
			continue
		}
		done, err := q.upload(ctx, p, i+1, len(photos))
		if err != nil {
			// With no signal, or signed out, nothing was tried: the line
			// says why. Anything else failed this photo's upload.
			if !errors.Is(err, apiclient.ErrNoSignal) && !apiclient.IsUnauthorized(err) && !errors.Is(err, context.Canceled) {
				failed[p.ID] = true
			}
			return err
		}
		if done {
			uploaded++
		}
	}
	return nil
}

// photoNotTaken reports whether the server will never have a photo's
// record: none is stored and no operation that may still make it (queued,
// applied and not yet pulled, or held for review) is in the outbox. why is
// the server's reason, for the user.
func photoNotTaken(st *localstore.Store, id string) (why string, never bool, err error) {
	ops, err := st.PendingFor(id)
	if err != nil {
		return "", false, err
	}
	why = "the server did not take this photo"
	for _, p := range ops {
		switch p.State {
		case localstore.Queued, localstore.Applied, localstore.Held:
			return "", false, nil
		case localstore.Refused:
			if p.Result != nil && p.Result.Message != "" {
				why = "the server did not take this photo: " + p.Result.Message
			}
		}
	}
	return why, true, nil
}

// upload sends one photo's content from the last byte the server has. It
// reports whether the photo is now wholly on the server.
func (q *Queue) upload(ctx context.Context, p localstore.Photo, index, of int) (bool, error) {
	st, c := q.opt.Store, q.opt.Client
	defer q.progress(p, 0, 0, 0, false)
	status, err := c.UploadStatus(ctx, p.ID)
	if err != nil {
		var e *apiclient.Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			return false, nil // not visible on the server yet
		}
		return false, err
	}
	if status.Complete {
		return true, st.PhotoDone(p.ID, p.Size)
	}
	f, err := os.Open(p.Path)
	if err != nil {
		st.PhotoFailed(p.ID, "the photo's file is gone from this device")
		return false, nil
	}
	defer f.Close()
	offset := status.Received
	for {
		q.progress(p, index, of, offset, true)
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return false, err
		}
		from := offset
		status, err = c.UploadChunk(ctx, p.ID, offset, io.LimitReader(f, q.opt.ChunkSize))
		if err != nil {
			var e *apiclient.Error
			errors.As(err, &e)
			switch {
			case e != nil && e.Detail.Code == contract.CodeChecksum:
				if p.Attempts++; p.Attempts >= 3 {
					st.PhotoFailed(p.ID, "the photo keeps arriving damaged; add it again")
					return false, nil
				}
				st.PhotoAttempt(p.ID, e.Detail.Message)
				offset = 0
				continue
			case e != nil && e.Detail.Code == contract.CodeOffset:
				if status, err = c.UploadStatus(ctx, p.ID); err != nil {
					return false, err
				}
				offset = status.Received
				continue
			case e != nil && e.Status == http.StatusRequestEntityTooLarge:
				st.PhotoFailed(p.ID, e.Detail.Message)
				return false, nil
			}
			// Cut short: remember what arrived; the next round resumes there.
			if s2, err2 := c.UploadStatus(ctx, p.ID); err2 == nil {
				st.SetUploaded(p.ID, s2.Received)
			}
			st.PhotoAttempt(p.ID, err.Error())
			return false, err
		}
		offset = status.Received
		if err := st.SetUploaded(p.ID, offset); err != nil {
			return false, err
		}
		if status.Complete {
			return true, st.PhotoDone(p.ID, p.Size)
		}
		if offset <= from {
			// The server took nothing and did not finish: the whole file
			// is there (the empty chunk at its end asks it to finish) but
			// it could not record so. Try again after the lane's wait,
			// never in a loop.
			err := fmt.Errorf("the server has %d of %d bytes of the photo but did not finish it", offset, p.Size)
			st.PhotoAttempt(p.ID, err.Error())
			return false, err
		}
	}
}

// progress records an upload's progress and tells subscribers.
func (q *Queue) progress(p localstore.Photo, index, of int, sent int64, active bool) {
	q.mu.Lock()
	if active {
		q.uploads[p.ID] = Upload{PhotoID: p.ID, JobID: p.JobID, Index: index, Of: of, Sent: sent, Size: p.Size}
	} else {
		delete(q.uploads, p.ID)
	}
	q.mu.Unlock()
	q.Refresh()
}

// SetOffline simulates no signal, or ends the simulation; ending it tries
// at once, as the network coming back does.
func (q *Queue) SetOffline(off bool) {
	q.opt.Client.SetOffline(off)
	if !off {
		q.SyncNow()
	}
	q.Refresh()
}

// Subscribe calls fn with the state now and at every change, from the
// queue's goroutines, until cancel is called. fn must not block: a screen
// hands the state to its UI thread.
func (q *Queue) Subscribe(fn func(State)) (cancel func()) {
	q.mu.Lock()
	id := q.nextSub
	q.nextSub++
	q.subs[id] = fn
	q.mu.Unlock()
	// The state now, worked out afresh: the last one published may predate
	// work saved since (its refresh is on its way, off the saver's path).
	if !q.refresh() {
		q.mu.Lock()
		st := q.copyState()
		q.mu.Unlock()
		fn(st)
	}
	return func() {
		q.mu.Lock()
		delete(q.subs, id)
		q.mu.Unlock()
	}
}

// State returns the state now.
func (q *Queue) State() State {
	if q.dirty.Swap(false) {
		q.Refresh()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.copyState()
}

func (q *Queue) copyState() State {
	st := q.state
	st.Records = make(map[string]RecordState, len(q.state.Records))
	for k, v := range q.state.Records {
		st.Records[k] = v
	}
	st.Uploads = append([]Upload(nil), q.state.Uploads...)
	return st
}

// Refresh recomputes every record's status from the store and tells
// subscribers.
func (q *Queue) Refresh() { q.refresh() }

// refresh is Refresh; it reports whether subscribers were told.
func (q *Queue) refresh() bool {
	q.refreshMu.Lock()
	defer q.refreshMu.Unlock()
	// Only those subscribed before the store is read hear of this state: a
	// subscriber that comes while it is being worked out gets its own,
	// newer one, never one from before it asked.
	q.mu.Lock()
	subs := make([]func(State), 0, len(q.subs))
	for _, fn := range q.subs {
		subs = append(subs, fn)
	}
	q.mu.Unlock()
	records, counts, err := q.recordStates()
	if err != nil {
		q.opt.Log.Error("sync state", "err", err)
		return false
	}
	q.mu.Lock()
	q.state.At = q.opt.Now()
	q.state.Offline = q.opt.Client.Offline()
	q.state.Records = records
	q.state.Queued, q.state.Held, q.state.Refused, q.state.Photos = counts[0], counts[1], counts[2], counts[3]
	q.state.Uploads = q.state.Uploads[:0]
	for _, u := range q.uploads {
		q.state.Uploads = append(q.state.Uploads, u)
	}
	slices.SortFunc(q.state.Uploads, func(a, b Upload) int { return a.Index - b.Index })
	st := q.copyState()
	q.mu.Unlock()
	for _, fn := range subs {
		fn(st)
	}
	return true
}

// recordStates works out each record's status: the worst of its own
// operations and, for a job, of its items'.
func (q *Queue) recordStates() (map[string]RecordState, [4]int, error) {
	var counts [4]int
	st := q.opt.Store
	rows, err := st.OutboxStates()
	if err != nil {
		return nil, counts, err
	}
	reviews, err := st.NeedsReview()
	if err != nil {
		return nil, counts, err
	}
	photos, err := st.Photos("")
	if err != nil {
		return nil, counts, err
	}
	q.mu.Lock()
	// With no signal there is nothing to retry yet: the work is saved here.
	offline := q.opt.Client.Offline()
	dataFailing := q.state.Data.Failures > 0 && !offline
	uploadFailing := map[string]bool{}
	if q.state.Media.Failures > 0 && !offline {
		for id := range q.uploadFailed {
			uploadFailing[id] = true
		}
	}
	uploading := map[string]bool{}
	for _, u := range q.uploads {
		uploading[u.PhotoID] = true
	}
	q.mu.Unlock()

	out := map[string]RecordState{}
	mark := func(id, parent string, rs RecordState) {
		for _, k := range []string{id, parent} {
			if k == "" {
				continue
			}
			if cur, ok := out[k]; !ok || rs.Status > cur.Status {
				out[k] = rs
			}
		}
	}
	for _, r := range rows {
		switch r.State {
		case localstore.Queued:
			counts[0]++
			s := Saved
			switch {
			case offline:
			case dataFailing:
				s = Failed
			case r.Attempts > 0:
				s = Waiting
			}
			mark(r.RecordID, r.ParentID, RecordState{Status: s})
		case localstore.Held:
			counts[1]++
			mark(r.RecordID, r.ParentID, RecordState{Status: Review})
		case localstore.Refused:
			counts[2]++
			reason := r.LastError
			if r.Result != nil {
				reason = r.Result.Message
			}
			mark(r.RecordID, r.ParentID, RecordState{Status: NotSent, Reason: reason})
		}
	}
	for id, parent := range reviews {
		mark(id, parent, RecordState{Status: Review})
	}
	for _, p := range photos {
		switch p.State {
		case localstore.PhotoWaiting:
			counts[3]++
			rs := RecordState{Status: Waiting}
			switch {
			case uploading[p.ID]:
				rs.Status = Uploading
			case uploadFailing[p.ID]:
				rs = RecordState{Status: Failed, Upload: true}
			}
			mark(p.ID, p.JobID, rs)
		case localstore.PhotoFailed:
			counts[2]++
			mark(p.ID, p.JobID, RecordState{Status: NotSent, Reason: p.Error})
		}
	}
	return out, counts, nil
}
