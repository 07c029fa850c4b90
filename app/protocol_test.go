package app_test

import (
	"context"
	"testing"

	"fieldsync/app"
	"fieldsync/contract"
	"fieldsync/internal/versionproxy"
	"fieldsync/server"
)

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
			addr := versionproxy.Serve(t, e.ts.URL, tt.version)
			dir := t.TempDir()
			a, err := app.Open(dir, app.Config{ServerURL: addr})
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
			a, err = app.Open(dir, app.Config{ServerURL: addr})
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
