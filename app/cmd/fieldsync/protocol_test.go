package main

import (
	"encoding/json"
	"strings"
	"testing"

	"fieldsync/contract"
	"fieldsync/internal/versionproxy"
	"fieldsync/server"
)

// TestLoginSaysWhenTheServerIsNewer: signing in to a server that speaks a
// newer protocol than this build says to update, in words and in --json.
func TestLoginSaysWhenTheServerIsNewer(t *testing.T) {
	target, newer := newServer(t), contract.Protocol+1
	addr := versionproxy.Serve(t, target, newer)

	const update = "The server is newer than this app; update the app when you can."
	d := newDevice(t, addr)
	r := d.run(server.DemoPassword+"\n", "login", "alex")
	if r.code != 0 || !strings.Contains(r.stdout, update) {
		t.Errorf("login to a newer server:\n%s", r)
	}
	var doc struct {
		Protocol int    `json:"server_protocol"`
		Note     string `json:"note"`
	}
	r = newDevice(t, addr).run(server.DemoPassword+"\n", "--json", "login", "alex")
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Protocol != newer || doc.Note != update {
		t.Errorf("--json login: %+v, %v\n%s", doc, err, r)
	}
	if r := newDevice(t, target).run(server.DemoPassword+"\n", "login", "alex"); strings.Contains(r.stdout, "newer") {
		t.Errorf("login to a server of this build's version says:\n%s", r)
	}
}
