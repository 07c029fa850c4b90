package rulebook

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"fieldsync/contract"
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

// Format prints rules as plain tables for product, QA and operations.
func Format(r *Rules) string {
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
			fmt.Fprintf(tw, "%s\tmay do anything a %s may\n", role.Name, OrList(role.ActsAs))
		} else {
			fmt.Fprintf(tw, "%s\t\n", role.Name)
		}
	}
	for _, a := range r.Aliases {
		fmt.Fprintf(tw, "%q\tmeans %s\n", a.Name, OrList(a.Roles))
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
			if mv.Action != contract.ActionTransition {
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
			fmt.Fprintf(tw, "%s\twhen %s, %s is locked\n", rr.Type, OrList(l.When), except)
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
			rt.Lane, contract.DurationWords(time.Duration(rt.First)), contract.DurationWords(time.Duration(rt.Cap)))
	}

	section("Limits")
	l := r.Limits
	fmt.Fprintf(tw, "operations per push\t%d\n", l.Batch)
	fmt.Fprintf(tw, "request body\t%s\n", contract.SizeWords(l.Body))
	fmt.Fprintf(tw, "photo\t%s\n", contract.SizeWords(l.Photo))
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
