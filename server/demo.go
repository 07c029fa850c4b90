package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/engine"
)

// DemoPassword is the password of every demo user.
const DemoPassword = "fieldsync"

// DemoUsers are the people of the demo: one of each role, two technicians.
var DemoUsers = []NewUser{
	{Name: "alex", Role: "technician"},
	{Name: "sam", Role: "technician"},
	{Name: "dana", Role: "dispatcher"},
	{Name: "sue", Role: "supervisor"},
	{Name: "fran", Role: "finance"},
	{Name: "ada", Role: "admin"},
}

// SeedDemo fills an empty store with the demo: its users, customers, and
// jobs in several states. Everything goes through the rules engine as
// operations, as if made on devices, so the change log tells its story.
func SeedDemo(ctx context.Context, srv *Server, cost int) error {
	users := map[string]contract.User{}
	for _, nu := range DemoUsers {
		nu.Password, nu.Cost = DemoPassword, cost
		u, err := srv.AddUser(ctx, nu)
		if err != nil {
			return fmt.Errorf("seed demo: %w", err)
		}
		users[u.Name] = u
	}
	d := &demo{srv: srv, ctx: ctx, users: users, now: srv.now().UTC().Add(-3 * time.Hour)}
	harbor := d.customer("Harbor Bakery", "+44 20 7946 0011", "orders@harbor.example")
	clinic := d.customer("Northside Clinic", "+44 20 7946 0022", "facilities@northside.example")
	flats := d.customer("Elm Street Flats", "+44 20 7946 0033", "manager@elmflats.example")

	// Today's jobs are on the server's today, whatever the hour.
	now := srv.now()
	today := time.Date(now.Year(), now.Month(), now.Day(), 9, 0, 0, 0, now.Location())
	pump := d.job("Replace pump seal", "The basement pump leaks at the seal.", harbor, "12 Quay Street", "alex", today)
	d.move("alex", pump, "opened", "in_progress")
	d.note("alex", pump, "Seal is worn through; replacement in the van.")
	d.part("alex", pump, "SEAL-40", "Pump shaft seal 40 mm", 1)

	d.job("Inspect boiler", "Annual inspection before winter.", clinic, "3 Northside Road", "alex", today.Add(3*time.Hour))

	valve := d.job("Fix leaking valve", "Kitchen mixing valve drips.", harbor, "12 Quay Street, kitchen", "sam", today.Add(-24*time.Hour))
	d.move("sam", valve, "opened", "in_progress", "completed")

	service := d.job("Annual service", "Communal heating service.", flats, "1 Elm Street", "alex", today.Add(-48*time.Hour))
	d.move("alex", service, "opened", "in_progress", "completed")
	d.sign("alex", service, "Morgan Lee")
	d.move("alex", service, "signed_off")

	quote := d.job("Quote for new air conditioning", "Waiting room unit is failing.", clinic, "3 Northside Road", "sam", today.Add(24*time.Hour))
	d.move("sam", quote, "opened", "in_progress")
	d.move("dana", quote, "waiting_for_approval")

	d.invoice(service, flats)
	return d.err
}

type demo struct {
	srv   *Server
	ctx   context.Context
	users map[string]contract.User
	now   time.Time
	err   error
	// versions tracks each demo record's group versions, as a device would.
	versions map[string]map[string]int64
}

func (d *demo) actor(name string) engine.Actor {
	u := d.users[name]
	return engine.Actor{UserID: u.ID, Role: u.Role, DeviceID: "demo-" + name}
}

// push sends one operation and remembers the versions it produced.
func (d *demo) push(who, typ, id string, action contract.Action, bases map[string]int64, values map[string]json.RawMessage) {
	if d.err != nil {
		return
	}
	d.now = d.now.Add(time.Minute)
	op := contract.Operation{ID: d.srv.newID(), RecordType: typ, RecordID: id, Action: action, Bases: bases,
		Values: values, DeviceID: "demo-" + who, DeviceTime: d.now}
	res, err := d.srv.Push(d.ctx, d.actor(who), []contract.Operation{op})
	if err != nil {
		d.err = fmt.Errorf("seed demo: %w", err)
		return
	}
	if r := res.Results[0]; r.Outcome != contract.Applied {
		d.err = fmt.Errorf("seed demo: %s %s %s: %s %s", who, action, typ, r.Outcome, r.Message)
		return
	}
	if d.versions == nil {
		d.versions = map[string]map[string]int64{}
	}
	d.versions[id] = res.Results[0].Versions
}

func (d *demo) customer(name, phone, email string) string {
	id := d.srv.newID()
	d.push("dana", "customer", id, contract.ActionCreate, nil, map[string]json.RawMessage{
		"name": contract.Text(name), "phone": contract.Text(phone), "email": contract.Text(email)})
	return id
}

func (d *demo) job(title, desc, customer, site, tech string, start time.Time) string {
	id := d.srv.newID()
	d.push("dana", "job", id, contract.ActionCreate, nil, map[string]json.RawMessage{
		"title": contract.Text(title), "description": contract.Text(desc), "customer_id": contract.Text(customer),
		"site_address": contract.Text(site), "assignee": contract.Text(d.users[tech].ID),
		"scheduled_start": contract.Time(start), "scheduled_end": contract.Time(start.Add(2 * time.Hour))})
	return id
}

func (d *demo) move(who, job string, states ...string) {
	for _, st := range states {
		d.push(who, "job", job, contract.ActionTransition, map[string]int64{"status": d.versions[job]["status"]},
			map[string]json.RawMessage{"status": contract.Text(st)})
	}
}

func (d *demo) note(who, job, text string) {
	d.push(who, "note", d.srv.newID(), contract.ActionAppend, nil, map[string]json.RawMessage{
		"job_id": contract.Text(job), "text": contract.Text(text)})
}

func (d *demo) part(who, job, sku, desc string, qty int64) {
	d.push(who, "part", d.srv.newID(), contract.ActionAppend, nil, map[string]json.RawMessage{
		"job_id": contract.Text(job), "sku": contract.Text(sku), "description": contract.Text(desc), "quantity": contract.Int(qty)})
}

func (d *demo) sign(who, job, signer string) {
	d.push(who, "job", job, contract.ActionUpdate, map[string]int64{"signature": d.versions[job]["signature"]},
		map[string]json.RawMessage{"signer_name": contract.Text(signer), "signed_at": contract.Time(d.now)})
}

func (d *demo) invoice(job, customer string) {
	lines, _ := json.Marshal([]contract.InvoiceLine{{Description: "Annual heating service", Quantity: 1, UnitCents: 18000}})
	d.push("fran", "invoice", d.srv.newID(), contract.ActionCreate, nil, map[string]json.RawMessage{
		"job_id": contract.Text(job), "customer_id": contract.Text(customer), "lines": lines, "total": contract.Int(18000)})
}
