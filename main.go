// Command fieldsync-app is the FieldSync app for phones, tablets and the
// desktop. `go run .` is the desktop app.
package main

import (
	"flag"
	"log"

	"fyne.io/fyne/v2/app"

	"fieldsync/assets"
	"fieldsync/ui"
)

func main() {
	var l ui.Launch
	flag.StringVar(&l.Server, "server", "", "server address, e.g. http://127.0.0.1:8080")
	flag.StringVar(&l.User, "user", "", "sign in as this user at start (demos and testers)")
	flag.StringVar(&l.Password, "password", "", "the user's password")
	flag.StringVar(&l.Store, "store", "", "storage directory (default: the app's storage)")
	flag.StringVar(&l.Title, "title", "FieldSync", "window title")
	flag.Parse()

	a := app.NewWithID("com.fieldsync.app")
	a.SetIcon(assets.Icon)
	u, err := ui.Start(a, l)
	if err != nil {
		log.Fatal(err)
	}
	a.Run()
	if err := u.Stop(); err != nil {
		log.Print(err)
	}
}
