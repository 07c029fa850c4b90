package app_test

import (
	"slices"
	"strings"
	"testing"

	"fieldsync/app"
	"fieldsync/contract/rulebook"
	"fieldsync/server"
)

// newEnvWith is newEnv with rules of the test's, as a team may load its own.
func newEnvWith(t testing.TB, rulesText string) *env {
	t.Helper()
	rules, err := rulebook.Parse("team.rules", rulesText)
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOpts(t, server.Options{Rules: rules, RulesText: rulesText})
}

// A screen offers what the rules allow the user, as the app works it out:
// no screen names a role.
func TestPowersFollowTheRules(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		user string
		want app.Powers
	}{
		{"alex", app.Powers{CreateJobs: true}},
		{"dana", app.Powers{AllJobs: true, CreateJobs: true, AssignJobs: true, ResolveReviews: true}},
		{"sue", app.Powers{AllJobs: true, ResolveReviews: true}},
		{"fran", app.Powers{AllJobs: true, ResolveReviews: true, Invoices: true}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			if got := e.device(tt.user).Powers(); got != tt.want {
				t.Errorf("%s may %+v, want %+v", tt.user, got, tt.want)
			}
		})
	}
	t.Run("nobody signed in may do nothing", func(t *testing.T) {
		if got := e.open().Powers(); got != (app.Powers{}) {
			t.Errorf("%+v", got)
		}
	})
	t.Run("jobs go to those who see only their own", func(t *testing.T) {
		var names []string
		for _, u := range e.device("dana").Assignees() {
			names = append(names, u.Name)
		}
		if !slices.Equal(names, []string{"alex", "sam"}) {
			t.Errorf("assignees %q, want the technicians", names)
		}
	})
	t.Run("the board filters by the job's states", func(t *testing.T) {
		states := e.device("dana").JobStates()
		if len(states) == 0 || states[0] != "assigned" || !slices.Contains(states, "signed_off") {
			t.Errorf("states %q", states)
		}
	})
}

// What a job screen offers comes with the job: whether it is still open,
// which moves need something first, whether it can be voided or reopened.
func TestAJobSaysWhatItsScreenOffers(t *testing.T) {
	e := newEnv(t)
	alex, dana, sue := e.device("alex"), e.device("dana"), e.device("sue")

	open := map[string]bool{}
	jobs, err := alex.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		open[j.Title] = j.Open
	}
	if !open["Replace pump seal"] || !open["Inspect boiler"] || open["Annual service"] {
		t.Errorf("open jobs %v: want the signed-off service closed to work and the others open", open)
	}

	pump := job(t, alex, "Replace pump seal")
	if _, err := alex.Move(pump.ID, "completed"); err != nil {
		t.Fatal(err)
	}
	d, err := alex.Job(pump.ID)
	if err != nil {
		t.Fatal(err)
	}
	need, ok := d.Needs["signed_off"]
	if !slices.Contains(d.Moves, "signed_off") || !ok || need.Group != "signature" || need.Message != "Moving to signed off needs the signature first." {
		t.Errorf("moves %q, needs %+v: want signing off to need the signature", d.Moves, d.Needs)
	}
	if d.StatusGroup.Name != "status" || !d.StatusGroup.Editable {
		t.Errorf("status group %+v", d.StatusGroup)
	}
	if d.ItemGroup("part").Name != "parts" || d.GroupOf("labor_minutes").Name != "work" {
		t.Errorf("parts go to %q, labour is in %q", d.ItemGroup("part").Name, d.GroupOf("labor_minutes").Name)
	}
	if d.CanVoid || d.CanReopen {
		t.Errorf("a technician may void %v, reopen %v", d.CanVoid, d.CanReopen)
	}
	if _, err := alex.Sign(pump.ID, "Morgan Lee", nil); err != nil {
		t.Fatal(err)
	}
	if d, _ := alex.Job(pump.ID); len(d.Needs) != 0 {
		t.Errorf("signed, the job still needs %+v", d.Needs)
	}

	service := job(t, dana, "Annual service")
	for _, a := range []*app.App{dana, sue} {
		d, err := a.Job(service.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !d.CanReopen || d.CanVoid {
			t.Errorf("the office on a signed-off job: reopen %v, void %v; want reopen only", d.CanReopen, d.CanVoid)
		}
	}
	if d, _ := dana.Job(job(t, dana, "Inspect boiler").ID); !d.CanVoid || d.CanReopen {
		t.Errorf("a dispatcher on an open job: void %v, reopen %v; want void only", d.CanVoid, d.CanReopen)
	}
}

// Rules of the team's own change what the screens offer, with no change
// to a screen: here only a supervisor reopens.
func TestWhatAScreenOffersFollowsTheTeamsRules(t *testing.T) {
	text := strings.Replace(rulebook.DefaultText(),
		"move job from=signed_off,closed to=reopened by=supervisor,dispatcher action=reopen clears=signature",
		"move job from=signed_off,closed to=reopened by=supervisor action=reopen clears=signature", 1)
	if text == rulebook.DefaultText() {
		t.Fatal("the default rules no longer have the reopen line this test changes")
	}
	e := newEnvWith(t, text)
	dana, sue := e.device("dana"), e.device("sue")
	service := job(t, dana, "Annual service")
	if d, _ := dana.Job(service.ID); d.CanReopen {
		t.Error("the dispatcher is offered a reopen the team's rules keep for supervisors")
	}
	if d, _ := sue.Job(service.ID); !d.CanReopen {
		t.Error("the supervisor is not offered a reopen")
	}
}

// The invoices list says each invoice's customer and state.
func TestInvoicesNameTheirCustomerAndState(t *testing.T) {
	e := newEnv(t)
	invs, err := e.device("fran").Invoices()
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != 1 || invs[0].Customer != "Elm Street Flats" || invs[0].Status != "draft" {
		t.Errorf("invoices %+v", invs)
	}
}
