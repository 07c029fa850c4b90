package app

import "fieldsync/contract"

// The records, review items, changes and people the screens and bindings
// show are the protocol's own types; they are named here so that a
// screen imports app and nothing else of ours.
type (
	// Record is a job, customer, invoice, note, photo or part line.
	Record = contract.Record
	// Review is a review item: two versions of a field group, or a
	// suspected duplicate, waiting for someone to decide.
	Review = contract.Review
	// Change is one entry of a record's history.
	Change = contract.Change
	// User is a person who signs in.
	User = contract.User
)

// A review item's kind, and the choices that settle one (Resolve).
const (
	KindDuplicate = contract.KindDuplicate // a new job that matches an open one

	KeepServer = contract.KeepServer // keep the server's version
	TakeDevice = contract.TakeDevice // take a device's version
	TypeValue  = contract.TypeValue  // a value typed by the person deciding
	KeepBoth   = contract.KeepBoth   // duplicates: both jobs are real
	Merge      = contract.Merge      // duplicates: void the new job and move its items to the match
)
