package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	fsapp "fieldsync/app"
)

// techScreen is a technician's: my jobs, filtered, beside or above the job
// open.
type techScreen struct {
	jobPane
	filter *widget.RadioGroup
}

func newTechScreen(u *UI) *techScreen { return &techScreen{jobPane: jobPane{u: u}} }

func (s *techScreen) build() fyne.CanvasObject {
	s.jobs = newJobList(s.u, func(j fsapp.Job) { s.open(j.ID) })
	s.filter = widget.NewRadioGroup([]string{filterToday, filterOpen, filterAttention, filterAll}, s.onFilter)
	s.filter.Horizontal = true
	s.filter.Required = true
	s.filter.SetSelected(filterToday)
	newJob := widget.NewButtonWithIcon("New job", theme.ContentAddIcon(), func() { showNewJob(s.u, s.open) })
	reviews := widget.NewButtonWithIcon("Reviews", theme.QuestionIcon(), func() { showReviews(s.u) })
	settings := widget.NewButtonWithIcon("", theme.SettingsIcon(), func() { showSettings(s.u) })
	me, _ := s.u.core.Me()
	head := container.NewBorder(nil, nil, widget.NewLabelWithStyle("My jobs · "+me.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		container.NewHBox(newJob, reviews, settings))
	return s.buildPane(container.NewVBox(head, container.NewHScroll(s.filter)))
}

func (s *techScreen) onFilter(name string) {
	if s.jobs == nil {
		return
	}
	s.jobs.keep = techFilter(name, s.u.now())
	s.refresh()
}

func (s *techScreen) refresh() {
	jobs, err := s.u.core.Jobs()
	if err != nil {
		s.u.showError(err)
		return
	}
	s.show(jobs)
}
