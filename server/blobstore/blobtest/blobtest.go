// Package blobtest is the conformance suite of blobstore.Store: every
// implementation runs Run in its tests, so that the server can rely on
// the same behaviour from each.
//
// Besides what blobstore.Store's comments say, the suite fixes these
// points:
//
//   - List's prefix is a string prefix: "partial/u1" lists
//     "partial/u1/0" and "partial/u10/0"; "partial/u1/" only the first.
//   - Key order is byte order, as sort.Strings has it: "a-b" < "a.b" <
//     "a/x" < "a0", whatever order a directory walk would give.
//   - A key that is a directory of other keys ("a" when "a/b" exists) is
//     not a blob: Stat and Open give ErrNotFound.
//   - A context that has ended fails every method with an error that
//     errors.Is reports as the context's error, and a Put whose context
//     ends while it reads stores nothing.
//   - Check leaves nothing behind that List shows.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fieldsync/server/blobstore"
)

// Run runs the suite against the stores open makes. open is called once
// per subtest, from parallel subtests, and must return a new, empty
// store that is cleaned up with t.
func Run(t *testing.T, open func(t *testing.T) blobstore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blobstore.Store)
	}{
		{"a blob reads back byte for byte", testRoundTrip},
		{"a put replaces the blob under its key", testReplace},
		{"a put whose reader is not exactly size bytes stores nothing", testWrongSize},
		{"a put whose context ends while it reads stores nothing", testCancelMidway},
		{"concurrent puts to one key leave exactly one of them", testConcurrentPuts},
		{"an open blob seeks and reads ranges", testSeek},
		{"a blob opened before a replace never mixes in the new bytes", testReadDuringReplace},
		{"missing blobs are ErrNotFound", testNotFound},
		{"delete removes a blob and succeeds when there is none", testDelete},
		{"list gives the keys under a prefix in key order", testList},
		{"bad keys are refused", testBadKeys},
		{"check succeeds and leaves nothing behind", testCheck},
		{"an ended context fails every method", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// testContext returns a context for one subtest, bounded so that a store
// that hangs fails the test instead of the whole run.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// content returns n bytes that differ for each seed.
func content(seed uint64, n int) []byte {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// plain hides every method of r but Read, so that a store cannot take a
// shortcut through io.ReaderAt, io.Seeker or io.WriterTo.
type plain struct{ r io.Reader }

func (p plain) Read(b []byte) (int, error) { return p.r.Read(b) }

// trickle reads at most n bytes at a time.
type trickle struct {
	r io.Reader
	n int
}

func (t trickle) Read(b []byte) (int, error) {
	if len(b) > t.n {
		b = b[:t.n]
	}
	return t.r.Read(b)
}

// failAfter yields n bytes of r, then fails with err.
type failAfter struct {
	r   io.Reader
	n   int
	err error
}

func (f *failAfter) Read(b []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	if len(b) > f.n {
		b = b[:f.n]
	}
	n, err := f.r.Read(b)
	f.n -= n
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

var errReader = errors.New("the reader broke")

func put(t *testing.T, s blobstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(testContext(t), key, plain{bytes.NewReader(data)}, int64(len(data))); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
}

// read returns the whole content of key and the Info Open gave with it.
func read(t *testing.T, s blobstore.Store, key string) ([]byte, blobstore.Info) {
	t.Helper()
	r, info, err := s.Open(testContext(t), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b, info
}

// sameBytes fails t unless got is want, saying where they part.
func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Fatalf("%s: got %d bytes, want %d; they differ from byte %d on", what, len(got), len(want), i)
}

// wantContent fails t unless key holds exactly want, by Open and by Stat.
func wantContent(t *testing.T, s blobstore.Store, key string, want []byte) {
	t.Helper()
	got, info := read(t, s, key)
	sameBytes(t, "content of "+key, got, want)
	if info.Key != key || info.Size != int64(len(want)) {
		t.Fatalf("Open(%q) gave Info %+v, want key %q and size %d", key, info, key, len(want))
	}
	st, err := s.Stat(testContext(t), key)
	if err != nil {
		t.Fatalf("Stat(%q): %v", key, err)
	}
	if st.Key != key || st.Size != int64(len(want)) {
		t.Fatalf("Stat(%q) = %+v, want key %q and size %d", key, st, key, len(want))
	}
}

// wantMissing fails t unless key holds no blob, by Stat, Open and List.
func wantMissing(t *testing.T, s blobstore.Store, key string) {
	t.Helper()
	if info, err := s.Stat(testContext(t), key); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("Stat(%q) = %+v, %v; want ErrNotFound", key, info, err)
	}
	r, _, err := s.Open(testContext(t), key)
	if err == nil {
		r.Close()
	}
	if !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("Open(%q): %v; want ErrNotFound", key, err)
	}
	for _, info := range list(t, s, "") {
		if info.Key == key {
			t.Fatalf("List shows %q, which should not be there: %+v", key, info)
		}
	}
}

func list(t *testing.T, s blobstore.Store, prefix string) []blobstore.Info {
	t.Helper()
	infos, err := s.List(testContext(t), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return infos
}

func keys(infos []blobstore.Info) []string {
	out := []string{}
	for _, info := range infos {
		out = append(out, info.Key)
	}
	return out
}

func testRoundTrip(t *testing.T, s blobstore.Store) {
	before := time.Now().Add(-time.Hour)
	for i, n := range []int{0, 1, 1000, 300 << 10} {
		key := fmt.Sprintf("photos/p%d/blob_%d.jpg", i, n)
		data := content(uint64(i), n)
		put(t, s, key, data)
		wantContent(t, s, key, data)
		st, err := s.Stat(testContext(t), key)
		if err != nil {
			t.Fatal(err)
		}
		if st.Modified.Before(before) {
			t.Errorf("Stat(%q).Modified = %v, more than an hour before the put", key, st.Modified)
		}
	}
	// Many small reads and a reader that also seeks must give the same.
	data := content(9, 70_000)
	if err := s.Put(testContext(t), "trickled", trickle{bytes.NewReader(data), 777}, int64(len(data))); err != nil {
		t.Fatalf("Put of a reader giving 777 bytes at a time: %v", err)
	}
	wantContent(t, s, "trickled", data)
	if err := s.Put(testContext(t), "seeker", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put of a bytes.Reader: %v", err)
	}
	wantContent(t, s, "seeker", data)
}

func testReplace(t *testing.T, s blobstore.Store) {
	old, repl := content(1, 50_000), content(2, 20_000)
	put(t, s, "a/photo", old)
	put(t, s, "a/photo", repl)
	wantContent(t, s, "a/photo", repl)
	if got := keys(list(t, s, "")); !slices.Equal(got, []string{"a/photo"}) {
		t.Fatalf("List after a replace = %q, want just a/photo", got)
	}
	put(t, s, "a/photo", nil)
	wantContent(t, s, "a/photo", nil)
}

func testWrongSize(t *testing.T, s blobstore.Store) {
	const size = 200 << 10
	data := content(3, size)
	longer := content(3, size+1)
	cases := []struct {
		name string
		r    func() io.Reader
		size int64
	}{
		{"ends one byte short", func() io.Reader { return plain{bytes.NewReader(data[:size-1])} }, size},
		{"ends half way", func() io.Reader { return plain{bytes.NewReader(data[:size/2])} }, size},
		{"is empty", func() io.Reader { return plain{strings.NewReader("")} }, size},
		{"holds one byte more", func() io.Reader { return plain{bytes.NewReader(longer)} }, size},
		{"holds one byte more, in a read of its own", func() io.Reader {
			return io.MultiReader(bytes.NewReader(data), strings.NewReader("x"))
		}, size},
		{"holds one byte more, given a byte at a time", func() io.Reader { return trickle{bytes.NewReader(longer), 1} }, 5000},
		{"holds more and can seek", func() io.Reader { return bytes.NewReader(longer) }, size},
		{"holds a byte where none is wanted", func() io.Reader { return strings.NewReader("x") }, 0},
		{"fails half way", func() io.Reader { return &failAfter{bytes.NewReader(data), size / 2, errReader} }, size},
		{"fails after the last byte instead of ending", func() io.Reader { return &failAfter{bytes.NewReader(data), size, errReader} }, size},
		{"fails at once", func() io.Reader { return &failAfter{bytes.NewReader(data), 0, errReader} }, size},
		{"is given a negative size", func() io.Reader { return bytes.NewReader(data) }, -1},
	}
	old := content(4, 1234)
	// A failed upload can take a store a while to notice: the cases run
	// side by side, each on keys of its own.
	t.Run("each reader", func(t *testing.T) {
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				fresh := fmt.Sprintf("fresh/%d", i)
				if err := s.Put(testContext(t), fresh, tc.r(), tc.size); err == nil {
					t.Errorf("Put of a reader that %s to a new key succeeded; want an error", tc.name)
				}
				wantMissing(t, s, fresh)

				kept := fmt.Sprintf("kept/%d", i)
				put(t, s, kept, old)
				if err := s.Put(testContext(t), kept, tc.r(), tc.size); err == nil {
					t.Errorf("Put of a reader that %s over a blob succeeded; want an error", tc.name)
				}
				wantContent(t, s, kept, old)
			})
		}
	})
	// A reader's own error reaches the caller.
	err := s.Put(testContext(t), "fresh/err", &failAfter{bytes.NewReader(data), 10, errReader}, size)
	if !errors.Is(err, errReader) {
		t.Errorf("Put of a failing reader: %v; want an error that errors.Is reports as the reader's", err)
	}
	if got := keys(list(t, s, "fresh/")); len(got) != 0 {
		t.Fatalf("after failed puts List(fresh/) = %q, want nothing", got)
	}
}

// cancelAt yields n bytes, then cancels its context and goes on yielding.
type cancelAt struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAt) Read(b []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	} else if len(b) > c.n {
		b = b[:c.n]
	}
	n, err := c.r.Read(b)
	c.n -= n
	return n, err
}

func testCancelMidway(t *testing.T, s blobstore.Store) {
	data := content(5, 150_000)
	old := content(6, 99)
	put(t, s, "kept", old)
	for _, key := range []string{"fresh", "kept"} {
		ctx, cancel := context.WithCancel(testContext(t))
		err := s.Put(ctx, key, &cancelAt{bytes.NewReader(data), len(data) / 2, cancel}, int64(len(data)))
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Put(%q) whose context was cancelled half way: %v; want context.Canceled", key, err)
		}
	}
	wantMissing(t, s, "fresh")
	wantContent(t, s, "kept", old)
}

func testConcurrentPuts(t *testing.T, s blobstore.Store) {
	const writers, rounds, size = 4, 3, 256 << 10
	contents := make([][]byte, writers)
	for i := range contents {
		contents[i] = content(uint64(100+i), size-i*1000)
	}
	whichOf := func(got []byte) int {
		for i, c := range contents {
			if bytes.Equal(got, c) {
				return i
			}
		}
		return -1
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds*2)
	for i := range writers {
		wg.Go(func() {
			for range rounds {
				if err := s.Put(testContext(t), "same", plain{bytes.NewReader(contents[i])}, int64(len(contents[i]))); err != nil {
					errs <- fmt.Errorf("put %d: %w", i, err)
				}
			}
		})
	}
	// A reader meanwhile sees nothing yet, or one content whole.
	wg.Go(func() {
		for range rounds * 2 {
			r, info, err := s.Open(testContext(t), "same")
			if errors.Is(err, blobstore.ErrNotFound) {
				continue
			}
			if err != nil {
				errs <- fmt.Errorf("open during puts: %w", err)
				return
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				errs <- fmt.Errorf("read during puts: %w", err)
				return
			}
			if whichOf(got) < 0 || info.Size != int64(len(got)) {
				errs <- fmt.Errorf("a read during puts gave %d bytes (Info says %d) that are none of the contents", len(got), info.Size)
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, info := read(t, s, "same")
	i := whichOf(got)
	if i < 0 {
		t.Fatalf("after concurrent puts the blob is %d bytes that are none of the %d contents put", len(got), writers)
	}
	if info.Size != int64(len(contents[i])) {
		t.Fatalf("after concurrent puts Info.Size = %d, but the content is %d bytes", info.Size, len(contents[i]))
	}
	if got := keys(list(t, s, "")); !slices.Equal(got, []string{"same"}) {
		t.Fatalf("after concurrent puts List = %q, want just \"same\"", got)
	}
}

func testSeek(t *testing.T, s blobstore.Store) {
	data := content(7, 100_000)
	put(t, s, "ranged", data)
	r, info, err := s.Open(testContext(t), "ranged")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if info.Size != int64(len(data)) {
		t.Fatalf("Open Info.Size = %d, want %d", info.Size, len(data))
	}
	steps := []struct {
		offset int64
		whence int
		at     int64 // where the read starts
		n      int
	}{
		{0, io.SeekStart, 0, 10},
		{50_000, io.SeekStart, 50_000, 1000},
		{-100, io.SeekEnd, 99_900, 100},
		{-60_000, io.SeekCurrent, 40_000, 30_000},
		{1, io.SeekStart, 1, 99_999},
		{99_999, io.SeekStart, 99_999, 1},
	}
	for _, st := range steps {
		pos, err := r.Seek(st.offset, st.whence)
		if err != nil {
			t.Fatalf("Seek(%d, %d): %v", st.offset, st.whence, err)
		}
		if pos != st.at {
			t.Fatalf("Seek(%d, %d) = %d, want %d", st.offset, st.whence, pos, st.at)
		}
		got := make([]byte, st.n)
		if _, err := io.ReadFull(r, got); err != nil {
			t.Fatalf("read %d bytes at %d: %v", st.n, st.at, err)
		}
		sameBytes(t, fmt.Sprintf("%d bytes at %d", st.n, st.at), got, data[st.at:st.at+int64(st.n)])
	}
	// At the end there is nothing more.
	if _, err := r.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read at the end = %d, %v; want 0, io.EOF", n, err)
	}
	// And all of it again from the start.
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "whole content after seeking back", got, data)
}

func testReadDuringReplace(t *testing.T, s blobstore.Store) {
	old, repl := content(8, 120_000), content(9, 120_000)
	put(t, s, "photo", old)
	r, _, err := s.Open(testContext(t), "photo")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := make([]byte, 1000)
	if _, err := io.ReadFull(r, first); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "first bytes", first, old[:1000])
	put(t, s, "photo", repl)

	// Reading on, and seeking back, must give the old bytes or fail.
	rest, err := io.ReadAll(r)
	if err == nil {
		sameBytes(t, "the rest of a blob opened before a replace", rest, old[1000:])
	}
	if _, err := r.Seek(500, io.SeekStart); err == nil {
		got, err := io.ReadAll(r)
		if err == nil {
			sameBytes(t, "a blob opened before a replace, read again after a seek", got, old[500:])
		}
	}
	wantContent(t, s, "photo", repl)
}

func testNotFound(t *testing.T, s blobstore.Store) {
	wantMissing(t, s, "never/put")
	put(t, s, "dir/sub/blob", []byte("x"))
	// The parents of a key are not blobs, whatever a store keeps them as.
	wantMissing(t, s, "dir")
	wantMissing(t, s, "dir/sub")
	wantMissing(t, s, "dir/sub/blob/below")
	put(t, s, "gone", []byte("y"))
	if err := s.Delete(testContext(t), "gone"); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, s, "gone")
}

func testDelete(t *testing.T, s blobstore.Store) {
	ctx := testContext(t)
	if err := s.Delete(ctx, "never/put"); err != nil {
		t.Fatalf("Delete of a blob that was never there: %v", err)
	}
	put(t, s, "x/one", []byte("one"))
	put(t, s, "x/two", []byte("two"))
	for i := range 2 {
		if err := s.Delete(ctx, "x/one"); err != nil {
			t.Fatalf("Delete number %d of x/one: %v", i+1, err)
		}
	}
	wantMissing(t, s, "x/one")
	wantContent(t, s, "x/two", []byte("two"))
	if err := s.Delete(ctx, "x"); err != nil {
		t.Fatalf("Delete of x, a parent of a blob and no blob itself: %v", err)
	}
	wantContent(t, s, "x/two", []byte("two"))
	// A key deleted takes a new blob like any other.
	put(t, s, "x/one", []byte("again"))
	wantContent(t, s, "x/one", []byte("again"))
}

func testList(t *testing.T, s blobstore.Store) {
	blobs := map[string]int{
		"a-b": 1, "a.b": 2, "a/x": 3, "a/y/z": 4, "a0": 5, "b": 6,
		"partial/u1/0": 7, "partial/u1/1": 8, "partial/u10/0": 9, "partial/u2/5": 10,
	}
	for key, n := range blobs {
		put(t, s, key, content(uint64(n), n))
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a-b", "a.b", "a/x", "a/y/z", "a0", "b", "partial/u1/0", "partial/u1/1", "partial/u10/0", "partial/u2/5"}},
		{"a", []string{"a-b", "a.b", "a/x", "a/y/z", "a0"}},
		{"a/", []string{"a/x", "a/y/z"}},
		{"a/y/z", []string{"a/y/z"}},
		{"partial/", []string{"partial/u1/0", "partial/u1/1", "partial/u10/0", "partial/u2/5"}},
		{"partial/u1/", []string{"partial/u1/0", "partial/u1/1"}},
		{"partial/u1", []string{"partial/u1/0", "partial/u1/1", "partial/u10/0"}},
		{"partial/u3/", nil},
		{"nothing", nil},
	}
	for _, tc := range cases {
		got := list(t, s, tc.prefix)
		if !slices.Equal(keys(got), tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, keys(got), tc.want)
			continue
		}
		for _, info := range got {
			if info.Size != int64(blobs[info.Key]) {
				t.Errorf("List(%q) gives %s size %d, want %d", tc.prefix, info.Key, info.Size, blobs[info.Key])
			}
			if info.Modified.IsZero() {
				t.Errorf("List(%q) gives %s no modification time", tc.prefix, info.Key)
			}
		}
	}
}

func testBadKeys(t *testing.T, s blobstore.Store) {
	ctx := testContext(t)
	bad := []string{"", "../x", "/x", "x/", "A", "a//b", "a/./b", "a/../b", ".", "..", "a b", "a\\b", "é", strings.Repeat("k", 513)}
	for _, key := range bad {
		if err := s.Put(ctx, key, strings.NewReader("data"), 4); err == nil {
			t.Errorf("Put(%q) succeeded; want an error", key)
		}
		if _, err := s.Stat(ctx, key); err == nil || errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("Stat(%q) = %v; want an error other than ErrNotFound", key, err)
		}
		r, _, err := s.Open(ctx, key)
		if err == nil {
			r.Close()
		}
		if err == nil || errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("Open(%q) = %v; want an error other than ErrNotFound", key, err)
		}
		if err := s.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q) succeeded; want an error", key)
		}
	}
	for _, prefix := range []string{"../", "/x", "A", "a//b", "a//", "./"} {
		if _, err := s.List(ctx, prefix); err == nil {
			t.Errorf("List(%q) succeeded; want an error", prefix)
		}
	}
	if got := keys(list(t, s, "")); len(got) != 0 {
		t.Fatalf("after puts of bad keys List = %q, want nothing", got)
	}
	// The longest key taken is 512 bytes. File systems take at most 255
	// bytes in one part, so its parts are shorter.
	long := strings.Repeat(strings.Repeat("k", 127)+"/", 4)[:511] + "k"
	put(t, s, long, []byte("long"))
	wantContent(t, s, long, []byte("long"))
}

func testCheck(t *testing.T, s blobstore.Store) {
	ctx, cancel := context.WithTimeout(testContext(t), 30*time.Second)
	defer cancel()
	for range 3 {
		if err := s.Check(ctx); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	if got := keys(list(t, s, "")); len(got) != 0 {
		t.Fatalf("after Check List = %q, want nothing", got)
	}
}

func testCancelled(t *testing.T, s blobstore.Store) {
	put(t, s, "kept", []byte("old"))
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	wantCanceled := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v; want context.Canceled", what, err)
		}
	}
	wantCanceled("Put", s.Put(ctx, "fresh", strings.NewReader("new"), 3))
	wantCanceled("Put over a blob", s.Put(ctx, "kept", strings.NewReader("new"), 3))
	_, err := s.Stat(ctx, "kept")
	wantCanceled("Stat", err)
	r, _, err := s.Open(ctx, "kept")
	if err == nil {
		r.Close()
	}
	wantCanceled("Open", err)
	_, err = s.List(ctx, "")
	wantCanceled("List", err)
	wantCanceled("Delete", s.Delete(ctx, "kept"))
	wantCanceled("Check", s.Check(ctx))

	wantMissing(t, s, "fresh")
	wantContent(t, s, "kept", []byte("old"))
}
