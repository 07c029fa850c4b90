package contract

import (
	"bytes"
	"encoding/json"
	"time"
)

// Protocol is the version of the /v1 protocol this build speaks. The login
// and rules answers carry the server's, so a device can tell an older server
// (a smaller number, or none at all) from a newer one. The history of the
// numbers is in docs/protocol.md.
const Protocol = 1

// Action is what an operation does to its record.
type Action string

// The actions an operation can carry.
const (
	ActionCreate     Action = "create"     // a new job, customer or invoice
	ActionUpdate     Action = "update"     // set fields of one field group
	ActionAppend     Action = "append"     // a new note, photo or part line on a job
	ActionTransition Action = "transition" // a status move
	ActionVoid       Action = "void"       // void instead of delete
	ActionReassign   Action = "reassign"   // move a job to another owner
	ActionReopen     Action = "reopen"     // reopen a signed-off or closed job
	ActionResolve    Action = "resolve"    // resolve a review item (record type "review")
)

// Actions lists every action in a stable order, for messages and docs.
var Actions = []Action{ActionCreate, ActionUpdate, ActionAppend, ActionTransition,
	ActionVoid, ActionReassign, ActionReopen, ActionResolve}

// ReviewType is the record type an operation names when it resolves a review item.
const ReviewType = "review"

// Operation is one change made on a device. Its ID is a UUID made on the
// device when the user saved; the server applies an operation exactly once,
// however often it arrives.
type Operation struct {
	ID         string                     `json:"id"`
	RecordType string                     `json:"record_type"`
	RecordID   string                     `json:"record_id"`
	Action     Action                     `json:"action"`
	Bases      map[string]int64           `json:"bases,omitempty"`  // field group → version the edit was made from
	Values     map[string]json.RawMessage `json:"values,omitempty"` // field → new value
	DeviceID   string                     `json:"device_id"`
	DeviceTime time.Time                  `json:"device_time"`
}

// Outcome is what happened to one operation.
type Outcome string

// The four outcomes of an operation.
const (
	Applied        Outcome = "applied"
	AlreadyApplied Outcome = "already_applied"
	Held           Outcome = "held"
	Refused        Outcome = "refused"
)

// Result is the server's answer for one operation. A held or refused
// operation is a normal result: it never fails the batch it came in.
type Result struct {
	OpID       string  `json:"op_id"`
	Outcome    Outcome `json:"outcome"`
	RecordType string  `json:"record_type,omitempty"`
	RecordID   string  `json:"record_id,omitempty"`

	// Applied: the record's field group versions after the operation, and
	// the job number the server assigned on create.
	Versions map[string]int64 `json:"versions,omitempty"`
	Number   string           `json:"number,omitempty"`
	// Notice is a plain remark on an applied operation, such as
	// "Added after sign-off" or "Suspected duplicate of J-1002".
	Notice string `json:"notice,omitempty"`

	// Held: the review item the operation joined, the server's version of
	// the group, and why.
	ReviewID string      `json:"review_id,omitempty"`
	Server   *GroupState `json:"server,omitempty"`

	// Held and refused: a reason code, a plain message and, for refused,
	// whether trying again later can help.
	Code    Code   `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	Retry   bool   `json:"retry,omitempty"`

	// AlreadyApplied: the stored result of the first time.
	First *Result `json:"first,omitempty"`
}

// Final is the result that counts: for a replay, the stored first result.
func (r Result) Final() Result {
	if r.Outcome == AlreadyApplied && r.First != nil {
		return *r.First
	}
	return r
}

// GroupState is one field group of a record as the server has it, with who
// last changed it.
type GroupState struct {
	Group      string                     `json:"group"`
	Version    int64                      `json:"version"`
	Values     map[string]json.RawMessage `json:"values"`
	UserID     string                     `json:"user_id,omitempty"`
	UserName   string                     `json:"user_name,omitempty"`
	DeviceID   string                     `json:"device_id,omitempty"`
	DeviceTime time.Time                  `json:"device_time,omitzero"`
	ServerTime time.Time                  `json:"server_time,omitzero"`
}

// Record is a job, customer, invoice, note, photo or part line as the server
// holds it. Devices keep the same shape as "last heard from the server".
type Record struct {
	Type     string                     `json:"type"`
	ID       string                     `json:"id"`
	Number   string                     `json:"number,omitempty"`    // jobs: J-1001
	ParentID string                     `json:"parent_id,omitempty"` // items: the job they hang off
	Fields   map[string]json.RawMessage `json:"fields"`
	Versions map[string]int64           `json:"versions"`

	Owner      string    `json:"owner,omitempty"` // a user id, or a role for records a team owns
	OwnerName  string    `json:"owner_name,omitempty"`
	Author     string    `json:"author"`
	AuthorName string    `json:"author_name,omitempty"`
	DeviceID   string    `json:"device_id"`   // the device that created it
	DeviceTime time.Time `json:"device_time"` // when it was created on that device

	PastOwners   []string          `json:"past_owners,omitempty"` // jobs: earlier assignees, who still see it read only
	Streaks      map[string]Streak `json:"streaks,omitempty"`     // group → the device writing it without interruption
	OpenReviews  []string          `json:"open_reviews,omitempty"`
	DuplicateOf  string            `json:"duplicate_of,omitempty"`  // the job this one seems to repeat, or MatchUnseen
	AfterSignoff bool              `json:"after_signoff,omitempty"` // notes added to a signed-off job
	ContentReady bool              `json:"content_ready,omitempty"` // photos: the server has the whole file

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Seq       int64     `json:"seq"` // position in the server's change stream
}

// MatchUnseen is a suspected duplicate's duplicate_of for a reader who
// cannot see the job it seems to repeat: they learn that a match exists,
// not which job it is.
const MatchUnseen = "unseen"

// Streak records that one device has made every change to a group since
// version Base. A later edit from that device based on Base or newer built on
// its own changes, so it is not a conflict.
type Streak struct {
	DeviceID string `json:"device_id"`
	Base     int64  `json:"base"`
}

// Clone returns a deep copy of r.
func (r *Record) Clone() *Record {
	if r == nil {
		return nil
	}
	c := *r
	c.Fields = make(map[string]json.RawMessage, len(r.Fields))
	for k, v := range r.Fields {
		c.Fields[k] = v
	}
	c.Versions = make(map[string]int64, len(r.Versions))
	for k, v := range r.Versions {
		c.Versions[k] = v
	}
	if r.Streaks != nil {
		c.Streaks = make(map[string]Streak, len(r.Streaks))
		for k, v := range r.Streaks {
			c.Streaks[k] = v
		}
	}
	c.PastOwners = append([]string(nil), r.PastOwners...)
	c.OpenReviews = append([]string(nil), r.OpenReviews...)
	return &c
}

// Text returns a text field, or "" when it is unset.
func (r *Record) Text(field string) string {
	raw, ok := r.Fields[field]
	if !ok {
		return ""
	}
	// Most values are plain quoted strings: skip the decoder for those.
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && bytes.IndexByte(raw[1:n-1], '\\') < 0 && bytes.IndexByte(raw[1:n-1], '"') < 0 {
		return string(raw[1 : n-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// Int returns an integer field, or 0 when it is unset.
func (r *Record) Int(field string) int64 {
	var n int64
	if raw, ok := r.Fields[field]; ok {
		_ = json.Unmarshal(raw, &n)
	}
	return n
}

// Bool returns a boolean field, or false when it is unset.
func (r *Record) Bool(field string) bool {
	var b bool
	if raw, ok := r.Fields[field]; ok {
		_ = json.Unmarshal(raw, &b)
	}
	return b
}

// HasReview reports whether a review item is open on group.
func (r *Record) HasReview(group string) bool {
	for _, g := range r.OpenReviews {
		if g == group {
			return true
		}
	}
	return false
}

// Review kinds.
const (
	KindConflict  = "conflict"  // an edit made from an older version of a review group
	KindOwnership = "ownership" // an edit to an owned group by someone who no longer owns the record
	KindVoided    = "voided"    // a late edit to a voided record
	KindDuplicate = "duplicate" // a new job that matches an open one
)

// Resolution choices.
const (
	KeepServer = "server"    // keep the server's version
	TakeDevice = "device"    // take a device's version
	TypeValue  = "value"     // a value typed by the resolver
	KeepBoth   = "keep_both" // duplicates: both jobs are real
	Merge      = "merge"     // duplicates: void the new job and move its items to the match
)

// Review is an item in the review queue: the server's version and each
// device version that collided with it.
type Review struct {
	ID         string        `json:"id"`
	RecordType string        `json:"record_type"`
	RecordID   string        `json:"record_id"`
	Number     string        `json:"number,omitempty"` // the job's number, for display
	Title      string        `json:"title,omitempty"`
	Group      string        `json:"group"`
	Kind       string        `json:"kind"`
	Reason     string        `json:"reason"` // plain words
	Status     string        `json:"status"` // open or resolved
	Server     GroupState    `json:"server"`
	Device     []ReviewEntry `json:"device"`
	MatchID    string        `json:"match_id,omitempty"` // duplicates: the job it seems to repeat
	Resolution *Resolution   `json:"resolution,omitempty"`
	CreatedAt  time.Time     `json:"created_at"`
	Seq        int64         `json:"seq"`
}

// ReviewEntry is one device's held edit.
type ReviewEntry struct {
	OpID       string                     `json:"op_id"`
	Action     Action                     `json:"action"`
	RecordType string                     `json:"record_type,omitempty"` // appends: the item's type
	RecordID   string                     `json:"record_id,omitempty"`
	UserID     string                     `json:"user_id"`
	UserName   string                     `json:"user_name,omitempty"`
	DeviceID   string                     `json:"device_id"`
	DeviceTime time.Time                  `json:"device_time"`
	ServerTime time.Time                  `json:"server_time"`
	Base       int64                      `json:"base"`
	Values     map[string]json.RawMessage `json:"values"`
	Code       Code                       `json:"code"`
}

// Resolution is how a review item was settled.
type Resolution struct {
	Choice   string                     `json:"choice"`
	Entry    string                     `json:"entry,omitempty"` // the device entry taken
	Values   map[string]json.RawMessage `json:"values,omitempty"`
	OpID     string                     `json:"op_id"`
	UserID   string                     `json:"user_id"`
	UserName string                     `json:"user_name,omitempty"`
	At       time.Time                  `json:"at"`
}

// Change is one row of a record's change log.
type Change struct {
	ID         int64           `json:"id"`
	RecordType string          `json:"record_type"`
	RecordID   string          `json:"record_id"`
	OpID       string          `json:"op_id"`
	UserID     string          `json:"user_id"`
	UserName   string          `json:"user_name,omitempty"`
	DeviceID   string          `json:"device_id"`
	DeviceTime time.Time       `json:"device_time"`
	ServerTime time.Time       `json:"server_time"`
	Group      string          `json:"group"`
	Field      string          `json:"field"`
	Old        json.RawMessage `json:"old"`
	New        json.RawMessage `json:"new"`
	Note       string          `json:"note,omitempty"`
}

// User is a person who signs in.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// LoginRequest is the body of POST /v1/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	DeviceID string `json:"device_id"`
}

// LoginResponse is the answer to a successful login.
type LoginResponse struct {
	Protocol  int       `json:"protocol"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      User      `json:"user"`
}

// PushRequest is the body of POST /v1/push.
type PushRequest struct {
	Ops []Operation `json:"ops"`
}

// PushResponse holds one result per operation, in the order sent, and the
// server's copies of the records the batch wrote.
type PushResponse struct {
	Results []Result `json:"results"`
	// Copies are the records the applied operations wrote (and those a
	// replayed operation names), as they stand after the batch: the ones
	// the caller may see, each once, each a Record as the server stores it.
	// A device keeps them as its server copies, so it need not pull its own
	// changes back; see PullAnswered.
	Copies []json.RawMessage `json:"copies"`
}

// PullAnswered=PullAnsweredOmit is the pull query parameter by which a
// device asks the server to leave out records whose current state this
// device (the session's) was already sent in a push answer's copies. A
// device may ask only when it keeps every copy it was sent since its cursor.
const (
	PullAnswered     = "answered"
	PullAnsweredOmit = "omit"
)

// PullResponse is a page of changes after a cursor.
type PullResponse struct {
	Records []Record `json:"records"`
	Reviews []Review `json:"reviews"`
	Cursor  string   `json:"cursor"`
	More    bool     `json:"more"`
}

// UploadStatus says how much of a photo's content the server holds.
type UploadStatus struct {
	PhotoID  string `json:"photo_id"`
	Size     int64  `json:"size"`
	Received int64  `json:"received"`
	Complete bool   `json:"complete"`
}

// Match is a job that a new job may repeat. Of a job the caller cannot see
// nothing is said but that it exists.
type Match struct {
	ID        string `json:"id,omitempty"`
	Number    string `json:"number,omitempty"`
	Title     string `json:"title,omitempty"`
	Status    string `json:"status,omitempty"`
	OwnerName string `json:"owner_name,omitempty"`
	Visible   bool   `json:"visible"` // false: a job the caller cannot see, of which nothing else is said
}

// MatchesResponse is the answer of GET /v1/jobs/matches.
type MatchesResponse struct {
	Matches []Match `json:"matches"`
}

// ReviewsResponse is the answer of GET /v1/reviews.
type ReviewsResponse struct {
	Reviews []Review `json:"reviews"`
}

// ResolveRequest is the body of POST /v1/reviews/{id}/resolve.
type ResolveRequest struct {
	OpID     string                     `json:"op_id"`
	Choice   string                     `json:"choice"`
	Entry    string                     `json:"entry,omitempty"`
	Values   map[string]json.RawMessage `json:"values,omitempty"`
	DeviceID string                     `json:"device_id,omitempty"`
}

// HistoryResponse is a record's change log, oldest first.
type HistoryResponse struct {
	Changes []Change `json:"changes"`
}

// UsersResponse lists the people a device may show or pick.
type UsersResponse struct {
	Users []User `json:"users"`
}

// RulesResponse carries the rules in force, as data and as text. Rules is
// the JSON of package rulebook's Rules; the wire types do not depend on it.
type RulesResponse struct {
	Protocol int             `json:"protocol"`
	Rules    json.RawMessage `json:"rules"`
	Text     string          `json:"text"`
}

// ErrorBody is the body of every 4xx and 5xx answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong in plain words.
type ErrorDetail struct {
	Code    Code   `json:"code"`
	Kind    Kind   `json:"kind"`
	Message string `json:"message"`
	Retry   bool   `json:"retry"`
}
