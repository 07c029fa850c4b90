package ui

import (
	"context"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"

	fsapp "fieldsync/app"
)

// UI is the app's window and its screens.
type UI struct {
	fyne fyne.App
	win  fyne.Window
	core *fsapp.App
	now  func() time.Time

	bar    *syncBar
	banner *banner

	state  fsapp.SyncState // the last sync state seen, on the UI thread
	unsub  func()
	main   screen // the signed-in screen, or nil
	ticker *time.Ticker

	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// screen is a signed-in screen that follows the sync state.
type screen interface {
	build() fyne.CanvasObject
	refresh()
}

// Options configure the UI.
type Options struct {
	Title string
	Now   func() time.Time
}

// New makes the UI in a new window of a.
func New(a fyne.App, core *fsapp.App, opt Options) *UI {
	if opt.Title == "" {
		opt.Title = "FieldSync"
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	u := &UI{fyne: a, core: core, now: opt.Now, win: a.NewWindow(opt.Title)}
	u.ctx, u.cancel = context.WithCancel(context.Background())
	u.bar = newSyncBar(u)
	u.banner = newBanner(u)
	u.win.Resize(fyne.NewSize(1100, 720))
	u.win.SetOnClosed(u.Close)
	a.Lifecycle().SetOnEnteredForeground(u.onForeground)
	a.Lifecycle().SetOnExitedForeground(u.onBackground)
	return u
}

// Window is the UI's window.
func (u *UI) Window() fyne.Window { return u.win }

// Show builds the first screen: sign-in, or the work of whoever is signed in.
func (u *UI) Show() {
	if _, ok := u.core.Me(); ok {
		u.showMain()
	} else {
		u.showSignIn()
	}
	u.unsub = u.core.Subscribe(u.onState)
	// The sync bar counts down to the next retry, so it ticks.
	u.ticker = time.NewTicker(time.Second)
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			select {
			case <-u.ctx.Done():
				return
			case <-u.ticker.C:
				fyne.Do(u.tick)
			}
		}
	}()
	u.win.Show()
}

// tick keeps countdowns true: the bar and banner every second, and the
// screens whenever the bar's words change ("retrying in 1 minute").
func (u *UI) tick() {
	before := u.bar.Line()
	u.bar.refresh()
	u.banner.refresh()
	if u.main != nil && u.bar.Line() != before {
		u.main.refresh()
	}
}

// Close stops the UI's goroutines.
func (u *UI) Close() {
	if u.unsub != nil {
		u.unsub()
	}
	if u.ticker != nil {
		u.ticker.Stop()
	}
	u.cancel()
	u.wg.Wait()
}

// onState receives sync states from the queue's goroutines.
func (u *UI) onState(st fsapp.SyncState) {
	fyne.Do(func() {
		u.state = st
		u.bar.refresh()
		u.banner.refresh()
		if u.main != nil {
			u.main.refresh()
		}
	})
}

func (u *UI) onForeground() {
	u.async(func(ctx context.Context) error { return u.core.Foreground(ctx, true) }, nil)
}

func (u *UI) onBackground() {
	u.async(func(ctx context.Context) error { return u.core.Foreground(ctx, false) }, nil)
}

// async runs slow work (the network) off the UI thread and then calls done
// on it. The UI waits for these on Close.
func (u *UI) async(work func(context.Context) error, done func(error)) {
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		err := work(u.ctx)
		if done != nil {
			fyne.Do(func() { done(err) })
		}
	}()
}

// showMain shows the signed-in screens for what the user may do: the
// office's board to those who see every job, their own jobs to the rest.
func (u *UI) showMain() {
	if u.core.Powers().AllJobs {
		u.main = newOfficeScreen(u)
	} else {
		u.main = newTechScreen(u)
	}
	u.setContent(u.main.build())
	u.main.refresh()
}

func (u *UI) showSignIn() {
	u.main = nil
	u.win.SetContent(newSignIn(u).build())
}

// setContent puts a screen between the banner and the sync bar, which are
// always there.
func (u *UI) setContent(body fyne.CanvasObject) {
	u.win.SetContent(container.NewBorder(u.banner.build(), u.bar.build(), nil, nil, body))
}

// showError tells the user what went wrong, in the words the app gives.
func (u *UI) showError(err error) {
	if err != nil {
		dialog.ShowError(err, u.win)
	}
}

// dialogSize is w×h, or less on a screen too small for it.
func (u *UI) dialogSize(w, h float32) fyne.Size {
	size := u.win.Canvas().Size()
	if size.Width > 0 {
		w = min(w, size.Width-40)
	}
	if size.Height > 0 {
		h = min(h, size.Height-120)
	}
	return fyne.NewSize(w, h)
}

// openJob opens a job on whichever screen is showing.
func (u *UI) openJob(id string) {
	switch m := u.main.(type) {
	case *techScreen:
		m.open(id)
	case *officeScreen:
		m.onOpen(id)
	}
}

// showTab shows an office tab by its name.
func (u *UI) showTab(name string) {
	m, ok := u.main.(*officeScreen)
	if !ok || m.tabs == nil {
		return
	}
	for i, it := range m.tabs.Items {
		if strings.EqualFold(it.Text, name) {
			m.tabs.SelectIndex(i)
		}
	}
}
