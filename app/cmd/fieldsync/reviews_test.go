package main

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fieldsync/app"
	"fieldsync/contract/rulebook"
	"fieldsync/server"
	"fieldsync/server/sqlitestore"

	"golang.org/x/crypto/bcrypt"
)

// newServerWithRules starts a seeded demo server whose rules are the
// default ones with replace applied (nil: the default rules), and returns
// its URL.
func newServerWithRules(t *testing.T, replace *strings.Replacer) string {
	t.Helper()
	dir := t.TempDir()
	opts := server.Options{BlobDir: filepath.Join(dir, "blobs")}
	if replace != nil {
		opts.RulesText = replace.Replace(rulebook.DefaultText())
		rules, err := rulebook.Parse("test.rules", opts.RulesText)
		if err != nil {
			t.Fatal(err)
		}
		opts.Rules = rules
	}
	st, err := sqlitestore.Open(filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opts.Store = st
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.SeedDemo(context.Background(), srv, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestACustomerReviewNamesTheCustomer(t *testing.T) {
	t.Parallel()
	// A team whose customer details need review when two people change them.
	url := newServerWithRules(t, strings.NewReplacer(
		"group customer.profile policy=last_write_wins", "group customer.profile policy=review"))
	dana, ada := newDevice(t, url), newDevice(t, url)
	dana.login("dana")
	ada.login("ada")
	ada.must(0, "offline", "on")
	ada.must(0, "customer", "set", "Harbor Bakery", "nickname=The bakery")
	dana.must(0, "customer", "set", "Harbor Bakery", "nickname=Harbor")
	dana.must(0, "sync")
	ada.must(0, "offline", "off")
	ada.must(1, "sync") // held for review
	dana.must(0, "sync")

	r := dana.must(0, "reviews")
	contains(t, "reviews", r.stdout, "Record:    customer Harbor Bakery, group profile (conflict)")
	for _, bad := range []string{" - ", " , ", "  ,"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("reviews: %q dangles in:\n%s", bad, r.stdout)
		}
	}
	ids := strings.Fields(dana.must(0, "reviews", "--ids").stdout)
	if len(ids) != 1 {
		t.Fatalf("reviews --ids: %q, want the one review's id", ids)
	}
	id := ids[0]

	// An id prefix names a review when it is long enough.
	r = dana.must(1, "review", "resolve", id[:7], "--keep", "device")
	contains(t, "resolve with 7 characters", r.stderr, "too short to name a review: give at least 8 characters of its id")
	r = dana.must(0, "review", "resolve", id[:8], "--keep", "device")
	contains(t, "resolve", r.stdout, "Decision on review "+id+" (Harbor Bakery, group profile): take the device's version.")

	// A review that carries no title is named from the record on the device.
	a, err := app.Open(dana.store, app.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
	}()
	names, err := recordNames(a)
	if err != nil {
		t.Fatal(err)
	}
	reviews, err := a.Reviews()
	if err != nil || len(reviews) != 1 {
		t.Fatalf("reviews on dana's device: %v %v", reviews, err)
	}
	bare := reviews[0]
	bare.Title, bare.Number = "", ""
	if got := reviewLabel(bare, names); got != "Harbor Bakery" {
		t.Errorf("a customer review without a title is named %q, want the customer's name", got)
	}
	bare.RecordID = "0190b5c0-0000-7000-8000-000000000000"
	if got := reviewLabel(bare, names); got != bare.RecordID {
		t.Errorf("a review of a record the device lacks is named %q, want its id", got)
	}
}
