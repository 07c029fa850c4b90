package contract

import (
	"errors"
	"fmt"
)

// Kind sorts every failure into the few classes that decide what a device
// does next: retry later, show a review, or show "Not sent" with the reason.
type Kind string

// The kinds shared by client and server.
const (
	Transient Kind = "transient" // try again later: no network, a timeout, 5xx, 429
	Conflict  Kind = "conflict"  // held for review; a person decides
	Refusal   Kind = "refused"   // the rules forbid it; retrying cannot help
	Invalid   Kind = "invalid"   // malformed; retrying cannot help
)

// Code is a machine-readable reason.
type Code string

// Reason codes for held and refused operations and for HTTP errors.
const (
	CodeInvalid      Code = "invalid"           // the request or operation is malformed
	CodeUnknownType  Code = "unknown_type"      // no such record type
	CodeUnknownField Code = "unknown_field"     // no such field on the record type
	CodeBadValue     Code = "bad_value"         // a value of the wrong type or out of range
	CodeBadBase      Code = "bad_base"          // a base version is missing or newer than the server's
	CodeNotFound     Code = "not_found"         // the record does not exist
	CodeExists       Code = "exists"            // a different record already has this id
	CodeResolved     Code = "already_resolved"  // the review item was resolved already
	CodeForbidden    Code = "forbidden"         // the role or ownership does not allow it
	CodeLocked       Code = "locked"            // the record is signed off, closed or sent
	CodeWriteOnce    Code = "write_once"        // the value was already set once
	CodeIllegalMove  Code = "illegal_move"      // the status machine does not allow the move
	CodeNeeds        Code = "needs"             // the move needs something first (a signature)
	CodeConflict     Code = "conflict"          // held: changed since the device's version
	CodeOwnership    Code = "ownership_changed" // held: the record moved to another owner
	CodeVoided       Code = "voided"            // held: the record was voided
	CodeReviewOpen   Code = "review_open"       // held: joined an open review item
	CodeUnauthorized Code = "unauthorized"      // no token, or a bad, expired or revoked one
	CodeDeviceTaken  Code = "device_taken"      // the device id belongs to another user: sign in under a new one
	CodeWrongDevice  Code = "wrong_device"      // an operation names a device other than the session's
	CodeTooLarge     Code = "too_large"         // a body, batch or photo over its limit
	CodeChecksum     Code = "checksum_mismatch" // uploaded content does not match its sha256
	CodeOffset       Code = "offset_mismatch"   // an upload chunk does not start where the server is
	CodeIncomplete   Code = "incomplete"        // an upload cut short, or content not uploaded yet: try again
	CodeRateLimited  Code = "rate_limited"      // slow down; see Retry-After
	CodeUnavailable  Code = "unavailable"       // the server cannot answer now
	CodeInternal     Code = "internal"          // the server failed; nothing was applied
)

// KindOf returns the kind of a reason code.
func KindOf(c Code) Kind {
	switch c {
	case CodeConflict, CodeOwnership, CodeVoided, CodeReviewOpen:
		return Conflict
	case CodeRateLimited, CodeUnavailable, CodeInternal, CodeIncomplete:
		return Transient
	case CodeInvalid, CodeUnknownType, CodeUnknownField, CodeBadValue, CodeBadBase,
		CodeTooLarge, CodeChecksum, CodeOffset, CodeWrongDevice:
		return Invalid
	default:
		return Refusal
	}
}

// Error is a failure with a kind, a code and a plain message.
type Error struct {
	Kind    Kind
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error whose kind follows from code.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Kind: KindOf(code), Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the kind of err, or Transient for errors that carry none
// (a dropped connection, a timeout), since those may go away by themselves.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Transient
}
