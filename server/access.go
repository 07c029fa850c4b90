package server

import (
	"encoding/json"
	"slices"

	"fieldsync/contract"
	"fieldsync/contract/engine"
	"fieldsync/contract/rulebook"
)

// scope is what an actor sees: whole record types by role, and the rest
// through the jobs they are on.
func (s *Server) scope(actor engine.Actor) Scope {
	sc := Scope{UserID: actor.UserID}
	for _, rr := range s.rules.Records {
		top := rr
		if rr.IsItem() {
			top = s.rules.Record(rr.Parent)
		}
		owner := []string{top.Owner}
		if s.rules.RoleIn(actor.Role, top.View) || s.rules.RoleIn(actor.Role, owner) {
			sc.Types = append(sc.Types, rr.Type)
		}
	}
	return sc
}

// visible reports whether actor may see rec.
func (s *Server) visible(q Query, actor engine.Actor, rec *contract.Record) (bool, error) {
	var parent *contract.Record
	if rec.ParentID != "" {
		var err error
		if parent, err = q.Record(rec.ParentID); err != nil {
			return false, err
		}
	}
	if s.engine.CanSee(actor, rec, parent) {
		return true, nil
	}
	return q.SeesThrough(actor.UserID, rec.ID)
}

// index is what the store keeps beside rec: the job it belongs to, the
// team-owned records it links to, and its duplicate-suspect key.
func (s *Server) index(rec *contract.Record) Index {
	rr := s.rules.Record(rec.Type)
	var ix Index
	switch {
	case rr.IsItem():
		ix.Scope = rec.ParentID
	case rr.OwnerField() != "":
		ix.Scope = rec.ID
		for _, g := range rr.Groups {
			for _, f := range g.Fields {
				target := s.rules.Record(f.Type)
				if target == nil || target.IsItem() || !s.rules.HasRole(target.Owner) && !slices.Contains(aliasNames(s.rules), target.Owner) {
					continue
				}
				if id := rec.Text(f.Name); id != "" {
					ix.Links = append(ix.Links, id)
				}
			}
		}
	}
	ix.MatchKey = s.matchKey(rec)
	return ix
}

func aliasNames(r *rulebook.Rules) []string {
	out := make([]string, len(r.Aliases))
	for i, a := range r.Aliases {
		out[i] = a.Name
	}
	return out
}

// people are those on a person-owned record: owner, crew and past owners.
func (s *Server) people(rec *contract.Record) []string {
	rr := s.rules.Record(rec.Type)
	var out []string
	add := func(id string) {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	add(rec.Text(rr.OwnerField()))
	for _, g := range rr.Groups {
		for _, f := range g.Fields {
			if f.Type == rulebook.TypeUsers {
				var ids []string
				_ = json.Unmarshal(rec.Fields[f.Name], &ids)
				for _, id := range ids {
					add(id)
				}
			}
		}
	}
	for _, id := range rec.PastOwners {
		add(id)
	}
	slices.Sort(out)
	return out
}
