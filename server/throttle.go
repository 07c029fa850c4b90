package server

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// The sign-in throttle. Wrong passwords are counted per user name and per
// client address, in the store, so that the count holds across restarts
// and across servers sharing the store. After a key's free failures, each
// further failure makes sign-ins for that key wait, twice as long each
// time up to throttleMax; while a key waits, a sign-in is answered 429 with
// Retry-After and its password is not even checked, so waiting out the
// delay is the only way on. A correct password after the wait signs in and
// clears the user name's count. A key's count is forgotten once it has had
// no failure for throttleForget.
const (
	throttleUserFree = 5  // wrong passwords for one user name; the last of them starts a wait
	throttleAddrFree = 30 // wrong passwords from one address; the last of them starts a wait
	throttleFirst    = 30 * time.Second
	throttleMax      = 15 * time.Minute
	throttleForget   = time.Hour
)

// throttleKeys are the keys a sign-in counts against: its user name, as
// names are unique regardless of case, and its client address.
func (s *Server) throttleKeys(username string, r *http.Request) (user, addr string) {
	return "user:" + strings.ToLower(strings.TrimSpace(username)), "addr:" + s.clientAddr(r)
}

// clientAddr is the address a request came from: the connection's peer,
// never a header a client could set; but when the peer is a trusted proxy
// (Options.TrustedProxies: the load balancer), the address that proxy
// says it received the request from, in the last X-Forwarded-For entry,
// and so on back through trusted proxies. An IPv6 client is counted by
// its /64, which one subscriber usually holds whole.
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if s.trusts(ip) {
		// Entries are appended by each proxy: read from the end, past
		// every trusted one, to the first address a proxy we trust saw.
		var hops []string
		for _, h := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(h, ",")...)
		}
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a garbled entry: the last trusted peer is all we know
			}
			ip = hop
			if !s.trusts(hop) {
				break
			}
		}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		return netip.PrefixFrom(ip, 64).Masked().String()
	}
	return ip.String()
}

// trusts reports whether ip is one of the trusted proxies.
func (s *Server) trusts(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// throttleWait returns how long sign-ins for keys must still wait; zero
// when they may go ahead.
func (s *Server) throttleWait(ctx context.Context, keys ...string) (time.Duration, error) {
	var ths []Throttle
	err := s.store.Read(ctx, func(q Query) error {
		var err error
		ths, err = q.Throttles(keys)
		return err
	})
	var wait time.Duration
	now := s.now()
	for _, th := range ths {
		wait = max(wait, th.Until.Sub(now))
	}
	return wait, err
}

// loginFailed counts a wrong password against each key.
func (s *Server) loginFailed(ctx context.Context, userKey, addrKey string) error {
	now := s.now().UTC()
	return s.store.Write(context.WithoutCancel(ctx), func(tx Tx) error {
		if err := tx.PruneThrottles(now.Add(-throttleForget)); err != nil {
			return err
		}
		ths, err := tx.Throttles([]string{userKey, addrKey})
		if err != nil {
			return err
		}
		have := map[string]Throttle{}
		for _, th := range ths {
			have[th.Key] = th
		}
		for _, k := range []struct {
			key  string
			free int
		}{{userKey, throttleUserFree}, {addrKey, throttleAddrFree}} {
			th := have[k.key]
			if now.Sub(th.Last) > throttleForget && now.After(th.Until) {
				th = Throttle{}
			}
			th.Key, th.Last = k.key, now
			th.Failures++
			if over := th.Failures - k.free + 1; over > 0 {
				th.Until = now.Add(throttleDelay(over))
			}
			if err := tx.PutThrottle(th); err != nil {
				return err
			}
		}
		return nil
	})
}

// throttleDelay is the wait after the nth failure past the free ones.
func throttleDelay(n int) time.Duration {
	d := float64(throttleFirst) * math.Pow(2, float64(n-1))
	return time.Duration(min(d, float64(throttleMax)))
}

// retryAfterSeconds is a wait as Retry-After says it: whole seconds,
// rounded up.
func retryAfterSeconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}
