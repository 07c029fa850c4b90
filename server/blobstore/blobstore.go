// Package blobstore keeps photo content: named blobs of bytes, behind an
// interface with two implementations. Dir keeps them in a directory, for a
// server on one machine; the s3 subpackage keeps them in S3-compatible
// object storage, which every instance of a cluster shares. The server
// decides what the blobs mean; upload progress and who may write which
// piece live in its database, so a blob store needs no locks of its own.
// It imports only the standard library.
package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Store keeps blobs under keys. Every method is safe for concurrent use,
// also by several processes sharing one store.
type Store interface {
	// Put stores size bytes read from r under key, replacing any blob
	// there. The blob appears whole or not at all: when r ends before size
	// bytes, holds more, or fails, Put stores nothing and returns an error.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Open returns a blob's content, which the caller closes, with its
	// Info; ErrNotFound when there is none.
	Open(ctx context.Context, key string) (Reader, Info, error)
	// Stat returns a blob's Info; ErrNotFound when there is none.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes a blob. Deleting a blob that is not there succeeds.
	Delete(ctx context.Context, key string) error
	// List returns the blobs whose keys start with prefix, in key order.
	List(ctx context.Context, prefix string) ([]Info, error)
	// Check reports whether the store can be reached now and takes
	// writes: /healthz asks it.
	Check(ctx context.Context) error
}

// Reader reads a blob's content; it seeks, so that a download can be
// served in ranges.
type Reader interface {
	io.ReadSeekCloser
}

// Info describes a stored blob.
type Info struct {
	Key      string
	Size     int64
	Modified time.Time
}

// ErrNotFound is the error of Open and Stat when no blob has the key.
var ErrNotFound = errors.New("blobstore: no such blob")

// CheckKey returns an error unless key is one a Store takes: one to 512
// characters of lower-case letters, digits, '-', '.' and '_', in parts
// separated by single '/', none of them empty, "." or "..", nor longer
// than 255 characters, which file systems take at most. Keys come
// from the server, never from a request, but every Store checks them so
// that no mistake can reach outside its directory or bucket.
func CheckKey(key string) error {
	if key == "" || len(key) > 512 {
		return fmt.Errorf("blobstore: key %.40q is empty or longer than 512 bytes", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("blobstore: key %q has an empty, . or .. part", key)
		}
		if len(part) > 255 {
			return fmt.Errorf("blobstore: key %.40q… has a part longer than 255 characters", key)
		}
		for _, c := range part {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
				return fmt.Errorf("blobstore: key %q holds %q; keys use a-z, 0-9, '-', '.', '_' and '/'", key, c)
			}
		}
	}
	return nil
}

// CheckPrefix returns an error unless prefix is empty or a key, or a key
// followed by '/': the prefixes List takes.
func CheckPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return CheckKey(strings.TrimSuffix(prefix, "/"))
}
