package contract

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// PolicyWords says what a policy does when two people change the same group,
// in the few words a screen can show.
func PolicyWords(policy string) string {
	switch policy {
	case PolicyLastWriteWins:
		return "Latest change wins"
	case PolicyReview:
		return "Needs review if both change it"
	case PolicyAppend:
		return "Both kept"
	case PolicyWriteOnce:
		return "Set once"
	}
	return policy
}

// FormatRules prints rules as plain tables for product, QA and operations.
func FormatRules(r *Rules) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	section := func(title string) {
		tw.Flush()
		fmt.Fprintf(&b, "\n%s\n%s\n", title, strings.Repeat("=", len(title)))
	}
	fmt.Fprintln(&b, "FieldSync sync rules")
	section("Roles")
	for _, role := range r.Roles {
		if len(role.ActsAs) > 0 {
			fmt.Fprintf(tw, "%s\tmay do anything a %s may\n", role.Name, orList(role.ActsAs))
		} else {
			fmt.Fprintf(tw, "%s\t\n", role.Name)
		}
	}
	for _, a := range r.Aliases {
		fmt.Fprintf(tw, "%q\tmeans %s\n", a.Name, orList(a.Roles))
	}

	section("Records")
	fmt.Fprintln(tw, "RECORD\tOWNER\tCREATED BY\tALSO SEEN BY")
	for _, rr := range r.Records {
		created := r.Expand(rr.Create)
		if rr.IsItem() {
			created = "added to a " + rr.Parent + "'s " + rr.In + " by " + r.Expand(r.Record(rr.Parent).Group(rr.In).Edit)
		}
		seen := r.Expand(rr.View)
		if rr.IsItem() {
			seen = "whoever sees the " + rr.Parent
		} else if len(rr.View) == 0 {
			seen = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", rr.Type, ownerWords(r, rr), created, seen)
	}

	section("Field groups")
	fmt.Fprintln(tw, "RECORD\tGROUP\tFIELDS\tIF BOTH CHANGE IT\tWHO EDITS")
	for _, rr := range r.Records {
		for _, g := range rr.Groups {
			var fields []string
			for _, f := range g.Fields {
				name := f.Name
				if f.Required {
					name += "*"
				}
				fields = append(fields, name)
			}
			fl := strings.Join(fields, ", ")
			if g.Policy == PolicyAppend {
				fl = "(items)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", rr.Type, g.Name, fl, strings.ReplaceAll(g.Policy, "_", " "), r.Expand(g.Edit))
		}
	}
	fmt.Fprintln(tw, "\t\t* required on create\t\t")

	for _, rr := range r.Records {
		if rr.Machine == nil {
			continue
		}
		section(fmt.Sprintf("Status moves (%s)", rr.Type))
		fmt.Fprintln(tw, "FROM\tTO\tWHO\tNOTES")
		for _, mv := range rr.Machine.Moves {
			var notes []string
			if mv.Action != ActionTransition {
				notes = append(notes, "by the "+string(mv.Action)+" action")
			}
			if mv.Needs != "" {
				notes = append(notes, "needs the "+mv.Needs)
			}
			if len(mv.Clears) > 0 {
				notes = append(notes, "clears "+strings.Join(mv.Clears, ", ")+" (kept in history)")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.Join(mv.From, ", "), mv.To, r.Expand(mv.By), strings.Join(notes, "; "))
		}
		fmt.Fprintf(tw, "\tstarts as %s\t\t\n", rr.Machine.Initial)
	}

	section("Locks and duplicates")
	for _, rr := range r.Records {
		if l := rr.Lock; l != nil {
			except := "every group"
			if len(l.Except) > 0 {
				except = "every group except " + strings.Join(l.Except, ", ")
			}
			fmt.Fprintf(tw, "%s\twhen %s, %s is locked\n", rr.Type, orList(l.When), except)
		}
		if m := rr.Match; m != nil {
			day := "the day it is made"
			if m.Day != "" {
				day = "the day of " + m.Day
			}
			fmt.Fprintf(tw, "%s\ta new one with the same %s on %s as an open one is a suspected duplicate\n", rr.Type, strings.Join(m.Same, " and "), day)
		}
	}

	section("Retry timing on devices")
	for _, rt := range r.Retry {
		fmt.Fprintf(tw, "%s lane\tfirst retry after about %s, doubling with jitter, at most %s apart\n",
			rt.Lane, DurationWords(time.Duration(rt.First)), DurationWords(time.Duration(rt.Cap)))
	}

	section("Limits")
	l := r.Limits
	fmt.Fprintf(tw, "operations per push\t%d\n", l.Batch)
	fmt.Fprintf(tw, "request body\t%s\n", SizeWords(l.Body))
	fmt.Fprintf(tw, "photo\t%s\n", SizeWords(l.Photo))
	fmt.Fprintf(tw, "text field\t%d characters\n", l.Text)
	fmt.Fprintf(tw, "records per pull page\t%d\n", l.Page)
	tw.Flush()
	return b.String()
}

func ownerWords(r *Rules, rr *RecordRule) string {
	switch {
	case rr.Owner == WhoAuthor:
		return "its author"
	case rr.Owner == WhoParent:
		return "the " + rr.Parent + "'s owner"
	case rr.OwnerField() != "":
		return "the " + rr.Owner + " (moved only by reassign)"
	}
	return "the " + r.Expand([]string{rr.Owner}) + " team"
}

// DurationWords says a duration as a person reads it: "2 seconds",
// "1 minute 30 seconds", "10 minutes", "2 hours 5 minutes", "1 day 1 hour".
// From a second up it names each whole day, hour and minute that is not
// zero, then the seconds, with up to three decimals ("1.5 seconds"), so no
// part of the duration is lost. Below a second it says milliseconds (and
// below those, microseconds or nanoseconds) the same way: "500 milliseconds".
func DurationWords(d time.Duration) string {
	switch {
	case d == 0:
		return "0 seconds"
	case d < 0:
		// -d overflows for the most negative duration; a nanosecond less does not matter there.
		return "minus " + DurationWords(-max(d, -time.Duration(1<<63-1)))
	case d < time.Microsecond:
		return unitWords(int64(d), 1, "nanosecond")
	case d < time.Millisecond:
		return unitWords(int64(d), int64(time.Microsecond), "microsecond")
	case d < time.Second:
		return unitWords(int64(d), int64(time.Millisecond), "millisecond")
	}
	d = d.Round(time.Millisecond)
	var parts []string
	for _, u := range []struct {
		size time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}} {
		if n := d / u.size; n > 0 {
			parts = append(parts, unitWords(int64(n), 1, u.name))
			d -= n * u.size
		}
	}
	if d > 0 {
		parts = append(parts, unitWords(int64(d), int64(time.Second), "second"))
	}
	return strings.Join(parts, " ")
}

// unitWords says n/per units, with at most three decimals and no trailing
// zeros: unitWords(1500, 1000, "second") is "1.5 seconds".
func unitWords(n, per int64, unit string) string {
	s := strconv.FormatInt(n/per, 10)
	if frac := n % per; frac != 0 {
		// Three decimals of the fraction, rounded down, trailing zeros dropped.
		digits := fmt.Sprintf("%03d", frac*1000/per)
		if digits = strings.TrimRight(digits, "0"); digits != "" {
			s += "." + digits
		}
	}
	if s != "1" {
		unit += "s"
	}
	return s + " " + unit
}
