// Package contract is the /v1 protocol a FieldSync device and the FieldSync
// server speak: the JSON wire types, the error codes and kinds that say
// whether a retry can help, the plain helpers for field values, and the
// protocol version (Protocol) that login and rules answers carry.
//
// What the two sides share beyond the wire lives in the subpackages, one
// concern each: rulebook holds the sync rules as data (model, rules-file
// parser, default rules, printer) and engine decides what an operation does
// under them. All three import only the standard library (and each other,
// downward: engine → rulebook → contract), so the server, the device code and
// the native bindings share them without cycles.
package contract
