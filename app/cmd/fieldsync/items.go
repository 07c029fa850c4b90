package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"fieldsync/app"
	"fieldsync/contract"
)

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
