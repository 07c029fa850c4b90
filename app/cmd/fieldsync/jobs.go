package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"os"
	"path/filepath"
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

// parseTime reads a time as a person types it, in local time.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04", "2006-01-02T15:04", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, strings.TrimSpace(s), time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read the time %q: use 2006-01-02 15:04, 2006-01-02 or RFC 3339", s)
}

// job new
func cmdJobNew(c *cli, args []string) error {
	fs := c.flags("job new")
	var f app.JobForm
	var customer, start string
	fs.StringVar(&customer, "customer", "", "the customer's `name` or id (required)")
	fs.StringVar(&f.Site, "site", "", "the site `address` (required)")
	fs.StringVar(&f.Title, "title", "", "the job's `title` (required)")
	fs.StringVar(&start, "start", "", "scheduled start: `TIME` as 2006-01-02 15:04, a date, or RFC 3339")
	fs.StringVar(&f.Description, "description", "", "what is to be done")
	fs.StringVar(&f.Assignee, "assignee", "", "the technician, by `name` or id (a technician's own jobs are theirs)")
	fs.StringVar(&f.FollowsJob, "follows", "", "the `JOB` this one follows up")
	force := fs.Bool("force", false, "create the job even though it looks like one that exists")
	args, err := c.parse("job new", fs, args)
	if err != nil {
		return err
	}
	if err := want("job new", args, 0, 0); err != nil {
		return err
	}
	var missing []string
	for name, v := range map[string]string{"--customer": customer, "--site": f.Site, "--title": f.Title} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return usageError{"missing " + strings.Join(missing, ", "), "job new"}
	}
	if start != "" {
		if f.Start, err = parseTime(start); err != nil {
			return err
		}
	}
	return c.withApp(func(a *app.App) error {
		cust, err := findCustomer(a, customer)
		if err != nil {
			return err
		}
		f.CustomerID = cust.ID
		rec, err := a.NewJob(c.ctx, f, *force)
		var de *app.DuplicateError
		if errors.As(err, &de) {
			return c.duplicates(de)
		}
		if err != nil {
			return err
		}
		return c.saved(a, rec, fmt.Sprintf("New job %q for %s created with id %s; it gets its number when it syncs.",
			f.Title, cust.Text("name"), rec.ID))
	})
}

// duplicates reports the jobs a new one may repeat, with exit status 2.
func (c *cli) duplicates(de *app.DuplicateError) error {
	type suspect struct {
		ID     string `json:"id,omitempty"`
		Number string `json:"number,omitempty"`
		Title  string `json:"title"`
		Status string `json:"status,omitempty"`
		Owner  string `json:"owner,omitempty"`
		Why    string `json:"why"`
	}
	doc := struct {
		Duplicate bool      `json:"suspected_duplicate"`
		Message   string    `json:"message"`
		Suspects  []suspect `json:"suspects"`
	}{Duplicate: true, Message: "This looks like a job that exists; --force creates it anyway."}
	for _, s := range de.Suspects {
		doc.Suspects = append(doc.Suspects, suspect(s))
	}
	if c.json {
		if err := c.writeJSON(doc); err != nil {
			return err
		}
	}
	w := c.stderr
	fmt.Fprintln(w, "This looks like a job that exists:")
	tw := table(w)
	for _, s := range de.Suspects {
		name := s.Number
		switch {
		case name == "" && s.ID == "":
			// A job this user cannot see: only that it exists is known.
			fmt.Fprintf(tw, "  %s\n", capital(s.Why))
			continue
		case name == "":
			name = "New job " + s.ID
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", name, s.Title, dash(s.Status), dash(s.Owner), s.Why)
	}
	tw.Flush()
	fmt.Fprintln(w, "Open it instead (fieldsync job show JOB), or run the same command with --force to create the job anyway.")
	return exitError{exitDuplicate}
}

// findCustomer finds a customer by id, name, or a unique part of a name.
func findCustomer(a *app.App, ref string) (*contract.Record, error) {
	all, err := a.Customers()
	if err != nil {
		return nil, err
	}
	var partial []*contract.Record
	for _, cu := range all {
		name := cu.Text("name")
		if cu.ID == ref || strings.EqualFold(name, ref) {
			return cu, nil
		}
		if strings.Contains(strings.ToLower(name), strings.ToLower(ref)) {
			partial = append(partial, cu)
		}
	}
	switch len(partial) {
	case 1:
		return partial[0], nil
	case 0:
		return nil, fmt.Errorf("no customer %q on this device; \"fieldsync customers\" lists them", ref)
	}
	var names []string
	for _, cu := range partial {
		names = append(names, cu.Text("name"))
	}
	return nil, fmt.Errorf("%q matches %s; say which", ref, strings.Join(names, ", "))
}

// fieldArgs reads field=value arguments.
func fieldArgs(cmd string, args []string) (map[string]any, error) {
	fields := map[string]any{}
	for _, arg := range args {
		k, v, ok := strings.Cut(arg, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usageError{fmt.Sprintf("want field=value, not %q", arg), cmd}
		}
		fields[strings.TrimSpace(k)] = v
	}
	return fields, nil
}

// job set JOB field=value...
func cmdJobSet(c *cli, args []string) error {
	args, err := c.parse("job set", c.flags("job set"), args)
	if err != nil {
		return err
	}
	if err := want("job set", args, 2, -1); err != nil {
		return err
	}
	fields, err := fieldArgs("job set", args[1:])
	if err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		rec, err := a.SetFields(args[0], fields)
		if err != nil {
			return err
		}
		if rec == nil {
			return c.unchanged(a, args[0])
		}
		return c.saved(a, rec, fmt.Sprintf("%s: %s changed.", label(rec), strings.Join(slices.Sorted(maps.Keys(fields)), ", ")))
	})
}

// unchanged says an edit had nothing to change.
func (c *cli) unchanged(a *app.App, ref string) error {
	words, err := a.StatusWords(ref)
	if err != nil {
		return err
	}
	doc := struct {
		Changed bool   `json:"changed"`
		Sync    string `json:"sync"`
	}{false, words}
	return c.out(doc, func(w io.Writer) {
		fmt.Fprintf(w, "Nothing to change: %s already has these values. %s.\n", ref, words)
	})
}

// job move JOB STATUS
func cmdJobMove(c *cli, args []string) error {
	args, err := c.parse("job move", c.flags("job move"), args)
	if err != nil {
		return err
	}
	if err := want("job move", args, 2, 2); err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		rec, err := a.Move(args[0], args[1])
		if err != nil {
			return err
		}
		return c.saved(a, rec, fmt.Sprintf("%s is now %s.", label(rec), rec.Text("status")))
	})
}

// job sign JOB --name N [--image FILE]
func cmdJobSign(c *cli, args []string) error {
	fs := c.flags("job sign")
	name := fs.String("name", "", "the signer's `name` (required)")
	image := fs.String("image", "", "the drawn signature, an image `FILE`")
	args, err := c.parse("job sign", fs, args)
	if err != nil {
		return err
	}
	if err := want("job sign", args, 1, 1); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return usageError{"missing --name", "job sign"}
	}
	var img io.Reader
	if *image != "" {
		f, err := os.Open(*image)
		if err != nil {
			return err
		}
		defer f.Close()
		img = f
	}
	return c.withApp(func(a *app.App) error {
		rec, err := a.Sign(args[0], *name, img)
		if err != nil {
			return err
		}
		if rec == nil {
			return c.unchanged(a, args[0])
		}
		return c.saved(a, rec, fmt.Sprintf("%s signed by %s.", label(rec), *name))
	})
}

// job reassign JOB USER
func cmdJobReassign(c *cli, args []string) error {
	args, err := c.parse("job reassign", c.flags("job reassign"), args)
	if err != nil {
		return err
	}
	if err := want("job reassign", args, 2, 2); err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		rec, err := a.Reassign(args[0], args[1])
		if err != nil {
			return err
		}
		if rec == nil {
			return c.unchanged(a, args[0])
		}
		return c.saved(a, rec, fmt.Sprintf("%s now belongs to %s.", label(rec), fieldText(a, rec, "assignee")))
	})
}

// job void JOB
func cmdJobVoid(c *cli, args []string) error {
	return simpleEdit(c, "job void", args, func(a *app.App, job string) (*contract.Record, string, error) {
		rec, err := a.Void(job)
		return rec, "voided; it stays in history", err
	})
}

// job reopen JOB
func cmdJobReopen(c *cli, args []string) error {
	return simpleEdit(c, "job reopen", args, func(a *app.App, job string) (*contract.Record, string, error) {
		rec, err := a.Reopen(job)
		return rec, "reopened; the earlier signature, notes and times stay in history", err
	})
}

// simpleEdit runs an edit that takes one JOB and nothing else.
func simpleEdit(c *cli, name string, args []string, edit func(a *app.App, job string) (*contract.Record, string, error)) error {
	args, err := c.parse(name, c.flags(name), args)
	if err != nil {
		return err
	}
	if err := want(name, args, 1, 1); err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		rec, what, err := edit(a, args[0])
		if err != nil {
			return err
		}
		return c.saved(a, rec, fmt.Sprintf("%s %s.", label(rec), what))
	})
}

// job history JOB
func cmdJobHistory(c *cli, args []string) error {
	args, err := c.parse("job history", c.flags("job history"), args)
	if err != nil {
		return err
	}
	if err := want("job history", args, 1, 1); err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		changes, stale, err := a.History(c.ctx, args[0])
		if err != nil {
			return err
		}
		doc := struct {
			Changes []contract.Change `json:"changes"`
			Stale   bool              `json:"stale"`
		}{changes, stale}
		if doc.Changes == nil {
			doc.Changes = []contract.Change{}
		}
		return c.out(doc, func(w io.Writer) {
			if stale {
				fmt.Fprintln(w, "The server did not answer; this is the history as last fetched.")
			}
			tw := table(w)
			fmt.Fprintln(tw, "SERVER TIME\tWHO\tDEVICE\tMADE AT\tGROUP\tFIELD\tOLD\tNEW")
			for _, ch := range changes {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ch.ServerTime.Local().Format(timeLayout+":05"), dash(ch.UserName),
					ch.DeviceID, ch.DeviceTime.Local().Format(timeLayout), ch.Group, dash(ch.Field), rawText(ch.Old), rawText(ch.New))
			}
			tw.Flush()
		})
	})
}

// rawText shows a JSON value for people.
func rawText(raw json.RawMessage) string {
	if len(raw) == 0 || contract.IsNull(raw) {
		return "-"
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return `""`
		}
		return s
	}
	return string(raw)
}

// note add JOB TEXT...
func cmdNoteAdd(c *cli, args []string) error {
	args, err := c.parse("note add", c.flags("note add"), args)
	if err != nil {
		return err
	}
	if err := want("note add", args, 2, -1); err != nil {
		return err
	}
	text := strings.Join(args[1:], " ")
	return c.withApp(func(a *app.App) error {
		note, err := a.AddNote(args[0], "", text)
		if err != nil {
			return err
		}
		return c.saved(a, note, fmt.Sprintf("Note added to %s.", args[0]))
	})
}

// photo add JOB FILE
func cmdPhotoAdd(c *cli, args []string) error {
	args, err := c.parse("photo add", c.flags("photo add"), args)
	if err != nil {
		return err
	}
	if err := want("photo add", args, 2, 2); err != nil {
		return err
	}
	f, err := os.Open(args[1])
	if err != nil {
		return err
	}
	defer f.Close()
	ctype := mime.TypeByExtension(strings.ToLower(filepath.Ext(args[1])))
	if ctype == "" {
		head := make([]byte, 512)
		n, _ := io.ReadFull(f, head)
		ctype = http.DetectContentType(head[:n])
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	return c.withApp(func(a *app.App) error {
		photo, err := a.AddPhoto(args[0], "", args[1], ctype, f)
		if err != nil {
			return err
		}
		return c.saved(a, photo, fmt.Sprintf("Photo %s (%s) added to %s; its content uploads when it syncs.",
			filepath.Base(args[1]), contract.SizeWords(photo.Int("size")), args[0]))
	})
}

// part add JOB --sku X --qty N [--description D]
func cmdPartAdd(c *cli, args []string) error {
	fs := c.flags("part add")
	sku := fs.String("sku", "", "the part's `SKU` (required)")
	qty := fs.Int64("qty", 0, "the quantity `N` (required)")
	desc := fs.String("description", "", "what the part is")
	args, err := c.parse("part add", fs, args)
	if err != nil {
		return err
	}
	if err := want("part add", args, 1, 1); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if strings.TrimSpace(*sku) == "" || !set["qty"] {
		return usageError{"part add needs --sku and --qty", "part add"}
	}
	return c.withApp(func(a *app.App) error {
		part, err := a.AddPart(args[0], "", *sku, *desc, *qty)
		if err != nil {
			return err
		}
		return c.saved(a, part, fmt.Sprintf("Part %s × %d added to %s.", *sku, *qty, args[0]))
	})
}

// Edit results.

// recordJSON is a record as an edit's result.
type recordJSON struct {
	Type     string                     `json:"type"`
	ID       string                     `json:"id"`
	Number   string                     `json:"number,omitempty"`
	ParentID string                     `json:"parent_id,omitempty"`
	Owner    string                     `json:"owner,omitempty"`
	Fields   map[string]json.RawMessage `json:"fields"`
}

// saved reports an edit saved on the device, with the record's sync words.
func (c *cli) saved(a *app.App, rec *contract.Record, what string) error {
	st := a.State()
	words := st.Words(rec.ID, time.Now())
	doc := struct {
		Record    recordJSON `json:"record"`
		Sync      string     `json:"sync"`
		SyncState string     `json:"sync_state"`
	}{recordJSON{rec.Type, rec.ID, rec.Number, rec.ParentID, rec.OwnerName, rec.Fields}, words, st.Record(rec.ID).Status.String()}
	return c.out(doc, func(w io.Writer) {
		fmt.Fprintln(w, what)
		switch st.Record(rec.ID).Status {
		case app.Saved, app.Waiting, app.Failed:
			fmt.Fprintf(w, "%s. Run \"fieldsync sync\" to send it to the server.\n", strings.TrimSuffix(words, "."))
		default:
			fmt.Fprintln(w, words)
		}
	})
}

// label names a record for people.
func label(r *contract.Record) string {
	switch {
	case r.Type == "job" && r.Number != "":
		return r.Number
	case r.Type == "job":
		return "New job " + r.ID
	case r.Type == "customer":
		return "Customer " + r.Text("name")
	}
	return capital(r.Type) + " " + r.ID
}
