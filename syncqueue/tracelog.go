package syncqueue

import (
	"fmt"
	"os"
	"time"
)

var traceStart = time.Now()

func TraceLog(what string, t0 time.Time) {
	if os.Getenv("TRACELOG") == "" {
		return
	}
	fmt.Fprintf(os.Stderr, "%-20s %8.1f -> %8.1f ms (%6.1f)\n", what, float64(t0.Sub(traceStart).Microseconds())/1e3, float64(time.Since(traceStart).Microseconds())/1e3, float64(time.Since(t0).Microseconds())/1e3)
}
