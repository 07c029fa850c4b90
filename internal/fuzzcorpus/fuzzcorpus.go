// Package fuzzcorpus keeps a package's checked-in fuzz seeds in step with the
// seeds its tests define. Only tests import it.
package fuzzcorpus

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// File encodes one seed in the "go test fuzz v1" format. It takes strings,
// byte slices and uint8s, the argument types the fuzz targets here use.
func File(vals ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case string:
			fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(v))
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case uint8:
			fmt.Fprintf(&b, "uint8(%d)\n", v)
		default:
			panic(fmt.Sprintf("fuzzcorpus.File: %T", v))
		}
	}
	return b.Bytes()
}

// Check compares want (paths under testdata/fuzz, such as
// "FuzzDecide/note") with the files on disk, or rewrites them when update is
// set. A path in live is a seed the fuzz target adds as it is now, not a copy:
// it is written but never reported as out of date.
func Check(t *testing.T, want map[string][]byte, update bool, live ...string) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz")
	for name, content := range want {
		path := filepath.Join(dir, name)
		if update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err == nil && isLive(name, live) {
			continue
		}
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("seed %s is missing or out of date; run go test -run TestFuzzCorpus -update", path)
		}
	}
}

func isLive(name string, live []string) bool {
	for _, l := range live {
		if filepath.Clean(l) == filepath.Clean(name) {
			return true
		}
	}
	return false
}
