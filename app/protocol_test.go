package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"testing"

	"fieldsync/app"
	"fieldsync/contract"
	"fieldsync/server"
)

// protocolProxy serves the env's server through a reverse proxy that says
// the server speaks version in its login and rules answers; a negative
// version leaves the field out, as a server from before it did.
func (e *env) protocolProxy(version int) *httptest.Server {
	e.t.Helper()
	target, err := url.Parse(e.ts.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
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
			e.t.Errorf("%s answered without a protocol version", r.Request.URL.Path)
		}
		if version < 0 {
			delete(doc, "protocol")
		} else {
			doc["protocol"] = json.RawMessage(strconv.Itoa(version))
		}
		body, _ = json.Marshal(doc)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	ps := httptest.NewServer(rp)
	e.t.Cleanup(ps.Close)
	return ps
}

// The device keeps the protocol version the server says it speaks, and
// tells the user to update the app when the server is newer.
func TestTheDeviceKnowsTheServersProtocolVersion(t *testing.T) {
	const update = "The server is newer than this app; update the app when you can."
	tests := []struct {
		name    string
		version int // what the server says; -1: nothing
		want    int
		note    string
	}{
		{"a server that speaks this app's version", contract.Protocol, contract.Protocol, ""},
		{"a newer server", contract.Protocol + 1, contract.Protocol + 1, update},
		{"a server from before the version was said", -1, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ps := e.protocolProxy(tt.version)
			dir := t.TempDir()
			a, err := app.Open(dir, app.Config{ServerURL: ps.URL})
			if err != nil {
				t.Fatal(err)
			}
			if got := a.ServerProtocol(); got != 0 || a.ProtocolNote() != "" {
				t.Errorf("before signing in: version %d, note %q", got, a.ProtocolNote())
			}
			if _, err := a.Login(context.Background(), "", "alex", server.DemoPassword); err != nil {
				t.Fatal(err)
			}
			syncRound(t, a)
			if got := a.ServerProtocol(); got != tt.want {
				t.Errorf("the server's version %d, want %d", got, tt.want)
			}
			if got := a.ProtocolNote(); got != tt.note {
				t.Errorf("note %q, want %q", got, tt.note)
			}
			// Restarted, the device still knows, before it signs in again.
			if err := a.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			a, err = app.Open(dir, app.Config{ServerURL: ps.URL})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close(context.Background())
			if got := a.ServerProtocol(); got != tt.want || a.ProtocolNote() != tt.note {
				t.Errorf("after a restart: version %d, note %q", got, a.ProtocolNote())
			}
		})
	}
}
