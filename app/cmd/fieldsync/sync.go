package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"fieldsync/app"
)

// recordStatus is one record's sync state in plain words.
type recordStatus struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Label     string         `json:"label"`
	Sync      string         `json:"sync"`
	SyncState string         `json:"sync_state"`
	Items     []recordStatus `json:"items,omitempty"`
}

// deviceStatus is the device's sync state.
type deviceStatus struct {
	Line      string         `json:"line"`
	Summary   string         `json:"summary,omitempty"`
	User      string         `json:"user,omitempty"`
	Server    string         `json:"server,omitempty"`
	Offline   bool           `json:"offline"`
	SignedOut bool           `json:"signed_out,omitempty"`
	Queued    int            `json:"queued"`
	Held      int            `json:"held"`
	Refused   int            `json:"refused"`
	Photos    int            `json:"photos"`
	Records   []recordStatus `json:"records"`
}

// sync [--watch]
func cmdSync(c *cli, args []string) error {
	fs := c.flags("sync")
	watch := fs.Bool("watch", false, "keep syncing in the background and print each change of state, until Ctrl-C")
	every := fs.Duration("pull-every", 0, "with --watch: how often to fetch changes when nothing fails (default 1m)")
	args, err := c.parse("sync", fs, args)
	if err != nil {
		return err
	}
	if err := want("sync", args, 0, 0); err != nil {
		return err
	}
	if *watch {
		return c.watch(*every)
	}
	return c.withApp(func(a *app.App) error {
		if _, signed := a.Me(); !signed {
			return app.ErrNotSignedIn
		}
		syncErr := a.SyncRound(c.ctx)
		st, now := a.State(), time.Now()
		ds, err := deviceState(a, st, now)
		if err != nil {
			return err
		}
		ok := syncErr == nil && st.Queued == 0 && st.Held == 0 && st.Refused == 0 && st.Photos == 0
		doc := struct {
			OK    bool   `json:"ok"`
			Error string `json:"error,omitempty"`
			deviceStatus
		}{ok, errText(syncErr), ds}
		if err := c.out(doc, func(w io.Writer) {
			switch {
			case st.Summary != "":
				fmt.Fprintln(w, st.Summary)
			case syncErr == nil:
				fmt.Fprintln(w, "Nothing new to send.")
			}
			fmt.Fprintln(w, st.Line(now))
			printRecords(w, ds.Records)
		}); err != nil {
			return err
		}
		if syncErr != nil {
			fmt.Fprintf(c.stderr, "fieldsync: sync did not get through: %v. Run \"fieldsync sync\" again, or \"fieldsync sync --watch\" to keep trying.\n", syncErr)
		}
		if !ok {
			return exitError{exitFailed}
		}
		return nil
	})
}

// watch syncs with the background loops until ctx ends or a signal comes,
// printing each change of the device line.
func (c *cli) watch(every time.Duration) error {
	ctx, stop := signal.NotifyContext(c.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	c.pullEvery = every
	a, err := c.open(true)
	if err != nil {
		return err
	}
	defer c.close(a)
	if _, signed := a.Me(); !signed {
		return app.ErrNotSignedIn
	}
	// The queue calls back from its goroutines and must not wait: keep the
	// latest state and print from here.
	var mu sync.Mutex
	var latest app.SyncState
	changed := make(chan struct{}, 1)
	cancel := a.Subscribe(func(st app.SyncState) {
		mu.Lock()
		latest = st
		mu.Unlock()
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer cancel()
	if !c.json {
		fmt.Fprintf(c.stdout, "Watching %s as %s; Ctrl-C stops.\n", a.ServerURL(), me(a))
	}
	// "fieldsync offline on|off" in another shell changes the stored
	// setting; follow it, as a phone follows its signal.
	follow := time.NewTicker(time.Second)
	defer follow.Stop()
	var lastLine, lastSummary string
	for {
		select {
		case <-ctx.Done():
			if !c.json {
				fmt.Fprintln(c.stdout, "Stopped; anything not sent stays on this device.")
			}
			return nil
		case <-follow.C:
			if off, err := a.StoredOffline(); err == nil && off != a.Offline() {
				if err := a.SetOffline(off); err != nil {
					return err
				}
			}
			continue
		case <-changed:
		}
		mu.Lock()
		st := latest
		mu.Unlock()
		now := time.Now()
		line := st.Line(now)
		if line == lastLine && st.Summary == lastSummary {
			continue
		}
		ev := struct {
			At      time.Time `json:"at"`
			Line    string    `json:"line"`
			Summary string    `json:"summary,omitempty"`
		}{now, line, ""}
		if st.Summary != lastSummary {
			ev.Summary = st.Summary
		}
		if c.json {
			if err := c.writeJSONLine(ev); err != nil {
				return err
			}
		} else {
			if ev.Summary != "" {
				fmt.Fprintf(c.stdout, "%s  %s\n", now.Format("15:04:05"), ev.Summary)
			}
			if line != lastLine {
				fmt.Fprintf(c.stdout, "%s  %s\n", now.Format("15:04:05"), line)
			}
		}
		lastLine, lastSummary = line, st.Summary
	}
}

// status [JOB]
func cmdStatus(c *cli, args []string) error {
	args, err := c.parse("status", c.flags("status"), args)
	if err != nil {
		return err
	}
	if err := want("status", args, 0, 1); err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		st, now := a.State(), time.Now()
		if len(args) == 1 {
			d, err := a.Job(args[0])
			if err != nil {
				return err
			}
			rs := jobStatus(d, st, now, true)
			return c.out(rs, func(w io.Writer) { printRecords(w, []recordStatus{rs}) })
		}
		ds, err := deviceState(a, st, now)
		if err != nil {
			return err
		}
		return c.out(ds, func(w io.Writer) {
			fmt.Fprintln(w, ds.Line)
			tw := table(w)
			if ds.User != "" {
				fmt.Fprintf(tw, "Signed in:\t%s at %s\n", ds.User, ds.Server)
			} else {
				fmt.Fprintln(tw, "Signed in:\tno")
			}
			if ds.Offline {
				fmt.Fprintln(tw, "Signal:\tnone (simulated; \"fieldsync offline off\" ends it)")
			}
			fmt.Fprintf(tw, "Waiting to send:\t%s, %s\n", plural(ds.Queued, "change"), plural(ds.Photos, "photo"))
			fmt.Fprintf(tw, "Held for review:\t%d\n", ds.Held)
			fmt.Fprintf(tw, "Not sent:\t%d\n", ds.Refused)
			if ds.Summary != "" {
				fmt.Fprintf(tw, "Last sync:\t%s\n", ds.Summary)
			}
			tw.Flush()
			printRecords(w, ds.Records)
		})
	})
}

// deviceState gathers the device's state and every record that is not synced.
func deviceState(a *app.App, st app.SyncState, now time.Time) (deviceStatus, error) {
	ds := deviceStatus{Line: st.Line(now), Summary: st.Summary, Server: a.ServerURL(), Offline: st.Offline,
		SignedOut: st.SignedOut, Queued: st.Queued, Held: st.Held, Refused: st.Refused, Photos: st.Photos,
		Records: []recordStatus{}}
	if _, signed := a.Me(); signed {
		ds.User = me(a)
	}
	seen := map[string]bool{}
	jobs, err := a.Jobs()
	if err != nil {
		return ds, err
	}
	for _, j := range jobs {
		if st.Record(j.ID).Status == app.Synced {
			continue
		}
		d, err := a.Job(j.ID)
		if err != nil {
			return ds, err
		}
		rs := jobStatus(d, st, now, false)
		seen[rs.ID] = true
		for _, it := range rs.Items {
			seen[it.ID] = true
		}
		ds.Records = append(ds.Records, rs)
	}
	customers, err := a.Customers()
	if err != nil {
		return ds, err
	}
	for _, cu := range customers {
		if s := st.Record(cu.ID).Status; s != app.Synced {
			seen[cu.ID] = true
			ds.Records = append(ds.Records, recordStatus{ID: cu.ID, Type: "customer", Label: "Customer " + cu.Text("name"),
				Sync: st.Words(cu.ID, now), SyncState: s.String()})
		}
	}
	reviews, err := a.Reviews()
	if err != nil {
		return ds, err
	}
	for _, rv := range reviews {
		if s := st.Record(rv.ID).Status; s != app.Synced {
			seen[rv.ID] = true
			ds.Records = append(ds.Records, recordStatus{ID: rv.ID, Type: "review", Label: fmt.Sprintf("Review %s (%s %s)", rv.ID, dash(rv.Number), rv.Group),
				Sync: st.Words(rv.ID, now), SyncState: s.String()})
		}
	}
	for id, rs := range st.Records {
		if !seen[id] && rs.Status != app.Synced {
			// A decision on a review that is no longer open, or a record
			// the device no longer shows.
			ds.Records = append(ds.Records, recordStatus{ID: id, Type: "record", Label: "Record " + id, Sync: st.Words(id, now), SyncState: rs.Status.String()})
		}
	}
	return ds, nil
}

// jobStatus is a job's sync state and its items'; all of them, or only
// those not synced.
func jobStatus(d *app.JobDetail, st app.SyncState, now time.Time, all bool) recordStatus {
	rs := recordStatus{ID: d.ID, Type: "job", Label: ref(d.Job) + " " + d.Title, Sync: d.Sync, SyncState: d.SyncState.String()}
	for _, group := range [][]app.Item{d.Notes, d.Photos, d.Parts} {
		for _, it := range group {
			s := st.Record(it.Record.ID).Status
			if !all && s == app.Synced {
				continue
			}
			rs.Items = append(rs.Items, recordStatus{ID: it.Record.ID, Type: it.Record.Type, Label: itemLabel(it),
				Sync: st.Words(it.Record.ID, now), SyncState: s.String()})
		}
	}
	return rs
}

func itemLabel(it app.Item) string {
	r := it.Record
	switch r.Type {
	case "note":
		text := []rune(r.Text("text"))
		if len(text) > 50 {
			text = append(text[:49], '…')
		}
		return fmt.Sprintf("Note by %s: %q", dash(it.AuthorName), string(text))
	case "photo":
		return fmt.Sprintf("Photo %s by %s", dash(r.Text("filename")), dash(it.AuthorName))
	case "part":
		return fmt.Sprintf("Part %s × %d", r.Text("sku"), r.Int("quantity"))
	}
	return capital(r.Type) + " " + r.ID
}

func printRecords(w io.Writer, records []recordStatus) {
	for _, r := range records {
		fmt.Fprintf(w, "%s: %s\n", r.Label, r.Sync)
		for _, it := range r.Items {
			fmt.Fprintf(w, "  %s: %s\n", it.Label, it.Sync)
		}
	}
}

func me(a *app.App) string {
	u, _ := a.Me()
	return fmt.Sprintf("%s (%s)", u.Name, u.Role)
}
