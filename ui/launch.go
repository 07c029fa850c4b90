package ui

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	fsapp "fieldsync/app"
)

// Launch is how the app starts: where its data lives and, for demos and
// testers, whom to sign in as.
type Launch struct {
	Store    string // storage directory; empty means the app's own storage
	Server   string // server address to use until the user signs in elsewhere
	User     string // sign in as this user at start, if set
	Password string
	Title    string
	Open     string    // a job to open at start, by number or id
	Tab      string    // the office tab to show at start: jobs, reviews, customers, settings
	Size     fyne.Size // the window's size; zero means the default
}

// Start opens the client over the app's storage, signs in if asked, and
// shows the window. The caller runs the app, then calls Stop.
func Start(a fyne.App, l Launch) (*UI, error) {
	dir := l.Store
	if dir == "" {
		dir = filepath.Join(a.Storage().RootURI().Path(), "data")
	}
	core, err := fsapp.Open(dir, fsapp.Config{ServerURL: l.Server, Background: true})
	if err != nil {
		return nil, fmt.Errorf("open the device store: %w", err)
	}
	if l.User != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := core.Login(ctx, l.Server, l.User, l.Password)
		cancel()
		if err != nil {
			core.Close(context.Background())
			return nil, err
		}
	}
	u := New(a, core, Options{Title: l.Title})
	if !l.Size.IsZero() {
		u.win.Resize(l.Size)
	}
	u.Show()
	if l.Open != "" {
		if d, err := core.Job(l.Open); err == nil {
			u.openJob(d.ID)
		}
	}
	if l.Tab != "" {
		u.showTab(l.Tab)
	}
	return u, nil
}

// Stop closes the window's goroutines and the client; work not yet sent
// stays on the device for next time.
func (u *UI) Stop() error {
	u.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return u.core.Close(ctx)
}

// ShowStartProblem shows, in place of the app, why it could not start:
// a store file that is not a whole FieldSync store, say. The message names
// the file and what to do; the app changes nothing on disk. The caller
// runs the app so that the window stays until the user closes it.
func ShowStartProblem(a fyne.App, title string, err error) fyne.Window {
	if title == "" {
		title = "FieldSync"
	}
	w := a.NewWindow(title)
	msg := widget.NewLabel(err.Error())
	msg.Wrapping = fyne.TextWrapWord
	w.SetContent(container.NewBorder(
		widget.NewLabelWithStyle("FieldSync could not start", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		container.NewHBox(layout.NewSpacer(), widget.NewButton("Close", w.Close)),
		nil, nil, msg))
	w.Resize(fyne.NewSize(520, 240))
	w.Show()
	return w
}
