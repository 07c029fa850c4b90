// Package syncqueue moves a device's work to the server in two lanes that
// never wait for each other: the data lane pushes operations in batches and
// then pulls, and the media lane uploads photo content in chunks, resuming
// from the last byte the server has. Each lane retries with jittered
// exponential backoff (github.com/cenkalti/backoff/v4), honours Retry-After,
// and does not retry what retrying cannot fix. It keeps the sync state as
// data (State); the words people read are the app's.
//
// Files: queue.go (lanes, loops, rounds and backoff), push.go (the data
// lane), media.go (the media lane), refresh.go (working out each record's
// state) and store.go (the small interfaces it needs of the device store).
//
// It imports the contract packages, internal/apiclient for the /v1 protocol
// and localstore for the store's row types; never app, ui, server or Fyne.
package syncqueue

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"fieldsync/contract/rulebook"
	"fieldsync/internal/apiclient"

	"github.com/cenkalti/backoff/v4"
)

// Options configure a Queue.
type Options struct {
	Store  Store
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
	// Rand returns a number in [0, 1) for the jitter of retry waits; nil
	// uses math/rand/v2's. Both lanes call it, at once at times. Tests pass a
	// fixed one to know each wait.
	Rand func() float64
}

// jitter is how far, as a fraction, a retry wait may be from its nominal
// value either way, so that devices that failed together do not retry
// together.
const jitter = 0.25

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
	if opt.Rand == nil {
		opt.Rand = rand.Float64
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
	bo.RandomizationFactor = 0 // the queue adds its own jitter, from Options.Rand
	bo.MaxElapsedTime = 0      // never give up: the work is the user's
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
			nominal := l.bo.NextBackOff()
			wait := time.Duration(float64(nominal) * (1 + jitter*(2*q.opt.Rand()-1)))
			wait = min(wait, time.Duration(l.rt.Cap))
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

// SetOffline simulates no signal, or ends the simulation; ending it tries
// at once, as the network coming back does.
func (q *Queue) SetOffline(off bool) {
	q.opt.Client.SetOffline(off)
	if !off {
		q.SyncNow()
	}
	q.Refresh()
}
