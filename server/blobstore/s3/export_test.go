package s3

import (
	"context"
	"strings"

	"github.com/minio/minio-go/v7"
)

// SetPartSize makes uploads larger than n bytes go in parts of n bytes,
// so that tests reach multipart uploads with small blobs. n is at least
// 5 MiB, the smallest part S3 takes.
func SetPartSize(s *Store, n uint64) { s.partSize = n }

// PutObject stores an object under any name in the store's bucket, past
// the checks of keys, as another program sharing the bucket could.
func PutObject(ctx context.Context, s *Store, name, body string) error {
	_, err := s.client.PutObject(ctx, s.bucket, name, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
	return err
}

// IncompleteUploads returns the names of objects with multipart uploads
// begun and neither completed nor aborted.
func IncompleteUploads(ctx context.Context, s *Store) ([]string, error) {
	var names []string
	for u := range s.client.ListIncompleteUploads(ctx, s.bucket, "", true) {
		if u.Err != nil {
			return nil, u.Err
		}
		names = append(names, u.Key)
	}
	return names, nil
}
