// Command fieldsyncd runs the FieldSync sync server.
//
//	fieldsyncd serve --addr :8080 --db DB --blobs BLOBS [--rules FILE] [--tls-cert F --tls-key F] [--trusted-proxy ADDR]
//	fieldsyncd user add NAME --role ROLE --db DB [--password-file F]   (else the password is read from stdin)
//	fieldsyncd user revoke NAME --db DB
//	fieldsyncd copy --from FILE.db --to postgres://…
//	fieldsyncd rules [--rules FILE]
//	fieldsyncd demo [--addr 127.0.0.1:8080] [--dir DIR] [--db DB] [--blobs BLOBS] [--seed-only]
//
// DB is a postgres:// or postgresql:// URL for a PostgreSQL database, or
// else the path of a SQLite file (fieldsync.db by default). BLOBS is an
// s3:// URL for S3-compatible object storage, or else a directory (blobs
// by default; --blob-dir DIR says the same). Instances that share one
// PostgreSQL database and one object store serve one team together.
//
// It owns the command line and the process: flags, reading the rules file
// and passwords, choosing and opening the store (openStore) and the blob
// store (openBlobs), TLS, signals, the periodic sweep of abandoned uploads
// and a graceful shutdown. Everything the server does is package server's;
// copying a SQLite server's data into PostgreSQL is package pgstore's. It
// imports the standard library, contract/rulebook, server,
// server/sqlitestore, server/pgstore, server/blobstore and
// server/blobstore/s3, and nothing of the device.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"fieldsync/contract/rulebook"
	"fieldsync/server"
)

const usage = `fieldsyncd runs the FieldSync sync server.

Commands:
  serve        serve the /v1 protocol
  user add     add a user (password from stdin or --password-file)
  user revoke  sign a user out on every device
  copy         copy a SQLite server's data into an empty PostgreSQL database
  rules        print the rules in force as tables
  demo         serve a seeded demo and print how to sign in

--db takes a postgres:// or postgresql:// URL for PostgreSQL; anything else
is the path of a SQLite file (default fieldsync.db). --blobs takes an s3://
URL for S3-compatible object storage; anything else is a directory (default
blobs).

Run "fieldsyncd COMMAND -h" for a command's flags.
`

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fieldsyncd:", oneLine(err))
		os.Exit(1)
	}
}

// oneLine puts an error on one line, leaving out lines that repeat what an
// earlier one says: a failed connection to PostgreSQL joins the errors of
// every attempt (with TLS, then without), which are often the same.
func oneLine(err error) string {
	var lines []string
	for l := range strings.Lines(err.Error()) {
		l = strings.TrimSpace(l)
		if l != "" && !slices.ContainsFunc(lines, func(kept string) bool { return strings.Contains(kept, l) }) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "user":
		if len(args) < 2 {
			return errors.New("user: want user add or user revoke")
		}
		switch args[1] {
		case "add":
			return userAdd(args[2:], stdin, stdout)
		case "revoke":
			return userRevoke(args[2:], stdout)
		}
		return fmt.Errorf("user: unknown command %q; want add or revoke", args[1])
	case "copy":
		return copyCmd(args[1:], stdout, stderr)
	case "rules":
		return printRules(args[1:], stdout)
	case "demo":
		return demo(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// parseWithName parses flags that may come before or after one NAME argument.
func parseWithName(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", fmt.Errorf("%s: NAME is required", fs.Name())
	}
	name := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return name, nil
}

func loadRules(path string) (*rulebook.Rules, string, error) {
	if path == "" {
		return rulebook.Default(), rulebook.DefaultText(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("rules: %w", err)
	}
	r, err := rulebook.Parse(filepath.Base(path), string(b))
	if err != nil {
		return nil, "", err
	}
	return r, string(b), nil
}

func logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func serve(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "address to listen on")
	db := fs.String("db", "fieldsync.db", dbHelp)
	blobsFlag := blobFlags(fs, "blobs", "the directory blobs")
	rulesPath := fs.String("rules", "", "rules file (default: the embedded rules)")
	cert := fs.String("tls-cert", "", "TLS certificate file")
	key := fs.String("tls-key", "", "TLS key file")
	var proxies proxyList
	fs.Var(&proxies, "trusted-proxy", trustedProxyHelp)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	if (*cert == "") != (*key == "") {
		return errors.New("serve: --tls-cert and --tls-key go together")
	}
	blobs, err := blobsFlag()
	if err != nil {
		return err
	}
	rules, text, err := loadRules(*rulesPath)
	if err != nil {
		return err
	}
	log := logger(stderr)
	ctx := context.Background()
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	bs, err := openBlobs(ctx, blobs)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Options{Store: st, Blobs: bs, Rules: rules, RulesText: text, Logger: log, TrustedProxies: proxies})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	log.Info("serving", "addr", ln.Addr().String(), "db", describeDB(*db), "blobs", describeBlobs(blobs), "tls", *cert != "",
		"trusted_proxies", proxies.String())
	// Sweeps end, and a running one is waited for, before the store closes.
	sctx, stopSweeps := context.WithCancel(ctx)
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		sweepUploads(sctx, srv, sweepEvery, log)
	}()
	defer func() {
		stopSweeps()
		<-swept
	}()
	return serveUntilSignal(server.NewHTTPServer(*addr, srv, log), ln, *cert, *key, log)
}

// sweepEvery is how often serve sweeps abandoned photo uploads. Every
// instance sharing a database sweeps; a sweep removes only what no
// upload can still use, so they need not take turns.
const sweepEvery = 10 * time.Minute

// sweepUploads runs srv.SweepUploads every interval until ctx ends. A
// sweep logs what it removed; one that fails is logged here and tried
// again at the next interval.
func sweepUploads(ctx context.Context, srv *server.Server, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := srv.SweepUploads(ctx); err != nil && ctx.Err() == nil {
			log.Warn("sweeping photo uploads failed; trying again later", "err", err, "next", every)
		}
	}
}

// serveUntilSignal serves until SIGINT or SIGTERM, then lets in-flight
// requests finish before returning.
func serveUntilSignal(hs *http.Server, ln net.Listener, cert, key string, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() {
		if cert != "" {
			errc <- hs.ServeTLS(ln, cert, key)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

func userAdd(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	role := fs.String("role", "", "the user's role")
	db := fs.String("db", "fieldsync.db", dbHelp)
	pwFile := fs.String("password-file", "", "read the password from this file (default: stdin)")
	rulesPath := fs.String("rules", "", "rules file, for the roles (default: the embedded rules)")
	name, err := parseWithName(fs, args)
	if err != nil {
		return err
	}
	rules, _, err := loadRules(*rulesPath)
	if err != nil {
		return err
	}
	var src io.Reader = stdin
	if *pwFile != "" {
		f, err := os.Open(*pwFile)
		if err != nil {
			return fmt.Errorf("user add: %w", err)
		}
		defer f.Close()
		src = f
	}
	line, err := bufio.NewReader(src).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("user add: read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	st, err := openStore(context.Background(), *db)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := server.AddUser(context.Background(), st, rules, server.NewUser{Name: name, Role: *role, Password: password})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s (%s), id %s\n", u.Name, u.Role, u.ID)
	return nil
}

func userRevoke(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("user revoke", flag.ContinueOnError)
	db := fs.String("db", "fieldsync.db", dbHelp)
	name, err := parseWithName(fs, args)
	if err != nil {
		return err
	}
	st, err := openStore(context.Background(), *db)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := server.RevokeUser(context.Background(), st, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed %s out of %d session(s)\n", name, n)
	return nil
}

func printRules(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("rules", flag.ContinueOnError)
	rulesPath := fs.String("rules", "", "rules file (default: the embedded rules)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rules, _, err := loadRules(*rulesPath)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, rulebook.Format(rules))
	return err
}

func demo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	dir := fs.String("dir", "", "directory for the demo's database and photos (default: a new temporary directory)")
	db := fs.String("db", "", dbHelp+" (default: server.db in --dir)")
	blobsFlag := blobFlags(fs, "", "blobs in --dir")
	seedOnly := fs.Bool("seed-only", false, "load the demo data into --db when it has none, print how to sign in, and exit without serving: "+
		"for instances started with fieldsyncd serve on the same database")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected arguments %q", fs.Args())
	}
	blobs, err := blobsFlag()
	if err != nil {
		return err
	}
	if *seedOnly {
		if *db == "" {
			return errors.New("demo: --seed-only loads the demo data into the database that --db names; give --db")
		}
		return seedDemo(*db, blobs, stdout, stderr)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "fieldsync-demo-")
		if err != nil {
			return err
		}
		*dir = d
	}
	where := *dir
	if *db == "" {
		*db = filepath.Join(*dir, "server.db")
	} else {
		where = describeDB(*db)
	}
	if blobs == "" {
		blobs = filepath.Join(*dir, "blobs")
	}
	if where != *dir || blobs != filepath.Join(*dir, "blobs") {
		where += ", photos in " + describeBlobs(blobs)
	}
	log := logger(stderr)
	st, srv, err := openDemo(*db, blobs, log)
	if err != nil {
		return err
	}
	defer st.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "FieldSync demo server at %s (data in %s)\n\n", url, where)
	printDemoUsers(stdout)
	fmt.Fprintf(stdout, "\nFor example:\n  curl -s %s/v1/login -d '{\"username\":\"alex\",\"password\":\"%s\",\"device_id\":\"my-laptop\"}'\n\nPress Ctrl-C to stop.\n", url, server.DemoPassword)
	return serveUntilSignal(server.NewHTTPServer(*addr, srv, log), ln, "", "", log)
}

// openDemo opens the demo's store and blob store and a server over them,
// and loads the demo data when the store has none.
func openDemo(db, blobs string, log *slog.Logger) (server.Store, *server.Server, error) {
	ctx := context.Background()
	st, err := openStore(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	bs, err := openBlobs(ctx, blobs)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	srv, err := server.New(server.Options{Store: st, Blobs: bs, Logger: log})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	var fresh bool
	if err := st.Read(ctx, func(q server.Query) error {
		u, err := q.UserByName(server.DemoUsers[0].Name)
		fresh = u == nil
		return err
	}); err != nil {
		st.Close()
		return nil, nil, err
	}
	if fresh {
		if err := server.SeedDemo(ctx, srv, 0); err != nil {
			st.Close()
			return nil, nil, err
		}
	}
	return st, srv, nil
}

// seedDemo loads the demo data into db, when it has none, and says how to
// sign in: the instances that serve it are started with fieldsyncd serve.
func seedDemo(db, blobs string, stdout, stderr io.Writer) error {
	if blobs == "" {
		// The demo data has no photos: a blob store given is checked, and
		// none given leaves nothing behind.
		tmp, err := os.MkdirTemp("", "fieldsync-seed-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		blobs = tmp
	}
	st, _, err := openDemo(db, blobs, logger(stderr))
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "FieldSync demo data in %s\n\n", describeDB(db))
	printDemoUsers(stdout)
	return nil
}

// printDemoUsers prints the demo's users and their password.
func printDemoUsers(w io.Writer) {
	fmt.Fprintf(w, "Sign in with any of these users; the password is %q:\n", server.DemoPassword)
	for _, u := range server.DemoUsers {
		fmt.Fprintf(w, "  %-6s %s\n", u.Name, u.Role)
	}
}
