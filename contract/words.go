package contract

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

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

// SizeWords says a number of bytes as a person reads it: "25.0 MB".
func SizeWords(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
