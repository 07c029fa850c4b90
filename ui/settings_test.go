package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"

	fsapp "fieldsync/app"
	"fieldsync/contract"
	"fieldsync/server"
)

// newerServer serves the world's server through a proxy that says, at
// sign-in, that it speaks a newer protocol than this app.
func (w *world) newerServer() string {
	w.t.Helper()
	target, err := url.Parse(w.url)
	if err != nil {
		w.t.Fatal(err)
	}
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
		doc["protocol"] = json.RawMessage(strconv.Itoa(contract.Protocol + 1))
		body, _ = json.Marshal(doc)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	ps := httptest.NewServer(rp)
	w.t.Cleanup(ps.Close)
	return ps.URL
}

func TestSettingsSayWhenTheServerIsNewerThanTheApp(t *testing.T) {
	const update = "The server is newer than this app; update the app when you can."
	for _, tt := range []struct {
		name  string
		newer bool
	}{{"a newer server", true}, {"a server of this app's version", false}} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			addr := w.url
			if tt.newer {
				addr = w.newerServer()
			}
			core, err := fsapp.Open(filepath.Join(w.dir, "alex"), fsapp.Config{ServerURL: addr, Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { core.Close(context.Background()) })
			if _, err := core.Login(context.Background(), addr, "alex", server.DemoPassword); err != nil {
				t.Fatal(err)
			}
			s := w.show(core)
			showSettings(s.u)
			s.settle()
			if got := s.shows(update); got != tt.newer {
				t.Errorf("the settings say the app should be updated: %v; want %v. They show:\n%q", got, tt.newer, s.dialogTexts())
			}
		})
	}
}
