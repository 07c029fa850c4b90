package apiclient

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// compressMin is the size of the smallest request body the client
// compresses, as the server does its answers: below it, gzip's framing
// and the Content-Encoding line cost about what compression saves.
const compressMin = 512

// maxInflated bounds what one compressed answer may decompress to.
const maxInflated = 256 << 20

// maxDrain is how much of an answer the client reads past what it needed
// before closing it, so that the connection can carry the next request.
// More than that left unread (a download given up half way) costs less to
// drop with the connection than to receive.
const maxDrain = 4 << 10

var (
	gzipWriters = sync.Pool{New: func() any {
		zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
		return zw
	}}
	gzipReaders sync.Pool // of *gzip.Reader
)

// compress returns b compressed with gzip.
func compress(b []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b)/4 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	zw.Write(b) // a bytes.Buffer does not fail
	zw.Close()
	zw.Reset(io.Discard)
	gzipWriters.Put(zw)
	return buf.Bytes()
}

// takesGzip reports whether an answer's Accept-Encoding (RFC 7694) says
// the server takes gzip request bodies.
func takesGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			k, q, _ := strings.Cut(strings.TrimSpace(params), "=")
			if f, err := strconv.ParseFloat(strings.TrimSpace(q), 64); strings.EqualFold(strings.TrimSpace(k), "q") && err == nil && f <= 0 {
				continue
			}
			return true
		}
	}
	return false
}

// answerBody is an answer's body as the caller reads it: decompressed when
// the server compressed it. Closing it reads what is left, up to maxDrain,
// so that the connection can be used again.
type answerBody struct {
	io.Reader
	raw io.ReadCloser
	zr  *gzip.Reader
}

// openBody makes resp.Body read the answer decompressed, when the server
// compressed it.
func openBody(resp *http.Response) error {
	b := &answerBody{Reader: resp.Body, raw: resp.Body}
	resp.Body = b
	switch strings.ToLower(resp.Header.Get("Content-Encoding")) {
	case "", "identity":
		return nil
	case "gzip", "x-gzip":
	default:
		return errors.New("the server answered in Content-Encoding " + strconv.Quote(resp.Header.Get("Content-Encoding")) + ", which this app does not read")
	}
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(b.raw)
	} else {
		err = zr.Reset(b.raw)
	}
	if errors.Is(err, io.EOF) {
		b.Reader = eof{}
	} else if err != nil {
		return err
	} else {
		b.zr = zr
		b.Reader = &inflated{r: zr, left: maxInflated}
	}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = true
	return nil
}

func (b *answerBody) Close() error {
	if b.zr != nil {
		io.CopyN(io.Discard, b.zr, maxDrain) // to the gzip trailer, which ends the answer
		gzipReaders.Put(b.zr)
		b.zr = nil
		b.Reader = eof{}
	}
	io.CopyN(io.Discard, b.raw, maxDrain)
	return b.raw.Close()
}

// inflated is a decompressed answer of at most left more bytes.
type inflated struct {
	r    io.Reader
	left int64
}

func (r *inflated) Read(p []byte) (int, error) {
	if int64(len(p)) > r.left+1 {
		p = p[:r.left+1]
	}
	n, err := r.r.Read(p)
	if r.left -= int64(n); r.left < 0 {
		return n, errors.New("the answer decompresses to more than 256 MiB")
	}
	return n, err
}

type eof struct{}

func (eof) Read([]byte) (int, error) { return 0, io.EOF }
