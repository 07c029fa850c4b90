package ui

import (
	"bytes"
	"image"
	"image/color"
	"image/png"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// signaturePad takes a customer's signature drawn with a finger or a mouse.
type signaturePad struct {
	widget.BaseWidget
	strokes [][]fyne.Position
	drawing bool
	lines   *fyne.Container
	bg      *canvas.Rectangle
}

var _ fyne.Draggable = (*signaturePad)(nil)

func newSignaturePad() *signaturePad {
	p := &signaturePad{lines: container.NewWithoutLayout()}
	p.bg = canvas.NewRectangle(color.White)
	p.bg.StrokeColor = theme.Color(theme.ColorNameInputBorder)
	p.bg.StrokeWidth = 1
	p.ExtendBaseWidget(p)
	return p
}

// CreateRenderer implements fyne.Widget.
func (p *signaturePad) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewStack(p.bg, p.lines))
}

// MinSize is room for a signature.
func (p *signaturePad) MinSize() fyne.Size { return fyne.NewSize(320, 140) }

// Dragged draws the stroke under the finger.
func (p *signaturePad) Dragged(e *fyne.DragEvent) {
	if !p.drawing {
		p.strokes = append(p.strokes, []fyne.Position{e.Position.Subtract(e.Dragged)})
		p.drawing = true
	}
	s := &p.strokes[len(p.strokes)-1]
	last := (*s)[len(*s)-1]
	*s = append(*s, e.Position)
	l := canvas.NewLine(color.Black)
	l.StrokeWidth = 2
	l.Position1, l.Position2 = last, e.Position
	p.lines.Add(l)
}

// DragEnd ends a stroke.
func (p *signaturePad) DragEnd() { p.drawing = false }

// Clear empties the pad.
func (p *signaturePad) Clear() {
	p.strokes = nil
	p.lines.RemoveAll()
	p.lines.Refresh()
}

// Empty reports whether nothing was drawn.
func (p *signaturePad) Empty() bool { return len(p.strokes) == 0 }

// PNG draws the strokes into a black-on-white PNG.
func (p *signaturePad) PNG() []byte {
	size := p.Size().Max(p.MinSize())
	img := image.NewGray(image.Rect(0, 0, int(size.Width), int(size.Height)))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for _, s := range p.strokes {
		for i := 1; i < len(s); i++ {
			line(img, s[i-1], s[i])
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

// line draws a two-pixel line between a and b.
func line(img *image.Gray, a, b fyne.Position) {
	dx, dy := b.X-a.X, b.Y-a.Y
	steps := int(max(abs(dx), abs(dy))) + 1
	for i := 0; i <= steps; i++ {
		t := float32(i) / float32(steps)
		x, y := int(a.X+dx*t), int(a.Y+dy*t)
		for _, d := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
			if pt := image.Pt(x+d[0], y+d[1]); pt.In(img.Rect) {
				img.SetGray(pt.X, pt.Y, color.Gray{})
			}
		}
	}
}

func abs(f float32) float32 {
	if f < 0 {
		return -f
	}
	return f
}
