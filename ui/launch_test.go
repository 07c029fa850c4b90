package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// A store file cut to nothing is not opened as an empty store: the app says
// why it cannot start, names the file, and leaves it as it is. Before, the
// desktop app exited with a log line, and a phone app closed at once.
func TestAnUnusableStoreIsShownNotReplaced(t *testing.T) {
	a := test.NewTempApp(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "fieldsync.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(a, Launch{Store: dir, Server: "http://127.0.0.1:1"})
	if err == nil {
		t.Fatal("the app started over an empty store file")
	}
	w := ShowStartProblem(a, "", err)
	defer w.Close()
	var text []string
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if l, ok := o.(*widget.Label); ok {
			text = append(text, l.Text)
		}
		if c, ok := o.(*fyne.Container); ok {
			for _, o := range c.Objects {
				walk(o)
			}
		}
	}
	walk(w.Content())
	all := strings.Join(text, "\n")
	for _, want := range []string{"FieldSync could not start", db, "is empty", "nothing was changed"} {
		if !strings.Contains(all, want) {
			t.Errorf("the window does not say %q; it says:\n%s", want, all)
		}
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() != 0 {
		t.Errorf("the store file was touched: %v %v", fi, err)
	}
}
