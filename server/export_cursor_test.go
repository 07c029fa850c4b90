package server

// EncodeCursor lets the external tests check that cursors round-trip.
func EncodeCursor(seq int64) string { return encodeCursor(seq) }
