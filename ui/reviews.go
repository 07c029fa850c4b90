package ui

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	fsapp "fieldsync/app"
)

// reviewQueue lists open review items and shows one with both versions
// side by side: who, when, which device, and why they collided. The office
// keeps one or types a value; a technician reads it.
type reviewQueue struct {
	u      *UI
	list   *widget.List
	items  []fsapp.Review
	openID string
	detail *fyne.Container
	empty  *widget.Label
}

func newReviewQueue(u *UI) *reviewQueue {
	return &reviewQueue{u: u, detail: container.NewVBox(), empty: widget.NewLabel("Nothing to review.")}
}

func (q *reviewQueue) build() fyne.CanvasObject {
	q.list = widget.NewList(func() int { return len(q.items) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("J-0000 status: reason")
			l.Wrapping = fyne.TextWrapWord
			return l
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(q.items) {
				rv := q.items[id]
				o.(*widget.Label).SetText(fmt.Sprintf("%s %s — %s", q.shortName(rv), words(rv.Group), rv.Reason))
			}
		})
	q.list.OnSelected = func(id widget.ListItemID) {
		if id < len(q.items) {
			q.openID = q.items[id].ID
			q.showDetail()
		}
	}
	return container.NewHSplit(container.NewStack(q.list, container.NewCenter(q.empty)), container.NewVScroll(q.detail))
}

func (q *reviewQueue) refresh() {
	items, err := q.u.core.Reviews()
	if err != nil {
		return
	}
	q.items = items
	if len(items) == 0 {
		q.empty.Show()
	} else {
		q.empty.Hide()
	}
	q.list.Refresh()
	if !slices.ContainsFunc(items, func(r fsapp.Review) bool { return r.ID == q.openID }) && len(items) > 0 {
		q.list.Select(0) // the first item waiting, with both versions, rather than an empty pane
		return
	}
	q.showDetail()
}

// recordName names the record a review is about: a job's number and
// title, a customer's name. A review that does not carry them is named
// from the record on this device, else by the kind of record it is.
func (q *reviewQueue) recordName(rv fsapp.Review) string {
	number, title := rv.Number, rv.Title
	if title == "" {
		number, title = q.u.core.RecordName(rv.RecordID)
	}
	if name := strings.TrimSpace(number + " " + title); name != "" {
		return name
	}
	return capital(words(rv.RecordType))
}

// shortName names the record in the list: a job by its number.
func (q *reviewQueue) shortName(rv fsapp.Review) string {
	if rv.Number != "" {
		return rv.Number
	}
	return q.recordName(rv)
}

func (q *reviewQueue) showDetail() {
	q.detail.RemoveAll()
	i := slices.IndexFunc(q.items, func(r fsapp.Review) bool { return r.ID == q.openID })
	if i < 0 {
		q.detail.Add(widget.NewLabel("Choose an item to see both versions."))
		return
	}
	rv := q.items[i]
	canResolve := q.u.core.MayResolve(rv)
	title := widget.NewLabelWithStyle(fmt.Sprintf("%s · %s", q.recordName(rv), words(rv.Group)), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	reason := widget.NewLabel(rv.Reason)
	reason.Wrapping = fyne.TextWrapWord
	q.detail.Add(title)
	q.detail.Add(reason)
	if q.u.core.Decided(rv.ID) {
		canResolve = false
		q.detail.Add(note("Your decision is saved on this device and goes to the server with the next sync."))
	}
	if rv.Kind == fsapp.KindDuplicate {
		q.detail.Add(widget.NewLabel("A job that looks like another one made on a different device."))
		if canResolve {
			merge := widget.NewButton("Merge into the existing job", func() { q.resolve(rv, fsapp.Merge, "", nil) })
			both := widget.NewButton("Keep both", func() { q.resolve(rv, fsapp.KeepBoth, "", nil) })
			q.detail.Add(container.NewHBox(merge, both))
		}
		return
	}
	server := q.versionCard("On the server", rv, rv.Server.Values, rv.Server.UserName, rv.Server.DeviceID, rv.Server.DeviceTime.Local().Format("2 Jan 15:04"))
	var cols []fyne.CanvasObject
	if canResolve {
		cols = append(cols, container.NewVBox(server, widget.NewButton("Keep the server's", func() { q.resolve(rv, fsapp.KeepServer, "", nil) })))
	} else {
		cols = append(cols, server)
	}
	for _, e := range rv.Device {
		e := e
		card := q.versionCard("From a device", rv, e.Values, e.UserName, e.DeviceID, e.DeviceTime.Local().Format("2 Jan 15:04"))
		if canResolve {
			cols = append(cols, container.NewVBox(card, widget.NewButton("Take this one", func() { q.resolve(rv, fsapp.TakeDevice, e.OpID, nil) })))
		} else {
			cols = append(cols, card)
		}
	}
	q.detail.Add(container.NewGridWithColumns(len(cols), cols...))
	if !canResolve {
		if !q.u.core.Decided(rv.ID) {
			q.detail.Add(note("The office decides. Your version is kept in this review, and nothing you entered is lost."))
		}
		return
	}
	// Type a value: one input per field of the group, in words.
	get := map[string]func() any{}
	var items []*widget.FormItem
	for _, vf := range q.u.core.ValueFields(rv) {
		var in fyne.CanvasObject
		if len(vf.Choices) > 0 {
			var labels []string
			values := map[string]string{}
			for _, c := range vf.Choices {
				labels = append(labels, c.Label)
				values[c.Label] = c.Value
			}
			sel := widget.NewSelect(labels, nil)
			sel.SetSelected(vf.Shown)
			get[vf.Field] = func() any { return values[sel.Selected] }
			in = sel
		} else {
			e := widget.NewEntry()
			e.SetText(vf.Shown)
			get[vf.Field] = func() any { return strings.TrimSpace(e.Text) }
			in = e
		}
		items = append(items, widget.NewFormItem(capital(words(vf.Field)), in))
	}
	form := widget.NewForm(items...)
	form.SubmitText = "Use these values"
	form.OnSubmit = func() {
		vals := map[string]any{}
		for f, g := range get {
			vals[f] = g()
		}
		q.resolve(rv, fsapp.TypeValue, "", vals)
	}
	q.detail.Add(widget.NewCard("Or type a value", "", form))
}

func (q *reviewQueue) versionCard(title string, rv fsapp.Review, values map[string]json.RawMessage, who, device, when string) fyne.CanvasObject {
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(values)) {
		lines = append(lines, fmt.Sprintf("%s: %s", capital(words(k)), q.u.core.ValueWords(rv.RecordType, k, values[k])))
	}
	body := widget.NewLabel(strings.Join(lines, "\n") + fmt.Sprintf("\n\nBy %s on %s, %s", orDash(who), orDash(device), when))
	body.Wrapping = fyne.TextWrapWord
	return widget.NewCard(title, "", body)
}

func (q *reviewQueue) resolve(rv fsapp.Review, choice, entry string, values map[string]any) {
	// The app sends the decision at once and brings the sync state up to date.
	if err := q.u.core.Resolve(rv.ID, choice, entry, values); err != nil {
		dialog.ShowError(err, q.u.win)
		return
	}
	q.showDetail() // no more buttons: the decision is made
}

// showReviews opens the review queue in a window-sized dialog.
func showReviews(u *UI) {
	q := newReviewQueue(u)
	obj := q.build()
	q.refresh()
	d := dialog.NewCustom("Review", "Close", container.NewGridWrap(u.dialogSize(900, 560), obj), u.win)
	d.Show()
}
