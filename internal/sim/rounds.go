package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"fieldsync/internal/faultproxy"
	"fieldsync/localstore"
)

// restart closes the app and opens it again: the app was killed between
// rounds. The app syncs as it starts.
func (s *sim) restart(d *device) error {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if err := d.app.Close(ctx); err != nil {
		return fmt.Errorf("%s: close: %w", d.name, err)
	}
	d.app = nil
	if err := s.open(d); err != nil {
		return err
	}
	s.round(d)
	return nil
}

// crash runs the round a save kicks off and kills the app while its push
// or upload is in flight: the server has the request, the device never
// hears its answer; the app restarts and syncs. It reports false when no
// request was caught in flight (nothing to send, or a fault ended the
// round first).
func (s *sim) crash(d *device) (bool, error) {
	queued, _, _, err := d.store.Counts()
	if err != nil {
		return false, err
	}
	rule := faultproxy.Rule{Name: "in flight", Method: "POST", Path: "/v1/push", Fault: faultproxy.DelayReply, Times: 1}
	if queued == 0 {
		waiting, err := s.uploadable(d)
		if err != nil {
			return false, err
		}
		if !waiting {
			s.round(d) // nothing in flight to lose: an ordinary round
			return false, nil
		}
		rule = faultproxy.Rule{Name: "in flight", Method: "PUT", Path: "/v1/photos/", Fault: faultproxy.DelayReply, Times: 1}
	}
	id := d.proxy.Add(rule)
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.app.SyncRound(ctx) }()
	var finished bool
	for !finished {
		if d.proxy.Stats().Holding > 0 {
			break
		}
		select {
		case <-done:
			finished = true
		case <-time.After(time.Millisecond):
		}
	}
	d.proxy.Remove(id) // when the round ended without it firing
	if !finished {
		// Killed: the store closes under the round, then the link goes.
		cctx, ccancel := context.WithTimeout(s.ctx, 10*time.Second)
		err := d.app.Close(cctx)
		ccancel()
		cancel()
		<-done
		if err != nil {
			return false, fmt.Errorf("%s: close in flight: %w", d.name, err)
		}
	} else {
		cctx, ccancel := context.WithTimeout(s.ctx, 10*time.Second)
		err := d.app.Close(cctx)
		ccancel()
		if err != nil {
			return false, fmt.Errorf("%s: close: %w", d.name, err)
		}
	}
	d.app = nil
	if err := s.open(d); err != nil {
		return false, err
	}
	s.round(d)
	return !finished, nil
}

// uploadable reports whether a device has photo content to upload whose
// metadata the server has: only then does a media round touch the network.
func (s *sim) uploadable(d *device) (bool, error) {
	waiting, err := d.store.Photos(localstore.PhotoWaiting)
	if err != nil {
		return false, err
	}
	for _, p := range waiting {
		e, err := d.store.Record(p.ID)
		if err != nil {
			return false, err
		}
		if e != nil && e.Server != nil {
			return true, nil
		}
	}
	return false, nil
}

// round runs one data round and, when it went through, a media round, as
// the app's loops do after a kick. Attempts while offline are counted.
func (s *sim) round(d *device) {
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	err := d.app.SyncData(ctx)
	d.lastRound = s.clock.Now()
	if d.offline {
		s.offlineAttempt(d)
		return
	}
	if err == nil {
		d.app.SyncPhotos(ctx)
	}
}

// mediaRound runs the media lane alone, when its retry is due.
func (s *sim) mediaRound(d *device) {
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	if err := d.app.SyncPhotos(ctx); err != nil && d.offline {
		s.offlineAttempt(d)
	}
}

const burst = 10 * time.Minute

func (s *sim) offlineAttempt(d *device) {
	s.rep.OfflineAttempts++
	if s.clock.Now().Sub(d.offlineFrom) > burst {
		s.steadyAttempts++
	}
}

// due returns when a device's next round is due, and whether it is the
// media lane alone. The data lane follows the queue's own retry schedule
// (State().Data.NextTry) after failures; with nothing failing an online
// device pulls every onlinePull and an offline one tries after the app's
// PullEvery. The media lane is due at its NextTry after failures.
func (s *sim) due(d *device) (time.Time, bool) {
	st := d.app.State()
	next := d.lastRound.Add(onlinePull)
	if d.offline {
		next = d.lastRound.Add(offlinePull)
	}
	if st.Data.Failures > 0 {
		next = st.Data.NextTry
	}
	if st.Media.Failures > 0 && st.Media.NextTry.Before(next) && st.Data.Failures == 0 {
		return st.Media.NextTry, true
	}
	return next, false
}

// advance moves the clock to t, running every round that falls due on the
// way, in time order, and bringing devices back online when their offline
// period ends.
func (s *sim) advance(t time.Time) error {
	for {
		var (
			at    time.Time
			who   *device
			media bool
			back  bool
		)
		for _, d := range s.devices {
			if d.offline && !d.offlineUntil.After(t) && (who == nil || d.offlineUntil.Before(at)) {
				at, who, back, media = d.offlineUntil, d, true, false
			}
			next, m := s.due(d)
			if !next.After(t) && (who == nil || next.Before(at)) {
				at, who, back, media = next, d, false, m
			}
		}
		if s.cluster != nil {
			// An instance that crashed comes back when its time comes.
			if in, when := s.cluster.nextBack(); in != nil && !when.After(t) && (who == nil || when.Before(at)) {
				s.clock.set(when)
				if err := s.cluster.start(in); err != nil {
					return err
				}
				s.logf("instance %d is back", in.n)
				continue
			}
		}
		if who == nil {
			break
		}
		s.clock.set(at)
		switch {
		case back:
			if err := s.online(who); err != nil {
				return err
			}
		case media:
			s.mediaRound(who)
		default:
			s.round(who)
		}
		if err := s.ctx.Err(); err != nil {
			return err
		}
	}
	s.clock.set(t)
	return nil
}

// offline takes a device's link down until a time.
func (s *sim) offline(d *device, until time.Time) error {
	if err := d.proxy.SetDown(true); err != nil {
		return err
	}
	d.offline, d.offlineFrom, d.offlineUntil = true, s.clock.Now(), until
	s.periods++
	return nil
}

// online brings a device's link back; the network coming back syncs at once.
func (s *sim) online(d *device) error {
	if err := d.proxy.SetDown(false); err != nil {
		return err
	}
	s.rep.OfflineHours += s.clock.Now().Sub(d.offlineFrom).Hours()
	s.steadyHours += max(0, s.clock.Now().Sub(d.offlineFrom)-burst).Hours()
	d.offline = false
	s.round(d)
	return nil
}

// syncAll brings every device online and runs rounds until nothing waits
// on any of them, then one more data round each, so every device has
// pulled what the others sent.
func (s *sim) syncAll() error {
	for _, d := range s.devices {
		if d.offline {
			if err := s.online(d); err != nil {
				return err
			}
		}
	}
	for pass := 1; ; pass++ {
		var errs []error
		for _, d := range s.devices {
			ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
			err := d.app.SyncRound(ctx)
			cancel()
			d.lastRound = s.clock.Now()
			queued, _, _, cerr := d.store.Counts()
			if cerr != nil {
				return cerr
			}
			waiting, werr := s.uploadable(d)
			if werr != nil {
				return werr
			}
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: %w", d.name, err))
			case queued > 0 || waiting:
				errs = append(errs, fmt.Errorf("%s: %d operations still queued, photos waiting: %v", d.name, queued, waiting))
			}
		}
		if len(errs) == 0 {
			break
		}
		if pass == 20 {
			return &stuckError{errors.Join(errs...)}
		}
		// Give retry-after waits their time.
		s.clock.set(s.clock.Now().Add(time.Minute))
	}
	for _, d := range s.devices {
		if err := d.app.SyncData(s.ctx); err != nil {
			return fmt.Errorf("%s: last pull: %w", d.name, err)
		}
	}
	return nil
}

// settle ends the work: every fault is cleared, every device comes online
// and syncs.
func (s *sim) settle() error {
	for _, d := range s.devices {
		d.proxy.Clear()
	}
	if s.cluster != nil {
		s.cluster.setFaults(false)
		if err := s.cluster.restartAll(); err != nil {
			return err
		}
	}
	err := s.syncAll()
	var stuck *stuckError
	if errors.As(err, &stuck) {
		// Not a failure to run: the checks say what did not get through.
		s.rep.problem("final sync: devices still had work waiting after 20 passes: %v", stuck.err)
		err = nil
	}
	var total faultproxy.Stats
	for _, d := range s.devices {
		st := d.proxy.Stats()
		total.Requests += st.Requests
		total.DroppedRequests += st.DroppedRequests
		total.DroppedReplies += st.DroppedReplies
		total.Unavailable += st.Unavailable
		total.Cut += st.Cut
		total.Delayed += st.Delayed
		total.Refused += st.Refused
	}
	s.rep.Requests = total.Requests
	if s.steadyHours > 0 {
		s.logf("offline: %d attempts in %.1f h (%.1f an hour); after each period's first %s, %d in %.1f h (%.1f an hour)",
			s.rep.OfflineAttempts, s.rep.OfflineHours, s.rep.AttemptsPerOfflineHour(), burst, s.steadyAttempts, s.steadyHours, float64(s.steadyAttempts)/s.steadyHours)
	}
	s.logf("faults: %d offline periods (%.1f h), %d restarts, %d kills with a request in flight; %d requests: %d dropped, %d replies dropped, %d answered 503, %d uploads cut, %d slowed; %d connections refused while offline",
		s.periods, s.rep.OfflineHours, s.restarts, s.kills, total.Requests, total.DroppedRequests, total.DroppedReplies, total.Unavailable, total.Cut, total.Delayed, total.Refused)
	if s.cluster != nil {
		s.rep.Crashes, s.rep.PerInstance = s.cluster.counts()
		s.logf("instances: %s", s.cluster.summary())
	}
	return err
}

// stuckError is devices that still have work waiting after every pass of
// the final sync.
type stuckError struct{ err error }

func (e *stuckError) Error() string { return "devices did not sync in 20 passes: " + e.err.Error() }
