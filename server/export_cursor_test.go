package server

// EncodeCursor lets the external tests check that cursors round-trip: the
// cursor of a position with epoch 0, as the SQLite store gives.
func EncodeCursor(seq int64) string { return encodeCursor(Position{Seq: seq}) }

// EncodePosition is EncodeCursor for any position.
func EncodePosition(p Position) string { return encodeCursor(p) }
