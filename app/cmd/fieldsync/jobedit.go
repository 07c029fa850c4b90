package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"fieldsync/app"
	"fieldsync/contract"
)

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
