package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"fieldsync/app"
	"fieldsync/contract"
)

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
