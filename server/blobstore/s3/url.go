package s3

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
)

// The environment variables Open takes credentials from when its URL has
// none: the ones every S3 tool reads.
const (
	EnvAccessKey    = "AWS_ACCESS_KEY_ID"
	EnvSecretKey    = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken = "AWS_SESSION_TOKEN"
)

// form is the end of the errors of a URL that does not parse.
const form = "the form is s3://[ACCESS_KEY:SECRET_KEY@]BUCKET[/PREFIX][?endpoint=HOST:PORT], " +
	"with any '/', '?', '#', '@' or '%' in the keys percent-encoded (%2F for '/'), " +
	"or the keys in " + EnvAccessKey + " and " + EnvSecretKey + " instead"

// DefaultEndpoint is the endpoint of a URL that names none: Amazon S3.
const DefaultEndpoint = "s3.amazonaws.com"

// Open returns a Store for a URL of the form
//
//	s3://[ACCESS_KEY:SECRET_KEY@]BUCKET[/PREFIX][?endpoint=HOST:PORT&region=REGION&insecure=1&create=1]
//
// BUCKET is the bucket and PREFIX, when given, the Config.Prefix inside
// it. The query may say:
//
//   - endpoint: the server's host:port; Amazon S3 (s3.amazonaws.com) when
//     left out.
//   - region: the bucket's region; us-east-1 when left out.
//   - insecure=1: speak plain http rather than https, for a server on the
//     same machine or a private network.
//   - create=1: create the bucket when it does not exist (Config.CreateBucket).
//
// insecure and create take 1, true or yes, or 0, false or no; alone they
// mean 1.
//
// Credentials come from the URL's user information when it has any, both
// parts percent-encoded (a '/' in a secret key is written %2F), or else
// from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN
// for temporary ones). Keeping the secret in the environment keeps it out
// of command lines and process listings. Errors never repeat the secret.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg)
}

// ParseURL returns the Config that a URL of Open's form describes, with
// credentials from the environment when the URL has none.
func ParseURL(rawURL string) (Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// The parser's reason can quote part of a secret key it took for
		// something else, so it is left out.
		return Config{}, errors.New("s3: the URL does not parse; " + form)
	}
	if strings.Contains(u.Host, ":") {
		// Not quoted: it may be ACCESS_KEY:SECRET_KEY cut short.
		return Config{}, errors.New("s3: the URL names a bucket with a ':', which no bucket has; " + form)
	}
	if u.Scheme != "s3" {
		return Config{}, fmt.Errorf("s3: URL %q does not start with s3://", Redacted(rawURL))
	}
	if u.Opaque != "" || u.Host == "" {
		return Config{}, fmt.Errorf("s3: URL %q names no bucket; the form is s3://BUCKET/PREFIX?endpoint=HOST:PORT", Redacted(rawURL))
	}
	if u.Fragment != "" {
		return Config{}, fmt.Errorf("s3: URL %q has a #fragment, which means nothing here", Redacted(rawURL))
	}
	cfg := Config{
		Bucket:   u.Host,
		Prefix:   strings.TrimPrefix(u.Path, "/"),
		Endpoint: DefaultEndpoint,
		Secure:   true,
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Config{}, fmt.Errorf("s3: URL %q: query: %v", Redacted(rawURL), err)
	}
	for _, name := range sortedKeys(q) {
		v := q.Get(name)
		switch name {
		case "endpoint":
			cfg.Endpoint = v
		case "region":
			cfg.Region = v
		case "insecure":
			b, err := parseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("s3: URL %q: insecure=%s: %v", Redacted(rawURL), v, err)
			}
			cfg.Secure = !b
		case "create":
			b, err := parseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("s3: URL %q: create=%s: %v", Redacted(rawURL), v, err)
			}
			cfg.CreateBucket = b
		default:
			return Config{}, fmt.Errorf("s3: URL %q: unknown setting %q; the settings are endpoint, region, insecure and create", Redacted(rawURL), name)
		}
	}

	if u.User != nil {
		secret, ok := u.User.Password()
		if u.User.Username() == "" || !ok || secret == "" {
			return Config{}, fmt.Errorf("s3: URL %q: give both keys, as s3://ACCESS_KEY:SECRET_KEY@BUCKET, or neither and set %s and %s",
				Redacted(rawURL), EnvAccessKey, EnvSecretKey)
		}
		cfg.AccessKey, cfg.SecretKey = u.User.Username(), secret
	} else {
		cfg.AccessKey, cfg.SecretKey = os.Getenv(EnvAccessKey), os.Getenv(EnvSecretKey)
		cfg.SessionToken = os.Getenv(EnvSessionToken)
		if cfg.AccessKey == "" || cfg.SecretKey == "" {
			return Config{}, fmt.Errorf("s3: URL %q has no credentials and %s or %s is not set", Redacted(rawURL), EnvAccessKey, EnvSecretKey)
		}
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Redacted returns rawURL with its secret key, if any, replaced by
// "xxxxx", for logs and messages. A string that does not parse as Open's
// URLs do comes back as a placeholder, as it may hold a secret key where
// the parser did not look for one: a key with an unencoded '/' ends the
// host part early, and the rest of it lands in the path.
func Redacted(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || strings.Contains(u.Host, ":") || strings.Contains(u.Path, "@") {
		return "(an s3 URL that does not parse)"
	}
	return u.Redacted()
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "":
		return true, nil
	case "0", "false", "no":
		return false, nil
	}
	return false, errors.New("want 1 or 0")
}

func sortedKeys(q url.Values) []string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
