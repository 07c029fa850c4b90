package rulebook

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"fieldsync/contract"
)

func readRules(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "rules", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDefaultRules(t *testing.T) {
	r, err := Parse("default.rules", DefaultText())
	if err != nil {
		t.Fatalf("the default rules do not parse: %v", err)
	}
	t.Run("declare the roles of rules.md", func(t *testing.T) {
		if got, want := r.RoleNames(), []string{"technician", "dispatcher", "supervisor", "finance", "admin"}; !slices.Equal(got, want) {
			t.Errorf("roles %v, want %v", got, want)
		}
	})
	t.Run("let an admin act as the office", func(t *testing.T) {
		for _, tt := range []struct {
			role string
			list []string
			want bool
		}{
			{"admin", []string{"office"}, true},
			{"admin", []string{"dispatcher"}, true},
			{"admin", []string{"supervisor"}, true},
			{"admin", []string{"finance"}, false},
			{"supervisor", []string{"office"}, true},
			{"supervisor", []string{"dispatcher"}, false},
			{"technician", []string{"office"}, false},
			{"technician", []string{"owner"}, false},
			{"nobody_at_all", []string{"office"}, false},
		} {
			if got := r.RoleIn(tt.role, tt.list); got != tt.want {
				t.Errorf("RoleIn(%s, %v) = %v, want %v", tt.role, tt.list, got, tt.want)
			}
		}
	})
	t.Run("give each group the policy of rules.md", func(t *testing.T) {
		want := map[string]string{
			"job.summary": PolicyLastWriteWins, "job.scheduling": PolicyReview, "job.assignment": PolicyReview,
			"job.status": PolicyReview, "job.work": PolicyReview, "job.parts": PolicyAppend, "job.notes": PolicyAppend,
			"job.photos": PolicyAppend, "job.signature": PolicyWriteOnce, "job.lifecycle": PolicyReview,
			"customer.profile": PolicyLastWriteWins, "customer.contact": PolicyLastWriteWins,
			"invoice.amounts": PolicyReview, "invoice.status": PolicyReview,
			"part.line": PolicyReview,
		}
		for key, policy := range want {
			typ, group, _ := strings.Cut(key, ".")
			rr := r.Record(typ)
			if rr == nil || rr.Group(group) == nil {
				t.Errorf("no group %s", key)
				continue
			}
			if got := rr.Group(group).Policy; got != policy {
				t.Errorf("group %s has policy %s, want %s", key, got, policy)
			}
		}
	})
	t.Run("time retries as rules.md says", func(t *testing.T) {
		for _, tt := range []struct {
			lane       string
			first, cap time.Duration
		}{{LaneData, 2 * time.Second, 5 * time.Minute}, {LaneMedia, 15 * time.Second, 15 * time.Minute}} {
			got := r.RetryFor(tt.lane)
			if time.Duration(got.First) != tt.first || time.Duration(got.Cap) != tt.cap {
				t.Errorf("lane %s: first %v cap %v, want %v and %v", tt.lane, time.Duration(got.First), time.Duration(got.Cap), tt.first, tt.cap)
			}
		}
		if got := r.RetryFor("voice"); got.First != 0 || got.Cap != 0 {
			t.Errorf("unknown lane has timing %+v", got)
		}
	})
	t.Run("lock a signed-off job except its notes", func(t *testing.T) {
		l := r.Record("job").Lock
		if !l.Locks("signed_off") || !l.Locks("closed") || l.Locks("in_progress") || !l.Exempt("notes") || l.Exempt("photos") {
			t.Errorf("job lock %+v", l)
		}
	})
	t.Run("read back as they were written", func(t *testing.T) {
		if Default() == Default() {
			t.Errorf("DefaultRules returns a shared copy")
		}
		if !reflect.DeepEqual(marshal(t, Default()), marshal(t, r)) {
			t.Errorf("DefaultRules differs from parsing DefaultText")
		}
	})
}

func marshal(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// roundTrip sends rules through JSON as they travel to devices and compiles them.
func roundTrip(t testing.TB, r *Rules) *Rules {
	t.Helper()
	var back Rules
	if err := json.Unmarshal([]byte(marshal(t, r)), &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if err := back.Compile(); err != nil {
		t.Fatalf("the rules do not compile after a JSON round trip: %v", err)
	}
	return &back
}

func TestRulesJSONRoundTrip(t *testing.T) {
	orig := Default()
	back := roundTrip(t, orig)
	t.Run("gives the same JSON", func(t *testing.T) {
		if a, b := marshal(t, orig), marshal(t, back); a != b {
			t.Errorf("JSON differs after a round trip:\n%s\n%s", a, b)
		}
	})
	t.Run("gives the same roles and record types", func(t *testing.T) {
		if !slices.Equal(orig.RoleNames(), back.RoleNames()) || !slices.Equal(orig.RecordTypes(), back.RecordTypes()) {
			t.Errorf("roles %v types %v, want %v %v", back.RoleNames(), back.RecordTypes(), orig.RoleNames(), orig.RecordTypes())
		}
		lists := [][]string{{"office"}, {"dispatcher"}, {"supervisor"}, {"finance"}, {"technician"}, {"owner"}}
		for _, role := range orig.RoleNames() {
			for _, l := range lists {
				if orig.RoleIn(role, l) != back.RoleIn(role, l) {
					t.Errorf("RoleIn(%s, %v) differs", role, l)
				}
			}
		}
		if orig.Expand([]string{"office", "owner"}) != back.Expand([]string{"office", "owner"}) {
			t.Errorf("Expand differs: %q", back.Expand([]string{"office", "owner"}))
		}
	})
	t.Run("of every good rules file in testdata compiles", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join("testdata", "rules", "good_*.rules"))
		if len(files) == 0 {
			t.Fatal("no good rules files")
		}
		for _, f := range files {
			r, err := Parse(f, readRules(t, filepath.Base(f)))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if marshal(t, roundTrip(t, r)) != marshal(t, r) {
				t.Errorf("%s: JSON differs after a round trip", f)
			}
		}
	})
}

func TestRulesFromJSONErrors(t *testing.T) {
	edit := func(f func(r *Rules)) func() *Rules {
		return func() *Rules {
			var r Rules
			if err := json.Unmarshal([]byte(marshal(t, Default())), &r); err != nil {
				t.Fatal(err)
			}
			f(&r)
			return &r
		}
	}
	tests := []struct {
		name  string
		rules func() *Rules
		field string
		says  string
	}{
		{"an unknown policy", edit(func(r *Rules) { r.Records[0].Groups[0].Policy = "merge" }),
			"policy", `unknown policy "merge"`},
		{"no roles", edit(func(r *Rules) { r.Roles = nil }), "", "no roles"},
		{"no records", edit(func(r *Rules) { r.Records = nil }), "", "no record types"},
		{"a null record", edit(func(r *Rules) { r.Records = append(r.Records, nil) }), "", "empty record rule"},
		{"a null group", edit(func(r *Rules) { r.Records[0].Groups = append(r.Records[0].Groups, nil) }), "groups", "empty group"},
		{"a null group in a parent record", edit(func(r *Rules) {
			r.Records[0].Groups = append([]*GroupRule{nil}, r.Records[0].Groups...)
		}), "groups", "empty group"},
		{"a zero limit", edit(func(r *Rules) { r.Limits.Page = 0 }), "", "every limit must be positive"},
		{"a zero retry", edit(func(r *Rules) { r.Retry[0].First = 0 }), "first", "must be positive"},
		{"a move to nowhere", edit(func(r *Rules) { r.Records[0].Machine.Moves[0].To = "nowhere" }), "to", `unknown state "nowhere"`},
		{"a move from nowhere", edit(func(r *Rules) { r.Records[0].Machine.Moves[0].From = nil }), "from", "missing"},
		{"a move by nobody", edit(func(r *Rules) { r.Records[0].Machine.Moves[0].By = nil }), "by", "missing"},
		{"a machine without states", edit(func(r *Rules) { r.Records[0].Machine.States = nil }), "values", "no states"},
	}
	for _, tt := range tests {
		t.Run("rules with "+tt.name+" do not compile", func(t *testing.T) {
			r := tt.rules()
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("Compile panicked: %v", p)
					}
				}()
				err = r.Compile()
			}()
			var re *ParseError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a *ParseError", err)
			}
			if re.Line != 0 || re.Field != tt.field || !strings.Contains(re.Msg, tt.says) {
				t.Errorf("got line %d field %q %q, want line 0 field %q saying %q", re.Line, re.Field, re.Msg, tt.field, tt.says)
			}
			if strings.Contains(err.Error(), "line") && re.Line == 0 {
				t.Errorf("error %q names a line though the rules came from JSON", err)
			}
		})
	}
}

// badRules lists every testdata/rules/bad_*.rules file and the error it must give.
var badRules = []struct {
	file  string
	line  int
	field string
	says  string
}{
	{"bad_unknown_policy", 8, "policy", `unknown policy "merge"; want last_write_wins, review, append or write_once`},
	{"bad_unknown_role_in_edit", 9, "edit", `unknown role "manager"; want one of technician, dispatcher, office`},
	{"bad_unknown_role_in_move", 12, "by", `unknown role "boss"`},
	{"bad_unknown_role_in_create", 7, "create", `unknown role "sales"`},
	{"bad_unknown_state_in_move_to", 12, "to", `unknown state "finished"; want one of open, done`},
	{"bad_unknown_state_in_move_from", 12, "from", `unknown state "opened"`},
	{"bad_group_for_undeclared_record", 13, "", `unknown record type "truck"; declare it with a record statement first`},
	{"bad_duplicate_key", 8, "policy", "set twice"},
	{"bad_missing_owner", 7, "owner", "missing"},
	{"bad_duration", 5, "first", `want a positive duration such as 2s or 5m, got "soon"`},
	{"bad_negative_duration", 6, "first", "want a positive duration"},
	{"bad_cap_before_first", 5, "cap", "the cap 2s is shorter than the first wait 5m0s"},
	{"bad_unknown_statement", 13, "", `unknown statement "index"; want one of alias, group, limits`},
	{"bad_unknown_setting", 7, "colour", "unknown setting; want one of owner, number"},
	{"bad_not_key_value", 8, "fast", `want key=value, got "fast"`},
	{"bad_negative_size", 13, "photo", "want a positive number"},
	{"bad_zero_limit", 13, "batch", "want a positive number"},
	{"bad_size_unit", 13, "body", `got "8MB"`},
	{"bad_unknown_lane", 13, "", `unknown lane "voice"; want data or media`},
	{"bad_no_media_retry", 0, "", "no retry timing for the media lane"},
	{"bad_move_before_states", 11, "", `record type "job" has no states statement before its moves`},
	{"bad_needs_unknown_group", 12, "needs", `unknown group "signature"`},
	{"bad_clears_unknown_group", 12, "clears", `unknown group "signature"`},
	{"bad_move_unknown_action", 12, "action", `unknown action "skip"; want transition, reopen or void`},
	{"bad_void_without_lifecycle", 12, "action", "void moves need a group with a voided:bool field"},
	{"bad_lock_unknown_state", 13, "when", `unknown state "closed"`},
	{"bad_lock_unknown_group", 13, "except", `unknown group "notes"`},
	{"bad_owner_not_user", 7, "owner", `want a user field of job, a role, author or parent; got "title"`},
	{"bad_unknown_field_type", 8, "fields", `field "title" has unknown type "string"`},
	{"bad_field_without_type", 8, "fields", `want NAME:TYPE, got "title"`},
	{"bad_duplicate_group", 13, "", `group "summary" declared twice`},
	{"bad_duplicate_field", 13, "fields", `field "title" appears twice in job`},
	{"bad_duplicate_role", 4, "", `role "technician" declared twice`},
	{"bad_duplicate_record", 13, "", `record type "job" declared twice`},
	{"bad_alias_unknown_role", 4, "roles", `unknown role "manager"`},
	{"bad_alias_without_roles", 4, "", "want alias NAME=ROLE,ROLE"},
	{"bad_acts_as_unknown_role", 3, "acts_as", `unknown role "boss"`},
	{"bad_reserved_role_name", 4, "", `"owner" is not a usable role name`},
	{"bad_item_with_create", 14, "create", "items are appended to their parent"},
	{"bad_item_in_non_append_group", 14, "in", `want a group of job with policy append, got "summary"`},
	{"bad_item_unknown_parent", 14, "parent", `unknown record type "truck"`},
	{"bad_append_group_with_fields", 13, "fields", "an append group holds items, not fields"},
	{"bad_number_prefix", 7, "number", `want a prefix of capitals ending in '-', such as J-; got "job-"`},
	{"bad_state_without_states", 10, "fields", `field "status" is a state but there is no states job.status statement`},
	{"bad_initial_state", 11, "initial", `"new" is not one of the states`},
	{"bad_two_machines", 13, "", `record type "job" already has a status machine`},
	{"bad_voided_not_bool", 13, "fields", "field voided must be a bool"},
	{"bad_match_unknown_field", 13, "same", `unknown field "customer_id"`},
	{"bad_match_day_not_time", 13, "day", `want a time field, got "title"`},
	{"bad_missing_edit", 8, "edit", "missing"},
	{"bad_group_without_type", 8, "", `want group TYPE.NAME, got "summary"`},
}

func TestBadRulesFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "rules", "bad_*.rules"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, br := range badRules {
		listed[br.file+".rules"] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s has no entry in badRules", f)
		}
	}
	for _, br := range badRules {
		name := br.file + ".rules"
		t.Run(strings.ReplaceAll(strings.TrimPrefix(br.file, "bad_"), "_", " ")+" is refused", func(t *testing.T) {
			text := readRules(t, name)
			r, err := Parse(name, text)
			if err == nil {
				t.Fatalf("parsed, want an error: %+v", r.Limits)
			}
			if r != nil {
				t.Errorf("returned rules with the error")
			}
			var re *ParseError
			if !errors.As(err, &re) {
				t.Fatalf("got %T %v, want a *ParseError", err, err)
			}
			if re.Source != name {
				t.Errorf("source %q, want %q", re.Source, name)
			}
			if re.Line != br.line || re.Field != br.field {
				t.Errorf("line %d field %q (%v), want line %d field %q", re.Line, re.Field, err, br.line, br.field)
			}
			if !strings.Contains(re.Msg, br.says) {
				t.Errorf("message %q does not say %q", re.Msg, br.says)
			}
			// The error text names the file, the line and the setting.
			msg := err.Error()
			if !strings.HasPrefix(msg, name) {
				t.Errorf("error %q does not start with the file name", msg)
			}
			if br.line > 0 && !strings.Contains(msg, " line "+strconv.Itoa(br.line)) {
				t.Errorf("error %q does not name line %d", msg, br.line)
			}
			if br.field != "" && !strings.Contains(msg, `field "`+br.field+`"`) {
				t.Errorf("error %q does not name the setting %q", msg, br.field)
			}
		})
	}
}

func TestRulesErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  ParseError
		want string
	}{
		{"names the line, statement and setting", ParseError{Source: "team.rules", Line: 12, Subject: "group job.work", Field: "policy", Msg: "unknown policy"},
			`team.rules line 12 (group job.work): field "policy": unknown policy`},
		{"leaves out what it does not know", ParseError{Source: "rules", Msg: "no roles"}, "rules: no roles"},
		{"reads without a source", ParseError{Line: 3, Msg: "bad"}, "line 3: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseRulesText(t *testing.T) {
	good := readRules(t, "good_minimal.rules")
	tests := []struct {
		name  string
		text  string
		check func(t *testing.T, r *Rules)
	}{
		{"comments and blank lines are skipped", "# head\n\n" + strings.ReplaceAll(good, "\n", "   # tail\n\n"), nil},
		{"limits keep their defaults unless set", good, func(t *testing.T, r *Rules) {
			want := Limits{Batch: 500, Body: 8 << 20, Photo: 25 << 20, Text: 20000, Page: 500}
			if r.Limits != want {
				t.Errorf("limits %+v, want %+v", r.Limits, want)
			}
		}},
		{"sizes take KiB, MiB, GiB and B", good + "limits body=3KiB photo=2GiB text=7 page=9B batch=1MiB\n", func(t *testing.T, r *Rules) {
			want := Limits{Batch: 1 << 20, Body: 3 << 10, Photo: 2 << 30, Text: 7, Page: 9}
			if r.Limits != want {
				t.Errorf("limits %+v, want %+v", r.Limits, want)
			}
		}},
		{"a move without an action is a transition", good, func(t *testing.T, r *Rules) {
			if mv := r.Record("job").Machine.Moves[0]; mv.Action != contract.ActionTransition {
				t.Errorf("action %q", mv.Action)
			}
		}},
		{"a field type ending in ! is required", good, func(t *testing.T, r *Rules) {
			if f := r.Record("job").Field("title"); f == nil || !f.Required || f.Type != TypeText {
				t.Errorf("title %+v", f)
			}
		}},
		{"the owner may be the author or the parent for items", readRules(t, "good_items.rules"), func(t *testing.T, r *Rules) {
			if rr := r.Record("note"); !rr.IsItem() || rr.Owner != WhoAuthor || rr.OwnerField() != "" {
				t.Errorf("note rule %+v", rr)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse("test.rules", tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
	t.Run("a line too long to read is an error on that line", func(t *testing.T) {
		_, err := Parse("long.rules", good+"# "+strings.Repeat("x", 2<<20)+"\n")
		var re *ParseError
		if !errors.As(err, &re) || re.Line != 13 {
			t.Errorf("got %v, want an error on line 13", err)
		}
	})
}
