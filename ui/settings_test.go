package ui

import (
	"context"
	"path/filepath"
	"testing"

	fsapp "fieldsync/app"
	"fieldsync/contract"
	"fieldsync/internal/versionproxy"
	"fieldsync/server"
)

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
				addr = versionproxy.Serve(t, w.url, contract.Protocol+1)
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
