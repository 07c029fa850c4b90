// Package wirejson reads and writes the JSON of push and pull quickly: the
// hot paths of the server and of the device's sync code. Every function gives
// exactly what encoding/json would, or falls back to it; the fuzz tests hold
// it to that.
//
// It is internal because only the server and the device code that move
// batches need it; screens and bindings use encoding/json.
package wirejson
