// Package versionproxy serves a real server through a reverse proxy that
// changes the protocol version its login and rules answers carry, so that
// tests can show a device an older or a newer server. Only tests import it.
package versionproxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"testing"
)

// Serve proxies the server at target and returns the proxy's address. The
// login and rules answers say version; a negative version leaves the field
// out, as a server from before it did. An answer that arrives without the
// field fails the test: the real server always sends it.
func Serve(t testing.TB, target string, version int) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	direct := rp.Director
	rp.Director = func(r *http.Request) {
		direct(r)
		if r.URL.Path == "/v1/login" || r.URL.Path == "/v1/rules" {
			r.Header.Set("Accept-Encoding", "identity") // answers to rewrite, as JSON
		}
	}
	rp.ModifyResponse = func(r *http.Response) error {
		if r.Request.URL.Path != "/v1/login" && r.Request.URL.Path != "/v1/rules" || r.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(body, &doc); err != nil {
			return err
		}
		if _, ok := doc["protocol"]; !ok {
			t.Errorf("%s answered without a protocol version", r.Request.URL.Path)
		}
		if version < 0 {
			delete(doc, "protocol")
		} else {
			doc["protocol"] = json.RawMessage(strconv.Itoa(version))
		}
		body, err = json.Marshal(doc)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	ps := httptest.NewServer(rp)
	t.Cleanup(ps.Close)
	return ps.URL
}
