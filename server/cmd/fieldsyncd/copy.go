package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"fieldsync/server/pgstore"
)

// copyCmd copies a SQLite server's data into an empty PostgreSQL database,
// so that the server can move to PostgreSQL without its devices noticing.
// The work is pgstore.CopyFromSQLite's; this reads the flags and reports.
func copyCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the SQLite database file of the server to copy (stop that server first)")
	to := fs.String("to", "", "the empty PostgreSQL database to copy into: a postgres:// or postgresql:// URL")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: fieldsyncd copy --from FILE.db --to postgres://USER@HOST:PORT/DB

Copies everything a SQLite server keeps (records, reviews, the change log,
stored results, users, sessions, devices) into an empty PostgreSQL database,
all or nothing. Devices keep their sign-ins and cursors. Photos stay in the
blob directory: serve the PostgreSQL database with the same --blob-dir.`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("copy: unexpected arguments %q; want only --from and --to", fs.Args())
	case *from == "":
		return errors.New("copy: --from is required: the SQLite database file to copy")
	case *to == "":
		return errors.New("copy: --to is required: a postgres:// URL naming the empty database to copy into")
	case !isPostgres(*to):
		return fmt.Errorf("copy: --to %q is not a PostgreSQL URL; want postgres://… or postgresql://…", *to)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stderr, "copying %s to %s\n", *from, describeDB(*to))
	counts, err := pgstore.CopyFromSQLite(ctx, *from, *to, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %s; new sequence numbers follow %d\n", counts, counts.LastSeq)
	return nil
}
