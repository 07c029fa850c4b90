package ui

import (
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
	"golang.org/x/crypto/bcrypt"

	fsapp "fieldsync/app"
	"fieldsync/server"
	"fieldsync/server/sqlitestore"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// t0 is the fixed time of every clock in these tests: the server's, the
// devices' and the screens'. The demo's jobs are scheduled on its day.
var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return t0 }

func TestMain(m *testing.M) {
	// Screens show times in local time; the golden files are in UTC.
	time.Local = time.UTC
	os.Exit(m.Run())
}

// mainLoop stands in for the desktop driver's main thread. The test
// driver runs fyne.Do work at once on whichever goroutine calls it, which
// is not how the app runs and races with the test; here fyne.Do only
// queues the work, and the test goroutine runs it, as the real driver's
// event loop would.
type mainLoop struct {
	fyne.Driver
	mu    sync.Mutex
	queue []func()
}

func (d *mainLoop) DoFromGoroutine(fn func(), wait bool) {
	if !wait {
		d.mu.Lock()
		d.queue = append(d.queue, fn)
		d.mu.Unlock()
		return
	}
	done := make(chan struct{})
	d.mu.Lock()
	d.queue = append(d.queue, func() { defer close(done); fn() })
	d.mu.Unlock()
	<-done
}

// drain runs the queued work on the calling goroutine, the test's main thread.
func (d *mainLoop) drain() {
	for {
		d.mu.Lock()
		q := d.queue
		d.queue = nil
		d.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, fn := range q {
			fn()
		}
	}
}

// loopApp is the test app with the main loop as its driver.
type loopApp struct {
	fyne.App
	loop *mainLoop
}

func (a *loopApp) Driver() fyne.Driver { return a.loop }

// newTestApp is a headless app whose fyne.Do work runs on the test goroutine.
func newTestApp(t *testing.T) *loopApp {
	base := test.NewTempApp(t)
	a := &loopApp{App: base, loop: &mainLoop{Driver: base.Driver()}}
	fyne.SetCurrentApp(a)
	return a
}

// world is a real server on loopback, seeded with the demo, and a headless app.
type world struct {
	t   *testing.T
	app *loopApp
	srv *server.Server
	ts  *httptest.Server
	url string
	dir string
	n   int // devices opened
}

func newWorld(t *testing.T) *world { return newWorldWith(t, server.Options{}) }

// newWorldWith is newWorld with server options of the test's (rules, say);
// the store, blob directory and clock are the world's.
func newWorldWith(t *testing.T, opts server.Options) *world {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlitestore.Open(filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opts.Store, opts.BlobDir, opts.Now = st, filepath.Join(dir, "blobs"), clock
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.SeedDemo(context.Background(), srv, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &world{t: t, app: newTestApp(t), srv: srv, ts: ts, url: ts.URL, dir: dir}
}

// device opens a device store of its own, with the sync loops off: rounds
// run when the test, or Sync now, asks.
func (w *world) device(name string) *fsapp.App {
	w.t.Helper()
	w.n++
	dir := filepath.Join(w.dir, fmt.Sprintf("device-%d-%s", w.n, name))
	core, err := fsapp.Open(dir, fsapp.Config{ServerURL: w.url, Now: clock})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { core.Close(context.Background()) })
	return core
}

// signedIn is a device signed in as user, synced once.
func (w *world) signedIn(user string) *fsapp.App {
	w.t.Helper()
	core := w.device(user)
	ctx := context.Background()
	if _, err := core.Login(ctx, w.url, user, server.DemoPassword); err != nil {
		w.t.Fatalf("%s signs in: %v", user, err)
	}
	if err := core.SyncRound(ctx); err != nil {
		w.t.Fatalf("%s syncs: %v", user, err)
	}
	return core
}

// user is one UI in a window, driven like a user would.
type user struct {
	t    *testing.T
	loop *mainLoop
	u    *UI
}

// show opens the UI over core in a new window.
func (w *world) show(core *fsapp.App) *user {
	w.t.Helper()
	return showUI(w.t, w.app, core)
}

func showUI(t *testing.T, a *loopApp, core *fsapp.App) *user {
	t.Helper()
	return showUIAt(t, a, core, clock)
}

// showUIAt opens the UI with its own clock.
func showUIAt(t *testing.T, a *loopApp, core *fsapp.App, now func() time.Time) *user {
	t.Helper()
	u := New(a, core, Options{Now: now})
	u.Show()
	s := &user{t: t, loop: a.loop, u: u}
	t.Cleanup(func() {
		s.settle()
		u.Close()
		s.loop.drain()
		u.win.Close()
	})
	s.settle()
	return s
}

// settle runs the fyne.Do work waiting for the main thread.
func (s *user) settle() { s.loop.drain() }

// waitFor runs the main loop until cond holds, or fails the test after a
// short deadline, saying what the screen shows.
func (s *user) waitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.settle()
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waited for %s; the screen shows:\n%s", what, strings.Join(s.texts(), "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// roots are the window's content and its overlays (dialogs), top last.
func (s *user) roots() []fyne.CanvasObject {
	c := s.u.win.Canvas()
	roots := []fyne.CanvasObject{c.Content()}
	return append(roots, c.Overlays().List()...)
}

// visit walks what is visible on the window, depth first.
func (s *user) visit(fn func(fyne.CanvasObject)) {
	for _, r := range s.roots() {
		walk(r, fn)
	}
}

func walk(o fyne.CanvasObject, fn func(fyne.CanvasObject)) {
	if o == nil || !o.Visible() {
		return
	}
	fn(o)
	switch x := o.(type) {
	case *fyne.Container:
		for _, c := range x.Objects {
			walk(c, fn)
		}
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(x).Objects() {
			walk(c, fn)
		}
	}
}

// texts are the words of every visible label, button, entry and card.
func (s *user) texts() []string {
	var out []string
	s.visit(func(o fyne.CanvasObject) {
		switch x := o.(type) {
		case *widget.Label:
			out = append(out, x.Text)
		case *widget.Button:
			out = append(out, "["+x.Text+"]")
		case *widget.Card:
			out = append(out, "# "+x.Title+" / "+x.Subtitle)
		case *widget.Entry:
			out = append(out, "<"+x.Text+">")
		case *widget.Select:
			out = append(out, "{"+x.Selected+"|"+x.PlaceHolder+"}")
		}
	})
	return out
}

// shows reports whether some visible label or card says text.
func (s *user) shows(text string) bool {
	found := false
	s.visit(func(o fyne.CanvasObject) {
		switch x := o.(type) {
		case *widget.Label:
			found = found || strings.Contains(x.Text, text)
		case *widget.Card:
			found = found || strings.Contains(x.Title, text) || strings.Contains(x.Subtitle, text)
		}
	})
	return found
}

// label is the visible label whose text is text exactly, or nil.
func (s *user) label(text string) *widget.Label {
	var found *widget.Label
	s.visit(func(o fyne.CanvasObject) {
		if l, ok := o.(*widget.Label); ok && found == nil && l.Text == text {
			found = l
		}
	})
	return found
}

// button is the visible button called text, or nil.
func (s *user) button(text string) *widget.Button {
	var found *widget.Button
	s.visit(func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok && b.Text == text {
			found = b // the last one: dialogs are on top
		}
	})
	return found
}

// tap taps the visible button called text.
func (s *user) tap(text string) {
	s.t.Helper()
	b := s.button(text)
	if b == nil {
		s.t.Fatalf("no button %q; the screen shows:\n%s", text, strings.Join(s.texts(), "\n"))
	}
	if b.Disabled() {
		s.t.Fatalf("button %q is disabled", text)
	}
	test.Tap(b)
	s.settle()
}

// tapObj taps a tappable object, such as a button found by its field.
func (s *user) tapObj(o fyne.Tappable) {
	s.t.Helper()
	if d, ok := o.(fyne.Disableable); ok && d.Disabled() {
		s.t.Fatalf("%T is disabled", o)
	}
	test.Tap(o)
	s.settle()
}

// typeInto types into the entry e, after clearing it.
func (s *user) typeInto(e *widget.Entry, text string) {
	s.t.Helper()
	e.SetText("")
	test.Type(e, text)
	s.settle()
}

// entries are the visible entries, in order.
func (s *user) entries() []*widget.Entry {
	var out []*widget.Entry
	s.visit(func(o fyne.CanvasObject) {
		if e, ok := o.(*widget.Entry); ok {
			out = append(out, e)
		}
	})
	return out
}

// tech is the technician's screen on show.
func (s *user) tech() *techScreen {
	s.t.Helper()
	ts, ok := s.u.main.(*techScreen)
	if !ok {
		s.t.Fatalf("not the technician's screen: %T", s.u.main)
	}
	return ts
}

// office is the office screen on show.
func (s *user) office() *officeScreen {
	s.t.Helper()
	os, ok := s.u.main.(*officeScreen)
	if !ok {
		s.t.Fatalf("not the office screen: %T", s.u.main)
	}
	return os
}

// filter picks a filter of the technician's job list.
func (s *user) filter(name string) {
	s.tech().filter.SetSelected(name)
	s.settle()
}

// openJob selects the row of the job numbered number in the list, as a
// user's tap does, and returns the job view it opens.
func (s *user) openJob(number string) *jobView {
	s.t.Helper()
	var jobs *jobList
	switch m := s.u.main.(type) {
	case *techScreen:
		jobs = m.jobs
	case *officeScreen:
		jobs = m.jobs
	default:
		s.t.Fatalf("no job list on %T", s.u.main)
	}
	for i, j := range jobs.jobs {
		if j.Number == number {
			jobs.list.Select(i)
			s.settle()
			return s.view()
		}
	}
	var have []string
	for _, j := range jobs.jobs {
		have = append(have, j.Number)
	}
	s.t.Fatalf("%s is not in the list; it has %v", number, have)
	return nil
}

// view is the job view open, or a failure.
func (s *user) view() *jobView {
	s.t.Helper()
	var v *jobView
	switch m := s.u.main.(type) {
	case *techScreen:
		v = m.view
	case *officeScreen:
		v = m.view
	}
	if v == nil {
		s.t.Fatal("no job is open")
	}
	return v
}

// moveTo picks a status in the job's Move to… list and taps Move.
func (s *user) moveTo(v *jobView, status string) {
	s.t.Helper()
	if !slices.Contains(v.move.Options, status) {
		s.t.Fatalf("cannot move to %q; the moves offered are %q", status, v.move.Options)
	}
	v.move.SetSelected(status)
	test.Tap(v.moveBtn)
	s.settle()
}

// syncNow taps Sync now in the bar; the round runs in the background,
// and the caller waits for what it should bring.
func (s *user) syncNow() {
	s.t.Helper()
	if s.u.bar.btn.Disabled() {
		s.t.Fatal("Sync now is disabled")
	}
	test.Tap(s.u.bar.btn)
}

// dialogTexts are the words of the labels in the open dialogs.
func (s *user) dialogTexts() []string {
	var out []string
	for _, o := range s.u.win.Canvas().Overlays().List() {
		walk(o, func(o fyne.CanvasObject) {
			if l, ok := o.(*widget.Label); ok {
				out = append(out, l.Text)
			}
		})
	}
	return out
}

// closeDialogs hides every dialog on the window.
func (s *user) closeDialogs() {
	c := s.u.win.Canvas()
	for c.Overlays().Top() != nil {
		c.Overlays().Remove(c.Overlays().Top())
	}
	s.settle()
}

// golden compares the window's markup with testdata/name, or rewrites it
// with -update.
func (s *user) golden(name string) {
	s.t.Helper()
	s.settle()
	got := test.RenderToMarkup(s.u.win.Canvas())
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			s.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		s.t.Fatalf("%v (run go test ./ui -run %s -update to write it)", err, s.t.Name())
	}
	if got != string(want) {
		failed := filepath.Join(s.t.TempDir(), name)
		os.WriteFile(failed, []byte(got), 0o644)
		s.t.Errorf("the screen differs from %s: %s", path, firstDiff(string(want), got, failed))
	}
}

// firstDiff says where two markups part, and where the new one was kept.
func firstDiff(want, got, kept string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n  want %s\n  got  %s\n(the new markup is in %s; -update rewrites the golden file)", i+1, strings.TrimSpace(w), strings.TrimSpace(g), kept)
		}
	}
	return "same lines, different bytes"
}
