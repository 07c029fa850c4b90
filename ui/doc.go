// Package ui is FieldSync's Fyne screens: technicians' screens on phones
// and tablets, and the office's on the desktop. One unexported type per
// screen, with a build method and named handlers.
//
// It owns how things look and what a tap does; the client facade (package
// app) owns the rest. A screen shows what the facade knows and offers what
// the facade says the user may do: it names no role, state or field group
// (those are the rules', and the facade answers from them), makes no ids
// and never touches SQL or HTTP. Every change that starts on another
// goroutine reaches the screen through fyne.Do.
//
// It imports Fyne (but not fyne.io/fyne/v2/app: main makes the app, so the
// screens build and test without cgo), app and assets, and nothing else of
// ours.
package ui
