package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/contract/rulebook"
	"fieldsync/internal/apiclient"
	"fieldsync/localstore"
	"fieldsync/syncqueue"
)

// Config configures an App.
type Config struct {
	// ServerURL is the server to use until the user signs in to another.
	ServerURL  string
	HTTPClient *http.Client
	Logger     *slog.Logger
	Now        func() time.Time
	// Background starts the sync loops while signed in. Screens want it;
	// the fieldsync command runs rounds itself.
	Background bool
	// PullEvery and ChunkSize tune the sync queue; zero means its defaults.
	PullEvery time.Duration
	ChunkSize int64
	// NewID makes the ids of the operations and records this device
	// creates, from the time they are made; nil means NewID. A simulation
	// gives one that draws on a seeded source (NewIDFrom).
	NewID func(now time.Time) string
	// NewDeviceID makes this device's id, on first use and whenever the
	// device changes hands; nil means localstore.NewDeviceID.
	NewDeviceID func() string
	// Rand returns a number in [0, 1) for the jitter of the sync queue's
	// retry waits; nil means math/rand/v2's. Both lanes call it, at once at
	// times. A simulation gives one over a seeded source.
	Rand func() float64
}

// App is one device's FieldSync client.
type App struct {
	cfg    Config
	store  *localstore.Store
	client *apiclient.Client
	queue  *syncqueue.Queue

	mu      sync.RWMutex
	device  string // changes when the device changes hands (Reset)
	rules   *rulebook.Rules
	engine  *engine.Engine
	session localstore.Session
	signed  bool
	// protocol is the version of the protocol the server last said it
	// speaks (contract.Protocol); 0 before any server said.
	protocol int
	// users mirrors the store's people: the rebaser runs inside the
	// store's transaction and must not read the store again.
	users map[string]contract.User

	subscribers atomic.Int32 // screens following the sync state
}

// Errors the app returns for the user to act on.
var (
	ErrNotSignedIn = errors.New("sign in first")
)

// UnsyncedError is returned by Logout while work has not reached the server.
type UnsyncedError struct{ Changes, Photos int }

func (e *UnsyncedError) Error() string {
	return fmt.Sprintf("%d change(s) and %d photo(s) have not reached the server; signing out now would lose them", e.Changes, e.Photos)
}

// Open opens the client whose data lives in dir, the app's storage
// directory.
func Open(dir string, cfg Config) (*App, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NewID == nil {
		cfg.NewID = NewID
	}
	if cfg.NewDeviceID == nil {
		cfg.NewDeviceID = localstore.NewDeviceID
	}
	st, err := localstore.Open(dir, localstore.WithDeviceIDs(cfg.NewDeviceID))
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, store: st}
	fail := func(err error) (*App, error) {
		st.Close()
		return nil, err
	}
	if a.device, err = st.DeviceID(); err != nil {
		return fail(err)
	}
	sess, signed, err := st.Session()
	if err != nil {
		return fail(err)
	}
	a.session, a.signed = sess, signed
	rules, ok, err := st.Rules()
	if err != nil || !ok {
		rules = rulebook.Default()
	}
	a.setRules(rules)
	if a.users, err = st.Users(); err != nil {
		return fail(err)
	}
	url := sess.ServerURL
	if url == "" {
		url = cfg.ServerURL
	}
	if a.client, err = apiclient.New(url, cfg.HTTPClient); err != nil {
		return fail(err)
	}
	a.client.SetToken(sess.Token)
	var offline bool
	if _, err := st.Setting("offline", &offline); err != nil {
		return fail(err)
	}
	if _, err := st.Setting(protocolSetting, &a.protocol); err != nil {
		return fail(err)
	}
	a.client.SetOffline(offline)
	st.SetRebaser(views{a})
	a.queue = syncqueue.New(syncqueue.Options{Store: st, Client: a.client, Rules: a.currentRules,
		Now: cfg.Now, Log: cfg.Logger, PullEvery: cfg.PullEvery, ChunkSize: cfg.ChunkSize, Rand: cfg.Rand})
	a.queue.Refresh()
	if signed && cfg.Background {
		a.queue.Start()
	}
	return a, nil
}

// Close stops syncing and closes the store. Nothing saved is lost: the
// queue resumes from the store next time.
func (a *App) Close(ctx context.Context) error {
	err := a.queue.Close(ctx)
	return errors.Join(err, a.store.Close())
}

// DeviceID is this device's id.
func (a *App) DeviceID() string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.device
}

// reset clears the device for a new start under deviceID ("" for a fresh
// id).
func (a *App) reset(deviceID string) error {
	if err := a.store.Reset(deviceID); err != nil {
		return err
	}
	id, err := a.store.DeviceID()
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.device = id
	a.mu.Unlock()
	return nil
}

func (a *App) setRules(r *rulebook.Rules) {
	a.mu.Lock()
	a.rules, a.engine = r, engine.New(r)
	a.mu.Unlock()
}

func (a *App) currentRules() *rulebook.Rules {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.rules
}

func (a *App) eng() *engine.Engine {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.engine
}

// Rules are the rules in force, as last fetched from the server.
func (a *App) Rules() *rulebook.Rules { return a.currentRules() }

// Me returns who is signed in.
func (a *App) Me() (contract.User, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.session.User, a.signed
}

// ServerURL is the server this device talks to.
func (a *App) ServerURL() string { return a.client.BaseURL() }

func (a *App) actor() (engine.Actor, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if !a.signed {
		return engine.Actor{}, ErrNotSignedIn
	}
	return engine.Actor{UserID: a.session.User.ID, Role: a.session.User.Role, DeviceID: a.device}, nil
}

// myID is the signed-in user's id, or "".
func (a *App) myID() string {
	u, _ := a.Me()
	return u.ID
}

func (a *App) isOffice(userID string) bool {
	u, ok := a.user(userID)
	return ok && a.currentRules().RoleIn(u.Role, []string{"dispatcher", "supervisor"})
}

// user returns someone the device knows.
func (a *App) user(id string) (contract.User, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	u, ok := a.users[id]
	return u, ok
}

// Login signs in to the server at serverURL (empty: the one last used) and
// fetches the rules and the people. With the background loops on, a sync
// starts at once; without, the caller runs SyncRound. Another user's data
// is never shown: signing in as someone else starts from an empty device,
// under a new device id, since the server keeps a device id bound to the
// user who first signed in with it.
func (a *App) Login(ctx context.Context, serverURL, user, password string) (contract.User, error) {
	if serverURL != "" {
		if err := a.client.SetBaseURL(serverURL); err != nil {
			return contract.User{}, err
		}
	}
	if a.client.BaseURL() == "" {
		return contract.User{}, errors.New("type the server's address first")
	}
	prev, _, err := a.store.Session()
	if err != nil {
		return contract.User{}, err
	}
	device := a.DeviceID()
	if prev.User.Name != "" && !strings.EqualFold(prev.User.Name, user) {
		// Another user's work must never vanish with a sign-in.
		if n, photos, err := a.unsynced(); err != nil {
			return contract.User{}, err
		} else if n+photos > 0 {
			return contract.User{}, fmt.Errorf("%s has work on this device the server does not have yet (%d change(s), %d photo(s)): %s must sign in and sync first, or sign out with force", prev.User.Name, n, photos, prev.User.Name)
		}
		device = a.cfg.NewDeviceID()
	}
	resp, err := a.client.Login(ctx, user, password, device)
	if err != nil && apiclient.ErrorCode(err) == contract.CodeDeviceTaken {
		// The server has this device's id bound to someone else: a store
		// copied from another device, say. With nothing here the server
		// lacks, the device starts afresh under a new id.
		if n, photos, uerr := a.unsynced(); uerr == nil && n+photos == 0 {
			device = a.cfg.NewDeviceID()
			resp, err = a.client.Login(ctx, user, password, device)
		}
	}
	if err != nil {
		return contract.User{}, fmt.Errorf("sign in: %w", err)
	}
	if device != a.DeviceID() || prev.User.ID != "" && prev.User.ID != resp.User.ID {
		if err := a.reset(device); err != nil {
			return contract.User{}, err
		}
	}
	sess := localstore.Session{ServerURL: a.client.BaseURL(), Token: resp.Token, User: resp.User, ExpiresAt: resp.ExpiresAt}
	if err := a.store.SetSession(sess); err != nil {
		return contract.User{}, err
	}
	if err := a.store.SetSetting(protocolSetting, resp.Protocol); err != nil {
		return contract.User{}, err
	}
	a.mu.Lock()
	a.session, a.signed, a.protocol = sess, true, resp.Protocol
	a.mu.Unlock()
	if err := a.refreshDirectory(ctx); err != nil {
		return resp.User, fmt.Errorf("signed in, but fetching the rules failed: %w", err)
	}
	// The rules may have changed: pending edits are shown as they now apply.
	if ids, err := a.store.PendingRecords(); err != nil {
		return resp.User, err
	} else if err := a.store.Rebase(ids...); err != nil {
		return resp.User, err
	}
	if a.cfg.Background {
		a.queue.Start()
		a.queue.SyncNow()
	}
	a.queue.Refresh()
	return resp.User, nil
}

// refreshDirectory fetches the rules and the people from the server.
func (a *App) refreshDirectory(ctx context.Context) error {
	rules, err := a.client.Rules(ctx)
	if err != nil {
		return err
	}
	if err := a.store.SetRules(rules); err != nil {
		return err
	}
	a.setRules(rules)
	users, err := a.client.Users(ctx)
	if err != nil {
		return err
	}
	if err := a.store.SetUsers(users); err != nil {
		return err
	}
	byID := make(map[string]contract.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	a.mu.Lock()
	a.users = byID
	a.mu.Unlock()
	return nil
}

// Logout signs out. While changes or photos have not reached the server it
// refuses with an *UnsyncedError, unless force is set; signing out clears
// the device.
func (a *App) Logout(ctx context.Context, force bool) error {
	n, photos, err := a.unsynced()
	if err != nil {
		return err
	}
	if (n > 0 || photos > 0) && !force {
		return &UnsyncedError{Changes: n, Photos: photos}
	}
	if err := a.queue.Close(ctx); err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	a.client.Logout(lctx) // best effort: the token also expires on its own
	cancel()
	a.client.SetToken("")
	// The next person to sign in here starts under a new device id.
	if err := a.reset(""); err != nil {
		return err
	}
	if err := a.store.ClearSession(); err != nil {
		return err
	}
	a.mu.Lock()
	a.session, a.signed = localstore.Session{ServerURL: a.client.BaseURL()}, false
	a.users = map[string]contract.User{}
	a.mu.Unlock()
	a.queue.Refresh()
	return nil
}

// unsynced counts the changes and photos the server does not have yet.
// An edit held for review is on the server, in its review item; a refused
// one is not, and its text would be lost.
func (a *App) unsynced() (changes, photos int, err error) {
	queued, _, refused, err := a.store.Counts()
	if err != nil {
		return 0, 0, err
	}
	waiting, err := a.store.Photos(localstore.PhotoWaiting)
	return queued + refused, len(waiting), err
}

// SyncNow tries both lanes at once. With the loops off it runs one round of
// each here and returns their errors.
func (a *App) SyncNow(ctx context.Context) error {
	if _, err := a.actor(); err != nil {
		return err
	}
	if a.cfg.Background {
		a.queue.SyncNow()
		return nil
	}
	return a.SyncRound(ctx)
}

// SyncData runs one round of the data lane here: push what is queued,
// then pull what changed. Tools that drive rounds by hand use it.
func (a *App) SyncData(ctx context.Context) error { return a.queue.RunData(ctx) }

// SyncPhotos runs one round of the media lane here: upload the content of
// photos whose records the server has.
func (a *App) SyncPhotos(ctx context.Context) error { return a.queue.RunMedia(ctx) }

// SyncRound runs one data round then one media round here, and reports
// whether everything got through.
func (a *App) SyncRound(ctx context.Context) error {
	dataErr := a.queue.RunData(ctx)
	mediaErr := a.queue.RunMedia(ctx)
	if dataErr == nil && mediaErr == nil {
		// Photos whose metadata only just reached the server go up now.
		mediaErr = a.queue.RunMedia(ctx)
	}
	return errors.Join(dataErr, mediaErr)
}

// Foreground tells the app whether it is on screen: coming to the front
// syncs at once; going to the back stops the loops (phones stop them anyway).
func (a *App) Foreground(ctx context.Context, front bool) error {
	if _, err := a.actor(); err != nil || !a.cfg.Background {
		return nil
	}
	if front {
		a.queue.Start()
		a.queue.SyncNow()
		return nil
	}
	return a.queue.Close(ctx)
}

// SetOffline simulates no signal, for testers; the setting is kept.
func (a *App) SetOffline(off bool) error {
	if err := a.store.SetSetting("offline", off); err != nil {
		return err
	}
	a.queue.SetOffline(off)
	return nil
}

// StoredOffline reads the offline setting as stored, which another
// process on the device ("fieldsync offline on" in another shell) may
// have changed since this one took it up: SetOffline takes it up.
func (a *App) StoredOffline() (bool, error) {
	var off bool
	_, err := a.store.Setting("offline", &off)
	return off, err
}

// Offline reports whether no signal is being simulated.
func (a *App) Offline() bool { return a.client.Offline() }

// Subscribe calls fn with the sync state now and at every change, from
// the sync queue's goroutines: fn must not block. A change the app makes
// (an edit saved, a decision taken) reaches fn before the call that made
// it returns.
func (a *App) Subscribe(fn func(SyncState)) (cancel func()) {
	a.subscribers.Add(1)
	stop := a.queue.Subscribe(func(st syncqueue.State) { fn(a.syncState(st)) })
	var once sync.Once
	return func() {
		once.Do(func() {
			stop()
			a.subscribers.Add(-1)
		})
	}
}

// Refresh works the sync state out again from the store and tells the
// subscribers, as every round of the sync loops does.
func (a *App) Refresh() { a.queue.Refresh() }

// changed tells the queue there is new work. Screens that follow the state
// hear of it at once; with none, the state is worked out when next asked
// for, so that saving stays quick however long the queue.
func (a *App) changed() {
	a.queue.Kick()
	if a.subscribers.Load() > 0 {
		a.queue.Refresh()
	}
}

// State is the sync state now.
func (a *App) State() SyncState { return a.syncState(a.queue.State()) }

// syncState is the queue's state as the screens get it, its last round
// said as of who is signed in and who works in the office now.
func (a *App) syncState(st syncqueue.State) SyncState {
	return SyncState{State: st, Summary: summaryWords(st.LastRound, a.myID(), a.isOffice)}
}
