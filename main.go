// Command fieldsync-app is the FieldSync app for phones, tablets and the
// desktop. `go run .` is the desktop app. It makes the Fyne app by its id,
// sets the icon and hands over to the screens (package ui); it imports
// ui, assets and Fyne, nothing more.
package main

import (
	"flag"
	"log"

	"fyne.io/fyne/v2"
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
	flag.StringVar(&l.Open, "open", "", "open this job at start, by number (J-1001) or id")
	flag.StringVar(&l.Tab, "tab", "", "office tab to show at start: jobs, reviews, customers, settings")
	var w, h float64
	flag.Float64Var(&w, "width", 0, "window width")
	flag.Float64Var(&h, "height", 0, "window height")
	flag.Parse()
	l.Size = fyne.NewSize(float32(w), float32(h))

	a := app.NewWithID("com.fieldsync.app")
	a.SetIcon(assets.Icon)
	u, err := ui.Start(a, l)
	if err != nil {
		log.Print(err)
		ui.ShowStartProblem(a, l.Title, err)
		a.Run()
		return
	}
	a.Run()
	if err := u.Stop(); err != nil {
		log.Print(err)
	}
}
