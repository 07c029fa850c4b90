// Command fieldsync is the headless FieldSync client, for testers and
// support: everything a technician's phone or an office desktop does with
// data, from a shell, over the same facade as the apps (fieldsync/app).
//
//	fieldsync [--store DIR] [--server URL] [--json] COMMAND [ARGS]
//
// Run "fieldsync help" for the commands.
//
// It owns the command line: its flags, its words and its --json
// documents. The work is the facade's: it imports app for it, contract
// for the error codes and kinds --json reports, contract/rulebook for the
// types of the fields it prints, internal/apiclient to check a server's
// address and read a failed request, and localstore to name a store file
// it cannot use.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"fieldsync/app"
	"fieldsync/contract"
	"fieldsync/internal/apiclient"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK        = 0
	exitFailed    = 1 // an error, a refusal, or not everything synced
	exitDuplicate = 2 // job new found suspected duplicates; --force goes ahead
)

// command is one subcommand.
type command struct {
	name    string // "job show"
	args    string // "JOB"
	summary string // one line for the usage text
	run     func(c *cli, args []string) error
}

// short is the synopsis for the command list: the arguments, with the
// optional flags left to the command's own help.
func (cmd command) short() string {
	if i := strings.Index(cmd.args, " [--"); i > 0 && strings.HasPrefix(cmd.args, "-") {
		return cmd.args[:i] + " [flags]"
	}
	return cmd.args
}

var commands []command

func init() {
	commands = []command{
		{"login", "USER", "sign in; the password is read from stdin (one line)", cmdLogin},
		{"logout", "[--force]", "sign out; refused while changes are unsynced unless --force", cmdLogout},
		{"jobs", "", "list the jobs on this device with their sync state", cmdJobs},
		{"job show", "JOB", "a job in full: owner, moves, groups, notes, photos, parts, reviews", cmdJobShow},
		{"job new", "--customer C --site S --title T [--start TIME] [--description D] [--assignee USER] [--follows JOB] [--force]", "start a job; warns about suspected duplicates (exit 2) unless --force", cmdJobNew},
		{"job set", "JOB field=value...", "change fields of a job", cmdJobSet},
		{"job move", "JOB STATUS", "move a job to another status", cmdJobMove},
		{"job sign", "JOB --name N [--image FILE]", "record the customer's signature", cmdJobSign},
		{"job reassign", "JOB USER", "give a job to another technician (office)", cmdJobReassign},
		{"job void", "JOB", "void a job (office)", cmdJobVoid},
		{"job reopen", "JOB", "reopen a signed-off or closed job (office)", cmdJobReopen},
		{"job history", "JOB", "a job's change log: who changed what, when, from which device", cmdJobHistory},
		{"customers", "", "list the customers on this device", cmdCustomers},
		{"customer new", "--name N [field=value...]", "add a customer (office)", cmdCustomerNew},
		{"customer set", "CUSTOMER field=value...", "change a customer, by name or id (office)", cmdCustomerSet},
		{"note add", "JOB TEXT...", "add a note to a job", cmdNoteAdd},
		{"photo add", "JOB FILE", "add a photo to a job; it uploads on sync", cmdPhotoAdd},
		{"part add", "JOB --sku X --qty N [--description D]", "add a part line to a job", cmdPartAdd},
		{"sync", "[--watch]", "one sync round (exit 0 only if everything got through); --watch keeps syncing", cmdSync},
		{"status", "[JOB]", "sync state in plain words: the device, or one job and its items", cmdStatus},
		{"reviews", "[--ids]", "open review items, with the server's and each device's version; --ids prints only their ids", cmdReviews},
		{"review resolve", "ID --keep server|device [--entry OPID] | --value field=value... | --keep-both | --merge", "settle a review item (office)", cmdReviewResolve},
		{"drafts", "", "edits the server refused, with their text and reason", cmdDrafts},
		{"drafts note", "OPID", "send a refused edit's text as a note on its job", cmdDraftsNote},
		{"drafts discard", "OPID", "drop a refused edit", cmdDraftsDiscard},
		{"offline", "on|off", "simulate no signal (kept in the store)", cmdOffline},
		{"help", "[COMMAND]", "this text, or one command's flags", nil},
	}
}

// cli is one run of the command.
type cli struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	// Global flags.
	store     string
	server    string
	serverSet bool
	json      bool

	pullEvery time.Duration // sync --watch: how often to pull

	wroteJSON bool // the command wrote its JSON document already
}

// run runs the command and returns its exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdin, stdout, stderr, os.Getenv)
}

func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	return c.report(c.dispatch(args))
}

// dispatch finds the command named by args and runs it.
func (c *cli) dispatch(args []string) error {
	fs := c.flags("fieldsync")
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.usage(c.stdout)
			return nil
		}
		return usageError{err.Error(), ""}
	}
	args = fs.Args()
	if len(args) == 0 {
		c.usage(c.stderr)
		return usageError{"no command given", ""}
	}
	if args[0] == "help" {
		if len(args) > 1 {
			if cmd, _ := lookup(args[1:]); cmd != nil {
				return cmd.run(c, []string{"-h"})
			}
			return usageError{fmt.Sprintf("no command %q", strings.Join(args[1:], " ")), ""}
		}
		c.usage(c.stdout)
		return nil
	}
	cmd, rest := lookup(args)
	if cmd == nil {
		return usageError{fmt.Sprintf("unknown command %q", strings.Join(args, " ")), ""}
	}
	return cmd.run(c, rest)
}

// lookup finds the longest command name args start with.
func lookup(args []string) (*command, []string) {
	var best *command
	var n int
	for i := range commands {
		words := strings.Fields(commands[i].name)
		if len(words) > len(args) || len(words) <= n {
			continue
		}
		match := true
		for j, w := range words {
			if args[j] != w {
				match = false
			}
		}
		if match && commands[i].run != nil {
			best, n = &commands[i], len(words)
		}
	}
	if best == nil {
		return nil, nil
	}
	return best, args[n:]
}

// flags returns a flag set with the global flags, so that they work
// anywhere on the line.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.store, "store", c.store, "the device's storage `DIR` (default $FIELDSYNC_STORE, else ~/.fieldsync)")
	fs.Func("server", "the server's `URL` (default: the one saved at login, else $FIELDSYNC_SERVER)", func(s string) error {
		c.server, c.serverSet = s, true
		return nil
	})
	fs.BoolVar(&c.json, "json", c.json, "machine-readable output: one JSON document per command")
	return fs
}

// parse parses a command's flags and returns its other arguments. Flags
// may come before, between or after them; "--" ends the flags.
func (c *cli) parse(name string, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				cmd, _ := lookup(strings.Fields(name))
				c.commandUsage(c.stdout, cmd, fs)
				return nil, errHelpShown
			}
			return nil, usageError{err.Error(), name}
		}
		rest := fs.Args()
		used := len(args) - len(rest)
		if used > 0 && args[used-1] == "--" && !flagValue(fs, args[:used-1]) {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// flagValue reports whether the word after before is the value of a flag.
func flagValue(fs *flag.FlagSet, before []string) bool {
	if len(before) == 0 {
		return false
	}
	last := before[len(before)-1]
	if !strings.HasPrefix(last, "-") || strings.Contains(last, "=") {
		return false
	}
	f := fs.Lookup(strings.TrimLeft(last, "-"))
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// want checks the number of arguments.
func want(name string, args []string, min, max int) error {
	switch {
	case len(args) < min:
		return usageError{"missing arguments", name}
	case max >= 0 && len(args) > max:
		return usageError{fmt.Sprintf("unexpected arguments: %s", strings.Join(args[max:], " ")), name}
	}
	return nil
}

// storeDir is where the device's data lives.
func (c *cli) storeDir() (string, error) {
	if c.store != "" {
		return c.store, nil
	}
	if d := c.getenv("FIELDSYNC_STORE"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no storage directory: use --store DIR or set FIELDSYNC_STORE (%v)", err)
	}
	return filepath.Join(home, ".fieldsync"), nil
}

// openStore opens the app on the device's store. The caller closes it
// with c.close.
func (c *cli) openStore(background bool) (*app.App, error) {
	dir, err := c.storeDir()
	if err != nil {
		return nil, err
	}
	url := c.server
	if !c.serverSet {
		url = c.getenv("FIELDSYNC_SERVER")
	}
	return app.Open(dir, app.Config{ServerURL: url, Background: background, PullEvery: c.pullEvery})
}

// open opens the app for a command that uses the signed-in server.
func (c *cli) open(background bool) (*app.App, error) {
	a, err := c.openStore(background)
	if err != nil {
		return nil, err
	}
	// The device keeps the server it signed in to; another one needs a new
	// sign-in there.
	if _, signed := a.Me(); signed && c.serverSet && !sameURL(c.server, a.ServerURL()) {
		c.close(a)
		return nil, fmt.Errorf("this device is signed in to %s; to use %s, sign in there: fieldsync --server %s login USER",
			a.ServerURL(), c.server, c.server)
	}
	return a, nil
}

func sameURL(x, y string) bool {
	nx, errx := apiclient.CheckURL(x)
	ny, erry := apiclient.CheckURL(y)
	if errx != nil || erry != nil {
		return strings.TrimRight(x, "/") == strings.TrimRight(y, "/")
	}
	return nx == ny
}

func (c *cli) close(a *app.App) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		fmt.Fprintf(c.stderr, "fieldsync: closing the store: %v\n", err)
	}
}

// withApp opens the app, runs fn, and closes it.
func (c *cli) withApp(fn func(a *app.App) error) error {
	a, err := c.open(false)
	if err != nil {
		return err
	}
	defer c.close(a)
	return fn(a)
}

// Output.

// out writes v as the command's JSON document, or text with the
// function given.
func (c *cli) out(v any, text func(w io.Writer)) error {
	if c.json {
		return c.writeJSON(v)
	}
	text(c.stdout)
	return nil
}

func (c *cli) writeJSON(v any) error {
	c.wroteJSON = true
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeJSONLine writes one compact JSON document on a line, for streams.
func (c *cli) writeJSONLine(v any) error {
	c.wroteJSON = true
	return json.NewEncoder(c.stdout).Encode(v)
}

// table returns a tabwriter for aligned columns; flush it.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// Errors.

// usageError is a command line the command cannot make sense of.
type usageError struct{ msg, cmd string }

func (e usageError) Error() string { return e.msg }

// exitError ends the command with a status; its message was shown already.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

var errHelpShown = exitError{exitOK}

// jsonError is the JSON document of a failed command.
type jsonError struct {
	Error struct {
		Message string        `json:"message"`
		Code    contract.Code `json:"code"`
		Kind    contract.Kind `json:"kind"`
	} `json:"error"`
}

// report prints err, if any, and returns the exit status.
func (c *cli) report(err error) int {
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	msg := err.Error()
	var (
		ce *contract.Error
		se *apiclient.Error
	)
	switch {
	case errors.As(err, &ce) && !errors.As(err, &se):
		msg = ce.Message // the rules' own words, as is
		fmt.Fprintln(c.stderr, msg)
	case errors.Is(err, app.ErrNotSignedIn):
		msg = "sign in first: echo PASSWORD | fieldsync login USER"
		fmt.Fprintln(c.stderr, "fieldsync: "+msg)
	default:
		fmt.Fprintln(c.stderr, "fieldsync: "+msg)
	}
	var ue usageError
	if errors.As(err, &ue) {
		if ue.cmd != "" {
			fmt.Fprintf(c.stderr, "Run \"fieldsync help %s\" for its usage.\n", ue.cmd)
		} else {
			fmt.Fprintln(c.stderr, "Run \"fieldsync help\" for the commands.")
		}
	}
	if c.json && !c.wroteJSON {
		var doc jsonError
		doc.Error.Message = msg
		doc.Error.Code, doc.Error.Kind = classify(err)
		c.writeJSON(doc)
	}
	return exitFailed
}

// Usage.

const globalHelp = `Global flags (anywhere on the line):
  --store DIR   the device's storage directory (default $FIELDSYNC_STORE, else ~/.fieldsync)
  --server URL  the server (default: the one saved at login, else $FIELDSYNC_SERVER)
  --json        machine-readable output: one JSON document per command
`

func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, `fieldsync is the headless FieldSync client, for testers and support.

Usage: fieldsync [--store DIR] [--server URL] [--json] COMMAND [ARGS]

Commands:
`)
	const col = 30
	for _, cmd := range commands {
		synopsis := strings.TrimSpace(cmd.name + " " + cmd.short())
		if len(synopsis) >= col-1 {
			fmt.Fprintf(w, "  %s\n  %*s%s\n", synopsis, col, "", cmd.summary)
		} else {
			fmt.Fprintf(w, "  %-*s%s\n", col, synopsis, cmd.summary)
		}
	}
	fmt.Fprint(w, "\n"+globalHelp+`
JOB is a job's number (J-1001) or its id. A review's ID may be shortened to
its first 8 or more characters while no other open review's id starts the
same way. Edits are saved on this device first; "fieldsync sync" sends them
to the server.

Exit status: 0 done; 1 an error, a refusal, or (sync) not everything got
through; 2 suspected duplicates (job new without --force).

Run "fieldsync help COMMAND" for a command's arguments and flags.
`)
}

func (c *cli) commandUsage(w io.Writer, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: fieldsync %s %s\n\n%s.\n", cmd.name, cmd.args, capital(cmd.summary))
	var own []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "store" || f.Name == "server" || f.Name == "json" {
			return
		}
		name, use := flag.UnquoteUsage(f)
		own = append(own, strings.TrimSpace(fmt.Sprintf("  --%s %s", f.Name, name))+"\t"+use)
	})
	if len(own) > 0 {
		fmt.Fprintln(w, "\nFlags:")
		tw := table(w)
		for _, l := range own {
			fmt.Fprintln(tw, "  "+l)
		}
		tw.Flush()
	}
	fmt.Fprint(w, "\n"+globalHelp)
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
