package ui

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	fsapp "fieldsync/app"
)

// jobView is one job: who owns it, its status and the moves allowed, its
// groups with their rules, parts, notes, photos, signature and history.
//
// The inputs are made once per job and survive every refresh, so nothing
// typed is lost when a sync brings news.
type jobView struct {
	u  *UI
	id string
	d  *fsapp.JobDetail

	// Shown, rebuilt on refresh.
	title, owner, sync, status *widget.Label
	groupsBox, draftsBox       *fyne.Container
	reviewsBox, notesBox       *fyne.Container
	partsBox, photosBox        *fyne.Container
	signatureBox, officeBox    *fyne.Container
	summaryBox                 *fyne.Container

	// Typed, kept.
	move                  *widget.Select
	moveBtn               *widget.Button
	noteText              *widget.Entry
	noteID                string // the note form's id: a second tap saves nothing new
	partSKU, partQty      *widget.Entry
	partDesc              *widget.Entry
	partID                string
	labor                 *widget.Entry
	signer                *widget.Entry
	pad                   *signaturePad
	titleEntry, descEntry *widget.Entry
	siteEntry, startEntry *widget.Entry
	assignee              *widget.Select

	thumbs *thumbnails
	obj    fyne.CanvasObject

	// shown is the value last put in each entry from the job: an entry
	// still showing it follows newer values; one the user typed in is kept.
	shown map[*widget.Entry]string
	// partsNote and partBtn say whether parts may be added, and why not.
	partsNote *widget.Label
	partBtn   *widget.Button
}

func newJobView(u *UI, id string) *jobView {
	v := &jobView{u: u, id: id, noteID: u.core.FormID(), partID: u.core.FormID(), thumbs: newThumbnails(),
		shown: map[*widget.Entry]string{}}
	v.title = widget.NewLabel("")
	v.title.TextStyle.Bold = true
	v.title.Wrapping = fyne.TextWrapWord
	v.owner = widget.NewLabel("")
	v.sync = widget.NewLabel("")
	v.status = widget.NewLabel("")
	v.status.Wrapping = fyne.TextWrapWord
	v.owner.Wrapping = fyne.TextWrapWord
	v.sync.Wrapping = fyne.TextWrapWord
	box := func() *fyne.Container { return container.NewVBox() }
	v.groupsBox, v.draftsBox, v.reviewsBox, v.notesBox = box(), box(), box(), box()
	v.partsBox, v.photosBox, v.signatureBox, v.officeBox, v.summaryBox = box(), box(), box(), box(), box()

	v.move = widget.NewSelect(nil, nil)
	v.move.PlaceHolder = "Move to…"
	v.moveBtn = widget.NewButton("Move", v.onMove)
	v.noteText = widget.NewMultiLineEntry()
	v.noteText.SetPlaceHolder("Add a note")
	v.noteText.SetMinRowsVisible(2)
	v.partSKU = widget.NewEntry()
	v.partSKU.SetPlaceHolder("SKU")
	v.partQty = widget.NewEntry()
	v.partQty.SetPlaceHolder("Qty")
	v.partDesc = widget.NewEntry()
	v.partDesc.SetPlaceHolder("Description")
	v.labor = widget.NewEntry()
	v.labor.SetPlaceHolder("Labour minutes")
	v.signer = widget.NewEntry()
	v.signer.SetPlaceHolder("Customer's name")
	v.pad = newSignaturePad()
	v.titleEntry = widget.NewEntry()
	v.descEntry = widget.NewMultiLineEntry()
	v.siteEntry = widget.NewEntry()
	v.startEntry = widget.NewEntry()
	v.startEntry.SetPlaceHolder("2026-11-24 09:00")
	v.assignee = widget.NewSelect(nil, nil)

	noteBtn := widget.NewButtonWithIcon("Add note", theme.ContentAddIcon(), v.onAddNote)
	v.partBtn = widget.NewButtonWithIcon("Add part", theme.ContentAddIcon(), v.onAddPart)
	v.partsNote = note("")
	photoBtn := widget.NewButtonWithIcon("Add photo", theme.FileImageIcon(), v.onAddPhoto)
	historyBtn := widget.NewButtonWithIcon("History", theme.HistoryIcon(), v.onHistory)

	head := container.NewVBox(v.title, v.owner, v.sync, v.draftsBox, v.reviewsBox)
	status := card("Status", "", container.NewVBox(v.status, container.NewBorder(nil, nil, nil, v.moveBtn, v.move)))
	parts := card("Parts", "", container.NewVBox(v.partsNote, v.partsBox,
		container.NewGridWithColumns(3, v.partSKU, v.partQty, v.partDesc), v.partBtn))
	notes := card("Notes", "Both kept; nobody edits a note.",
		container.NewVBox(v.notesBox, v.noteText, noteBtn))
	photos := card("Photos", "Both kept; they upload on their own, after your notes.",
		container.NewVBox(v.photosBox, photoBtn))
	v.obj = container.NewVScroll(container.NewPadded(container.NewVBox(
		head, status, v.summaryBox, v.groupsBox, parts, notes, photos, v.signatureBox, v.officeBox, historyBtn)))
	return v
}

func (v *jobView) build() fyne.CanvasObject { return v.obj }

// refresh reloads the job and redraws what is shown; inputs keep their text.
func (v *jobView) refresh() {
	d, err := v.u.core.Job(v.id)
	if err != nil {
		v.title.SetText(err.Error())
		return
	}
	v.d = d
	v.title.SetText(d.Label() + " · " + d.Title)
	v.owner.SetText(d.OwnerLine)
	v.sync.SetText(d.Sync)
	v.sync.Importance = importance(d.SyncState)
	v.sync.Refresh()
	status := words(d.Status)
	if d.Voided {
		status = "Voided"
	}
	v.status.SetText(fmt.Sprintf("%s. %s.", capital(status), d.StatusGroup.Policy))
	v.move.Options = wordsList(d.Moves)
	if !slices.Contains(v.move.Options, v.move.Selected) {
		v.move.ClearSelected() // the choice is no longer a move from here
	}
	if len(d.Moves) == 0 {
		v.move.Disable()
		v.moveBtn.Disable()
		v.move.PlaceHolder = "No moves from here"
		if why := d.StatusGroup.Why; why != "" {
			v.move.PlaceHolder = why
		}
	} else {
		v.move.Enable()
		v.moveBtn.Enable()
		v.move.PlaceHolder = "Move to…"
	}
	v.move.Refresh()
	v.refreshDrafts()
	v.refreshReviews()
	v.refreshSummary()
	v.refreshGroups()
	v.refreshItems()
	v.refreshSignature()
	v.refreshOffice()
}

func (v *jobView) refreshDrafts() {
	v.draftsBox.RemoveAll()
	for _, dr := range v.d.Drafts {
		dr := dr
		text := widget.NewLabel(fmt.Sprintf("Not sent: %s\nYour text was kept: %s", dr.Reason, dr.Text))
		text.Wrapping = fyne.TextWrapWord
		text.Importance = widget.DangerImportance
		asNote := widget.NewButton("Add it as a note", func() { v.onKeepAsNote(dr.OpID) })
		discard := widget.NewButton("Discard", func() { v.onDiscard(dr.OpID) })
		v.draftsBox.Add(widget.NewCard("", "", container.NewVBox(text, container.NewHBox(asNote, discard))))
	}
}

func (v *jobView) refreshReviews() {
	v.reviewsBox.RemoveAll()
	if len(v.d.Reviews) == 0 {
		return
	}
	var groups []string
	for _, rv := range v.d.Reviews {
		groups = append(groups, words(rv.Group))
	}
	msg := widget.NewLabel("Another update changed this record. Review before sending again. (" + strings.Join(groups, ", ") + ")")
	msg.Wrapping = fyne.TextWrapWord
	msg.Importance = widget.WarningImportance
	v.reviewsBox.Add(container.NewBorder(nil, nil, nil, widget.NewButtonWithIcon("Review", theme.QuestionIcon(), func() { showReviews(v.u) }), msg))
}

// refreshSummary shows the groups of the job's title and of its site and
// time, editable or read only.
func (v *jobView) refreshSummary() {
	v.summaryBox.RemoveAll()
	sum, sched := v.d.GroupOf("title"), v.d.GroupOf("site_address")
	if sum.Editable {
		v.follow(v.titleEntry, v.d.Title)
		v.follow(v.descEntry, v.d.Description)
		save := widget.NewButton("Save summary", func() { v.onSetEntries(map[string]*widget.Entry{"title": v.titleEntry, "description": v.descEntry}) })
		v.summaryBox.Add(card("Summary", sum.Policy+".", container.NewVBox(v.titleEntry, v.descEntry, save)))
	} else {
		desc := widget.NewLabel(orDash(v.d.Description))
		desc.Wrapping = fyne.TextWrapWord
		v.summaryBox.Add(card("Summary", sentence(sum.Policy, sum.Why), desc))
	}
	customer := ""
	if v.d.CustomerRec != nil {
		customer = v.d.CustomerRec.Text("name")
		if phone := v.d.CustomerRec.Text("phone"); phone != "" {
			customer += " · " + phone
		}
	}
	when := "not scheduled"
	if !v.d.Start.IsZero() {
		when = v.d.Start.Local().Format("Mon 2 Jan 2006 15:04")
	}
	if sched.Editable {
		v.follow(v.siteEntry, v.d.Site)
		start := ""
		if !v.d.Start.IsZero() {
			start = v.d.Start.Local().Format("2006-01-02 15:04")
		}
		v.follow(v.startEntry, start)
		save := widget.NewButton("Save scheduling", func() {
			v.onSetEntries(map[string]*widget.Entry{"site_address": v.siteEntry, "scheduled_start": v.startEntry})
		})
		v.summaryBox.Add(card("Customer and site", sched.Policy+".", container.NewVBox(widget.NewLabel(customer),
			widget.NewForm(widget.NewFormItem("Site", v.siteEntry), widget.NewFormItem("Start", v.startEntry)), save)))
	} else {
		body := widget.NewLabel(strings.Join([]string{customer, orDash(v.d.Site), when}, "\n"))
		body.Wrapping = fyne.TextWrapWord
		v.summaryBox.Add(card("Customer and site", sentence(sched.Policy, sched.Why), body))
	}
}

// refreshGroups shows the group of the labour minutes, the owner's work.
func (v *jobView) refreshGroups() {
	v.groupsBox.RemoveAll()
	work := v.d.GroupOf("labor_minutes")
	minutes := fsapp.FieldText(v.d.Record, "labor_minutes")
	if work.Editable {
		v.follow(v.labor, minutes)
		save := widget.NewButton("Save labour", func() { v.onSetEntries(map[string]*widget.Entry{"labor_minutes": v.labor}) })
		v.groupsBox.Add(card("Labour", work.Policy+".", container.NewBorder(nil, nil, nil, save, v.labor)))
	} else {
		v.groupsBox.Add(card("Labour", sentence(work.Policy, work.Why), widget.NewLabel(orDash(minutes)+" minutes")))
	}
}

func (v *jobView) refreshItems() {
	v.notesBox.RemoveAll()
	for _, n := range v.d.Notes {
		head := fmt.Sprintf("%s · %s", orDash(n.AuthorName), n.When.Local().Format("2 Jan 15:04"))
		if n.Record.AfterSignoff {
			head += " · added after sign-off"
		}
		if n.Sync != "Synced" {
			head += " · " + n.Sync
		}
		if n.Record.Bool("voided") {
			head += " · voided"
		}
		meta := widget.NewLabel(head)
		meta.TextStyle.Italic = true
		text := widget.NewLabel(n.Record.Text("text"))
		text.Wrapping = fyne.TextWrapWord
		v.notesBox.Add(container.NewVBox(meta, text, widget.NewSeparator()))
	}
	if len(v.d.Notes) == 0 {
		v.notesBox.Add(widget.NewLabel("No notes yet."))
	}
	v.partsBox.RemoveAll()
	for _, p := range v.d.Parts {
		r := p.Record
		line := fmt.Sprintf("%s × %s  %s", fsapp.FieldText(r, "quantity"), r.Text("sku"), r.Text("description"))
		if p.Sync != "Synced" {
			line += " · " + p.Sync
		}
		v.partsBox.Add(widget.NewLabel(line))
	}
	g := v.d.ItemGroup("part")
	v.partsNote.SetText("New lines are both kept; a changed quantity needs review.")
	for _, w := range []fyne.Disableable{v.partSKU, v.partQty, v.partDesc, v.partBtn} {
		if g.Editable {
			w.Enable()
		} else {
			w.Disable()
		}
	}
	if !g.Editable {
		v.partsNote.SetText(sentence("New lines are both kept", g.Why))
	}
	v.photosBox.RemoveAll()
	if len(v.d.Photos) > 0 {
		grid := container.NewGridWrap(fyne.NewSize(150, 170))
		for _, p := range v.d.Photos {
			grid.Add(v.thumbs.tile(p))
		}
		v.photosBox.Add(grid)
	}
}

func (v *jobView) refreshSignature() {
	v.signatureBox.RemoveAll()
	g := v.d.GroupOf("signer_name")
	if name := v.d.Record.Text("signer_name"); name != "" {
		at := v.d.Record.Text("signed_at")
		if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
			at = t.Local().Format("2 Jan 2006 15:04")
		}
		v.signatureBox.Add(card("Customer signature", g.Policy+".", widget.NewLabel(fmt.Sprintf("Signed by %s on %s", name, at))))
		return
	}
	if !g.Editable {
		v.signatureBox.Add(card("Customer signature", g.Policy+".", widget.NewLabel(sentence("Not signed", g.Why))))
		return
	}
	clear := widget.NewButton("Clear", v.pad.Clear)
	sign := widget.NewButtonWithIcon("Save signature", theme.DocumentSaveIcon(), v.onSign)
	v.signatureBox.Add(card("Customer signature", g.Policy+": sign on the pad.",
		container.NewVBox(v.signer, v.pad, container.NewHBox(clear, sign))))
}

// refreshOffice shows the office's actions: reassign, void, reopen, each
// when the user may take it.
func (v *jobView) refreshOffice() {
	v.officeBox.RemoveAll()
	var rows []fyne.CanvasObject
	if g := v.d.GroupOf("assignee"); g.Editable {
		var names []string
		for _, u := range v.u.core.Assignees() {
			names = append(names, u.Name)
		}
		v.assignee.Options = names
		v.assignee.PlaceHolder = "Assign to…"
		v.assignee.Refresh()
		rows = append(rows, note(g.Policy+"."), container.NewBorder(nil, nil, nil,
			widget.NewButton("Reassign", v.onReassign), v.assignee))
	}
	if v.d.CanVoid {
		rows = append(rows, widget.NewButtonWithIcon("Void job", theme.DeleteIcon(), v.onVoid))
	}
	if v.d.CanReopen {
		rows = append(rows, widget.NewButtonWithIcon("Reopen job", theme.MediaReplayIcon(), v.onReopen))
	}
	if len(rows) > 0 {
		v.officeBox.Add(card("Office", "", container.NewVBox(rows...)))
	}
}

// follow puts a value from the job into an entry, unless the user has
// typed in it since the last value put there: then their text stays.
func (v *jobView) follow(e *widget.Entry, value string) {
	if last, ok := v.shown[e]; !ok || e.Text == last {
		e.SetText(value)
		v.shown[e] = value
	}
}

// sentence joins a group's rule and why it is read only: "Office edits
// win if both change it. Only dispatcher can change this."
func sentence(policy, why string) string {
	out := strings.TrimSuffix(policy, ".") + "."
	if why != "" {
		out += " " + strings.TrimSuffix(why, ".") + "."
	}
	return out
}

// card is a titled section whose note wraps, as on a phone it must.
func card(title, text string, content fyne.CanvasObject) fyne.CanvasObject {
	if text == "" {
		return widget.NewCard(title, "", content)
	}
	return widget.NewCard(title, "", container.NewVBox(note(text), content))
}

// note is a small wrapping label.
func note(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	l.SizeName = theme.SizeNameCaptionText
	return l
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func wordsList(states []string) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = words(s)
	}
	return out
}

// --- handlers: each saves on the device at once and says so ---

// saved redraws after an edit, or shows why the rules refused it. The
// app has brought the sync state up to date already.
func (v *jobView) saved(err error) {
	if err != nil {
		v.u.showError(err)
		return
	}
	v.refresh()
}

func (v *jobView) onMove() {
	i := slices.Index(wordsList(v.d.Moves), v.move.Selected)
	if i < 0 {
		return
	}
	state := v.d.Moves[i]
	if need, ok := v.d.Needs[state]; ok {
		msg := need.Message
		if need.Group == v.d.GroupOf("signer_name").Name {
			msg = strings.TrimSuffix(msg, ".") + ": ask the customer to sign on the pad below."
		}
		dialog.ShowInformation(capital(words(need.Group))+" needed", msg, v.u.win)
		return
	}
	_, err := v.u.core.Move(v.id, state)
	v.saved(err)
}

func (v *jobView) onAddNote() {
	text := strings.TrimSpace(v.noteText.Text)
	if text == "" {
		return
	}
	_, err := v.u.core.AddNote(v.id, v.noteID, text)
	if err == nil {
		v.noteText.SetText("")
		v.noteID = v.u.core.FormID()
	}
	v.saved(err)
}

func (v *jobView) onAddPart() {
	qty, err := strconv.ParseInt(strings.TrimSpace(v.partQty.Text), 10, 64)
	if err != nil || qty <= 0 {
		dialog.ShowInformation("Quantity", "Type how many, as a whole number.", v.u.win)
		return
	}
	if strings.TrimSpace(v.partSKU.Text) == "" {
		dialog.ShowInformation("Part", "Type the part's SKU.", v.u.win)
		return
	}
	_, err = v.u.core.AddPart(v.id, v.partID, strings.TrimSpace(v.partSKU.Text), strings.TrimSpace(v.partDesc.Text), qty)
	if err == nil {
		v.partSKU.SetText("")
		v.partQty.SetText("")
		v.partDesc.SetText("")
		v.partID = v.u.core.FormID()
	}
	v.saved(err)
}

// onSetEntries saves what the entries say; once saved, the entries follow
// the job again.
func (v *jobView) onSetEntries(entries map[string]*widget.Entry) {
	fields := map[string]any{}
	for f, e := range entries {
		fields[f] = e.Text
	}
	_, err := v.u.core.SetFields(v.id, fields)
	if err == nil {
		for _, e := range entries {
			v.shown[e] = e.Text
		}
	}
	v.saved(err)
}

func (v *jobView) onSign() {
	name := strings.TrimSpace(v.signer.Text)
	if name == "" || v.pad.Empty() {
		dialog.ShowInformation("Signature", "Type the customer's name and ask them to sign on the pad.", v.u.win)
		return
	}
	_, err := v.u.core.Sign(v.id, name, bytes.NewReader(v.pad.PNG()))
	if err == nil {
		v.pad.Clear()
	}
	v.saved(err)
}

func (v *jobView) onKeepAsNote(opID string) {
	_, err := v.u.core.KeepAsNote(opID)
	v.saved(err)
}

func (v *jobView) onDiscard(opID string) {
	dialog.ShowConfirm("Discard", "Discard this edit? Its text will be gone.", func(ok bool) {
		if ok {
			v.saved(v.u.core.Discard(opID))
		}
	}, v.u.win)
}

func (v *jobView) onReassign() {
	if v.assignee.Selected == "" {
		return
	}
	_, err := v.u.core.Reassign(v.id, v.assignee.Selected)
	v.saved(err)
}

func (v *jobView) onVoid() {
	dialog.ShowConfirm("Void job", "Void "+v.d.Label()+"? It stays in history; edits made to it offline will need review.", func(ok bool) {
		if ok {
			_, err := v.u.core.Void(v.id)
			v.saved(err)
		}
	}, v.u.win)
}

func (v *jobView) onReopen() {
	_, err := v.u.core.Reopen(v.id)
	v.saved(err)
}

func (v *jobView) onHistory() {
	v.u.async(func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		changes, stale, err := v.u.core.History(ctx, v.id)
		fyne.Do(func() { showHistory(v.u, v.d.Label(), changes, stale, err) })
		return nil
	}, nil)
}

// showHistory lists a record's change log in plain words.
func showHistory(u *UI, label string, changes []fsapp.Change, stale bool, err error) {
	if err != nil {
		u.showError(err)
		return
	}
	box := container.NewVBox()
	if stale {
		box.Add(note("The server did not answer: this is the history as last fetched."))
	}
	for _, c := range changes {
		what := c.Note
		if c.Field != "" {
			what = fmt.Sprintf("%s: %s → %s", capital(words(c.Field)), u.core.ValueWords(c.RecordType, c.Field, c.Old), u.core.ValueWords(c.RecordType, c.Field, c.New))
		}
		who := orDash(c.UserName)
		l := widget.NewLabel(fmt.Sprintf("%s · %s\n%s", c.DeviceTime.Local().Format("2 Jan 15:04"), who, what))
		l.Wrapping = fyne.TextWrapWord
		box.Add(l)
	}
	if len(changes) == 0 {
		box.Add(widget.NewLabel("No changes recorded."))
	}
	scroll := container.NewVScroll(box)
	scroll.SetMinSize(u.dialogSize(480, 400))
	dialog.ShowCustom("History of "+label, "Close", scroll, u.win)
}

// onAddPhoto picks a photo from the files or the gallery. On a phone the
// picker gives a content:// address: read it through the reader it hands
// over, never by path, and copy it into the app's storage at once.
func (v *jobView) onAddPhoto() {
	open := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil {
			v.u.showError(err)
			return
		}
		if r == nil {
			return // cancelled
		}
		defer r.Close()
		_, err = v.u.core.AddPhoto(v.id, "", r.URI().Name(), r.URI().MimeType(), r)
		v.saved(err)
	}, v.u.win)
	open.SetFilter(storage.NewMimeTypeFileFilter([]string{"image/*"}))
	open.Show()
}
