package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"fieldsync/app"
	"fieldsync/contract"
)

// login USER: the password is one line on stdin.
func cmdLogin(c *cli, args []string) error {
	args, err := c.parse("login", c.flags("login"), args)
	if err != nil {
		return err
	}
	if err := want("login", args, 1, 1); err != nil {
		return err
	}
	user := args[0]
	if isTerminal(c.stdin) {
		fmt.Fprintf(c.stderr, "Password for %s: ", user)
	}
	password, err := readLine(c.stdin)
	if err != nil {
		return fmt.Errorf("reading the password from stdin: %w", err)
	}
	if password == "" {
		return errors.New("no password on stdin: echo PASSWORD | fieldsync login " + user)
	}
	a, err := c.openStore(false)
	if err != nil {
		return err
	}
	defer c.close(a)
	server := ""
	if c.serverSet {
		server = c.server
	}
	me, err := a.Login(c.ctx, server, user, password)
	if err != nil {
		return err
	}
	// The first round fetches the jobs, so that the next command has them.
	syncErr := a.SyncRound(c.ctx)
	jobs, err := a.Jobs()
	if err != nil {
		return err
	}
	doc := struct {
		User      contract.User `json:"user"`
		Server    string        `json:"server"`
		DeviceID  string        `json:"device_id"`
		Jobs      int           `json:"jobs"`
		SyncError string        `json:"sync_error,omitempty"`
		Protocol  int           `json:"server_protocol"`
		Note      string        `json:"note,omitempty"`
	}{me, a.ServerURL(), a.DeviceID(), len(jobs), errText(syncErr), a.ServerProtocol(), a.ProtocolNote()}
	return c.out(doc, func(w io.Writer) {
		fmt.Fprintf(w, "Signed in as %s (%s) at %s.\n", me.Name, me.Role, a.ServerURL())
		if doc.Note != "" {
			fmt.Fprintln(w, doc.Note)
		}
		if syncErr != nil {
			fmt.Fprintf(w, "The first sync did not get through (%v); run \"fieldsync sync\" to try again.\n", syncErr)
			return
		}
		fmt.Fprintf(w, "%s on this device.\n", plural(len(jobs), "job"))
	})
}

// logout [--force]
func cmdLogout(c *cli, args []string) error {
	fs := c.flags("logout")
	force := fs.Bool("force", false, "sign out even though changes have not reached the server (they are lost)")
	args, err := c.parse("logout", fs, args)
	if err != nil {
		return err
	}
	if err := want("logout", args, 0, 0); err != nil {
		return err
	}
	a, err := c.openStore(false)
	if err != nil {
		return err
	}
	defer c.close(a)
	me, signed := a.Me()
	if err := a.Logout(c.ctx, *force); err != nil {
		var ue *app.UnsyncedError
		if errors.As(err, &ue) {
			return fmt.Errorf("%w. Run \"fieldsync sync\" to send them first, or \"fieldsync logout --force\" to sign out and lose them", err)
		}
		return err
	}
	doc := struct {
		SignedOut bool   `json:"signed_out"`
		User      string `json:"user,omitempty"`
	}{true, me.Name}
	return c.out(doc, func(w io.Writer) {
		if !signed {
			fmt.Fprintln(w, "Not signed in; this device is cleared.")
			return
		}
		fmt.Fprintf(w, "Signed out %s; this device is cleared.\n", me.Name)
	})
}

// offline on|off
func cmdOffline(c *cli, args []string) error {
	args, err := c.parse("offline", c.flags("offline"), args)
	if err != nil {
		return err
	}
	if err := want("offline", args, 0, 1); err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		if len(args) == 1 {
			switch strings.ToLower(args[0]) {
			case "on", "true", "yes":
				if err := a.SetOffline(true); err != nil {
					return err
				}
			case "off", "false", "no":
				if err := a.SetOffline(false); err != nil {
					return err
				}
			default:
				return usageError{fmt.Sprintf("want on or off, not %q", args[0]), "offline"}
			}
		}
		off := a.Offline()
		doc := struct {
			Offline bool `json:"offline"`
		}{off}
		return c.out(doc, func(w io.Writer) {
			if off {
				fmt.Fprintln(w, "Offline: no signal is simulated. Edits stay on this device until \"fieldsync offline off\".")
			} else {
				fmt.Fprintln(w, "Online: run \"fieldsync sync\" to send what is waiting.")
			}
		})
	})
}

// readLine reads one line, without its line ending.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
