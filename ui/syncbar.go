package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	fsapp "fieldsync/app"
)

// syncBar is always on screen: the device's sync state in one line, and
// Sync now.
type syncBar struct {
	u    *UI
	line binding.String
	icon *widget.Icon
	btn  *widget.Button
	obj  fyne.CanvasObject
}

func newSyncBar(u *UI) *syncBar {
	b := &syncBar{u: u, line: binding.NewString()}
	b.icon = widget.NewIcon(theme.ConfirmIcon())
	b.btn = widget.NewButtonWithIcon("Sync now", theme.ViewRefreshIcon(), b.onSyncNow)
	b.btn.Importance = widget.HighImportance
	label := widget.NewLabelWithData(b.line)
	label.Wrapping = fyne.TextWrapWord
	b.obj = container.NewBorder(nil, nil, b.icon, b.btn, label)
	return b
}

func (b *syncBar) build() fyne.CanvasObject { return b.obj }

// Line is what the bar says now.
func (b *syncBar) Line() string { s, _ := b.line.Get(); return s }

func (b *syncBar) refresh() {
	st := b.u.state
	_ = b.line.Set(st.Line(b.u.now()))
	b.icon.SetResource(stateIcon(st))
	if _, ok := b.u.core.Me(); !ok {
		b.btn.Disable()
	} else {
		b.btn.Enable()
	}
}

func stateIcon(st fsapp.SyncState) fyne.Resource {
	switch {
	case st.Refused > 0 || st.SignedOut:
		return theme.ErrorIcon()
	case st.Held > 0:
		return theme.QuestionIcon()
	case st.Data.Failures > 0 || st.Offline:
		return theme.WarningIcon()
	case len(st.Uploads) > 0:
		return theme.UploadIcon()
	case st.Queued+st.Photos > 0:
		return theme.HistoryIcon()
	}
	return theme.ConfirmIcon()
}

// statusIcon is the icon beside a record in a list.
func statusIcon(s fsapp.SyncStatus) fyne.Resource {
	switch s {
	case fsapp.Saved, fsapp.Waiting:
		return theme.HistoryIcon()
	case fsapp.Uploading:
		return theme.UploadIcon()
	case fsapp.Failed:
		return theme.WarningIcon()
	case fsapp.NeedsReview:
		return theme.QuestionIcon()
	case fsapp.NotSent:
		return theme.ErrorIcon()
	}
	return theme.ConfirmIcon()
}

func (b *syncBar) onSyncNow() {
	b.u.async(func(ctx context.Context) error { return b.u.core.SyncNow(ctx) }, func(err error) {
		if err != nil {
			b.u.core.Refresh() // the bar says what failed and when it retries
		}
	})
}

// banner shows failures and reviews in full, not as a tiny icon.
type banner struct {
	u      *UI
	text   *widget.Label
	review *widget.Button
	obj    *fyne.Container
}

func newBanner(u *UI) *banner {
	b := &banner{u: u, text: widget.NewLabel("")}
	b.text.Wrapping = fyne.TextWrapWord
	b.text.Importance = widget.DangerImportance
	b.review = widget.NewButtonWithIcon("Review", theme.QuestionIcon(), b.onReview)
	b.obj = container.NewBorder(nil, nil, widget.NewIcon(theme.WarningIcon()), b.review, b.text)
	b.obj.Hide()
	return b
}

func (b *banner) build() fyne.CanvasObject { return b.obj }

// Text is what the banner says, or "" when it is hidden.
func (b *banner) Text() string {
	if b.obj.Hidden {
		return ""
	}
	return b.text.Text
}

func (b *banner) refresh() {
	st := b.u.state
	now := b.u.now()
	reviews := b.openReviews()
	canResolve := b.u.core.Powers().ResolveReviews
	msg := ""
	switch {
	case st.SignedOut:
		msg = "The server signed this device out. Your work is kept here; sign in again to send it."
	case st.Refused > 0:
		msg = st.Line(now)
	case st.Held > 0:
		msg = "Another update changed this record. Review before sending again."
		if strings.Contains(st.Summary, "needs review") {
			msg = st.Summary
		}
	case reviews > 0 && canResolve:
		msg = fmt.Sprintf("%d %s the review queue: both versions are kept until someone decides.", reviews, plural(reviews, "item waits in", "items wait in"))
	case reviews > 0:
		msg = "Another update changed a record. The office will review it; your version is kept."
	case st.Data.Failures > 0 && st.Queued > 0 && !st.Offline:
		msg = "Sync failed. " + st.Problem() + " Your work is saved on this device; " + st.RetryWords(now) + "."
	}
	if msg == "" {
		b.obj.Hide()
		return
	}
	b.text.SetText(msg)
	if st.Held > 0 || reviews > 0 {
		b.review.Show()
	} else {
		b.review.Hide()
	}
	b.obj.Show()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (b *banner) openReviews() int {
	rv, err := b.u.core.Reviews()
	if err != nil {
		return 0
	}
	return len(rv)
}

func (b *banner) onReview() { showReviews(b.u) }
