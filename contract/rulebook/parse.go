package rulebook

import (
	"bufio"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"fieldsync/contract"
)

// ParseError says which line of a rules file is wrong, in which setting, and why.
type ParseError struct {
	Source  string // file name
	Line    int    // 1-based; 0 when the rules came from JSON
	Subject string // the statement, such as "group job.work"
	Field   string // the setting, such as "policy"
	Msg     string
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	if e.Subject != "" {
		fmt.Fprintf(&b, " (%s)", e.Subject)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %q", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return strings.TrimPrefix(b.String(), " ")
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// The settings each statement accepts.
var statementKeys = map[string][]string{
	"role":   {"acts_as"},
	"alias":  nil,
	"retry":  {"first", "cap"},
	"limits": {"batch", "body", "photo", "text", "page"},
	"record": {"owner", "number", "create", "view", "resolve", "parent", "via", "in"},
	"group":  {"policy", "edit", "fields"},
	"states": {"initial", "values"},
	"move":   {"from", "to", "by", "action", "needs", "clears"},
	"lock":   {"when", "except"},
	"match":  {"same", "day"},
}

// statement is one parsed line.
type statement struct {
	line    int
	keyword string
	name    string
	kv      map[string]string
	subject string
	src     string
}

func (s *statement) errf(field, format string, args ...any) *ParseError {
	return &ParseError{Source: s.src, Line: s.line, Subject: s.subject, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (s *statement) list(key string) []string {
	v, ok := s.kv[key]
	if !ok || v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// ParseRules reads a rules file. source names the file in errors. The rules
// come back compiled; any mistake is a *ParseError naming the line and setting.
func Parse(source, text string) (*Rules, error) {
	r := &Rules{Limits: Limits{Batch: 500, Body: 8 << 20, Photo: 25 << 20, Text: 20000, Page: 500}}
	byType := map[string]*RecordRule{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		st, err := splitStatement(source, lineNo, sc.Text())
		if err != nil {
			return nil, err
		}
		if st == nil {
			continue
		}
		if err := r.addStatement(st, byType); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{Source: source, Line: lineNo + 1, Msg: err.Error()}
	}
	for _, rr := range r.Records {
		for _, g := range rr.Groups {
			g.line = lineOr(g.line, rr.line)
		}
	}
	if err := r.compileFrom(source); err != nil {
		return nil, err
	}
	return r, nil
}

func lineOr(a, b int) int {
	if a > 0 {
		return a
	}
	return b
}

func splitStatement(source string, lineNo int, line string) (*statement, error) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	words := strings.Fields(line)
	if len(words) == 0 {
		return nil, nil
	}
	st := &statement{line: lineNo, keyword: words[0], kv: map[string]string{}, src: source}
	allowed, known := statementKeys[st.keyword]
	if !known {
		return nil, &ParseError{Source: source, Line: lineNo, Msg: fmt.Sprintf("unknown statement %q; want one of %s",
			st.keyword, strings.Join(slices.Sorted(maps.Keys(statementKeys)), ", "))}
	}
	rest := words[1:]
	switch st.keyword {
	case "limits":
	case "alias":
		if len(rest) != 1 || !strings.Contains(rest[0], "=") {
			return nil, &ParseError{Source: source, Line: lineNo, Subject: "alias", Msg: "want alias NAME=ROLE,ROLE"}
		}
		name, roles, _ := strings.Cut(rest[0], "=")
		st.name, st.kv["roles"] = name, roles
		st.subject = "alias " + name
		return st, nil
	default:
		if len(rest) == 0 || strings.Contains(rest[0], "=") {
			return nil, &ParseError{Source: source, Line: lineNo, Subject: st.keyword, Msg: fmt.Sprintf("want %s NAME key=value ...", st.keyword)}
		}
		st.name, rest = rest[0], rest[1:]
	}
	st.subject = strings.TrimSpace(st.keyword + " " + st.name)
	for _, w := range rest {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return nil, st.errf(w, "want key=value, got %q", w)
		}
		if !slices.Contains(allowed, k) {
			return nil, st.errf(k, "unknown setting; want one of %s", strings.Join(allowed, ", "))
		}
		if _, dup := st.kv[k]; dup {
			return nil, st.errf(k, "set twice")
		}
		st.kv[k] = v
	}
	return st, nil
}

func (r *Rules) addStatement(st *statement, byType map[string]*RecordRule) error {
	need := func(keys ...string) error {
		for _, k := range keys {
			if st.kv[k] == "" {
				return st.errf(k, "missing")
			}
		}
		return nil
	}
	// record looks up the record a statement about TYPE or TYPE.NAME belongs to.
	record := func(typ string) (*RecordRule, error) {
		rr := byType[typ]
		if rr == nil {
			return nil, st.errf("", "unknown record type %q; declare it with a record statement first", typ)
		}
		return rr, nil
	}
	switch st.keyword {
	case "role":
		r.Roles = append(r.Roles, RoleRule{Name: st.name, ActsAs: st.list("acts_as"), line: st.line})
	case "alias":
		r.Aliases = append(r.Aliases, Alias{Name: st.name, Roles: st.list("roles"), line: st.line})
	case "retry":
		if err := need("first", "cap"); err != nil {
			return err
		}
		rr := RetryRule{Lane: st.name, line: st.line}
		for _, k := range []string{"first", "cap"} {
			d, err := time.ParseDuration(st.kv[k])
			if err != nil || d <= 0 {
				return st.errf(k, "want a positive duration such as 2s or 5m, got %q", st.kv[k])
			}
			if k == "first" {
				rr.First = Duration(d)
			} else {
				rr.Cap = Duration(d)
			}
		}
		r.Retry = append(r.Retry, rr)
	case "limits":
		for k, v := range st.kv {
			n, err := parseSize(v)
			if err != nil || n <= 0 {
				return st.errf(k, "want a positive number (sizes may end in KiB, MiB or GiB), got %q", v)
			}
			switch k {
			case "batch":
				r.Limits.Batch = int(n)
			case "body":
				r.Limits.Body = n
			case "photo":
				r.Limits.Photo = n
			case "text":
				r.Limits.Text = int(n)
			case "page":
				r.Limits.Page = int(n)
			}
		}
	case "record":
		if err := need("owner"); err != nil {
			return err
		}
		if byType[st.name] != nil {
			return st.errf("", "record type %q declared twice", st.name)
		}
		rr := &RecordRule{Type: st.name, Owner: st.kv["owner"], Number: st.kv["number"],
			Create: st.list("create"), View: st.list("view"), Resolve: st.list("resolve"),
			Parent: st.kv["parent"], Via: st.kv["via"], In: st.kv["in"], line: st.line}
		byType[st.name] = rr
		r.Records = append(r.Records, rr)
	case "group":
		typ, name, ok := strings.Cut(st.name, ".")
		if !ok {
			return st.errf("", "want group TYPE.NAME, got %q", st.name)
		}
		rr, err := record(typ)
		if err != nil {
			return err
		}
		if err := need("policy", "edit"); err != nil {
			return err
		}
		g := &GroupRule{Name: name, Policy: st.kv["policy"], Edit: st.list("edit"), line: st.line}
		for _, f := range st.list("fields") {
			fname, ftype, ok := strings.Cut(f, ":")
			if !ok {
				return st.errf("fields", "want NAME:TYPE, got %q", f)
			}
			req := strings.HasSuffix(ftype, "!")
			g.Fields = append(g.Fields, FieldRule{Name: fname, Type: strings.TrimSuffix(ftype, "!"), Required: req})
		}
		rr.Groups = append(rr.Groups, g)
	case "states":
		typ, field, ok := strings.Cut(st.name, ".")
		if !ok {
			return st.errf("", "want states TYPE.FIELD, got %q", st.name)
		}
		rr, err := record(typ)
		if err != nil {
			return err
		}
		if err := need("initial", "values"); err != nil {
			return err
		}
		if rr.Machine != nil && rr.Machine.Field != "" {
			return st.errf("", "record type %q already has a status machine", typ)
		}
		if rr.Machine == nil {
			rr.Machine = &Machine{}
		}
		rr.Machine.Field, rr.Machine.Initial, rr.Machine.States, rr.Machine.line = field, st.kv["initial"], st.list("values"), st.line
	case "move":
		rr, err := record(st.name)
		if err != nil {
			return err
		}
		if rr.Machine == nil || rr.Machine.Field == "" {
			return st.errf("", "record type %q has no states statement before its moves", st.name)
		}
		if err := need("from", "to", "by"); err != nil {
			return err
		}
		action := contract.Action(st.kv["action"])
		if action == "" {
			action = contract.ActionTransition
		}
		rr.Machine.Moves = append(rr.Machine.Moves, Move{From: st.list("from"), To: st.kv["to"], By: st.list("by"),
			Action: action, Needs: st.kv["needs"], Clears: st.list("clears"), line: st.line})
	case "lock":
		rr, err := record(st.name)
		if err != nil {
			return err
		}
		if err := need("when"); err != nil {
			return err
		}
		if rr.Lock != nil {
			return st.errf("", "record type %q already has a lock", st.name)
		}
		rr.Lock = &Lock{When: st.list("when"), Except: st.list("except"), line: st.line}
	case "match":
		rr, err := record(st.name)
		if err != nil {
			return err
		}
		if err := need("same"); err != nil {
			return err
		}
		rr.Match = &MatchRule{Same: st.list("same"), Day: st.kv["day"], line: st.line}
	}
	return nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func (r *Rules) compile() error { return r.compileFrom("rules") }

// compileFrom checks every cross reference and builds the indexes.
func (r *Rules) compileFrom(source string) error {
	fail := func(line int, subject, field, format string, args ...any) error {
		return &ParseError{Source: source, Line: line, Subject: subject, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	special := []string{WhoOwner, WhoAuthor, WhoViewer, WhoPeople, WhoNobody, WhoParent}
	r.roles = map[string]map[string]bool{}
	r.aliases = map[string][]string{}
	r.records = map[string]*RecordRule{}
	if len(r.Roles) == 0 {
		return fail(0, "", "", "no roles; declare at least one with a role statement")
	}
	for _, role := range r.Roles {
		subj := "role " + role.Name
		if !nameRE.MatchString(role.Name) || slices.Contains(special, role.Name) {
			return fail(role.line, subj, "", "%q is not a usable role name (lower case letters, digits and _; not owner, author, viewer, people, nobody or parent)", role.Name)
		}
		if r.roles[role.Name] != nil {
			return fail(role.line, subj, "", "role %q declared twice", role.Name)
		}
		r.roles[role.Name] = map[string]bool{role.Name: true}
	}
	for _, role := range r.Roles {
		for _, as := range role.ActsAs {
			if r.roles[as] == nil {
				return fail(role.line, "role "+role.Name, "acts_as", "unknown role %q", as)
			}
			r.roles[role.Name][as] = true
		}
	}
	for _, a := range r.Aliases {
		subj := "alias " + a.Name
		if !nameRE.MatchString(a.Name) || r.roles[a.Name] != nil || slices.Contains(special, a.Name) {
			return fail(a.line, subj, "", "%q cannot be an alias name (it is a role, a reserved word, or not lower case)", a.Name)
		}
		if r.aliases[a.Name] != nil {
			return fail(a.line, subj, "", "alias %q declared twice", a.Name)
		}
		if len(a.Roles) == 0 {
			return fail(a.line, subj, "roles", "an alias needs at least one role")
		}
		for _, role := range a.Roles {
			if r.roles[role] == nil {
				return fail(a.line, subj, "roles", "unknown role %q", role)
			}
		}
		r.aliases[a.Name] = a.Roles
	}
	isRole := func(tok string) bool { return r.roles[tok] != nil || r.aliases[tok] != nil }
	checkRoles := func(line int, subj, field string, list []string, extra ...string) error {
		for _, tok := range list {
			if !isRole(tok) && !slices.Contains(extra, tok) {
				want := append(r.RoleNames(), slices.Sorted(maps.Keys(r.aliases))...)
				want = append(want, extra...)
				return fail(line, subj, field, "unknown role %q; want one of %s", tok, strings.Join(want, ", "))
			}
		}
		return nil
	}
	lanes := map[string]bool{}
	for _, rr := range r.Retry {
		subj := "retry " + rr.Lane
		if rr.Lane != LaneData && rr.Lane != LaneMedia {
			return fail(rr.line, subj, "", "unknown lane %q; want data or media", rr.Lane)
		}
		if lanes[rr.Lane] {
			return fail(rr.line, subj, "", "lane %q has two retry statements", rr.Lane)
		}
		lanes[rr.Lane] = true
		if rr.First <= 0 {
			return fail(rr.line, subj, "first", "must be positive")
		}
		if rr.Cap < rr.First {
			return fail(rr.line, subj, "cap", "the cap %s is shorter than the first wait %s", time.Duration(rr.Cap), time.Duration(rr.First))
		}
	}
	for _, lane := range []string{LaneData, LaneMedia} {
		if !lanes[lane] {
			return fail(0, "", "", "no retry timing for the %s lane; add a line such as: retry %s first=2s cap=5m", lane, lane)
		}
	}
	lim := r.Limits
	if lim.Batch <= 0 || lim.Body <= 0 || lim.Photo <= 0 || lim.Text <= 0 || lim.Page <= 0 {
		return fail(0, "limits", "", "every limit must be positive")
	}
	if len(r.Records) == 0 {
		return fail(0, "", "", "no record types; declare at least one with a record statement")
	}
	for _, rr := range r.Records {
		if rr == nil {
			return fail(0, "", "", "empty record rule")
		}
		subj := "record " + rr.Type
		if !nameRE.MatchString(rr.Type) || rr.Type == contract.ReviewType {
			return fail(rr.line, subj, "", "%q is not a usable record type name", rr.Type)
		}
		if slices.Contains(rr.Groups, nil) {
			return fail(rr.line, subj, "groups", "empty group rule")
		}
		if r.records[rr.Type] != nil {
			return fail(rr.line, subj, "", "record type %q declared twice", rr.Type)
		}
		r.records[rr.Type] = rr
	}
	for _, rr := range r.Records {
		if err := r.compileRecord(source, rr, isRole, checkRoles); err != nil {
			return err
		}
	}
	return nil
}

func (r *Rules) compileRecord(source string, rr *RecordRule, isRole func(string) bool,
	checkRoles func(int, string, string, []string, ...string) error) error {
	fail := func(line int, subject, field, format string, args ...any) error {
		return &ParseError{Source: source, Line: lineOr(line, rr.line), Subject: subject, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	subj := "record " + rr.Type
	for _, l := range []struct {
		key  string
		list []string
	}{{"create", rr.Create}, {"view", rr.View}, {"resolve", rr.Resolve}} {
		if err := checkRoles(rr.line, subj, l.key, l.list); err != nil {
			return err
		}
	}
	if rr.IsItem() {
		parent := r.records[rr.Parent]
		switch {
		case parent == nil:
			return fail(rr.line, subj, "parent", "unknown record type %q", rr.Parent)
		case parent.IsItem():
			return fail(rr.line, subj, "parent", "%q is itself an item; items hang off a top-level record", rr.Parent)
		case !nameRE.MatchString(rr.Via):
			return fail(rr.line, subj, "via", "items need via=FIELD, the value that names the parent")
		case len(rr.Create) > 0:
			return fail(rr.line, subj, "create", "items are appended to their parent; who may append is the parent group's edit list")
		}
		g := parent.Group(rr.In)
		if g == nil || g.Policy != PolicyAppend {
			return fail(rr.line, subj, "in", "want a group of %s with policy append, got %q", rr.Parent, rr.In)
		}
	} else if rr.Via != "" || rr.In != "" {
		return fail(rr.line, subj, "via", "only items (records with parent=) take via= and in=")
	}
	if rr.Number != "" && !regexp.MustCompile(`^[A-Z][A-Z0-9]*-$`).MatchString(rr.Number) {
		return fail(rr.line, subj, "number", "want a prefix of capitals ending in '-', such as J-; got %q", rr.Number)
	}
	fieldSeen := map[string]bool{rr.Via: rr.Via != ""}
	groupSeen := map[string]bool{}
	hasFields := false
	for _, g := range rr.Groups {
		gsubj := "group " + rr.Type + "." + g.Name
		if !nameRE.MatchString(g.Name) {
			return fail(g.line, gsubj, "", "%q is not a usable group name", g.Name)
		}
		if groupSeen[g.Name] {
			return fail(g.line, gsubj, "", "group %q declared twice", g.Name)
		}
		groupSeen[g.Name] = true
		if !slices.Contains(Policies, g.Policy) {
			return fail(g.line, gsubj, "policy", "unknown policy %q; want %s", g.Policy, OrList(Policies))
		}
		if len(g.Edit) == 0 {
			return fail(g.line, gsubj, "edit", "missing; use nobody for groups set only at creation")
		}
		if err := checkRoles(g.line, gsubj, "edit", g.Edit, WhoOwner, WhoAuthor, WhoViewer, WhoPeople, WhoNobody); err != nil {
			return err
		}
		if g.Policy == PolicyAppend {
			if len(g.Fields) > 0 {
				return fail(g.line, gsubj, "fields", "an append group holds items, not fields")
			}
			if rr.IsItem() {
				return fail(g.line, gsubj, "policy", "items cannot hold items of their own")
			}
			continue
		}
		if len(g.Fields) == 0 {
			return fail(g.line, gsubj, "fields", "a %s group needs fields", g.Policy)
		}
		for _, f := range g.Fields {
			if !nameRE.MatchString(f.Name) {
				return fail(g.line, gsubj, "fields", "%q is not a usable field name", f.Name)
			}
			if fieldSeen[f.Name] {
				return fail(g.line, gsubj, "fields", "field %q appears twice in %s", f.Name, rr.Type)
			}
			fieldSeen[f.Name] = true
			if !slices.Contains(ValueTypes, f.Type) && r.records[f.Type] == nil {
				return fail(g.line, gsubj, "fields", "field %q has unknown type %q; want %s or a record type", f.Name, f.Type, strings.Join(ValueTypes, ", "))
			}
			if f.Type == TypeState && (rr.Machine == nil || rr.Machine.Field != f.Name) {
				return fail(g.line, gsubj, "fields", "field %q is a state but there is no states %s.%s statement", f.Name, rr.Type, f.Name)
			}
			if f.Name == "voided" && f.Type != TypeBool {
				return fail(g.line, gsubj, "fields", "field voided must be a bool")
			}
			hasFields = true
		}
	}
	if !hasFields {
		return fail(rr.line, subj, "", "record type %q has no fields; add a group with fields=", rr.Type)
	}
	switch {
	case rr.Owner == WhoAuthor:
	case rr.Owner == WhoParent:
		if !rr.IsItem() {
			return fail(rr.line, subj, "owner", "owner=parent is only for items")
		}
	case isRole(rr.Owner):
	default:
		f := rr.Field(rr.Owner)
		if f == nil || f.Type != TypeUser {
			return fail(rr.line, subj, "owner", "want a user field of %s, a role, author or parent; got %q", rr.Type, rr.Owner)
		}
	}
	if m := rr.Machine; m != nil {
		msubj := "states " + rr.Type + "." + m.Field
		if f := rr.Field(m.Field); f == nil || f.Type != TypeState {
			return fail(m.line, msubj, "", "record type %q has no field %q of type state", rr.Type, m.Field)
		}
		if len(m.States) == 0 {
			return fail(m.line, msubj, "values", "no states")
		}
		for _, s := range m.States {
			if !nameRE.MatchString(s) {
				return fail(m.line, msubj, "values", "%q is not a usable state name", s)
			}
		}
		if !m.HasState(m.Initial) {
			return fail(m.line, msubj, "initial", "%q is not one of the states", m.Initial)
		}
		for _, mv := range m.Moves {
			mvsubj := "move " + rr.Type
			for _, s := range mv.From {
				if !m.HasState(s) {
					return fail(mv.line, mvsubj, "from", "unknown state %q; want one of %s", s, strings.Join(m.States, ", "))
				}
			}
			if len(mv.From) == 0 {
				return fail(mv.line, mvsubj, "from", "missing")
			}
			if !m.HasState(mv.To) {
				return fail(mv.line, mvsubj, "to", "unknown state %q; want one of %s", mv.To, strings.Join(m.States, ", "))
			}
			if len(mv.By) == 0 {
				return fail(mv.line, mvsubj, "by", "missing")
			}
			if err := checkRoles(mv.line, mvsubj, "by", mv.By, WhoOwner); err != nil {
				return err
			}
			switch mv.Action {
			case contract.ActionTransition, contract.ActionReopen:
			case contract.ActionVoid:
				if rr.Lifecycle() == nil {
					return fail(mv.line, mvsubj, "action", "void moves need a group with a voided:bool field")
				}
			default:
				return fail(mv.line, mvsubj, "action", "unknown action %q; want transition, reopen or void", mv.Action)
			}
			if mv.Needs != "" && rr.Group(mv.Needs) == nil {
				return fail(mv.line, mvsubj, "needs", "unknown group %q", mv.Needs)
			}
			for _, g := range mv.Clears {
				if rr.Group(g) == nil {
					return fail(mv.line, mvsubj, "clears", "unknown group %q", g)
				}
			}
		}
	}
	if l := rr.Lock; l != nil {
		lsubj := "lock " + rr.Type
		if rr.Machine == nil {
			return fail(l.line, lsubj, "when", "record type %q has no states to lock in", rr.Type)
		}
		for _, s := range l.When {
			if !rr.Machine.HasState(s) {
				return fail(l.line, lsubj, "when", "unknown state %q; want one of %s", s, strings.Join(rr.Machine.States, ", "))
			}
		}
		for _, g := range l.Except {
			if rr.Group(g) == nil {
				return fail(l.line, lsubj, "except", "unknown group %q", g)
			}
		}
	}
	if m := rr.Match; m != nil {
		msubj := "match " + rr.Type
		for _, f := range m.Same {
			if rr.Field(f) == nil {
				return fail(m.line, msubj, "same", "unknown field %q", f)
			}
		}
		if m.Day != "" {
			if f := rr.Field(m.Day); f == nil || f.Type != TypeTime {
				return fail(m.line, msubj, "day", "want a time field, got %q", m.Day)
			}
		}
	}
	return nil
}
