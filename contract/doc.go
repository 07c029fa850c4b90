// Package contract is what a FieldSync device and the FieldSync server agree
// on: the JSON wire types of the /v1 protocol, the sync rules as data, and the
// rules engine that decides what an operation from a device does.
//
// The server runs the engine to apply, hold or refuse each operation; a device
// runs the same engine against its local copy to refuse at once what the
// server would refuse. The package imports only the standard library so that
// both sides, and native bindings, can share it without cycles.
package contract
