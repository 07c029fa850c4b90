// Package server is the FieldSync sync server, a library: New makes an
// http.Handler that serves the /v1 protocol (docs/protocol.md), /healthz
// and /metrics, tested with httptest; the binary is cmd/fieldsyncd.
//
// It owns what becomes of an operation once a device sends it: deciding it
// by the rules engine, then storing its effects, its result and its
// change-log rows in one transaction; the review items that held edits and
// suspected duplicates open, and their resolution; pulls by cursor; photo
// content, uploaded in chunks into a directory of its own; users, sign-in
// and its throttle; and the demo data. It keeps all but photo content in a
// Store, declared here in the domain's words (store.go); each backend is a
// subpackage (sqlitestore). It makes every id it gives with the id maker
// in its Options (UUIDv7 by its clock unless told otherwise).
//
// One concern per file: server.go (Options, New, routes), httpserver.go
// (an http.Server with timeouts), respond.go (answers and request bodies),
// auth.go and throttle.go (sign-in), users.go, access.go (who sees what),
// push.go, pull.go, reviews.go, history.go, photos.go and blobs.go (the
// endpoints and photo content), and, inside a push's transaction,
// applier.go (its cache and waiting writes), apply.go (deciding each
// operation), save.go (storing a record), hold.go (opening review items),
// matches.go (suspected duplicates), resolve.go (settling review items) and
// answer.go (what the answer carries); cache.go, metrics.go, demo.go and
// ids.go besides.
//
// It may import the standard library, the contract leaves (contract,
// contract/rulebook, contract/engine), internal/wirejson for the fast push
// and pull JSON, and github.com/google/uuid, golang.org/x/crypto/bcrypt
// and the Prometheus client. It never imports a device package (app, ui,
// syncqueue, localstore) nor its own backends; internal/layout checks it.
package server
