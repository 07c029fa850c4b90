package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"fieldsync/app"
	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

// jobRow is a job as the jobs list shows it.
type jobRow struct {
	ID        string    `json:"id"`
	Number    string    `json:"number,omitempty"`
	Title     string    `json:"title"`
	Status    string    `json:"status"`
	Customer  string    `json:"customer"`
	Site      string    `json:"site,omitempty"`
	Start     time.Time `json:"start,omitzero"`
	OwnerID   string    `json:"owner_id,omitempty"`
	Owner     string    `json:"owner,omitempty"`
	Mine      bool      `json:"mine"`
	Voided    bool      `json:"voided,omitempty"`
	Duplicate bool      `json:"suspected_duplicate,omitempty"`
	Sync      string    `json:"sync"`
	SyncState string    `json:"sync_state"`
}

func toRow(j app.Job) jobRow {
	return jobRow{ID: j.ID, Number: j.Number, Title: j.Title, Status: j.Status, Customer: j.Customer, Site: j.Site,
		Start: j.Start, OwnerID: j.OwnerID, Owner: j.OwnerName, Mine: j.Mine, Voided: j.Voided, Duplicate: j.Duplicate,
		Sync: j.Sync, SyncState: j.SyncState.String()}
}

// ref is how a job is named on the command line: its number, or its id
// until the server gives it a number.
func ref(j app.Job) string {
	if j.Number != "" {
		return j.Number
	}
	return j.ID
}

// jobs
func cmdJobs(c *cli, args []string) error {
	args, err := c.parse("jobs", c.flags("jobs"), args)
	if err != nil {
		return err
	}
	if err := want("jobs", args, 0, 0); err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		jobs, err := a.Jobs()
		if err != nil {
			return err
		}
		rows := make([]jobRow, 0, len(jobs))
		for _, j := range jobs {
			rows = append(rows, toRow(j))
		}
		doc := struct {
			Jobs []jobRow `json:"jobs"`
		}{rows}
		return c.out(doc, func(w io.Writer) {
			if len(jobs) == 0 {
				fmt.Fprintln(w, "No jobs on this device. Run \"fieldsync sync\" to fetch them.")
				return
			}
			tw := table(w)
			fmt.Fprintln(tw, "NUMBER\tTITLE\tSTATUS\tCUSTOMER\tOWNER\tSYNC")
			for _, j := range jobs {
				owner := j.OwnerName
				if j.Mine {
					owner += " (you)"
				}
				status := j.Status
				if j.Duplicate {
					status += " (suspected duplicate)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ref(j), j.Title, status, j.Customer, dash(owner), j.Sync)
			}
			tw.Flush()
		})
	})
}

// Job detail.

type groupJSON struct {
	Name     string   `json:"name"`
	Fields   []string `json:"fields"`
	Policy   string   `json:"policy"`
	Editable bool     `json:"editable"`
	Why      string   `json:"why,omitempty"`
}

type itemJSON struct {
	ID           string                     `json:"id"`
	Type         string                     `json:"type"`
	Author       string                     `json:"author"`
	When         time.Time                  `json:"when"`
	Sync         string                     `json:"sync"`
	Fields       map[string]json.RawMessage `json:"fields"`
	AfterSignoff bool                       `json:"after_signoff,omitempty"`
	Uploaded     int64                      `json:"uploaded,omitempty"`
	Size         int64                      `json:"size,omitempty"`
}

type draftJSON struct {
	OpID   string `json:"op_id"`
	JobID  string `json:"job_id"`
	Text   string `json:"text"`
	Reason string `json:"reason"`
}

type jobDetailJSON struct {
	jobRow
	OwnerLine   string                     `json:"owner_line"`
	Description string                     `json:"description,omitempty"`
	Moves       []string                   `json:"moves"`
	Fields      map[string]json.RawMessage `json:"fields"`
	Groups      []groupJSON                `json:"groups"`
	Notes       []itemJSON                 `json:"notes"`
	Photos      []itemJSON                 `json:"photos"`
	Parts       []itemJSON                 `json:"parts"`
	Reviews     []contract.Review          `json:"reviews"`
	Drafts      []draftJSON                `json:"drafts"`
}

func items(in []app.Item) []itemJSON {
	out := make([]itemJSON, 0, len(in))
	for _, it := range in {
		out = append(out, itemJSON{ID: it.Record.ID, Type: it.Record.Type, Author: it.AuthorName, When: it.When, Sync: it.Sync,
			Fields: it.Record.Fields, AfterSignoff: it.Record.AfterSignoff, Uploaded: it.Uploaded, Size: it.Size})
	}
	return out
}

func drafts(in []app.Draft) []draftJSON {
	out := make([]draftJSON, 0, len(in))
	for _, d := range in {
		out = append(out, draftJSON(d))
	}
	return out
}

// shown are the job fields job show prints in its header.
var shown = []string{"title", "description", "status", "customer_id", "site_address", "scheduled_start", "assignee"}

// job show JOB
func cmdJobShow(c *cli, args []string) error {
	args, err := c.parse("job show", c.flags("job show"), args)
	if err != nil {
		return err
	}
	if err := want("job show", args, 1, 1); err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		d, err := a.Job(args[0])
		if err != nil {
			return err
		}
		doc := jobDetailJSON{jobRow: toRow(d.Job), OwnerLine: d.OwnerLine, Description: d.Description, Moves: d.Moves,
			Fields: d.Record.Fields, Notes: items(d.Notes), Photos: items(d.Photos), Parts: items(d.Parts),
			Reviews: d.Reviews, Drafts: drafts(d.Drafts)}
		if doc.Moves == nil {
			doc.Moves = []string{}
		}
		if doc.Reviews == nil {
			doc.Reviews = []contract.Review{}
		}
		for _, g := range d.Groups {
			doc.Groups = append(doc.Groups, groupJSON(g))
		}
		return c.out(doc, func(w io.Writer) { printJob(w, a, d) })
	})
}

func printJob(w io.Writer, a *app.App, d *app.JobDetail) {
	fmt.Fprintf(w, "%s  %s\n", d.Label(), d.Title)
	tw := table(w)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	line("Id", d.ID)
	line("Status", d.Status)
	if d.Duplicate {
		line("Note", "suspected duplicate of another job; the office merges or keeps both")
	}
	line("Customer", d.Customer)
	line("Site", d.Site)
	if !d.Start.IsZero() {
		line("Start", d.Start.Local().Format(timeLayout))
	}
	line("Owner", d.OwnerLine)
	line("Sync", d.Sync)
	moves := "none from here"
	if len(d.Moves) > 0 {
		moves = strings.Join(d.Moves, ", ")
	}
	line("Moves", moves)
	line("Description", d.Description)
	// Any other field with a value, in the order of the groups.
	for _, g := range d.Groups {
		for _, f := range g.Fields {
			if slices.Contains(shown, f) {
				continue
			}
			line(strings.ReplaceAll(capital(f), "_", " "), fieldText(a, d.Record, f))
		}
	}
	tw.Flush()

	fmt.Fprintln(w, "\nGroups:")
	tw = table(w)
	fmt.Fprintln(tw, "  GROUP\tFIELDS\tIF BOTH CHANGE IT\tEDITABLE")
	for _, g := range d.Groups {
		editable := "yes"
		if !g.Editable {
			editable = "no"
			if g.Why != "" {
				editable += ": " + g.Why
			}
		}
		fields := strings.Join(g.Fields, ", ")
		if fields == "" {
			fields = "(items)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", g.Name, fields, g.Policy, editable)
	}
	tw.Flush()

	section := func(title string, n int) bool {
		fmt.Fprintf(w, "\n%s (%d)%s\n", title, n, map[bool]string{true: ":", false: ""}[n > 0])
		return n > 0
	}
	if section("Notes", len(d.Notes)) {
		for _, n := range d.Notes {
			extra := ""
			if n.Record.AfterSignoff {
				extra = " (added after sign-off)"
			}
			fmt.Fprintf(w, "  %s  %s: %s%s%s\n", n.When.Local().Format(timeLayout), n.AuthorName, n.Record.Text("text"), extra, syncSuffix(n.Sync))
		}
	}
	if section("Photos", len(d.Photos)) {
		for _, p := range d.Photos {
			fmt.Fprintf(w, "  %s  %s: %s, %s%s\n", p.When.Local().Format(timeLayout), p.AuthorName, dash(p.Record.Text("filename")),
				uploadWords(p), syncSuffix(p.Sync))
		}
	}
	if section("Parts", len(d.Parts)) {
		tw = table(w)
		for _, p := range d.Parts {
			fmt.Fprintf(tw, "  %s\t× %d\t%s%s\n", p.Record.Text("sku"), p.Record.Int("quantity"), p.Record.Text("description"), syncSuffix(p.Sync))
		}
		tw.Flush()
	}
	if len(d.Reviews) > 0 {
		section("Open reviews", len(d.Reviews))
		for _, rv := range d.Reviews {
			fmt.Fprintf(w, "  %s  %s: %s\n", rv.ID, rv.Group, rv.Reason)
		}
	}
	if len(d.Drafts) > 0 {
		section("Not sent (your text is kept)", len(d.Drafts))
		for _, dr := range d.Drafts {
			fmt.Fprintf(w, "  %s  %q\n      %s\n", dr.OpID, dr.Text, dr.Reason)
		}
		fmt.Fprintln(w, "  Keep one as a note with \"fieldsync drafts note OPID\", or drop it with \"fieldsync drafts discard OPID\".")
	}
}

// fieldText is a field's value for people: people's names for user ids,
// local times.
func fieldText(a *app.App, r *contract.Record, field string) string {
	var typ string
	if rr := a.Rules().Record(r.Type); rr != nil && rr.Field(field) != nil {
		typ = rr.Field(field).Type
	}
	switch typ {
	case rulebook.TypeUser, rulebook.TypeUsers:
		var ids []string
		if json.Unmarshal(r.Fields[field], &ids) != nil {
			var id string
			json.Unmarshal(r.Fields[field], &id)
			ids = []string{id}
		}
		var names []string
		for _, id := range ids {
			if id != "" {
				names = append(names, userName(a, id))
			}
		}
		return strings.Join(names, ", ")
	case rulebook.TypeTime:
		if t, err := time.Parse(time.RFC3339Nano, r.Text(field)); err == nil {
			return t.Local().Format(timeLayout)
		}
	}
	return app.FieldText(r, field)
}

func userName(a *app.App, id string) string {
	for _, u := range a.Users() {
		if u.ID == id {
			return u.Name
		}
	}
	return id
}

func uploadWords(p app.Item) string {
	switch {
	case p.Size > 0 && p.Uploaded >= p.Size:
		return fmt.Sprintf("%s, on the server", contract.SizeWords(p.Size))
	case p.Path == "":
		return fmt.Sprintf("%s, not uploaded yet by its device", contract.SizeWords(p.Size))
	case p.Size > 0:
		return fmt.Sprintf("%s, uploaded %d%% (%s)", contract.SizeWords(p.Size), p.Uploaded*100/p.Size, contract.SizeWords(p.Uploaded))
	}
	return "empty"
}

func syncSuffix(words string) string {
	if words == "" || words == "Synced" {
		return ""
	}
	return " [" + words + "]"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

const timeLayout = "2006-01-02 15:04"

// Edit results.
