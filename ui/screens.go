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
	u      *UI
	filter *widget.RadioGroup
	jobs   *jobList
	view   *jobView
	slot   *fyne.Container
	split  *listDetail
}

func newTechScreen(u *UI) *techScreen { return &techScreen{u: u} }

func (s *techScreen) build() fyne.CanvasObject {
	s.jobs = newJobList(s.u, s.onOpen)
	s.filter = widget.NewRadioGroup([]string{filterToday, filterOpen, filterAttention, filterAll}, s.onFilter)
	s.filter.Horizontal = true
	s.filter.Required = true
	s.filter.SetSelected(filterToday)
	newJob := widget.NewButtonWithIcon("New job", theme.ContentAddIcon(), func() { showNewJob(s.u, s.onOpenID) })
	reviews := widget.NewButtonWithIcon("Reviews", theme.QuestionIcon(), func() { showReviews(s.u) })
	settings := widget.NewButtonWithIcon("", theme.SettingsIcon(), func() { showSettings(s.u) })
	me, _ := s.u.core.Me()
	head := container.NewBorder(nil, nil, widget.NewLabelWithStyle("My jobs · "+me.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		container.NewHBox(newJob, reviews, settings))
	list := container.NewBorder(container.NewVBox(head, container.NewHScroll(s.filter)), nil, nil, nil, s.jobs.build())
	s.slot = container.NewStack(container.NewCenter(widget.NewLabel("Open a job to see it here.")))
	s.split = newListDetail(list, s.slot)
	s.split.onClose = s.jobs.deselect
	return s.split.obj
}

func (s *techScreen) onFilter(name string) {
	if s.jobs == nil {
		return
	}
	s.jobs.keep = techFilter(name, s.u.now())
	s.refresh()
}

func (s *techScreen) onOpen(j fsapp.Job) { s.onOpenID(j.ID) }

// onOpenID opens a job, as after creating one.
func (s *techScreen) onOpenID(id string) {
	s.jobs.openID = id
	if s.view != nil && s.view.id == id {
		s.view.refresh() // the same job again: keep what was typed
		s.split.show()
		return
	}
	s.view = newJobView(s.u, id)
	s.slot.Objects = []fyne.CanvasObject{s.view.build()}
	s.slot.Refresh()
	s.view.refresh()
	s.split.show()
}

func (s *techScreen) refresh() {
	jobs, err := s.u.core.Jobs()
	if err != nil {
		s.u.showError(err)
		return
	}
	s.jobs.set(jobs)
	if s.view != nil {
		s.view.refresh()
	}
}
