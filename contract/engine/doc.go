// Package engine decides what an operation from a device does under a set of
// rules: apply it, hold it for review, or refuse it with a reason. The server
// runs it to apply each operation; a device runs the same engine against its
// local copy to refuse at once what the server would refuse, and asks it what
// to offer (AllowedMoves, MayEdit, CanSee).
//
// One file per decision: create.go (new records and appended items),
// update.go (field groups, bases and streaks), transition.go (status moves),
// lifecycle.go (void, reassign, reopen), access.go (ownership and who may
// see what) and queries.go (the questions screens and the server ask outside
// a decision).
//
// It imports only the standard library and packages contract and rulebook.
package engine
