package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"fieldsync/server/blobstore"
	"fieldsync/server/blobstore/s3"
)

// blobsHelp is the help text of --blobs.
const blobsHelp = "where photo content is kept: s3://BUCKET/PREFIX?endpoint=HOST:PORT&region=REGION for S3-compatible " +
	"object storage, which every instance of a cluster shares (keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), " +
	"or else a directory"

// blobCheckTimeout bounds each check of the blob store at start.
const blobCheckTimeout = 15 * time.Second

// blobFlags defines --blobs and --blob-dir on fs. --blob-dir DIR is what
// --blobs DIR says, kept for the command lines written before --blobs;
// naming the store twice is an error. The returned function, called after
// parsing, gives the store's location: an s3:// URL or a directory,
// defaultDir when neither flag is given, which the help calls
// defaultHelp.
func blobFlags(fs *flag.FlagSet, defaultDir, defaultHelp string) func() (string, error) {
	blobs := fs.String("blobs", "", blobsHelp+" (default: "+defaultHelp+")")
	dir := fs.String("blob-dir", "", "a directory for photo content: the same as --blobs DIR")
	return func() (string, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		switch {
		case set["blobs"] && set["blob-dir"]:
			return "", fmt.Errorf("%s: --blobs and --blob-dir both name where photos are kept; give one (--blob-dir DIR is --blobs DIR)", fs.Name())
		case set["blobs"]:
			if strings.TrimSpace(*blobs) == "" {
				return "", fmt.Errorf("%s: --blobs is empty; give s3://BUCKET/PREFIX or a directory", fs.Name())
			}
			if scheme, _, ok := strings.Cut(*blobs, "://"); ok && scheme != "s3" {
				return "", fmt.Errorf("%s: --blobs %s: unknown kind of store %q; want s3://BUCKET/PREFIX or a directory", fs.Name(), describeBlobs(*blobs), scheme)
			}
			if strings.HasPrefix(*blobs, "s3:") && !isS3(*blobs) {
				return "", fmt.Errorf("%s: --blobs %s: an S3 store is written s3://BUCKET/PREFIX", fs.Name(), *blobs)
			}
			return *blobs, nil
		case set["blob-dir"]:
			if strings.TrimSpace(*dir) == "" {
				return "", fmt.Errorf("%s: --blob-dir is empty", fs.Name())
			}
			return *dir, nil
		}
		return defaultDir, nil
	}
}

// isS3 reports whether a --blobs value names S3-compatible object storage
// rather than a directory.
func isS3(blobs string) bool { return strings.HasPrefix(blobs, "s3://") }

// openBlobs opens the blob store a --blobs value names and checks that it
// can be reached and takes writes, so that a server that could not keep
// photos stops at start rather than failing its first upload. Errors name
// the store without its secrets.
func openBlobs(ctx context.Context, blobs string) (blobstore.Store, error) {
	name := describeBlobs(blobs)
	var st blobstore.Store
	if isS3(blobs) {
		cfg, err := s3.ParseURL(blobs)
		if err != nil {
			return nil, fmt.Errorf("--blobs: %w", err)
		}
		cctx, cancel := context.WithTimeout(ctx, blobCheckTimeout)
		defer cancel()
		s, err := s3.New(cctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("blob store %s: %w", name, err)
		}
		st = s
	} else {
		d, err := blobstore.Dir(blobs)
		if err != nil {
			return nil, fmt.Errorf("blob store %s: %w", name, err)
		}
		st = d
	}
	cctx, cancel := context.WithTimeout(ctx, blobCheckTimeout)
	defer cancel()
	if err := st.Check(cctx); err != nil {
		return nil, fmt.Errorf("blob store %s takes no writes: %w", name, err)
	}
	return st, nil
}

// describeBlobs is how logs and messages name a --blobs value: an s3://
// URL without user information or any setting that looks like a secret,
// a directory as it is.
func describeBlobs(blobs string) string {
	scheme, _, ok := strings.Cut(blobs, "://")
	if !ok {
		return blobs
	}
	u, err := url.Parse(blobs)
	if err != nil {
		return "a " + scheme + ":// URL that does not parse"
	}
	u.User = nil
	var kept []string
	for kv := range strings.SplitSeq(u.RawQuery, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if k, err := url.QueryUnescape(k); err == nil && !secretSetting(k) {
			kept = append(kept, kv)
		}
	}
	u.RawQuery = strings.Join(kept, "&")
	return u.String()
}

// secretSetting reports whether a URL setting's name looks like one that
// holds a secret.
func secretSetting(name string) bool {
	l := strings.ToLower(name)
	for _, w := range []string{"secret", "key", "token", "password", "credential", "signature"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}
