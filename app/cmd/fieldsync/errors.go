package main

import (
	"context"
	"errors"

	"fieldsync/app"
	"fieldsync/contract"
	"fieldsync/localstore"
)

// Codes of failures that start on the device, beside the protocol's own
// (contract.Code).
const (
	codeUsage         contract.Code = "usage"          // the command line makes no sense
	codeStoreUnusable contract.Code = "store_unusable" // the store file is not a whole FieldSync store
	codeUnsynced      contract.Code = "unsynced"       // signing out would lose work the server lacks
	codeFailed        contract.Code = "failed"         // anything else: the message says what
)

// classify returns the code and kind of a command's failure, for scripts:
// the kind says whether running the command again later can help.
func classify(err error) (contract.Code, contract.Kind) {
	var (
		ce       *contract.Error
		ue       usageError
		unsynced *app.UnsyncedError
	)
	switch {
	case errors.As(err, &ce): // the protocol's failures, from the server or the client

		code, kind := ce.Code, ce.Kind
		if code == "" {
			code = contract.CodeInvalid
		}
		if kind == "" {
			kind = contract.KindOf(code)
		}
		return code, kind
	case errors.As(err, &ue):
		return codeUsage, contract.Invalid
	case errors.Is(err, localstore.ErrUnusable):
		return codeStoreUnusable, contract.Invalid
	case errors.Is(err, app.ErrNotSignedIn):
		return contract.CodeUnauthorized, contract.Refusal
	case errors.As(err, &unsynced):
		return codeUnsynced, contract.Refusal
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return contract.CodeUnavailable, contract.Transient
	}
	// Whatever else failed did so on this device (no such job, say), and
	// running the same command again would fail the same way. Not
	// contract.CodeInternal: that is the server failing, which is transient.
	return codeFailed, contract.Refusal
}
