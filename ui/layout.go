package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	fsapp "fieldsync/app"
)

// wideWidth is the width from which a list and its detail sit side by
// side: tablets and desktops. Narrower, a phone held upright shows one at
// a time, with a Back button.
const wideWidth = 720

// listDetail lays out a list and the detail of its selected item.
type listDetail struct {
	list, detail fyne.CanvasObject
	back         *widget.Button
	open         bool // a detail is open (matters when narrow)
	wide         bool
	obj          *fyne.Container
	onClose      func()
}

func newListDetail(list, detail fyne.CanvasObject) *listDetail {
	ld := &listDetail{list: list}
	ld.back = widget.NewButtonWithIcon("Back", theme.NavigateBackIcon(), ld.close)
	ld.detail = container.NewBorder(container.NewHBox(ld.back), nil, nil, nil, detail)
	ld.obj = container.New(ld, ld.list, ld.detail)
	return ld
}

// show opens the detail; on a phone it takes the screen.
func (ld *listDetail) show() {
	ld.open = true
	ld.obj.Refresh()
}

func (ld *listDetail) close() {
	ld.open = false
	if ld.onClose != nil {
		ld.onClose()
	}
	ld.obj.Refresh()
}

// Layout implements fyne.Layout.
func (ld *listDetail) Layout(_ []fyne.CanvasObject, size fyne.Size) {
	ld.wide = size.Width >= wideWidth
	pad := theme.Padding()
	switch {
	case ld.wide:
		lw := size.Width * 0.45
		ld.list.Show()
		ld.detail.Show()
		ld.back.Hide()
		ld.list.Move(fyne.NewPos(0, 0))
		ld.list.Resize(fyne.NewSize(lw, size.Height))
		ld.detail.Move(fyne.NewPos(lw+pad, 0))
		ld.detail.Resize(fyne.NewSize(size.Width-lw-pad, size.Height))
	case ld.open:
		ld.list.Hide()
		ld.detail.Show()
		ld.back.Show()
		ld.detail.Move(fyne.NewPos(0, 0))
		ld.detail.Resize(size)
	default:
		ld.detail.Hide()
		ld.list.Show()
		ld.list.Move(fyne.NewPos(0, 0))
		ld.list.Resize(size)
	}
}

// MinSize implements fyne.Layout.
func (ld *listDetail) MinSize(_ []fyne.CanvasObject) fyne.Size {
	return ld.list.MinSize().Max(ld.detail.MinSize())
}

// jobPane is a job list with the job open beside it, or on a phone in its
// place: what the technician's and the office's screens share.
type jobPane struct {
	u     *UI
	jobs  *jobList
	view  *jobView
	slot  *fyne.Container
	split *listDetail
}

// buildPane lays out the list under head and the open job beside it.
func (p *jobPane) buildPane(head fyne.CanvasObject) fyne.CanvasObject {
	list := container.NewBorder(head, nil, nil, nil, p.jobs.build())
	p.slot = container.NewStack(container.NewCenter(widget.NewLabel("Open a job to see it here.")))
	p.split = newListDetail(list, p.slot)
	p.split.onClose = p.jobs.deselect
	return p.split.obj
}

// open shows a job; the same job again keeps what was typed in it.
func (p *jobPane) open(id string) {
	p.jobs.openID = id
	if p.view != nil && p.view.id == id {
		p.view.refresh()
		p.split.show()
		return
	}
	p.view = newJobView(p.u, id)
	p.slot.Objects = []fyne.CanvasObject{p.view.build()}
	p.slot.Refresh()
	p.view.refresh()
	p.split.show()
}

// show puts a new snapshot of jobs in the list and redraws the open job.
func (p *jobPane) show(jobs []fsapp.Job) {
	p.jobs.set(jobs)
	if p.view != nil {
		p.view.refresh()
	}
}
