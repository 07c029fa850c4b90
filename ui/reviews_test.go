package ui

import (
	"context"
	"strings"
	"testing"

	fsapp "fieldsync/app"
	"fieldsync/contract/rulebook"
	"fieldsync/server"
)

// newWorldWhereCustomersNeedReview is newWorld with rules under which two
// people changing a customer's details make a review item.
func newWorldWhereCustomersNeedReview(t *testing.T) *world {
	t.Helper()
	text := strings.Replace(rulebook.DefaultText(),
		"group customer.profile policy=last_write_wins", "group customer.profile policy=review", 1)
	rules, err := rulebook.Parse("test.rules", text)
	if err != nil {
		t.Fatal(err)
	}
	return newWorldWith(t, server.Options{Rules: rules, RulesText: text})
}

func customerID(t *testing.T, core *fsapp.App, name string) string {
	t.Helper()
	cs, err := core.Customers()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Text("name") == name {
			return c.ID
		}
	}
	t.Fatalf("no customer %q on the device", name)
	return ""
}

func TestACustomerReviewIsTitledWithTheCustomersName(t *testing.T) {
	w := newWorldWhereCustomersNeedReview(t)
	dana, ada := w.signedIn("dana"), w.signedIn("ada")
	harbor := customerID(t, dana, "Harbor Bakery")
	ctx := context.Background()
	if err := ada.SetOffline(true); err != nil {
		t.Fatal(err)
	}
	if _, err := ada.SetFields(harbor, map[string]any{"nickname": "The bakery"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dana.SetFields(harbor, map[string]any{"nickname": "Harbor"}); err != nil {
		t.Fatal(err)
	}
	if err := dana.SyncRound(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ada.SetOffline(false); err != nil {
		t.Fatal(err)
	}
	ada.SyncRound(ctx) // held for review
	if err := dana.SyncRound(ctx); err != nil {
		t.Fatal(err)
	}

	d := w.show(dana)
	q := d.reviewsTab()
	if len(q.items) != 1 {
		t.Fatalf("the office's review queue has %d items, want 1", len(q.items))
	}
	if !d.shows("Harbor Bakery profile — ada changed profile") {
		t.Errorf("the queue does not name the customer; the screen shows:\n%s", strings.Join(d.texts(), "\n"))
	}
	q.list.Select(0)
	d.settle()
	if !d.shows("Harbor Bakery · profile") {
		t.Errorf("the review is not titled with the customer's name; the screen shows:\n%s", strings.Join(d.texts(), "\n"))
	}
	for _, text := range d.texts() {
		if strings.HasPrefix(text, "—") || strings.HasPrefix(text, "- ") {
			t.Errorf("a dangling dash: %q", text)
		}
	}

	// A review that carries no title is named from the device's records.
	bare := q.items[0]
	bare.Title, bare.Number = "", ""
	if got := q.recordName(bare); got != "Harbor Bakery" {
		t.Errorf("a customer review without a title is named %q, want the customer's name", got)
	}
	bare.RecordID = "0190b5c0-0000-7000-8000-000000000000"
	if got := q.recordName(bare); got != "Customer" {
		t.Errorf("a review of a customer the device lacks is named %q, want \"Customer\"", got)
	}
}
