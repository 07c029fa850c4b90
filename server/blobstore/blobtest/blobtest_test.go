package blobtest_test

import (
	"context"
	"strings"
	"testing"

	"fieldsync/internal/s3test"
	"fieldsync/server/blobstore"
	"fieldsync/server/blobstore/blobtest"
	"fieldsync/server/blobstore/s3"
)

// The suite against S3-compatible storage: a real versitygw, a new bucket
// for each subtest.
func TestS3(t *testing.T) {
	srv := s3test.Start(t)
	blobtest.Run(t, func(t *testing.T) blobstore.Store {
		return openS3(t, srv.NewBucket(t))
	})
}

// The same with a key prefix, beside objects of other prefixes that the
// store must neither list nor touch.
func TestS3WithPrefix(t *testing.T) {
	srv := s3test.Start(t)
	blobtest.Run(t, func(t *testing.T) blobstore.Store {
		cfg := srv.NewBucket(t)
		for _, other := range []string{"photo", "photos-old", "other/photos"} {
			o := cfg
			o.Prefix = other
			neighbour := openS3(t, o)
			for _, key := range []string{"a/x", "partial/u1/0", "same", "kept", "photo"} {
				if err := neighbour.Put(t.Context(), key, strings.NewReader(""), 0); err != nil {
					t.Fatal(err)
				}
			}
		}
		cfg.Prefix = "photos/"
		return openS3(t, cfg)
	})
}

func openS3(t *testing.T, cfg s3.Config) *s3.Store {
	t.Helper()
	st, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
