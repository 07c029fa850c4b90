package ui

import (
	"context"
	"path/filepath"
	"testing"

	"fyne.io/fyne/v2"

	fsapp "fieldsync/app"
)

// The golden screens hold no ids, addresses or times that vary: every
// clock is t0, and the server's address is only on the sign-in screen,
// where it is a fixed one. go test ./ui -run Golden -update rewrites them.
func TestGoldenScreens(t *testing.T) {
	t.Run("sign-in", func(t *testing.T) {
		a := newTestApp(t)
		core, err := fsapp.Open(filepath.Join(t.TempDir(), "device"), fsapp.Config{ServerURL: "https://fieldsync.example.com", Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { core.Close(context.Background()) })
		s := showUI(t, a, core)
		s.golden("sign_in.xml")
	})
	t.Run("a job open on the desktop", func(t *testing.T) {
		w := newWorld(t)
		s := w.show(w.signedIn("alex"))
		s.openJob("J-1001")
		s.golden("job_detail_desktop.xml")
	})
	t.Run("my jobs on a phone", func(t *testing.T) {
		w := newWorld(t)
		s := w.show(w.signedIn("alex"))
		s.u.win.Resize(fyne.NewSize(400, 800))
		s.golden("my_jobs_phone.xml")
	})
}
