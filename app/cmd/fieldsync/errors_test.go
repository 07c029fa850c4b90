package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fieldsync/contract"
	"fieldsync/server"
)

func TestJSONErrorsSayCodeAndKind(t *testing.T) {
	t.Parallel()
	url := newServer(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, d *device)
		stdin string
		args  []string
		code  contract.Code
		kind  contract.Kind
		says  string
	}{
		{"the rules refuse a move with their own code", func(t *testing.T, d *device) { d.login("alex") },
			"", []string{"job", "reassign", "J-1001", "sam"}, contract.CodeForbidden, contract.Refusal, "Only dispatcher"},
		{"the server turns down a password with its code", nil,
			"wrong\n", []string{"login", "alex"}, contract.CodeUnauthorized, contract.Refusal, "sign in"},
		{"a command line that makes no sense is a usage error", nil,
			"", []string{"frobnicate"}, codeUsage, contract.Invalid, "unknown command"},
		{"a missing argument is a usage error", nil,
			"", []string{"note", "add", "J-1001"}, codeUsage, contract.Invalid, "missing arguments"},
		{"a device nobody signed in on says so", nil,
			"", []string{"sync"}, contract.CodeUnauthorized, contract.Refusal, "sign in first"},
		{"a store file cut to nothing is unusable", func(t *testing.T, d *device) {
			if err := os.WriteFile(filepath.Join(d.store, "fieldsync.db"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "", []string{"jobs"}, codeStoreUnusable, contract.Invalid, "is empty (0 bytes)"},
		{"signing out with unsynced work is refused", func(t *testing.T, d *device) {
			d.login("alex")
			d.must(0, "offline", "on")
			d.must(0, "note", "add", "J-1001", "Not sent yet")
		}, "", []string{"logout"}, codeUnsynced, contract.Refusal, "have not reached the server"},
		{"no signal is transient", func(t *testing.T, d *device) {
			d.must(0, "offline", "on")
		}, server.DemoPassword + "\n", []string{"login", "alex"}, contract.CodeUnavailable, contract.Transient, "no signal"},
		{"a server nobody answers at is transient", func(t *testing.T, d *device) {
			d.url = "http://127.0.0.1:1"
		}, server.DemoPassword + "\n", []string{"login", "alex"}, contract.CodeUnavailable, contract.Transient, "no connection to the server"},
		{"anything else failed on the device for good", func(t *testing.T, d *device) { d.login("alex") },
			"", []string{"job", "show", "J-9999"}, codeFailed, contract.Refusal, "J-9999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, url)
			if tt.setup != nil {
				tt.setup(t, d)
			}
			r := d.run(tt.stdin, append([]string{"--json"}, tt.args...)...)
			if r.code != exitFailed {
				t.Fatalf("want exit %d\n%s", exitFailed, r)
			}
			var doc struct {
				Error map[string]string `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatalf("the error document does not decode: %v\n%s", err, r)
			}
			e := doc.Error
			if e["code"] != string(tt.code) || e["kind"] != string(tt.kind) || !strings.Contains(e["message"], tt.says) {
				t.Errorf("error document %q, want code %q, kind %q and %q in the message\n%s", e, tt.code, tt.kind, tt.says, r)
			}
		})
	}
}
