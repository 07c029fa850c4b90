package rulebook

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"fieldsync/internal/fuzzcorpus"
)

var update = flag.Bool("update", false, "rewrite the seed corpus under testdata/fuzz")

// parseRulesSeeds are the seeds of FuzzParseRules: the default rules, every
// rules file in testdata/rules, and a few shapes a fuzzer finds slowly.
func parseRulesSeeds(t testing.TB) map[string]string {
	seeds := map[string]string{"default": DefaultText()}
	files, err := filepath.Glob(filepath.Join("testdata", "rules", "*.rules"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rules files in testdata/rules: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".rules")
		seeds[name] = readRules(t, filepath.Base(f))
	}
	good := seeds["good_minimal"]
	seeds["edge_empty"] = ""
	seeds["edge_crlf"] = strings.ReplaceAll(good, "\n", "\r\n")
	seeds["edge_tabs_and_comments"] = strings.ReplaceAll(good, " ", "\t# x\n")
	seeds["edge_huge_limits"] = good + "limits batch=9223372036854775807 body=4611686018427387904B photo=4294967295GiB text=1 page=1\n"
	seeds["edge_alias_empty"] = good + "alias =\n"
	seeds["edge_states_twice"] = good + "states job.status initial=open values=open,open\n"
	return seeds
}

func FuzzParseRules(f *testing.F) {
	f.Add(DefaultText())
	f.Fuzz(func(t *testing.T, text string) {
		r, err := Parse("fuzz.rules", text)
		if err != nil {
			var re *ParseError
			if !errors.As(err, &re) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			if r != nil {
				t.Fatalf("rules returned with the error %v", err)
			}
			if re.Msg == "" || re.Source != "fuzz.rules" {
				t.Fatalf("error without a message or source: %+v", re)
			}
			if re.Line < 0 || re.Line > strings.Count(text, "\n")+2 {
				t.Fatalf("error on line %d of a %d-line text: %v", re.Line, strings.Count(text, "\n")+1, err)
			}
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back Rules
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal: %v\n%s", err, b)
		}
		if err := back.Compile(); err != nil {
			t.Fatalf("parsed rules do not compile after a JSON round trip: %v\n%s", err, text)
		}
		if b2, _ := json.Marshal(&back); !bytes.Equal(b, b2) {
			t.Fatalf("JSON differs after a round trip:\n%s\n%s", b, b2)
		}
		if err := r.Compile(); err != nil {
			t.Fatalf("compiling parsed rules again: %v", err)
		}
	})
}

// TestFuzzCorpus checks that testdata/fuzz holds the seeds defined here;
// go test -run TestFuzzCorpus -update rewrites them.
func TestFuzzCorpus(t *testing.T) {
	want := map[string][]byte{}
	for name, text := range parseRulesSeeds(t) {
		want[filepath.Join("FuzzParseRules", name)] = fuzzcorpus.File(text)
	}
	// The default seed is added by FuzzParseRules as the rules are now.
	fuzzcorpus.Check(t, want, *update, filepath.Join("FuzzParseRules", "default"))
}
