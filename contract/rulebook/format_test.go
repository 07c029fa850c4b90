package rulebook

import (
	"strings"
	"testing"
)

func TestFormatRulesSaysRetryTimingInWords(t *testing.T) {
	text := strings.NewReplacer(
		"retry data first=2s cap=5m", "retry data first=1500ms cap=10m",
		"retry media first=15s cap=15m", "retry media first=61s cap=90s",
	).Replace(readRules(t, "good_minimal.rules"))
	r, err := Parse("caps.rules", text)
	if err != nil {
		t.Fatal(err)
	}
	out := Format(r)
	for _, want := range []string{
		"data lane   first retry after about 1.5 seconds, doubling with jitter, at most 10 minutes apart\n",
		"media lane  first retry after about 1 minute 1 second, doubling with jitter, at most 1 minute 30 seconds apart\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the rules say\n%s\nwant the line %q", out, want)
		}
	}
}
