package server

import (
	"time"

	"github.com/google/uuid"
)

// NewV7 returns a new UUIDv7 for the time now: its first 48 bits are now
// in milliseconds since 1970, the rest (but the version and variant) are
// random, from the source github.com/google/uuid draws on. Devices make
// their ids the same way (docs/protocol.md §1.1), so that new ids land at
// the end of each index.
//
// A server makes its ids with NewV7 by its own clock (Options.Now), not
// with uuid.NewV7, which reads the wall clock: a server on a test clock,
// as in the simulation, makes the same ids from the same seed.
func NewV7(now time.Time) string {
	id := uuid.New()
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	id[6] = id[6]&0x0f | 0x70 // version 7; the variant bits are uuid.New's
	return id.String()
}
