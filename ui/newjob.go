package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	fsapp "fieldsync/app"
)

// newJobForm starts a job. It has its id from the moment it opens, so a
// second tap on Create makes nothing new, and before creating it offers
// the jobs this one may repeat.
type newJobForm struct {
	u        *UI
	id       string
	onDone   func(id string)
	customer *widget.Select
	custIDs  map[string]string
	title    *widget.Entry
	site     *widget.Entry
	start    *widget.Entry
	desc     *widget.Entry
	assignee *widget.Select
	dlg      dialog.Dialog
}

func showNewJob(u *UI, onDone func(id string)) {
	f := &newJobForm{u: u, id: u.core.FormID(), onDone: onDone, custIDs: map[string]string{}}
	f.dlg = dialog.NewCustomWithoutButtons("New job", f.build(), u.win)
	f.dlg.Resize(fyne.NewSize(520, 520))
	f.dlg.Show()
}

func (f *newJobForm) build() fyne.CanvasObject {
	var names []string
	if cs, err := f.u.core.Customers(); err == nil {
		for _, c := range cs {
			names = append(names, c.Text("name"))
			f.custIDs[c.Text("name")] = c.ID
		}
	}
	f.customer = widget.NewSelect(names, nil)
	f.title = widget.NewEntry()
	f.site = widget.NewEntry()
	f.start = widget.NewEntry()
	f.start.SetText(f.u.now().Local().Format("2006-01-02 15:04"))
	f.desc = widget.NewMultiLineEntry()
	items := []*widget.FormItem{
		widget.NewFormItem("Customer", f.customer),
		widget.NewFormItem("Title", f.title),
		widget.NewFormItem("Site", f.site),
		widget.NewFormItem("Start", f.start),
		widget.NewFormItem("Description", f.desc),
	}
	if f.u.core.Powers().AssignJobs {
		var techs []string
		for _, u := range f.u.core.Assignees() {
			techs = append(techs, u.Name)
		}
		f.assignee = widget.NewSelect(techs, nil)
		items = append(items, widget.NewFormItem("Technician", f.assignee))
	}
	form := widget.NewForm(items...)
	form.SubmitText = "Create job"
	form.OnSubmit = func() { f.onCreate(false) }
	form.CancelText = "Cancel"
	form.OnCancel = func() { f.dlg.Hide() }
	return container.NewVScroll(form)
}

func (f *newJobForm) jobForm() (fsapp.JobForm, error) {
	jf := fsapp.JobForm{ID: f.id, CustomerID: f.custIDs[f.customer.Selected], Title: strings.TrimSpace(f.title.Text),
		Site: strings.TrimSpace(f.site.Text), Description: f.desc.Text}
	if jf.CustomerID == "" || jf.Title == "" {
		return jf, errors.New("choose a customer and type a title")
	}
	if s := strings.TrimSpace(f.start.Text); s != "" {
		t, err := time.ParseInLocation("2006-01-02 15:04", s, time.Local)
		if err != nil {
			return jf, fmt.Errorf("start: type it like %s", f.u.now().Local().Format("2006-01-02 15:04"))
		}
		jf.Start = t
	}
	if f.assignee != nil {
		jf.Assignee = f.assignee.Selected
	}
	return jf, nil
}

func (f *newJobForm) onCreate(force bool) {
	jf, err := f.jobForm()
	if err != nil {
		f.u.showError(err)
		return
	}
	f.u.async(func(ctx context.Context) error {
		_, err := f.u.core.NewJob(ctx, jf, force)
		return err
	}, func(err error) {
		var dup *fsapp.DuplicateError
		switch {
		case errors.As(err, &dup):
			f.offerMatches(dup.Suspects)
		case err != nil:
			f.u.showError(err)
		default:
			f.dlg.Hide()
			if f.onDone != nil {
				f.onDone(f.id)
			}
		}
	})
}

// suspectWords says what is known of a job a new one may repeat: of one
// the user cannot see, only why it is suspected.
func suspectWords(s fsapp.Suspect) string {
	label := strings.TrimSpace(fmt.Sprintf("%s %s", s.Number, s.Title))
	var about []string
	if s.Status != "" {
		about = append(about, words(s.Status))
	}
	if s.Owner != "" {
		about = append(about, s.Owner)
	}
	switch {
	case label == "":
		return capital(s.Why) + "."
	case len(about) == 0:
		return fmt.Sprintf("%s. %s.", label, capital(s.Why))
	}
	return fmt.Sprintf("%s — %s. %s.", label, strings.Join(about, ", "), capital(s.Why))
}

// offerMatches shows the jobs the new one may repeat, with a way to open
// each, before creating anyway.
func (f *newJobForm) offerMatches(suspects []fsapp.Suspect) {
	box := container.NewVBox(widget.NewLabel("This looks like a job that exists already:"))
	var d dialog.Dialog
	for _, s := range suspects {
		s := s
		text := widget.NewLabel(suspectWords(s))
		text.Wrapping = fyne.TextWrapWord
		row := []fyne.CanvasObject{text}
		if s.ID != "" {
			row = append(row, widget.NewButton("Open "+orDash(s.Number), func() {
				d.Hide()
				f.dlg.Hide()
				if f.onDone != nil {
					f.onDone(s.ID)
				}
			}))
		}
		box.Add(container.NewVBox(row...))
	}
	create := widget.NewButton("Create anyway", func() {
		d.Hide()
		f.onCreate(true)
	})
	box.Add(create)
	d = dialog.NewCustom("Suspected duplicate", "Back", box, f.u.win)
	d.Show()
}
