package ui

import (
	"image"
	_ "image/jpeg" // phones take JPEG
	_ "image/png"
	"os"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"golang.org/x/image/draw"

	fsapp "fieldsync/app"
)

// thumbSize is the longest side of a thumbnail. A full-size phone photo
// decodes to hundreds of megabytes, so only thumbnails are kept in memory.
const thumbSize = 160

// thumbnails decodes each photo once, downscaled.
type thumbnails struct {
	mu    sync.Mutex
	cache map[string]image.Image
}

func newThumbnails() *thumbnails { return &thumbnails{cache: map[string]image.Image{}} }

func (t *thumbnails) get(id, path string) image.Image {
	t.mu.Lock()
	defer t.mu.Unlock()
	if img, ok := t.cache[id]; ok {
		return img
	}
	img := thumbnail(path)
	t.cache[id] = img
	return img
}

// thumbnail decodes an image file into a small copy, or nil.
func thumbnail(path string) image.Image {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	src, _, err := image.Decode(f)
	if err != nil {
		return nil
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if w == 0 || h == 0 {
		return nil
	}
	scale := float64(thumbSize) / float64(max(w, h))
	if scale > 1 {
		scale = 1
	}
	dst := image.NewRGBA(image.Rect(0, 0, max(1, int(float64(w)*scale)), max(1, int(float64(h)*scale))))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	return dst
}

// tile is a photo's thumbnail with its upload progress.
func (t *thumbnails) tile(p fsapp.Item) fyne.CanvasObject {
	var pic fyne.CanvasObject
	if img := t.get(p.Record.ID, p.Path); img != nil {
		ci := canvas.NewImageFromImage(img)
		ci.FillMode = canvas.ImageFillContain
		ci.SetMinSize(fyne.NewSize(140, 110))
		pic = ci
	} else {
		icon := widget.NewIcon(theme.FileImageIcon())
		pic = container.NewCenter(container.NewGridWrap(fyne.NewSize(64, 64), icon))
	}
	bar := widget.NewProgressBar()
	if p.Size > 0 {
		bar.SetValue(float64(p.Uploaded) / float64(p.Size))
	}
	label := widget.NewLabel(p.Sync)
	label.Truncation = fyne.TextTruncateEllipsis
	if p.Uploaded >= p.Size && p.Size > 0 {
		label.SetText("Uploaded")
		bar.Hide()
	}
	return container.NewBorder(nil, container.NewVBox(bar, label), nil, nil, pic)
}
