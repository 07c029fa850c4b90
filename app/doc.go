// Package app is the FieldSync client facade: everything a technician's
// phone or an office desktop does with data, without any screen. The Fyne
// screens (package ui), the native bindings (app/mobile) and the fieldsync
// command use it; screens and bindings use nothing else of ours.
//
// It owns what the device does for a person: signing in and out, with the
// server's protocol version; the edits they make, checked against the
// rules on the device first, with the words the server would use, then
// saved in the device's store with their operation for the sync queue to
// send; the ids of everything the device creates (Config.NewID, UUIDv7);
// what screens show (jobs, a job, reviews, customers, invoices, refused
// drafts, history, values in words); what a screen may offer, worked out
// from the rules, which are data (Powers, a job's moves and what they
// need, whether it can be voided or reopened, the groups of its fields),
// so that no screen names a role, a state or a field group; and the sync
// state in plain words (SyncState: the device's line, each record's
// words, the summary of the last round). It brings the sync state up to
// date after each change it makes; nobody reaches its store or queue.
//
// Where things are: opening, signing in and out, syncing (app.go); the
// ids a device makes (ids.go); saving edits (edit.go), items and the
// signature (items.go), review decisions (resolve.go), refused edits kept
// as drafts (drafts.go); the views the store shows, computed inside its
// transactions (views.go); queries (query.go); what a screen may offer
// (screens.go); values in words (valuewords.go); the sync words
// (syncwords.go); the server's protocol version (protocol.go); the wire
// types screens show, named here (types.go).
//
// It imports the contract packages (contract, contract/rulebook,
// contract/engine), localstore, syncqueue and internal/apiclient, and
// never Fyne, ui or server. The store calls back into it only through
// views, its localstore.Rebaser, which reads nothing but memory.
package app
