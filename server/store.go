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
//
// The interfaces below say what each part of the server needs: sign-in
// (AccountReader, AccountWriter), applying operations (LedgerReader,
// LedgerWriter), pulls and history (FeedReader), the review queue
// (ReviewReader, ReviewWriter) and photo uploads (UploadReader,
// UploadWriter). How a store makes them fast (caches,
// batched writes, savepoints, checkpoints) is its own business.
//
// Every method that can fail returns an error. A store whose database
// cannot be reached returns an error that wraps ErrUnavailable; one that
// cannot get the locks it needs in time, ErrBusy. Both mean nothing was
// written and the caller may try again.
type Store interface {
	// Write runs fn in one write transaction. If fn returns an error
	// nothing it wrote is kept. A store may run fn more than once, when a
	// concurrent transaction forced its first run to give up: fn must have
	// no effect outside the transaction until Write returns.
	Write(ctx context.Context, fn func(Tx) error) error
	// Read runs fn on a consistent snapshot.
	Read(ctx context.Context, fn func(Query) error) error
	Close() error
}

// Query reads the store. Lookups of something absent return nil and no
// error. Records and reviews returned may be shared with other readers:
// callers must not modify them.
type Query interface {
	AccountReader
	LedgerReader
	FeedReader
	ReviewReader
	UploadReader
}

// Tx reads and writes the store inside Write.
type Tx interface {
	Query
	AccountWriter
	LedgerWriter
	ReviewWriter
	UploadWriter
}

// AccountReader reads users, sessions, devices and sign-in throttles.
type AccountReader interface {
	User(id string) (*UserRow, error)
	UserByName(name string) (*UserRow, error)
	Users() ([]UserRow, error)
	Session(tokenHash []byte) (*Session, error)
	// DeviceUser returns the user a device id is bound to, or "".
	DeviceUser(deviceID string) (string, error)
	// Throttles returns the sign-in throttles among keys that exist.
	Throttles(keys []string) ([]Throttle, error)
}

// AccountWriter changes users, sessions, devices and sign-in throttles.
type AccountWriter interface {
	// AddUser stores a new user; a name taken already, whatever its case,
	// is an error.
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

// LedgerReader reads records and the stored results of operations.
type LedgerReader interface {
	// Record returns a record as this transaction sees it. Inside Write it
	// also holds the record against other writers until the transaction
	// ends, as RecordsByID does.
	Record(id string) (*contract.Record, error)
	// RecordsByID returns the records among ids that exist, in no order.
	// Inside Write, it holds them in id order.
	RecordsByID(ids []string) ([]contract.Record, error)
	Items(parentID string) ([]contract.Record, error)
	Result(opID string) (*StoredResult, error)
	// Results returns the stored results among opIDs, in no order.
	Results(opIDs []string) ([]StoredResult, error)
	// SeesThrough reports whether userID sees recordID through a job they
	// are on: a technician and the customers of their jobs.
	SeesThrough(userID, recordID string) (bool, error)
	// Matches returns records of typ with the given match key.
	Matches(typ, key string) ([]contract.Record, error)
}

// LedgerWriter applies operations: their records, change-log rows and
// results.
type LedgerWriter interface {
	// Claim returns the stored results among opIDs and claims the other
	// ids for this transaction: until it ends, another transaction that
	// claims one of them waits for it, and then finds its result. An
	// operation stores its result with PutResults; a claimed id that has
	// none when the transaction commits is released, so that the
	// operation can be tried again.
	Claim(opIDs []string) ([]StoredResult, error)
	// BeginOp starts the writes of one operation. EndOp(true) keeps them;
	// EndOp(false) undoes every write since BeginOp, and the transaction
	// goes on as if the operation had never been tried. Operations do not
	// nest.
	BeginOp() error
	EndOp(keep bool) error
	// NextSeq returns a sequence number for a record or review written in
	// this transaction: larger than the one of any version of that record
	// or review stored before, because the record is held (Record,
	// RecordsByID) or new.
	NextSeq() (int64, error)
	// NextNumber returns the next record number with a prefix, such as
	// J-1001: no number is given twice, and none is skipped.
	NextNumber(prefix string) (string, error)
	// LockMatch holds the match key of records of typ until the
	// transaction ends: of two transactions creating records with the same
	// key, the second waits for the first and then finds its record among
	// Matches.
	LockMatch(typ, key string) error
	PutRecords(ws []RecordWrite) error
	AddChanges(changes []contract.Change) error
	PutResults(rs []StoredResult) error
	// SetAccess replaces who is on a job, and returns who was added.
	SetAccess(jobID string, userIDs []string) (added []string, err error)
	// Touch gives every record hanging off or linked from a job, and their
	// reviews, a new sequence number so that people added to the job pull
	// them; no push answer carried their new state. So too the jobs whose
	// review suspects they duplicate this one, and those reviews: they name
	// the match only to people who see it. Records the transaction read
	// before may have changed.
	Touch(jobID string) error
	// ClearAnswered forgets which device's push answer carried the current
	// state of these records, so that every pull includes them.
	ClearAnswered(ids ...string) error
}

// FeedReader serves pulls and record history.
type FeedReader interface {
	// Pull returns up to limit records and reviews in scope that come
	// after a position in the feed, in feed order. Records whose current
	// state was sent to device answered in a push answer are left out; ""
	// leaves nothing out.
	//
	// The feed rule, which makes a pull never skip a change: once Pull or
	// Head has shown a position, no write may still commit a record or
	// review at that position or before it. A device's cursor moves past
	// every position it was shown (and to Head at the end of a pull), so a
	// change committed later at an earlier position would never reach it.
	// A store with one writer gets the rule from taking sequence numbers
	// inside its write transactions, which commit in the order they ran:
	// its positions are sequence numbers. A store with concurrent writers
	// must place each write after every write that could still commit
	// before it, and show a reader only what lies before the oldest write
	// still running.
	Pull(scope Scope, after Position, limit int, answered string) (FeedPage, error)
	// Head returns the position a cursor may move to once a pull has shown
	// everything in scope: nothing can still commit at or before it.
	Head() (Position, error)
	// Changes returns a record's change log, oldest first.
	Changes(recordID string) ([]contract.Change, error)
	// LastChange returns the newest change-log row of a record's field
	// group, or nil.
	LastChange(recordID, group string) (*contract.Change, error)
}

// ReviewReader reads the review queue.
type ReviewReader interface {
	Review(id string) (*contract.Review, error)
	OpenReview(recordID, group string) (*contract.Review, error)
	Reviews(scope Scope, openOnly bool) ([]contract.Review, error)
}

// ReviewWriter stores review items.
type ReviewWriter interface {
	// PutReview stores a review item; scope is the job it belongs to. A
	// second open review of one record's field group is an error.
	PutReview(rv *contract.Review, scope string) error
}

// UploadReader reads how far photo uploads have come.
type UploadReader interface {
	// Parts returns the parts of a photo's content stored so far, by
	// offset.
	Parts(photoID string) ([]Part, error)
}

// UploadWriter records the parts of photo uploads. The parts of a photo
// are what every server sharing the store agrees it has received: a part
// is in the blob store before it is recorded, and is forgotten here
// before it is deleted there.
type UploadWriter interface {
	// AddPart records a part, unless the photo has a part at that offset
	// already: then it records nothing and returns false. Of two servers
	// recording a part at the same offset at once, one gets true and the
	// other, once the first committed, false.
	AddPart(p Part) (bool, error)
	// DropParts forgets every part of a photo.
	DropParts(photoID string) error
	// StaleParts returns up to limit photos' parts, those of photos whose
	// newest part was recorded before a time: uploads nobody finished.
	StaleParts(before time.Time, limit int) ([]Part, error)
}

// Part is a piece of a photo's content: Size bytes from Offset, kept in
// the blob store under Key.
type Part struct {
	PhotoID string
	Offset  int64
	Size    int64
	Key     string
	At      time.Time // when it was recorded
}

// Position is a place in the change feed. Feed order is by Epoch, then by
// Seq. A store with one writer leaves Epoch 0 and orders by sequence
// number alone; a store with concurrent writers puts in Epoch what orders
// its commits, such as a transaction id.
type Position struct {
	Epoch int64
	Seq   int64
}

// Before reports whether p comes before q in feed order.
func (p Position) Before(q Position) bool {
	return p.Epoch < q.Epoch || p.Epoch == q.Epoch && p.Seq < q.Seq
}

// FeedPage is one page of a pull.
type FeedPage struct {
	Records []contract.Record
	Reviews []contract.Review
	// Last is the position of the last record or review in the page, or
	// the position pulled after when the page is empty.
	Last Position
	// More says the feed holds more in scope after Last.
	More bool
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

// ErrBusy means the store could not get the locks it needs in time;
// nothing was written and the caller may try again.
var ErrBusy = errors.New("store busy")

// ErrUnknownPosition means a pull asked for a position in the feed that
// this store never gave out.
var ErrUnknownPosition = errors.New("not a position this server gave out")

// ErrUnavailable means the store's database could not be reached; nothing
// was written and the caller may try again.
var ErrUnavailable = errors.New("database unavailable")
