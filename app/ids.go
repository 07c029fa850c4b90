package app

import (
	"io"
	"time"

	"github.com/google/uuid"
)

// NewID makes an id for an operation or a record made at now: a UUIDv7,
// whose leading bits are the time in milliseconds, so that the device's and
// the server's indexes of ids take each new one near their end instead of
// anywhere. It tells no more than the time the edit carries anyway. The
// other bits are random, from the source github.com/google/uuid uses. It is
// the id maker an App uses unless Config.NewID names another.
func NewID(now time.Time) string { return v7(uuid.New(), now) }

// NewIDFrom returns an id maker like NewID whose random bits come from r,
// such as a seeded source that makes a simulation repeat itself. r must be
// safe for the callers of the maker to share.
func NewIDFrom(r io.Reader) func(now time.Time) string {
	return func(now time.Time) string {
		id, err := uuid.NewRandomFromReader(r)
		if err != nil {
			panic("app: id source: " + err.Error())
		}
		return v7(id, now)
	}
}

// v7 stamps a random UUID with the time in milliseconds and version 7.
func v7(id uuid.UUID, now time.Time) string {
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	id[6] = id[6]&0x0f | 0x70 // version 7; the variant bits are the random UUID's
	return id.String()
}

// newID makes an id by the app's clock, with the app's id maker.
func (a *App) newID() string { return a.cfg.NewID(a.cfg.Now()) }

// FormID is a fresh id for a form a screen opens to make a record (a job,
// a customer, a note, a part line): the record gets it when the form is
// saved, so saving the same form twice makes one record. The device makes
// every id of what it creates; screens ask for them here.
func (a *App) FormID() string { return a.newID() }
