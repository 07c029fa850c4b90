package ui

import (
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	fsapp "fieldsync/app"
)

// Filters of the job list.
const (
	filterToday     = "Today"
	filterOpen      = "Open"
	filterAttention = "Needs attention"
	filterAll       = "All"
)

// jobList is a list of jobs with their sync state in words and an icon.
// It shows an immutable snapshot, replaced on every refresh.
type jobList struct {
	u        *UI
	list     *widget.List
	jobs     []fsapp.Job
	keep     func(fsapp.Job) bool
	onSelect func(fsapp.Job)
	empty    *widget.Label
	obj      fyne.CanvasObject
	openID   string // the job open beside the list, kept selected across snapshots
	quiet    bool   // selecting by program, not by a tap
}

func newJobList(u *UI, onSelect func(fsapp.Job)) *jobList {
	l := &jobList{u: u, onSelect: onSelect, keep: func(fsapp.Job) bool { return true }}
	l.list = widget.NewList(
		func() int { return len(l.jobs) },
		func() fyne.CanvasObject {
			title := widget.NewLabel("J-0000 · title")
			title.TextStyle.Bold = true
			title.Truncation = fyne.TextTruncateEllipsis
			sub := widget.NewLabel("customer · status")
			sub.Truncation = fyne.TextTruncateEllipsis
			words := widget.NewLabel("Synced")
			words.Truncation = fyne.TextTruncateEllipsis
			return container.NewBorder(nil, nil, widget.NewIcon(nil), nil, container.NewVBox(title, sub, words))
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id >= len(l.jobs) {
				return
			}
			j := l.jobs[id]
			c := o.(*fyne.Container)
			rows := c.Objects[0].(*fyne.Container).Objects
			rows[0].(*widget.Label).SetText(j.Label() + " · " + j.Title)
			rows[1].(*widget.Label).SetText(jobLine(j))
			words := rows[2].(*widget.Label)
			words.SetText(j.Sync)
			words.Importance = importance(j.SyncState)
			words.Refresh()
			c.Objects[1].(*widget.Icon).SetResource(statusIcon(j.SyncState))
		},
	)
	l.list.OnSelected = func(id widget.ListItemID) {
		if id < len(l.jobs) && !l.quiet {
			l.openID = l.jobs[id].ID
			l.onSelect(l.jobs[id])
		}
	}
	l.empty = widget.NewLabel("No jobs here.")
	l.obj = container.NewStack(l.list, container.NewCenter(l.empty))
	return l
}

func (l *jobList) build() fyne.CanvasObject { return l.obj }

// jobLine is a job's second line: customer, site, when, status, owner.
func jobLine(j fsapp.Job) string {
	parts := []string{}
	if j.Customer != "" {
		parts = append(parts, j.Customer)
	}
	if !j.Start.IsZero() {
		parts = append(parts, j.Start.Local().Format("Mon 2 Jan 15:04"))
	}
	status := words(j.Status)
	if j.Voided {
		status = "voided"
	}
	parts = append(parts, status)
	if !j.Mine && j.OwnerName != "" {
		parts = append(parts, j.OwnerName)
	}
	if j.Duplicate {
		parts = append(parts, "suspected duplicate")
	}
	return strings.Join(parts, " · ")
}

func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

func importance(s fsapp.SyncStatus) widget.Importance {
	switch s {
	case fsapp.NotSent:
		return widget.DangerImportance
	case fsapp.NeedsReview, fsapp.Failed:
		return widget.WarningImportance
	case fsapp.Synced:
		return widget.SuccessImportance
	}
	return widget.MediumImportance
}

// set replaces the snapshot.
func (l *jobList) set(all []fsapp.Job) {
	l.jobs = slices.DeleteFunc(slices.Clone(all), func(j fsapp.Job) bool { return !l.keep(j) })
	if len(l.jobs) == 0 {
		l.empty.Show()
	} else {
		l.empty.Hide()
	}
	l.list.Refresh()
	// The selection follows the open job, not a row number.
	l.quiet = true
	if i := slices.IndexFunc(l.jobs, func(j fsapp.Job) bool { return j.ID == l.openID }); i >= 0 {
		l.list.Select(i)
	} else {
		l.list.UnselectAll()
	}
	l.quiet = false
}

// deselect forgets the open job, as after Back on a phone.
func (l *jobList) deselect() {
	l.openID = ""
	l.quiet = true
	l.list.UnselectAll()
	l.quiet = false
}

// techFilter keeps the jobs a filter asks for.
func techFilter(name string, now time.Time) func(fsapp.Job) bool {
	open := func(j fsapp.Job) bool { return j.Open }
	switch name {
	case filterToday:
		y, m, d := now.Local().Date()
		return func(j fsapp.Job) bool {
			jy, jm, jd := j.Start.Local().Date()
			return open(j) && (j.Start.IsZero() || jy == y && jm == m && jd == d)
		}
	case filterOpen:
		return open
	case filterAttention:
		return func(j fsapp.Job) bool { return j.NeedsAttention }
	}
	return func(fsapp.Job) bool { return true }
}
