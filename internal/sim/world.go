package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"fieldsync/app"
	"fieldsync/contract"
	"fieldsync/contract/rulebook"
	"fieldsync/internal/faultproxy"
	"fieldsync/localstore"
	"fieldsync/server"
	"fieldsync/server/blobstore/s3"
	"fieldsync/server/pgstore"
	"fieldsync/server/sqlitestore"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

const password = "password1"

// Timing of the simulated world, in virtual time.
const (
	// onlinePull is how often an online device with nothing failing pulls.
	// The app's loops pull every minute; the simulation pulls less often
	// so that a run stays quick and views go stale now and then, as they do
	// on a phone in a pocket. Saves still sync at once, as a kick does.
	onlinePull = 10 * time.Minute
	// offlinePull is the app's PullEvery: an offline device with nothing
	// failing yet tries this long after its last round.
	offlinePull = time.Minute
	chunkSize   = 16 << 10
)

// clock is the virtual clock every device and the server read.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	if t.After(c.t) {
		c.t = t
	}
	c.mu.Unlock()
}

// lockedReader makes a seeded source safe to share, for the id makers.
type lockedReader struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// device is one phone, tablet or office PC.
type device struct {
	idx   int
	name  string
	user  contract.User
	dir   string
	proxy *faultproxy.Proxy
	cfg   app.Config
	app   *app.App
	// store is the device's store file opened beside its app: the checker
	// reads the outbox, photos and views the app keeps there, as an
	// observer. The work itself goes through the app's facade alone.
	store *localstore.Store

	offline      bool
	offlineFrom  time.Time
	offlineUntil time.Time
	lastRound    time.Time
}

type sim struct {
	ctx   context.Context
	cfg   Config
	rng   *rand.Rand
	ids   *lockedReader // the devices' ids
	clock *clock
	dir   string
	db    string // the PostgreSQL database the server runs on, or ""
	temp  bool
	log   io.Writer

	store server.Store
	srv   *server.Server
	ts    *httptest.Server
	url   string // where devices reach the server: ts's, or the load balancer's
	rules *rulebook.Rules
	// cluster is the instances and their load balancer, with several;
	// srv and store then serve no request: they add users and the checks
	// read the database through them.
	cluster *cluster

	users   []contract.User
	techs   []contract.User
	devices []*device

	ledger []*entry
	byOp   map[string]*entry
	order  map[string]int // record id → the order the simulation made it in
	made   int
	seq    int // for unique texts
	sites  map[string][]string

	rep Report

	// What happened, for --verbose.
	periods, restarts, kills int
	// Attempts and hours offline after each period's first ten minutes,
	// when the backoff has reached its cap.
	steadyAttempts   int
	steadyHours      float64
	checked, ownRuns int // applied review-group edits checked for collisions; of them, stale but on their own run
}

func newSim(ctx context.Context, cfg Config) (*sim, error) {
	s := &sim{ctx: ctx, cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed)), log: cfg.Log,
		clock: &clock{t: time.Date(2025, 3, 3, 7, 30, 0, 0, time.UTC)},
		byOp:  map[string]*entry{}, order: map[string]int{}, sites: map[string][]string{}}
	if s.log == nil {
		s.log = io.Discard
	}
	s.rep.Seed, s.rep.Devices, s.rep.Instances = cfg.Seed, cfg.Devices, max(1, cfg.Instances)
	// Every id and every retry's jitter follow from the seed.
	var key [32]byte
	for i := range 4 {
		v := s.rng.Uint64()
		for j := range 8 {
			key[i*8+j] = byte(v >> (8 * j))
		}
	}
	// The server's ids and the devices' come from sources of their own,
	// given to the server (server.Options.NewID) and to each app
	// (app.Config.NewID and NewDeviceID).
	serverIDs := app.NewIDFrom(&lockedReader{r: rand.NewChaCha8(key)})
	key[0]++
	s.ids = &lockedReader{r: rand.NewChaCha8(key)}

	s.dir = cfg.Dir
	if s.dir == "" {
		d, err := os.MkdirTemp("", "fieldsim-")
		if err != nil {
			return nil, err
		}
		s.dir, s.temp = d, true
	}
	var (
		st  server.Store
		err error
	)
	if cfg.DB != "" {
		st, err = pgstore.Open(ctx, cfg.DB)
	} else {
		st, err = sqlitestore.Open(filepath.Join(s.dir, "server.db"))
	}
	if err != nil {
		s.close()
		return nil, err
	}
	s.store, s.db = st, cfg.DB
	opts := server.Options{Store: st, BlobDir: filepath.Join(s.dir, "blobs"), Now: s.clock.Now,
		NewID: func() string { return serverIDs(s.clock.Now()) }, TokenTTL: 10 * 365 * 24 * time.Hour}
	if cfg.S3 != "" {
		if opts.Blobs, err = s3.Open(ctx, cfg.S3); err != nil {
			s.close()
			return nil, err
		}
	}
	if cfg.Log != nil {
		// What the server itself reports as going wrong, such as a panic
		// it turned into a 500.
		opts.Logger = slog.New(slog.NewTextHandler(cfg.Log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := server.New(opts)
	if err != nil {
		s.close()
		return nil, err
	}
	s.srv, s.rules = srv, srv.Rules()
	if cfg.Instances <= 1 {
		s.ts = httptest.NewServer(srv)
		s.url = s.ts.URL
		return s, nil
	}
	// Several instances: the server above serves no request. Like the
	// fieldsyncd command an administrator runs beside the cluster, it adds
	// the users; its store is what the checks read.
	key[0]++
	s.cluster, err = newCluster(ctx, cfg.Instances, cfg.DB, cfg.S3, opts, s.rng.Uint64(), key, s.logf)
	if err != nil {
		s.close()
		return nil, err
	}
	s.url = s.cluster.url
	return s, nil
}

func (s *sim) close() {
	for _, d := range s.devices {
		if d.app != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			d.app.Close(ctx)
			cancel()
		}
		if d.store != nil {
			d.store.Close()
		}
		if d.proxy != nil {
			d.proxy.Close()
		}
	}
	if s.ts != nil {
		s.ts.Close()
	}
	if s.cluster != nil {
		s.cluster.close()
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.temp {
		os.RemoveAll(s.dir)
	}
}

func (s *sim) logf(format string, args ...any) {
	fmt.Fprintf(s.log, "%s  "+format+"\n", append([]any{s.clock.Now().Format("Jan 2 15:04:05")}, args...)...)
}

// setup makes the people and their devices: two dispatchers (one for
// small runs), a supervisor, and technicians, every fourth of whose
// devices is a second device (a tablet) of the technician before.
func (s *sim) setup() error {
	n := s.cfg.Devices
	roles := []string{"dispatcher", "supervisor"}
	if n >= 6 {
		roles = []string{"dispatcher", "dispatcher", "supervisor"}
	}
	type plan struct {
		user contract.User
		name string
	}
	var plans []plan
	add := func(name, role string) (contract.User, error) {
		u, err := s.srv.AddUser(s.ctx, server.NewUser{Name: name, Role: role, Password: password, Cost: bcrypt.MinCost})
		if err != nil {
			return u, err
		}
		s.users = append(s.users, u)
		return u, nil
	}
	count := map[string]int{}
	for _, role := range roles {
		count[role]++
		u, err := add(fmt.Sprintf("%s%d", role, count[role]), role)
		if err != nil {
			return err
		}
		plans = append(plans, plan{u, u.Name + "-pc"})
	}
	var last contract.User
	for k := 0; len(plans) < n; k++ {
		if k%4 == 3 {
			plans = append(plans, plan{last, last.Name + "-tablet"})
			continue
		}
		u, err := add(fmt.Sprintf("tech%02d", len(s.techs)+1), "technician")
		if err != nil {
			return err
		}
		s.techs = append(s.techs, u)
		last = u
		plans = append(plans, plan{u, u.Name + "-phone"})
	}
	for i, p := range plans {
		d := &device{idx: i, name: p.name, user: p.user, dir: filepath.Join(s.dir, "devices", p.name)}
		d.proxy = faultproxy.New(s.url)
		d.proxy.Seed(s.rng.Uint64())
		d.cfg = app.Config{ServerURL: d.proxy.URL(), Now: s.clock.Now, ChunkSize: chunkSize,
			NewID: app.NewIDFrom(s.ids), NewDeviceID: s.newDeviceID, Rand: jitter(s.rng.Uint64()),
			// A new connection for every request: Go's transport then never
			// retries a request on its own, and a seed gives the same faults.
			HTTPClient: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
		if err := s.open(d); err != nil {
			return err
		}
		if _, err := d.app.Login(s.ctx, "", p.user.Name, password); err != nil {
			return fmt.Errorf("%s: login: %w", d.name, err)
		}
		s.devices = append(s.devices, d)
	}
	// The office starts the day: customers, and a job for each technician.
	office := s.devices[0]
	for range 2 + n/5 {
		if _, err := s.newCustomer(office); err != nil {
			return err
		}
	}
	for _, t := range s.techs {
		if err := s.newJobFor(office, t, false); err != nil {
			return err
		}
	}
	if err := s.syncAll(); err != nil {
		return err
	}
	if s.cfg.Faults {
		for _, d := range s.devices {
			faults(d.proxy, s.rng)
		}
		if s.cluster != nil {
			s.cluster.setFaults(true)
		}
	}
	for _, d := range s.devices {
		d.proxy.ResetLog()
	}
	s.logf("setup: %d devices, %d users, %d operations saved", len(s.devices), len(s.users), len(s.ledger))
	return nil
}

// jitter is a source of retry jitter for one device's sync queue, seeded
// with seed. Its lanes may call it at once.
func jitter(seed uint64) func() float64 {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, 0x7177e5))
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Float64()
	}
}

// newDeviceID makes a device id from the devices' seeded source.
func (s *sim) newDeviceID() string {
	id, err := uuid.NewRandomFromReader(s.ids)
	if err != nil {
		panic("sim: id source: " + err.Error())
	}
	return "device-" + id.String()
}

// faults puts a device's link faults in place: the first rule that
// matches and fires decides.
func faults(p *faultproxy.Proxy, rng *rand.Rand) {
	cut := int64(1000 + rng.IntN(12000))
	p.Add(faultproxy.Rule{Name: "cut upload", Method: "PUT", Path: "/v1/photos/", Fault: faultproxy.CutUpload, CutAfter: cut, Chance: 0.25})
	p.Add(faultproxy.Rule{Name: "drop request", Fault: faultproxy.DropRequest, Chance: 0.03})
	p.Add(faultproxy.Rule{Name: "drop reply", Fault: faultproxy.DropReply, Chance: 0.03})
	p.Add(faultproxy.Rule{Name: "503", Fault: faultproxy.Unavailable, Chance: 0.025})
	p.Add(faultproxy.Rule{Name: "503 retry-after", Fault: faultproxy.Unavailable, RetryAfter: 30 * time.Second, Chance: 0.005})
	p.Add(faultproxy.Rule{Name: "slow link", Fault: faultproxy.Delay, Delay: time.Duration(2+rng.IntN(15)) * time.Millisecond, Chance: 0.04})
}

// open opens a device's app on its directory, and the first time the
// store file beside it.
func (s *sim) open(d *device) error {
	a, err := app.Open(d.dir, d.cfg)
	if err != nil {
		return fmt.Errorf("%s: open: %w", d.name, err)
	}
	d.app = a
	if d.store == nil {
		if d.store, err = localstore.Open(d.dir); err != nil {
			return fmt.Errorf("%s: open the store file: %w", d.name, err)
		}
	}
	return nil
}

// pick returns a random element of a slice.
func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// chance reports true with probability p.
func (s *sim) chance(p float64) bool { return s.rng.Float64() < p }

// sortByOrder sorts ids by the order the simulation made them in, so that
// choices never depend on how a store happens to list them.
func (s *sim) sortByOrder(ids []string) {
	slices.SortStableFunc(ids, func(a, b string) int {
		oa, oka := s.order[a]
		ob, okb := s.order[b]
		switch {
		case oka && okb:
			return oa - ob
		case oka:
			return -1
		case okb:
			return 1
		}
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	})
}
