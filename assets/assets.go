// Package assets holds the files the app embeds, reached through named
// variables.
package assets

import (
	_ "embed"

	"fyne.io/fyne/v2"
)

//go:embed icon.png
var iconPNG []byte

// Icon is the FieldSync app icon.
var Icon = fyne.NewStaticResource("icon.png", iconPNG)
