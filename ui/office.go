package ui

import (
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	fsapp "fieldsync/app"
)

const anyChoice = "Any"

// officeScreen is the desktop's: the jobs board, the review queue,
// customers, invoices for finance, and settings.
type officeScreen struct {
	jobPane
	state   *widget.Select
	tech    *widget.Select
	attn    *widget.Check
	reviews *reviewQueue
	custs   *customersTab
	tabs    *container.AppTabs
	invs    *widget.List
	invData []fsapp.Invoice
	// states are the job states the State filter offers, by their words.
	states map[string]string
}

func newOfficeScreen(u *UI) *officeScreen { return &officeScreen{jobPane: jobPane{u: u}} }

func (s *officeScreen) build() fyne.CanvasObject {
	powers := s.u.core.Powers()
	s.jobs = newJobList(s.u, func(j fsapp.Job) { s.onOpen(j.ID) })
	states := []string{anyChoice}
	s.states = map[string]string{}
	for _, st := range s.u.core.JobStates() {
		states = append(states, words(st))
		s.states[words(st)] = st
	}
	s.state = widget.NewSelect(states, nil)
	s.state.SetSelected(anyChoice)
	s.state.OnChanged = func(string) { s.refresh() }
	s.tech = widget.NewSelect([]string{anyChoice}, nil)
	s.tech.SetSelected(anyChoice)
	s.tech.OnChanged = func(string) { s.refresh() }
	s.attn = widget.NewCheck("Needs attention", func(bool) { s.refresh() })
	filters := container.NewHBox(widget.NewLabel("State"), s.state, widget.NewLabel("Technician"), s.tech, s.attn)
	var tools []fyne.CanvasObject
	if powers.CreateJobs {
		tools = append(tools, widget.NewButtonWithIcon("New job", theme.ContentAddIcon(), func() { showNewJob(s.u, s.onOpen) }))
	}
	head := container.NewVBox(container.NewBorder(nil, nil, widget.NewLabelWithStyle("Jobs board", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), container.NewHBox(tools...)),
		container.NewHScroll(filters))
	pane := s.buildPane(head)

	s.reviews = newReviewQueue(s.u)
	s.custs = newCustomersTab(s.u)
	s.tabs = container.NewAppTabs(
		container.NewTabItemWithIcon("Jobs", theme.ListIcon(), pane),
		container.NewTabItemWithIcon("Reviews", theme.QuestionIcon(), s.reviews.build()),
		container.NewTabItemWithIcon("Customers", theme.AccountIcon(), s.custs.build()),
	)
	if powers.Invoices {
		s.tabs.Append(container.NewTabItemWithIcon("Invoices", theme.DocumentIcon(), s.buildInvoices()))
	}
	s.tabs.Append(container.NewTabItemWithIcon("Settings", theme.SettingsIcon(), newSettings(s.u).build()))
	return s.tabs
}

func (s *officeScreen) onOpen(id string) {
	if s.tabs != nil {
		s.tabs.SelectIndex(0)
	}
	s.open(id)
}

func (s *officeScreen) refresh() {
	jobs, err := s.u.core.Jobs()
	if err != nil {
		s.u.showError(err)
		return
	}
	techs := []string{anyChoice}
	for _, j := range jobs {
		if j.OwnerName != "" && !slices.Contains(techs, j.OwnerName) {
			techs = append(techs, j.OwnerName)
		}
	}
	if !slices.Equal(s.tech.Options, techs) {
		s.tech.Options = techs
		s.tech.Refresh()
	}
	state, picked := s.states[s.state.Selected] // Any picks none
	tech := s.tech.Selected
	attn := s.attn.Checked
	s.jobs.keep = func(j fsapp.Job) bool {
		switch {
		case picked && j.Status != state:
			return false
		case tech != anyChoice && tech != "" && j.OwnerName != tech:
			return false
		case attn && !j.NeedsAttention:
			return false
		}
		return true
	}
	s.show(jobs)
	s.reviews.refresh()
	s.custs.refresh()
	if s.invs != nil {
		s.refreshInvoices()
	}
}

func (s *officeScreen) buildInvoices() fyne.CanvasObject {
	s.invs = widget.NewList(func() int { return len(s.invData) },
		func() fyne.CanvasObject { return widget.NewLabel("invoice") },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id >= len(s.invData) {
				return
			}
			inv := s.invData[id]
			o.(*widget.Label).SetText(strings.Join([]string{orDash(inv.Customer),
				"total " + fsapp.FieldText(inv.Record, "total"), words(inv.Status), s.u.state.Words(inv.Record.ID, s.u.now())}, " · "))
		})
	return s.invs
}

func (s *officeScreen) refreshInvoices() {
	invs, err := s.u.core.Invoices()
	if err == nil {
		s.invData = invs
		s.invs.Refresh()
	}
}

// customersTab lists customers and edits one (the office).
type customersTab struct {
	u      *UI
	list   *widget.List
	data   []*fsapp.Record
	id     string // the customer open; a new one has a fresh id
	isNew  bool
	fields map[string]*widget.Entry
	form   *widget.Form
	hint   *widget.Label
}

var customerFields = []string{"name", "nickname", "phone", "email", "billing_contact", "description"}

func newCustomersTab(u *UI) *customersTab {
	return &customersTab{u: u, fields: map[string]*widget.Entry{}}
}

func (c *customersTab) build() fyne.CanvasObject {
	c.list = widget.NewList(func() int { return len(c.data) },
		func() fyne.CanvasObject { return widget.NewLabel("customer") },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(c.data) {
				r := c.data[id]
				o.(*widget.Label).SetText(r.Text("name") + " · " + c.u.state.Words(r.ID, c.u.now()))
			}
		})
	c.list.OnSelected = func(id widget.ListItemID) {
		if id < len(c.data) {
			c.open(c.data[id], false)
		}
	}
	var items []*widget.FormItem
	for _, f := range customerFields {
		e := widget.NewEntry()
		c.fields[f] = e
		items = append(items, widget.NewFormItem(capital(words(f)), e))
	}
	c.form = widget.NewForm(items...)
	c.form.SubmitText = "Save customer"
	c.form.OnSubmit = c.onSave
	c.hint = widget.NewLabel("Customer details: the latest change wins; the one it replaced stays in the history.")
	c.hint.Wrapping = fyne.TextWrapWord
	add := widget.NewButtonWithIcon("New customer", theme.ContentAddIcon(), func() { c.open(nil, true) })
	right := container.NewVScroll(container.NewVBox(c.hint, c.form))
	return container.NewHSplit(container.NewBorder(add, nil, nil, nil, c.list), right)
}

func (c *customersTab) open(r *fsapp.Record, isNew bool) {
	c.isNew = isNew
	if isNew {
		c.id = c.u.core.FormID()
	} else {
		c.id = r.ID
	}
	for _, f := range customerFields {
		v := ""
		if r != nil {
			v = r.Text(f)
		}
		c.fields[f].SetText(v)
	}
}

func (c *customersTab) onSave() {
	if c.id == "" {
		return
	}
	vals := map[string]any{}
	for _, f := range customerFields {
		vals[f] = c.fields[f].Text
	}
	var err error
	if c.isNew {
		_, err = c.u.core.NewCustomer(c.id, vals)
		if err == nil {
			c.isNew = false
		}
	} else {
		_, err = c.u.core.SetFields(c.id, vals)
	}
	if err != nil {
		dialog.ShowError(err, c.u.win)
	}
}

func (c *customersTab) refresh() {
	cs, err := c.u.core.Customers()
	if err != nil {
		return
	}
	c.data = cs
	c.list.Refresh()
}
