// Package apiclient speaks the /v1 protocol to one FieldSync server: sign-in,
// rules, users, push and pull (with the fast JSON of internal/wirejson),
// reviews, history, duplicate matches and photo uploads in chunks.
//
// It owns the protocol's HTTP on the device's side: requests, the bearer
// token, a simulated loss of signal, and the words of a failure. It asks
// for gzip answers and decompresses them itself; it compresses a JSON body
// of 512 bytes or more once the server has said, in an answer's
// Accept-Encoding, that it takes gzip, and sends the body again as it is
// when a server refuses it. Every answer is read to its end before it is
// closed, so that one connection carries a whole sync. A failed
// request is an *Error that says whether trying again can help and unwraps
// to the protocol's *contract.Error, so code that knows only the contract
// reads the server's code and kind.
//
// It imports only the standard library, contract, contract/rulebook and
// internal/wirejson. The sync queue and the app facade use it; screens and
// bindings never do. Its tests run it against a real server on loopback.
package apiclient
