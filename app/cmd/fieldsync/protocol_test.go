package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"fieldsync/contract"
	"fieldsync/server"
)

// TestLoginSaysWhenTheServerIsNewer: signing in to a server that speaks a
// newer protocol than this build says to update, in words and in --json.
func TestLoginSaysWhenTheServerIsNewer(t *testing.T) {
	target, err := url.Parse(newServer(t))
	if err != nil {
		t.Fatal(err)
	}
	newer := contract.Protocol + 1
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(r *http.Response) error {
		if r.Request.URL.Path != "/v1/login" || r.StatusCode != http.StatusOK {
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
		doc["protocol"] = json.RawMessage(strconv.Itoa(newer))
		body, _ = json.Marshal(doc)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	ps := httptest.NewServer(rp)
	t.Cleanup(ps.Close)

	const update = "The server is newer than this app; update the app when you can."
	d := newDevice(t, ps.URL)
	r := d.run(server.DemoPassword+"\n", "login", "alex")
	if r.code != 0 || !strings.Contains(r.stdout, update) {
		t.Errorf("login to a newer server:\n%s", r)
	}
	var doc struct {
		Protocol int    `json:"server_protocol"`
		Note     string `json:"note"`
	}
	r = newDevice(t, ps.URL).run(server.DemoPassword+"\n", "--json", "login", "alex")
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Protocol != newer || doc.Note != update {
		t.Errorf("--json login: %+v, %v\n%s", doc, err, r)
	}
	if r := newDevice(t, target.String()).run(server.DemoPassword+"\n", "login", "alex"); strings.Contains(r.stdout, "newer") {
		t.Errorf("login to a server of this build's version says:\n%s", r)
	}
}
