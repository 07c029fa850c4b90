package server

import (
	"context"
	"errors"
	"time"

	"fieldsync/contract"
)

// Store keeps the server's records, results, reviews, change log, users and
// sessions. Write runs one transaction: an operation's effects, its stored
// result and its change-log rows commit together or not at all.
type Store interface {
	// Write runs fn in one write transaction. If fn returns an error nothing
	// it wrote is kept.
	Write(ctx context.Context, fn func(Tx) error) error
	// Read runs fn on a consistent snapshot.
	Read(ctx context.Context, fn func(Query) error) error
	Close() error
}

// Query reads the store. Lookups of something absent return nil and no error.
type Query interface {
	Record(id string) (*contract.Record, error)
	// RecordsByID returns the records among ids that exist, in no order.
	RecordsByID(ids []string) ([]contract.Record, error)
	Items(parentID string) ([]contract.Record, error)
	Result(opID string) (*StoredResult, error)
	// Results returns the stored results among opIDs, in no order.
	Results(opIDs []string) ([]StoredResult, error)
	User(id string) (*UserRow, error)
	UserByName(name string) (*UserRow, error)
	Users() ([]UserRow, error)
	Session(tokenHash []byte) (*Session, error)
	// DeviceUser returns the user a device id is bound to, or "".
	DeviceUser(deviceID string) (string, error)
	// Throttles returns the sign-in throttles among keys that exist.
	Throttles(keys []string) ([]Throttle, error)
	// SeesThrough reports whether userID sees recordID through a job they
	// are on: a technician and the customers of their jobs.
	SeesThrough(userID, recordID string) (bool, error)
	Changes(recordID string) ([]contract.Change, error)
	LastChange(recordID, group string) (*contract.Change, error)
	Review(id string) (*contract.Review, error)
	OpenReview(recordID, group string) (*contract.Review, error)
	Reviews(scope Scope, openOnly bool) ([]contract.Review, error)
	// Pull returns up to limit records and up to limit reviews in scope
	// with a sequence number above after, each in sequence order. Records
	// whose current state was sent to device answered in a push answer are
	// left out; "" leaves nothing out.
	//
	// The feed rule, which makes a pull never skip a change: once Pull or
	// LastSeq has shown a sequence number, no write may still commit a
	// record or review at that number or below it. A device's cursor moves
	// past every number it was shown (and to LastSeq at the end of a
	// pull), so a change committed later under a smaller number would never
	// reach it. This store gets the rule from its single writer: Write
	// transactions run one at a time and take their numbers (Tx.NextSeq)
	// inside, so numbers commit in the order given, and LastSeq reports
	// only committed ones. A store with concurrent writers must instead
	// show a reader only the changes below the oldest write still running.
	Pull(scope Scope, after int64, limit int, answered string) ([]contract.Record, []contract.Review, error)
	// LastSeq returns the newest sequence number of any committed record or
	// review; see Pull for the rule it keeps.
	LastSeq() (int64, error)
	// Matches returns records of typ with the given match key.
	Matches(typ, key string) ([]contract.Record, error)
}

// Tx writes the store inside Write.
type Tx interface {
	Query
	// AfterCommit runs fn once the transaction has committed, before the
	// next write transaction starts.
	AfterCommit(fn func())
	// Savepoint marks a point that RollbackTo returns to; Release forgets
	// it. Savepoints do not nest.
	Savepoint() error
	RollbackTo() error
	Release() error
	// NextSeq returns the next position in the change stream.
	NextSeq() int64
	// NextNumber returns the next record number with a prefix, such as J-1001.
	NextNumber(prefix string) (string, error)
	PutRecords(ws []RecordWrite) error
	AddChanges(changes []contract.Change) error
	PutResults(rs []StoredResult) error
	// PutReview stores a review item; scope is the job it belongs to.
	PutReview(rv *contract.Review, scope string) error
	// SetAccess replaces who is on a job, and returns who was added.
	SetAccess(jobID string, userIDs []string) (added []string, err error)
	// Touch gives every record hanging off or linked from a job, and their
	// reviews, a new sequence number so that people added to the job pull
	// them; no push answer carried their new state. So too the jobs whose
	// review suspects they duplicate this one, and those reviews: they name
	// the match only to people who see it.
	Touch(jobID string) error
	// ClearAnswered forgets which device's push answer carried the current
	// state of these records, so that every pull includes them.
	ClearAnswered(ids ...string) error
	AddUser(u UserRow) error
	AddSession(s Session) error
	// BindDevice binds a device id to userID unless it is bound already,
	// and returns the user it is bound to: a device id belongs to the
	// first user who signs in with it, for good.
	BindDevice(deviceID, userID string, at time.Time) (string, error)
	// PutThrottle stores a sign-in throttle; ClearThrottles forgets some;
	// PruneThrottles forgets those whose last failure and wait both ended
	// before a time.
	PutThrottle(t Throttle) error
	ClearThrottles(keys []string) error
	PruneThrottles(before time.Time) error
	RevokeSession(hash []byte, at time.Time) error
	RevokeUserSessions(userID string, at time.Time) (int, error)
}

// RecordWrite is a record to store with its index.
type RecordWrite struct {
	Record *contract.Record
	Index  Index
	// Stored says the record is in the store already with the same scope,
	// match key and number, so only its document and sequence change.
	Stored bool
	// Answered is the device whose push answer carries this state of the
	// record, or "" when none does.
	Answered string
	// Doc is the record's JSON (wirejson.MarshalRecord), made once for the
	// store and the answer.
	Doc []byte
}

// Index is what the store keeps beside a record to find it quickly.
type Index struct {
	Scope string   // the job a record belongs to, for people on that job; "" when none
	Links []string // team-owned records a job links to, seen by people on the job
	// LinksChanged says Links differ from what is stored; when false the
	// store leaves the stored links alone.
	LinksChanged bool
	MatchKey     string // duplicate-suspect key; "" when none
}

// Scope says which records someone sees. Types lists the record types they
// see all of; UserID sees the rest only through jobs they are on.
type Scope struct {
	UserID string
	Types  []string
}

// StoredResult is the result of an operation, kept so a replay returns it.
type StoredResult struct {
	OpID   string
	UserID string
	Result contract.Result
	At     time.Time
	// Doc is the result's JSON (wirejson.MarshalResult), made once for the
	// store and the answer; nil to have the store make it.
	Doc []byte
}

// UserRow is a user as stored.
type UserRow struct {
	contract.User
	PasswordHash []byte
	CreatedAt    time.Time
	Disabled     bool
}

// Session is a sign-in; only the token's hash is stored.
type Session struct {
	Hash      []byte
	UserID    string
	DeviceID  string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time
}

// Throttle counts the failed sign-ins of one key (a user name or a client
// address) and says until when sign-ins for it are refused.
type Throttle struct {
	Key      string
	Failures int
	Last     time.Time // the last failure
	Until    time.Time // sign-ins are refused before this
}

// ErrBusy means the store could not get the write lock in time; the caller
// may try again.
var ErrBusy = errors.New("store busy")
