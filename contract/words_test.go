package contract

import (
	"math"
	"testing"
	"time"
)

func TestDurationWords(t *testing.T) {
	for _, tt := range []struct {
		name string
		d    time.Duration
		want string
	}{
		{"zero is no time at all", 0, "0 seconds"},
		{"one second is singular", time.Second, "1 second"},
		{"whole seconds", 2 * time.Second, "2 seconds"},
		{"a second and a half keeps its half", 1500 * time.Millisecond, "1.5 seconds"},
		{"a minute is a minute", time.Minute, "1 minute"},
		{"61 seconds keep their odd second", 61 * time.Second, "1 minute 1 second"},
		{"90 seconds are a minute and a half", 90 * time.Second, "1 minute 30 seconds"},
		{"ten minutes are not one of anything", 10 * time.Minute, "10 minutes"},
		{"fifteen minutes", 15 * time.Minute, "15 minutes"},
		{"an hour", time.Hour, "1 hour"},
		{"an hour and a second skips the minutes", 3601 * time.Second, "1 hour 1 second"},
		{"hours and minutes", 2*time.Hour + 5*time.Minute, "2 hours 5 minutes"},
		{"every unit at once", time.Hour + time.Minute + time.Second, "1 hour 1 minute 1 second"},
		{"a day", 24 * time.Hour, "1 day"},
		{"days and hours", 49 * time.Hour, "2 days 1 hour"},
		{"half a second in milliseconds", 500 * time.Millisecond, "500 milliseconds"},
		{"one millisecond", time.Millisecond, "1 millisecond"},
		{"a millisecond and a half", 1500 * time.Microsecond, "1.5 milliseconds"},
		{"just under a second is not rounded up to a thousand", time.Second - time.Nanosecond, "999.999 milliseconds"},
		{"microseconds", 250 * time.Microsecond, "250 microseconds"},
		{"nanoseconds", 7, "7 nanoseconds"},
		{"a fraction of a millisecond past a minute is rounded", time.Minute + 400*time.Microsecond, "1 minute"},
		{"a hair under a minute rounds to the minute", time.Minute - 400*time.Microsecond, "1 minute"},
		{"negative", -90 * time.Second, "minus 1 minute 30 seconds"},
		{"the longest duration there is", math.MaxInt64, "106751 days 23 hours 47 minutes 16.854 seconds"},
		{"the most negative duration", math.MinInt64, "minus 106751 days 23 hours 47 minutes 16.854 seconds"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := DurationWords(tt.d); got != tt.want {
				t.Errorf("DurationWords(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}
