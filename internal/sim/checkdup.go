package sim

import (
	"slices"
	"strings"
)

func (s *sim) duplicated(format string, args ...any) {
	s.rep.Duplicated++
	s.rep.problem("duplicated: "+format, args...)
}

func (s *sim) checkDuplicates(srv *serverState) {
	unknown := map[string]bool{}
	for _, id := range srv.stored {
		if s.byOp[id] == nil {
			unknown[id] = true
			s.duplicated("the server stored a result for operation %s, which no user saved", short(id))
		}
	}
	made := s.known(srv)
	texts := map[string]string{}
	for _, id := range srv.ids {
		rec := srv.records[id]
		if !made[id] {
			s.duplicated("%s %s %s exists on the server, but no saved operation made it", rec.Type, short(id), rec.Number)
		}
		seen := map[[2]string]bool{}
		for _, c := range srv.changes[id] {
			if c.Field == "" {
				continue
			}
			k := [2]string{c.OpID, c.Field}
			if seen[k] {
				s.duplicated("operation %s wrote %s of %s %s twice", short(c.OpID), c.Field, rec.Type, short(id))
			}
			seen[k] = true
			if s.byOp[c.OpID] == nil && !unknown[c.OpID] {
				unknown[c.OpID] = true
				s.duplicated("operation %s changed %s %s, but no user saved it", short(c.OpID), rec.Type, short(id))
			}
		}
		var key string
		switch rec.Type {
		case "note":
			if t := rec.Text("text"); strings.HasPrefix(t, "note ") || strings.HasPrefix(t, "office note ") {
				key = "note " + t
			}
		case "part":
			key = "part " + rec.Text("sku")
		case "photo":
			key = "photo " + rec.Text("sha256")
		}
		if key != "" {
			if other, ok := texts[key]; ok {
				s.duplicated("%s %s repeats %s (%s)", rec.Type, short(id), short(other), key)
			}
			texts[key] = id
		}
	}
	for _, op := range slices.Sorted(mapsKeys(srv.entries)) {
		if in := srv.entries[op]; len(in) > 1 {
			s.duplicated("operation %s is an entry of %d review items", short(op), len(in))
		}
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
