package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"fieldsync/app"
	"fieldsync/contract"
)

// reviews [--ids]
func cmdReviews(c *cli, args []string) error {
	fs := c.flags("reviews")
	ids := fs.Bool("ids", false, "print only the review items' ids, one a line, for scripts")
	args, err := c.parse("reviews", fs, args)
	if err != nil {
		return err
	}
	if err := want("reviews", args, 0, 0); err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		reviews, err := a.Reviews()
		if err != nil {
			return err
		}
		names, err := recordNames(a)
		if err != nil {
			return err
		}
		doc := struct {
			Reviews []contract.Review `json:"reviews"`
		}{reviews}
		if doc.Reviews == nil {
			doc.Reviews = []contract.Review{}
		}
		return c.out(doc, func(w io.Writer) {
			if *ids {
				for _, rv := range reviews {
					fmt.Fprintln(w, rv.ID)
				}
				return
			}
			if len(reviews) == 0 {
				fmt.Fprintln(w, "No open review items on this device.")
				return
			}
			for i, rv := range reviews {
				if i > 0 {
					fmt.Fprintln(w)
				}
				printReview(w, a, rv, names)
			}
		})
	})
}

// recordNames names the jobs and customers on the device, by id: a job's
// number and title, a customer's name.
func recordNames(a *app.App) (map[string]string, error) {
	jobs, err := a.Jobs()
	if err != nil {
		return nil, err
	}
	customers, err := a.Customers()
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, j := range jobs {
		names[j.ID] = strings.TrimSpace(ref(j) + " " + j.Title)
	}
	for _, cu := range customers {
		if n := cu.Text("name"); n != "" {
			names[cu.ID] = n
		}
	}
	return names, nil
}

// reviewLabel names the record a review is about: the number and title the
// review carries, else the record's name on this device (a job's number and
// title, a customer's name), else its id.
func reviewLabel(rv contract.Review, names map[string]string) string {
	if rv.Title == "" && names[rv.RecordID] != "" {
		return names[rv.RecordID]
	}
	if label := strings.TrimSpace(rv.Number + " " + rv.Title); label != "" {
		return label
	}
	return rv.RecordID
}

func printReview(w io.Writer, a *app.App, rv contract.Review, names map[string]string) {
	fmt.Fprintf(w, "Review %s\n", rv.ID)
	tw := table(w)
	fmt.Fprintf(tw, "  Record:\t%s %s, group %s (%s)\n", rv.RecordType, reviewLabel(rv, names), rv.Group, rv.Kind)
	fmt.Fprintf(tw, "  Why:\t%s\n", rv.Reason)
	if rv.MatchID != "" {
		match := names[rv.MatchID]
		if match == "" {
			match = rv.MatchID
		}
		fmt.Fprintf(tw, "  Matches:\t%s\n", match)
	}
	s := rv.Server
	who := fmt.Sprintf("version %d by %s on %s, made %s, arrived %s", s.Version, dash(s.UserName), dash(s.DeviceID),
		when(s.DeviceTime), when(s.ServerTime))
	if rv.Kind == contract.KindDuplicate {
		fmt.Fprintf(tw, "  New job:\t%s\n", who)
	} else {
		fmt.Fprintf(tw, "  Server's:\t%s\n\t%s\n", valuesText(a, rv.RecordType, s.Values), who)
	}
	for i, e := range rv.Device {
		fmt.Fprintf(tw, "  Device %d:\t%s\n", i+1, valuesText(a, rv.RecordType, e.Values))
		fmt.Fprintf(tw, "\t%s by %s on %s, made %s from version %d, arrived %s\n", e.Action, dash(e.UserName), e.DeviceID,
			when(e.DeviceTime), e.Base, when(e.ServerTime))
		fmt.Fprintf(tw, "\tentry %s\n", e.OpID)
	}
	tw.Flush()
	if rv.Kind == contract.KindDuplicate {
		fmt.Fprintf(w, "  Resolve: fieldsync review resolve %s --keep-both | --merge\n", rv.ID)
	} else {
		fmt.Fprintf(w, "  Resolve: fieldsync review resolve %s --keep server | --keep device [--entry OPID] | --value field=value...\n", rv.ID)
	}
}

// valuesText shows a group's values for people.
func valuesText(a *app.App, typ string, values map[string]json.RawMessage) string {
	if len(values) == 0 {
		return "(nothing)"
	}
	r := &contract.Record{Type: typ, Fields: values}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(values)) {
		v := fieldText(a, r, k)
		if v == "" {
			v = rawText(values[k])
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ", ")
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(timeLayout + ":05")
}

// multi is a flag given more than once.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// review resolve ID --keep server|device [--entry OPID] | --value field=value... | --keep-both | --merge
func cmdReviewResolve(c *cli, args []string) error {
	const name = "review resolve"
	fs := c.flags(name)
	keep := fs.String("keep", "", "`server` keeps the server's version; device takes a device's")
	entry := fs.String("entry", "", "with --keep device: which device entry (`OPID`; default the latest)")
	var values multi
	fs.Var(&values, "value", "type the value: `field=value`; more pairs may follow")
	keepBoth := fs.Bool("keep-both", false, "suspected duplicates: both jobs are real")
	merge := fs.Bool("merge", false, "suspected duplicates: void the new job and move its items to the match")
	args, err := c.parse(name, fs, args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return usageError{"missing the review's ID", name}
	}
	id := args[0]
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// More field=value pairs may follow --value.
	if set["value"] {
		values = append(values, args[1:]...)
	} else if err := want(name, args, 1, 1); err != nil {
		return err
	}
	var choice string
	var n int
	if set["keep"] {
		n++
		switch *keep {
		case "server":
			choice = contract.KeepServer
		case "device":
			choice = contract.TakeDevice
		default:
			return usageError{fmt.Sprintf("--keep wants server or device, not %q", *keep), name}
		}
	}
	for _, o := range []struct {
		given  bool
		choice string
	}{{set["value"], contract.TypeValue}, {*keepBoth, contract.KeepBoth}, {*merge, contract.Merge}} {
		if o.given {
			n++
			choice = o.choice
		}
	}
	if n != 1 {
		return usageError{"say one of --keep server, --keep device, --value, --keep-both or --merge", name}
	}
	if *entry != "" && choice != contract.TakeDevice {
		return usageError{"--entry goes with --keep device", name}
	}
	var typed map[string]any
	if choice == contract.TypeValue {
		if typed, err = fieldArgs(name, values); err != nil {
			return err
		}
	}
	return c.withApp(func(a *app.App) error {
		rv, err := reviewByID(a, id)
		if err != nil {
			return err
		}
		if err := a.Resolve(rv.ID, choice, *entry, typed); err != nil {
			return err
		}
		names, err := recordNames(a)
		if err != nil {
			return err
		}
		st := a.State()
		words := st.Words(rv.ID, time.Now())
		doc := struct {
			Review string `json:"review"`
			Choice string `json:"choice"`
			Sync   string `json:"sync"`
		}{rv.ID, choice, words}
		return c.out(doc, func(w io.Writer) {
			fmt.Fprintf(w, "Decision on review %s (%s, group %s): %s.\n", rv.ID, reviewLabel(rv, names), rv.Group, choiceWords(choice, typed))
			fmt.Fprintf(w, "%s. Run \"fieldsync sync\" to send it to the server.\n", strings.TrimSuffix(words, "."))
		})
	})
}

// minIDPrefix is the fewest characters of a review's id that name it.
const minIDPrefix = 8

// reviewByID finds an open review item by its id, or by the start of it:
// at least minIDPrefix characters that no other item's id starts with.
func reviewByID(a *app.App, id string) (contract.Review, error) {
	reviews, err := a.Reviews()
	if err != nil {
		return contract.Review{}, err
	}
	var found []contract.Review
	for _, r := range reviews {
		if r.ID == id {
			return r, nil
		}
		if strings.HasPrefix(r.ID, id) {
			found = append(found, r)
		}
	}
	switch {
	case len(found) == 0:
		return contract.Review{}, fmt.Errorf("no open review item %q on this device; \"fieldsync reviews\" lists them", id)
	case len(id) < minIDPrefix:
		return contract.Review{}, usageError{fmt.Sprintf("%q is too short to name a review: give at least %d characters of its id", id, minIDPrefix), "review resolve"}
	case len(found) > 1:
		return contract.Review{}, usageError{fmt.Sprintf("%q is the start of %d review ids; give more of the id", id, len(found)), "review resolve"}
	}
	return found[0], nil
}

func choiceWords(choice string, values map[string]any) string {
	switch choice {
	case contract.KeepServer:
		return "keep the server's version"
	case contract.TakeDevice:
		return "take the device's version"
	case contract.KeepBoth:
		return "keep both jobs"
	case contract.Merge:
		return "merge into the matching job"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(values)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, values[k]))
	}
	return "set " + strings.Join(parts, ", ")
}

// drafts
func cmdDrafts(c *cli, args []string) error {
	args, err := c.parse("drafts", c.flags("drafts"), args)
	if err != nil {
		return err
	}
	if err := want("drafts", args, 0, 0); err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		ds, err := a.Drafts("")
		if err != nil {
			return err
		}
		jobs, err := a.Jobs()
		if err != nil {
			return err
		}
		refs := map[string]string{}
		for _, j := range jobs {
			refs[j.ID] = ref(j)
		}
		doc := struct {
			Drafts []draftJSON `json:"drafts"`
		}{drafts(ds)}
		return c.out(doc, func(w io.Writer) {
			if len(ds) == 0 {
				fmt.Fprintln(w, "No refused edits on this device.")
				return
			}
			for _, d := range ds {
				job := refs[d.JobID]
				if job == "" {
					job = d.JobID
				}
				fmt.Fprintf(w, "%s  on %s\n  Text:   %s\n  Reason: %s\n", d.OpID, job, d.Text, d.Reason)
			}
			fmt.Fprintln(w, "Keep one as a note with \"fieldsync drafts note OPID\", or drop it with \"fieldsync drafts discard OPID\".")
		})
	})
}

// drafts note OPID
func cmdDraftsNote(c *cli, args []string) error {
	args, err := c.parse("drafts note", c.flags("drafts note"), args)
	if err != nil {
		return err
	}
	if err := want("drafts note", args, 1, 1); err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		opID, err := draftID(a, args[0])
		if err != nil {
			return err
		}
		note, err := a.KeepAsNote(opID)
		if err != nil {
			return err
		}
		return c.saved(a, note, "The text is now a note on its job; the refused edit is cleared.")
	})
}

// drafts discard OPID
func cmdDraftsDiscard(c *cli, args []string) error {
	args, err := c.parse("drafts discard", c.flags("drafts discard"), args)
	if err != nil {
		return err
	}
	if err := want("drafts discard", args, 1, 1); err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		opID, err := draftID(a, args[0])
		if err != nil {
			return err
		}
		if err := a.Discard(opID); err != nil {
			return err
		}
		doc := struct {
			Discarded string `json:"discarded"`
		}{opID}
		return c.out(doc, func(w io.Writer) { fmt.Fprintf(w, "Refused edit %s dropped.\n", opID) })
	})
}

// draftID finds a refused edit by its id or the start of it. The facade
// matches prefixes when it looks the draft up but then drops the operation
// by what it was given, so a prefix would leave the refused edit in place.
func draftID(a *app.App, ref string) (string, error) {
	ds, err := a.Drafts("")
	if err != nil {
		return "", err
	}
	var found []string
	for _, d := range ds {
		if d.OpID == ref {
			return d.OpID, nil
		}
		if strings.HasPrefix(d.OpID, ref) {
			found = append(found, d.OpID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("no refused edit %q on this device; \"fieldsync drafts\" lists them", ref)
	}
	return "", fmt.Errorf("%q is the start of %d refused edits; give more of the id", ref, len(found))
}
