package ui

import (
	"context"
	"errors"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	fsapp "fieldsync/app"
)

// settings: the server address, whether the app should be updated for
// it, simulating no signal, signing out.
type settings struct {
	u *UI
	// close closes the dialog the settings are in, if any.
	close func()
}

func newSettings(u *UI) *settings { return &settings{u: u} }

func (s *settings) build() fyne.CanvasObject {
	me, _ := s.u.core.Me()
	who := widget.NewLabel("Signed in as " + me.Name + " (" + me.Role + ")")
	server := widget.NewLabel("Server: " + s.u.core.ServerURL())
	box := container.NewVBox(who, server)
	if note := s.u.core.ProtocolNote(); note != "" {
		update := widget.NewLabel(note)
		update.Wrapping = fyne.TextWrapWord
		update.Importance = widget.WarningImportance
		box.Add(update)
	}
	offline := widget.NewCheck("Simulate no signal (for testers)", s.onOffline)
	offline.SetChecked(s.u.core.Offline())
	signOut := widget.NewButtonWithIcon("Sign out", theme.LogoutIcon(), s.onSignOut)
	box.Add(offline)
	box.Add(signOut)
	return box
}

func (s *settings) onOffline(on bool) {
	if err := s.u.core.SetOffline(on); err != nil {
		s.u.showError(err)
	}
}

func (s *settings) onSignOut() {
	s.signOut(false)
}

func (s *settings) signOut(force bool) {
	s.u.async(func(ctx context.Context) error { return s.u.core.Logout(ctx, force) }, func(err error) {
		var unsynced *fsapp.UnsyncedError
		switch {
		case errors.As(err, &unsynced):
			dialog.ShowConfirm("Unsynced work", "This device has work the server does not have yet: "+unsynced.Error()+
				". Sign out anyway?", func(ok bool) {
				if ok {
					s.signOut(true)
				}
			}, s.u.win)
		case err != nil:
			s.u.showError(err)
		default:
			if s.close != nil {
				s.close()
			}
			s.u.showSignIn()
		}
	})
}

// showSettings opens the settings in a dialog (technicians' screen).
func showSettings(u *UI) {
	s := newSettings(u)
	d := dialog.NewCustom("Settings", "Close", s.build(), u.win)
	s.close = d.Hide
	d.Show()
}
