package sim

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"fieldsync/app"
	"fieldsync/contract"
)

// work runs the operations: between each, the clock moves on (running the
// rounds that fall due), and with faults on, devices go offline, restart,
// or are killed mid-flight.
func (s *sim) work() error {
	for i := 0; i < s.cfg.Ops; i++ {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		step := 10*time.Second + time.Duration(s.rng.IntN(170))*time.Second
		if err := s.advance(s.clock.Now().Add(step)); err != nil {
			return err
		}
		if s.cfg.Faults {
			if err := s.trouble(); err != nil {
				return err
			}
		}
		d := pick(s.rng, s.devices)
		before := len(s.ledger)
		if err := s.act(d); err != nil {
			return err
		}
		s.rep.Ops++
		// A save kicks the queue: it tries at once unless it is backing off.
		// Now and then the app is killed while that push is in flight.
		st := d.app.State()
		if len(s.ledger) > before && (st.Data.Failures == 0 || !st.Data.NextTry.After(s.clock.Now())) {
			if s.cfg.Faults && !d.offline && s.chance(0.04) {
				killed, err := s.crash(d)
				if err != nil {
					return err
				}
				if killed {
					s.logf("%s killed with a request in flight", d.name)
					s.kills++
				}
			} else {
				s.round(d)
			}
		}
		if (i+1)%100 == 0 {
			s.logf("%d operations, %d saved", i+1, len(s.ledger))
		}
	}
	return nil
}

// trouble takes links down, restarts apps and, with several instances,
// crashes one, at random.
func (s *sim) trouble() error {
	if s.chance(0.1) {
		var up []*device
		for _, d := range s.devices {
			if !d.offline {
				up = append(up, d)
			}
		}
		if len(up) > 0 {
			d := pick(s.rng, up)
			dur := 10*time.Minute + time.Duration(s.rng.IntN(230))*time.Minute
			s.logf("%s goes offline for %s", d.name, dur)
			if err := s.offline(d, s.clock.Now().Add(dur)); err != nil {
				return err
			}
		}
	}
	if s.cluster != nil && s.chance(crashBetween) {
		if in := s.cluster.crashOne(s.rng, s.clock.Now()); in != nil {
			s.logf("instance %d crashes", in.n)
		}
	}
	if s.chance(0.02) {
		d := pick(s.rng, s.devices)
		s.logf("%s restarts", d.name)
		s.restarts++
		if err := s.restart(d); err != nil {
			return err
		}
	}
	return nil
}

// choice is one thing a user may do now.
type choice struct {
	weight int
	what   string
	fn     func() error
}

func (s *sim) choose(cs []choice) *choice {
	total := 0
	for _, c := range cs {
		total += c.weight
	}
	if total == 0 {
		return nil
	}
	n := s.rng.IntN(total)
	for i := range cs {
		if n < cs[i].weight {
			return &cs[i]
		}
		n -= cs[i].weight
	}
	return nil
}

// act has the user of a device do one thing their screens offer.
func (s *sim) act(d *device) error {
	var cs []choice
	var err error
	switch d.user.Role {
	case "technician":
		cs, err = s.techChoices(d)
	default:
		cs, err = s.officeChoices(d)
	}
	if err != nil {
		return err
	}
	c := s.choose(cs)
	if c == nil {
		return nil // nothing to do on this device now
	}
	return c.fn()
}

// jobs returns the jobs on a device in the order the simulation made them.
func (s *sim) jobs(d *device) ([]app.Job, error) {
	js, err := d.app.Jobs()
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(js))
	byID := map[string]app.Job{}
	for i, j := range js {
		ids[i] = j.ID
		byID[j.ID] = j
	}
	s.sortByOrder(ids)
	out := make([]app.Job, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

func (s *sim) text(kind string) string {
	s.seq++
	return fmt.Sprintf("%s %d", kind, s.seq)
}

// save runs an action that saves an edit and tolerates the rules refusing
// it. With tap set, the user taps save twice: the second tap must save
// nothing.
func (s *sim) save(d *device, what string, tap bool, fn func() error) error {
	_, err := s.do(d, what, fn)
	if err != nil && !refusal(err) {
		return err
	}
	if err != nil {
		s.rep.refusedLocally++
		return nil
	}
	if tap && s.chance(0.15) {
		again, err := s.do(d, what+" (second tap)", fn)
		if err != nil && !refusal(err) {
			return err
		}
		if len(again) > 0 {
			s.rep.Duplicated += len(again)
			s.rep.problem("%s: saving %s twice saved %d more operations", d.name, what, len(again))
		}
	}
	return nil
}

func (s *sim) photoContent(max int) []byte {
	b := make([]byte, 1024+s.rng.IntN(max))
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	return b
}

func (s *sim) techChoices(d *device) ([]choice, error) {
	var cs []choice
	drafts, err := d.app.Drafts("")
	if err != nil {
		return nil, err
	}
	for _, dr := range drafts {
		if _, err := d.app.Job(dr.JobID); err != nil {
			continue // not a job the device has
		}
		cs = append(cs, choice{30, "keep a refused edit as a note", func() error {
			ents, err := s.do(d, "keep a refused edit as a note", func() error { _, err := d.app.KeepAsNote(dr.OpID); return err })
			if err != nil && !refusal(err) {
				return err
			}
			if err == nil && len(ents) > 0 {
				if e := s.byOp[dr.OpID]; e != nil {
					e.keptAs = ents[0].op.ID
				}
			}
			return nil
		}})
		break
	}
	all, err := s.jobs(d)
	if err != nil {
		return nil, err
	}
	var mine []app.Job
	for _, j := range all {
		if j.Mine && !j.Voided {
			mine = append(mine, j)
		}
	}
	if len(mine) == 0 {
		return cs, nil
	}
	j := pick(s.rng, mine)
	det, err := d.app.Job(j.ID)
	if err != nil {
		return nil, err
	}
	locked := j.Status == "signed_off" || j.Status == "closed"
	signed := j.Record.Text("signer_name") != ""
	if moves := det.Moves; len(moves) > 0 {
		to := pick(s.rng, moves)
		if to == "signed_off" && !signed {
			to = ""
		}
		if to != "" {
			cs = append(cs, choice{30, "move " + j.Label() + " to " + to, func() error {
				return s.save(d, "move to "+to, true, func() error { _, err := d.app.Move(j.ID, to); return err })
			}})
		}
	}
	if (j.Status == "completed" || j.Status == "waiting_for_approval") && !signed {
		cs = append(cs, choice{30, "sign " + j.Label(), func() error {
			var img *bytes.Reader
			if s.chance(0.5) {
				img = bytes.NewReader(s.photoContent(6000))
			}
			signer := s.text("Customer")
			return s.save(d, "signature", false, func() error {
				if img == nil {
					_, err := d.app.Sign(j.ID, signer, nil)
					return err
				}
				_, err := d.app.Sign(j.ID, signer, img)
				return err
			})
		}})
	}
	cs = append(cs, choice{20, "note on " + j.Label(), func() error {
		id, text := d.app.FormID(), s.text("note")
		return s.save(d, "note", true, func() error { _, err := d.app.AddNote(j.ID, id, text); return err })
	}})
	labor := 10
	if locked {
		labor = 2 // the form is greyed out; now and then someone tries anyway
	}
	cs = append(cs, choice{labor, "labour on " + j.Label(), func() error {
		n := 5 * (1 + s.rng.IntN(96))
		return s.save(d, "labour", true, func() error {
			_, err := d.app.SetFields(j.ID, map[string]any{"labor_minutes": n})
			return err
		})
	}})
	if !locked {
		cs = append(cs, choice{12, "part on " + j.Label(), func() error {
			id, sku := d.app.FormID(), s.text("SKU")
			qty := int64(1 + s.rng.IntN(5))
			return s.save(d, "part", true, func() error { _, err := d.app.AddPart(j.ID, id, sku, "part line", qty); return err })
		}})
		cs = append(cs, choice{8, "photo on " + j.Label(), func() error {
			id, name, content := d.app.FormID(), s.text("photo")+".jpg", s.photoContent(48000)
			return s.save(d, "photo", true, func() error {
				_, err := d.app.AddPhoto(j.ID, id, name, "image/jpeg", bytes.NewReader(content))
				return err
			})
		}})
		var parts []*contract.Record
		for _, p := range det.Parts {
			if !p.Record.Bool("voided") {
				parts = append(parts, p.Record)
			}
		}
		if len(parts) > 0 {
			p := pick(s.rng, parts)
			cs = append(cs, choice{4, "part quantity on " + j.Label(), func() error {
				qty := int64(1 + s.rng.IntN(9))
				return s.save(d, "part quantity", true, func() error {
					_, err := d.app.SetFields(p.ID, map[string]any{"quantity": qty})
					return err
				})
			}})
		}
	}
	var notes []*contract.Record
	for _, n := range det.Notes {
		if n.Record.Author == d.user.ID && !n.Record.Bool("voided") {
			notes = append(notes, n.Record)
		}
	}
	if len(notes) > 0 {
		n := pick(s.rng, notes)
		cs = append(cs, choice{2, "void a note", func() error {
			return s.save(d, "void note", true, func() error { _, err := d.app.Void(n.ID); return err })
		}})
	}
	cs = append(cs, choice{3, "follow-up job", func() error {
		f := app.JobForm{ID: d.app.FormID(), CustomerID: j.Record.Text("customer_id"), Title: s.text("Follow-up job"),
			Site: j.Site, Start: s.clock.Now(), FollowsJob: j.ID}
		return s.newJob(d, f)
	}})
	return cs, nil
}

// newJob saves a new job; when the device finds a likely match, the user
// opens it instead or, half the time, creates the job anyway.
func (s *sim) newJob(d *device, f app.JobForm) error {
	_, err := s.do(d, "new job", func() error { _, err := d.app.NewJob(s.ctx, f, false); return err })
	var de *app.DuplicateError
	switch {
	case err == nil:
		s.doubleTapJob(d, f)
		return nil
	case !refusal(err):
		return err
	case !errors.As(err, &de):
		s.rep.refusedLocally++
		return nil
	}
	if !s.chance(0.5) {
		return nil
	}
	_, err = s.do(d, "new job anyway", func() error { _, err := d.app.NewJob(s.ctx, f, true); return err })
	if err != nil && !refusal(err) {
		return err
	}
	if err == nil {
		s.doubleTapJob(d, f)
	}
	return nil
}

func (s *sim) doubleTapJob(d *device, f app.JobForm) {
	if !s.chance(0.15) {
		return
	}
	again, _ := s.do(d, "new job (second tap)", func() error { _, err := d.app.NewJob(s.ctx, f, true); return err })
	if len(again) > 0 {
		s.rep.Duplicated += len(again)
		s.rep.problem("%s: saving the new job form twice saved %d more operations", d.name, len(again))
	}
}

func (s *sim) newCustomer(d *device) (string, error) {
	name := s.text("Customer")
	var id string
	_, err := s.do(d, "new customer", func() error {
		c, err := d.app.NewCustomer("", map[string]any{"name": name, "phone": fmt.Sprintf("+44 20 7946 %04d", s.rng.IntN(10000))})
		if c != nil {
			id = c.ID
		}
		return err
	})
	if err != nil {
		return "", err
	}
	s.sites[id] = []string{fmt.Sprintf("%d Quay Street", 1+s.rng.IntN(90)), fmt.Sprintf("%d Elm Road", 1+s.rng.IntN(90))}
	return id, nil
}

// newJobFor has an office device make a job for a technician.
func (s *sim) newJobFor(d *device, tech contract.User, force bool) error {
	custs, err := d.app.Customers()
	if err != nil {
		return err
	}
	if len(custs) == 0 {
		return nil
	}
	c := pick(s.rng, custs)
	sites := s.sites[c.ID]
	site := "1 High Street"
	if len(sites) > 0 {
		site = pick(s.rng, sites)
	}
	now := s.clock.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 9, 0, 0, 0, time.UTC).AddDate(0, 0, s.rng.IntN(2))
	f := app.JobForm{ID: d.app.FormID(), CustomerID: c.ID, Title: s.text("Job"), Site: site,
		Start: day.Add(time.Duration(s.rng.IntN(8)) * time.Hour), Assignee: tech.ID}
	if force {
		_, err := s.do(d, "new job", func() error { _, err := d.app.NewJob(s.ctx, f, true); return err })
		return err
	}
	return s.newJob(d, f)
}

func (s *sim) officeChoices(d *device) ([]choice, error) {
	var cs []choice
	dispatcher := d.user.Role == "dispatcher"
	all, err := s.jobs(d)
	if err != nil {
		return nil, err
	}
	var live []app.Job
	for _, j := range all {
		if !j.Voided {
			live = append(live, j)
		}
	}
	reviews, err := d.app.Reviews()
	if err != nil {
		return nil, err
	}
	var open []contract.Review
	for _, rv := range reviews {
		if !d.app.Decided(rv.ID) {
			open = append(open, rv)
		}
	}
	if len(open) > 0 {
		w := 14
		if !dispatcher {
			w = 30
		}
		rv := pick(s.rng, open)
		cs = append(cs, choice{w, "resolve a review", func() error { return s.resolve(d, rv) }})
	}
	if dispatcher {
		cs = append(cs, choice{10, "new job", func() error { return s.newJobFor(d, pick(s.rng, s.techs), false) }})
		cs = append(cs, choice{2, "new customer", func() error {
			_, err := s.newCustomer(d)
			if refusal(err) {
				return nil
			}
			return err
		}})
		custs, err := d.app.Customers()
		if err != nil {
			return nil, err
		}
		if len(custs) > 0 {
			c := pick(s.rng, custs)
			field := pick(s.rng, []string{"phone", "email", "name", "nickname", "billing_contact"})
			cs = append(cs, choice{6, "edit customer " + field, func() error {
				v := s.text(field)
				if field == "email" {
					v = fmt.Sprintf("office%d@example.com", s.seq)
				}
				return s.save(d, "customer "+field, true, func() error { _, err := d.app.SetFields(c.ID, map[string]any{field: v}); return err })
			}})
		}
	}
	if len(live) == 0 {
		return cs, nil
	}
	j := pick(s.rng, live)
	det, err := d.app.Job(j.ID)
	if err != nil {
		return nil, err
	}
	locked := j.Status == "signed_off" || j.Status == "closed"
	if len(det.Moves) > 0 {
		to := pick(s.rng, det.Moves)
		cs = append(cs, choice{14, "office moves " + j.Label() + " to " + to, func() error {
			return s.save(d, "office move to "+to, true, func() error { _, err := d.app.Move(j.ID, to); return err })
		}})
	}
	if locked {
		cs = append(cs, choice{4, "reopen " + j.Label(), func() error {
			return s.save(d, "reopen", true, func() error { _, err := d.app.Reopen(j.ID); return err })
		}})
	}
	cs = append(cs, choice{4, "note on " + j.Label(), func() error {
		id, text := d.app.FormID(), s.text("office note")
		return s.save(d, "office note", true, func() error { _, err := d.app.AddNote(j.ID, id, text); return err })
	}})
	if !dispatcher || locked {
		return cs, nil
	}
	cs = append(cs, choice{8, "summary of " + j.Label(), func() error {
		field := pick(s.rng, []string{"title", "description"})
		v := s.text(field)
		return s.save(d, "summary "+field, true, func() error { _, err := d.app.SetFields(j.ID, map[string]any{field: v}); return err })
	}})
	cs = append(cs, choice{7, "schedule of " + j.Label(), func() error {
		if s.chance(0.5) {
			site := fmt.Sprintf("%d Harbour Way", 1+s.rng.IntN(40))
			if sites := s.sites[j.Record.Text("customer_id")]; len(sites) > 0 && s.chance(0.5) {
				site = pick(s.rng, sites)
			}
			return s.save(d, "site", true, func() error { _, err := d.app.SetFields(j.ID, map[string]any{"site_address": site}); return err })
		}
		start := j.Start
		if start.IsZero() {
			start = s.clock.Now()
		}
		start = start.Add(time.Duration(1+s.rng.IntN(6)) * time.Hour).UTC()
		return s.save(d, "start time", true, func() error {
			_, err := d.app.SetFields(j.ID, map[string]any{"scheduled_start": start.Format(time.RFC3339)})
			return err
		})
	}})
	var others []contract.User
	for _, t := range s.techs {
		if t.ID != j.OwnerID {
			others = append(others, t)
		}
	}
	if len(others) > 0 {
		to := pick(s.rng, others)
		cs = append(cs, choice{4, "reassign " + j.Label() + " to " + to.Name, func() error {
			return s.save(d, "reassign to "+to.Name, true, func() error { _, err := d.app.Reassign(j.ID, to.ID); return err })
		}})
	}
	cs = append(cs, choice{2, "void " + j.Label(), func() error {
		return s.save(d, "void", true, func() error { _, err := d.app.Void(j.ID); return err })
	}})
	return cs, nil
}

// resolve has the office settle a review item: keep the server's version,
// take a device's, or type a value; suspected duplicates are kept or merged.
func (s *sim) resolve(d *device, rv contract.Review) error {
	choice, entry := contract.KeepServer, ""
	var values map[string]any
	switch r := s.rng.Float64(); {
	case rv.Kind == contract.KindDuplicate:
		choice = contract.KeepBoth
		if r < 0.2 && s.cfg.Merge {
			choice = contract.Merge
		}
	case r < 0.45:
	case r < 0.85 && len(rv.Device) > 0:
		choice = contract.TakeDevice
		if s.chance(0.5) {
			entry = pick(s.rng, rv.Device).OpID
		}
	default:
		switch rv.Group {
		case "scheduling":
			choice, values = contract.TypeValue, map[string]any{"site_address": fmt.Sprintf("%d Settled Street", 1+s.rng.IntN(40))}
		case "work":
			choice, values = contract.TypeValue, map[string]any{"labor_minutes": 5 * (1 + s.rng.IntN(96))}
		case "assignment":
			choice, values = contract.TypeValue, map[string]any{"assignee": pick(s.rng, s.techs).ID}
		case "line":
			choice, values = contract.TypeValue, map[string]any{"quantity": 1 + s.rng.IntN(9)}
		}
	}
	what := "resolve " + rv.Group + " review: " + choice
	_, err := s.do(d, what, func() error { return d.app.Resolve(rv.ID, choice, entry, values) })
	if err != nil && !refusal(err) {
		return err
	}
	if err != nil {
		s.rep.refusedLocally++
	}
	return nil
}
