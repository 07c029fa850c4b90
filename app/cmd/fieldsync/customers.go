package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"fieldsync/app"
)

type customerJSON struct {
	ID     string                     `json:"id"`
	Name   string                     `json:"name"`
	Fields map[string]json.RawMessage `json:"fields"`
	Sync   string                     `json:"sync"`
}

// customers
func cmdCustomers(c *cli, args []string) error {
	args, err := c.parse("customers", c.flags("customers"), args)
	if err != nil {
		return err
	}
	if err := want("customers", args, 0, 0); err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		all, err := a.Customers()
		if err != nil {
			return err
		}
		st, now := a.State(), time.Now()
		doc := struct {
			Customers []customerJSON `json:"customers"`
		}{[]customerJSON{}}
		for _, cu := range all {
			doc.Customers = append(doc.Customers, customerJSON{cu.ID, cu.Text("name"), cu.Fields, st.Words(cu.ID, now)})
		}
		return c.out(doc, func(w io.Writer) {
			if len(all) == 0 {
				fmt.Fprintln(w, "No customers on this device.")
				return
			}
			tw := table(w)
			fmt.Fprintln(tw, "NAME\tPHONE\tEMAIL\tID\tSYNC")
			for _, cu := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cu.Text("name"), dash(cu.Text("phone")), dash(cu.Text("email")), cu.ID, st.Words(cu.ID, now))
			}
			tw.Flush()
		})
	})
}

// customer new --name N [field=value...]
func cmdCustomerNew(c *cli, args []string) error {
	fs := c.flags("customer new")
	name := fs.String("name", "", "the customer's `name` (required)")
	args, err := c.parse("customer new", fs, args)
	if err != nil {
		return err
	}
	fields, err := fieldArgs("customer new", args)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return usageError{"missing --name", "customer new"}
	}
	fields["name"] = *name
	return c.withApp(func(a *app.App) error {
		rec, err := a.NewCustomer("", fields)
		if err != nil {
			return err
		}
		return c.saved(a, rec, fmt.Sprintf("Customer %q added with id %s.", *name, rec.ID))
	})
}

// customer set CUSTOMER field=value...
func cmdCustomerSet(c *cli, args []string) error {
	args, err := c.parse("customer set", c.flags("customer set"), args)
	if err != nil {
		return err
	}
	if err := want("customer set", args, 2, -1); err != nil {
		return err
	}
	fields, err := fieldArgs("customer set", args[1:])
	if err != nil {
		return err
	}
	return c.withApp(func(a *app.App) error {
		cu, err := findCustomer(a, args[0])
		if err != nil {
			return err
		}
		rec, err := a.SetFields(cu.ID, fields)
		if err != nil {
			return err
		}
		if rec == nil {
			return c.unchanged(a, cu.ID)
		}
		return c.saved(a, rec, fmt.Sprintf("Customer %s: %s changed.", rec.Text("name"), strings.Join(slices.Sorted(maps.Keys(fields)), ", ")))
	})
}
