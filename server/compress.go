package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"fieldsync/contract"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

// compressMin is the size of the smallest answer the server compresses.
// gzip's header and trailer and the Content-Encoding and Vary lines add
// about 65 bytes: an error (114 bytes) or GET /v1/me (80) would grow by
// 70, while the user list (481 bytes) shrinks by 185 and a pull page of
// one job (988 bytes) by 323, a third of it.
const compressMin = 512

// compressLevel is gzip's level for answers. klauspost/compress at level
// 1 makes answers of records 6 to 9 % larger than the standard library's
// level 5 or 6 for a quarter to a sixth of the CPU, and smaller than the
// standard library's level 1 (BenchmarkAnswerCompression): the server
// compresses every pull page and push answer it sends, so its CPU per
// change counts as much as the device's bytes.
const compressLevel = gzip.BestSpeed

var (
	gzipWriters = sync.Pool{New: func() any {
		zw, _ := gzip.NewWriterLevel(io.Discard, compressLevel)
		return zw
	}}
	gzipReaders sync.Pool // of *gzip.Reader
)

// serveCoded serves r with h, decompressing a gzip request body and
// compressing a JSON answer of compressMin bytes or more when the request
// accepts gzip. Photo content travels as it is both ways.
func (s *Server) serveCoded(w http.ResponseWriter, r *http.Request, h http.Handler) {
	compressed, ok := s.decodeRequest(w, r)
	if !ok {
		return
	}
	if compressed {
		w = &refusalWriter{w}
	}
	if !acceptsGzip(r.Header) || r.Method == http.MethodHead {
		h.ServeHTTP(w, r)
		return
	}
	cw := &compressWriter{ResponseWriter: w}
	h.ServeHTTP(cw, r)
	cw.finish()
}

// photoContent reports whether r is for a photo's content, whose bytes are
// the file's own: Upload-Offset and ranges count them.
func photoContent(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/v1/photos/") && strings.HasSuffix(r.URL.Path, "/content")
}

// decodeRequest replaces a gzip request body by what it decompresses to,
// of at most the body limit, and refuses any other coding. An answer to a
// request that sent a body as it is says, in Accept-Encoding, that the
// next may be compressed (RFC 7694). When it returns !ok it has answered.
func (s *Server) decodeRequest(w http.ResponseWriter, r *http.Request) (compressed, ok bool) {
	coding := strings.ToLower(strings.TrimSpace(strings.Join(r.Header.Values("Content-Encoding"), ",")))
	switch coding {
	case "", "identity":
		if r.ContentLength != 0 && !photoContent(r) {
			w.Header().Set("Accept-Encoding", "gzip")
		}
		return false, true
	case "gzip", "x-gzip":
		if photoContent(r) {
			w.Header().Set("Accept-Encoding", "identity")
			writeError(w, http.StatusUnsupportedMediaType, contract.CodeInvalid,
				"photo content is sent as the file's own bytes, without Content-Encoding: Upload-Offset counts those bytes")
			return false, false
		}
	default:
		w.Header().Set("Accept-Encoding", "gzip")
		writeError(w, http.StatusUnsupportedMediaType, contract.CodeInvalid,
			fmt.Sprintf("the server does not take request bodies in Content-Encoding %q: send gzip, or the body as it is", clip(coding)))
		return false, false
	}
	limit := s.rules.Limits.Body
	body, err := gunzip(http.MaxBytesReader(w, r.Body, limit), limit)
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case err == nil:
	case errors.Is(err, errInflatedTooBig):
		writeError(w, http.StatusRequestEntityTooLarge, contract.CodeTooLarge,
			fmt.Sprintf("the request body is over the limit of %d bytes once decompressed", limit))
		return false, false
	case errors.Is(err, errInflatedTooFar):
		writeError(w, http.StatusRequestEntityTooLarge, contract.CodeTooLarge,
			fmt.Sprintf("the request body inflates more than %d times over, which no request does: send it as it is", maxInflation))
		return false, false
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, contract.CodeTooLarge,
			fmt.Sprintf("the compressed request body is over the limit of %d bytes", tooBig.Limit))
		return false, false
	case errors.As(err, &netErr) && netErr.Timeout():
		writeError(w, http.StatusServiceUnavailable, contract.CodeUnavailable,
			"the request body did not arrive in time; nothing was applied: send it again")
		return false, false
	default:
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "the request body is not valid gzip: "+gzipProblem(err))
		return false, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Del("Content-Encoding")
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return true, true
}

// refusalWriter answers a compressed request. When it refuses the request
// it says Accept-Encoding: gzip, so that the device knows the server read
// the body and refused what it says: a device resends a body as it is when
// a 400 or 415 does not say so, as a server that cannot read gzip answers.
type refusalWriter struct{ http.ResponseWriter }

func (w *refusalWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *refusalWriter) WriteHeader(code int) {
	if code >= 400 {
		w.Header().Set("Accept-Encoding", "gzip")
	}
	w.ResponseWriter.WriteHeader(code)
}

// errInflatedTooBig is a gzip body that decompresses to more than the limit.
var errInflatedTooBig = errors.New("decompressed body over the limit")

// errInflatedTooFar is a gzip body that inflates more than maxInflation
// times over.
var errInflatedTooFar = errors.New("decompressed body too many times its compressed size")

// maxInflation bounds how many times its size a gzip body of over a MiB
// may inflate. JSON of operations compresses 5 to 15 times; a body made
// to inflate a thousand times over would make the server decompress
// megabytes for each kilobyte received.
const maxInflation = 200

// gunzip decompresses all of src, refusing more than limit bytes of output
// before it makes them: a small body that inflates without end is stopped
// at the limit, or sooner when it inflates more than maxInflation times
// over. An empty src is an empty body.
func gunzip(src io.Reader, limit int64) ([]byte, error) {
	in := &countingReader{r: src}
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(in)
	} else {
		err = zr.Reset(in)
	}
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer gzipReaders.Put(zr)
	var buf bytes.Buffer
	chunk := make([]byte, 32<<10)
	for {
		n, err := zr.Read(chunk)
		buf.Write(chunk[:n])
		if int64(buf.Len()) > limit {
			return nil, errInflatedTooBig
		}
		if buf.Len() > 1<<20 && int64(buf.Len()) > maxInflation*in.n {
			return nil, errInflatedTooFar
		}
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// gzipProblem words a decompression failure.
func gzipProblem(err error) string {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, gzip.ErrHeader):
		return "it does not start with a gzip header"
	case errors.Is(err, gzip.ErrChecksum):
		return "its checksum does not match its content"
	case errors.As(err, &corrupt):
		return fmt.Sprintf("the compressed data is corrupt at byte %d", int64(corrupt))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends before the compressed data does"
	}
	return err.Error()
}

// acceptsGzip reports whether a request's Accept-Encoding takes gzip: named
// (or as x-gzip), or through *, with a weight above zero.
func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" && coding != "*" {
				continue
			}
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
						q = f
					}
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}

// How a compressWriter sends the body.
const (
	undecided = iota // the size is not known yet: the body is held
	identity         // as the handler writes it
	gzipped          // compressed
)

// maxHeldGzip is how much compressed output a compressWriter holds so that
// the answer can state its size: more is sent as it comes, in chunks. A
// push answer of 500 new jobs compresses to about 55 KB, a pull page of
// 500 to about 30 KB.
const maxHeldGzip = 256 << 10

var heldBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// compressWriter compresses a JSON answer of compressMin bytes or more. It
// decides when the handler sends the status and headers, by a stated
// Content-Length, or else once compressMin bytes were written or the
// handler returned. Anything that is not JSON (photos, /metrics, which
// compresses itself) goes through untouched.
type compressWriter struct {
	http.ResponseWriter
	status int
	mode   int
	held   []byte        // the start of a body of a size not known yet
	zw     *gzip.Writer  // when gzipped
	out    *bytes.Buffer // compressed output not sent yet; nil once streaming
}

func (c *compressWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *compressWriter) WriteHeader(code int) {
	if code < 200 {
		c.ResponseWriter.WriteHeader(code) // informational: more follows
		return
	}
	if c.status != 0 {
		return
	}
	c.status = code
	h := c.Header()
	if !compressible(code, h) {
		c.sendIdentity()
		return
	}
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err != nil || n < compressMin {
			c.sendIdentity()
		} else {
			c.startGzip()
		}
	}
}

// compressible reports whether an answer with this status and these
// headers has a JSON body the server may compress.
func compressible(code int, h http.Header) bool {
	if code == http.StatusNoContent || code == http.StatusNotModified || code == http.StatusPartialContent {
		return false
	}
	if h.Get("Content-Encoding") != "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// sendIdentity sends the status and headers of a body sent as it is.
func (c *compressWriter) sendIdentity() {
	c.mode = identity
	c.ResponseWriter.WriteHeader(c.status)
}

// startGzip compresses the body from here on. The status and headers wait
// for the compressed size, or for maxHeldGzip bytes of it.
func (c *compressWriter) startGzip() {
	c.mode = gzipped
	h := c.Header()
	h.Del("Content-Length")
	h.Set("Content-Encoding", "gzip")
	// Only a compressed answer names Vary: one sent as it is suits every
	// client, whatever a cache in between does with it.
	h.Add("Vary", "Accept-Encoding")
	c.out = heldBuffers.Get().(*bytes.Buffer)
	c.zw = gzipWriters.Get().(*gzip.Writer)
	c.zw.Reset(gzipOut{c})
}

// gzipOut takes the compressed output of a compressWriter.
type gzipOut struct{ c *compressWriter }

func (o gzipOut) Write(p []byte) (int, error) {
	c := o.c
	if c.out == nil {
		return c.ResponseWriter.Write(p)
	}
	c.out.Write(p)
	if c.out.Len() > maxHeldGzip {
		c.ResponseWriter.WriteHeader(c.status)
		_, err := c.ResponseWriter.Write(c.out.Bytes())
		c.releaseOut()
		if err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *compressWriter) releaseOut() {
	if c.out.Cap() <= 2*maxHeldGzip {
		c.out.Reset()
		heldBuffers.Put(c.out)
	}
	c.out = nil
}

func (c *compressWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	switch c.mode {
	case identity:
		return c.ResponseWriter.Write(p)
	case gzipped:
		return c.zw.Write(p)
	}
	if len(c.held)+len(p) < compressMin {
		c.held = append(c.held, p...)
		return len(p), nil
	}
	c.startGzip()
	if len(c.held) > 0 {
		if _, err := c.zw.Write(c.held); err != nil {
			return 0, err
		}
		c.held = nil
	}
	return c.zw.Write(p)
}

// finish sends what is held and ends a compressed body.
func (c *compressWriter) finish() {
	switch c.mode {
	case undecided:
		if c.status == 0 {
			return // nothing was written: net/http answers
		}
		c.Header().Set("Content-Length", strconv.Itoa(len(c.held)))
		c.sendIdentity()
		c.ResponseWriter.Write(c.held)
	case gzipped:
		c.zw.Close()
		c.zw.Reset(io.Discard)
		gzipWriters.Put(c.zw)
		c.zw = nil
		if c.out != nil {
			c.Header().Set("Content-Length", strconv.Itoa(c.out.Len()))
			c.ResponseWriter.WriteHeader(c.status)
			c.ResponseWriter.Write(c.out.Bytes())
			c.releaseOut()
		}
	}
}
