package ui

import (
	"context"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"fieldsync/assets"
)

// signIn asks for the server's address, a user and a password.
type signIn struct {
	u        *UI
	server   *widget.Entry
	user     *widget.Entry
	password *widget.Entry
	button   *widget.Button
	status   *widget.Label
}

func newSignIn(u *UI) *signIn {
	return &signIn{u: u}
}

func (s *signIn) build() fyne.CanvasObject {
	s.server = widget.NewEntry()
	s.server.SetPlaceHolder("https://fieldsync.example.com")
	s.server.SetText(s.u.core.ServerURL())
	s.user = widget.NewEntry()
	s.user.SetPlaceHolder("Your user name")
	s.password = widget.NewPasswordEntry()
	s.password.OnSubmitted = func(string) { s.onSignIn() }
	s.button = widget.NewButtonWithIcon("Sign in", theme.LoginIcon(), s.onSignIn)
	s.button.Importance = widget.HighImportance
	s.status = widget.NewLabel("")
	s.status.Wrapping = fyne.TextWrapWord
	form := widget.NewForm(
		widget.NewFormItem("Server", s.server),
		widget.NewFormItem("User", s.user),
		widget.NewFormItem("Password", s.password),
	)
	logo := canvas.NewImageFromResource(assets.Icon)
	logo.FillMode = canvas.ImageFillContain
	logo.SetMinSize(fyne.NewSize(96, 96))
	title := widget.NewLabelWithStyle("FieldSync", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	body := container.NewVBox(logo, title, form, s.button, s.status)
	// Forms scroll: on phones the keyboard takes half the screen.
	return container.NewVScroll(container.NewPadded(container.New(maxWidth{420}, body)))
}

func (s *signIn) onSignIn() {
	server, user, password := s.server.Text, s.user.Text, s.password.Text
	if user == "" || password == "" {
		s.status.SetText("Type your user name and password.")
		return
	}
	s.button.Disable()
	s.status.SetText("Signing in…")
	s.u.async(func(ctx context.Context) error {
		_, err := s.u.core.Login(ctx, server, user, password)
		return err
	}, func(err error) {
		s.button.Enable()
		if err != nil {
			s.status.SetText(err.Error())
			return
		}
		s.u.showMain()
	})
}

// maxWidth centres its content and keeps it no wider than w, narrower on
// a phone.
type maxWidth struct{ w float32 }

func (m maxWidth) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	w := min(size.Width, m.w)
	for _, o := range objs {
		h := o.MinSize().Height
		o.Resize(fyne.NewSize(w, h))
		o.Move(fyne.NewPos((size.Width-w)/2, max(0, (size.Height-h)/3)))
	}
}

func (m maxWidth) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var s fyne.Size
	for _, o := range objs {
		ms := o.MinSize()
		s = s.Max(fyne.NewSize(min(ms.Width, m.w), ms.Height))
	}
	return s
}
