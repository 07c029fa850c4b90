// Package rulebook holds FieldSync's sync rules as data: who may do what to
// each record type, the field groups and their policies (last write wins,
// review, append, write once), status machines, locks, limits and retry
// timings. It parses the plain-text rules file, embeds the default rules,
// checks a field's value against its type, and prints rules as tables for
// people.
//
// It imports only the standard library and package contract.
package rulebook
