package layout_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// maxLines is the most lines a non-test Go file may have.
const maxLines = 800

// pkg is what "go list -json" says of a package, as far as the rules need.
type pkg struct {
	ImportPath     string
	Dir            string
	Standard       bool
	GoFiles        []string
	CgoFiles       []string
	IgnoredGoFiles []string // left out by build constraints here, but built elsewhere
	Imports        []string
	Error          *struct{ Err string }
}

// module is the module's packages and everything they import.
type module struct {
	root string          // the directory of go.mod
	path string          // the module path, such as fieldsync
	pkgs map[string]*pkg // by import path: the module's packages and their dependencies
	own  []*pkg          // the module's own packages, in go list's order
}

// rel names a package of the module by its path inside it ("" for the
// root package); a package outside the module keeps its import path.
func (m *module) rel(importPath string) string {
	if importPath == m.path {
		return ""
	}
	if rest, ok := strings.CutPrefix(importPath, m.path+"/"); ok {
		return rest
	}
	return importPath
}

// inModule reports whether an import path is a package of the module.
func (m *module) inModule(importPath string) bool {
	return importPath == m.path || strings.HasPrefix(importPath, m.path+"/")
}

// name is how a message names a package: its path inside the module, or
// its import path.
func (m *module) name(importPath string) string {
	if !m.inModule(importPath) {
		return importPath
	}
	if r := m.rel(importPath); r != "" {
		return r
	}
	return m.path + " (the module's root package)"
}

// under reports whether rel (a path inside the module) is dir or below it.
func under(rel string, dirs ...string) bool {
	for _, d := range dirs {
		if rel == d || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

// goCmd runs the go command in dir and returns what it printed.
func goCmd(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.Bytes())
	}
	return out
}

// load runs go list from the module root, which go env GOMOD names.
func load(t *testing.T) *module {
	t.Helper()
	file := strings.TrimSpace(string(goCmd(t, ".", "env", "GOMOD")))
	if file == "" || file == os.DevNull {
		t.Fatalf("go env GOMOD names no go.mod (%q): run the test inside the module", file)
	}
	m := &module{root: filepath.Dir(file), pkgs: map[string]*pkg{}}
	m.path = strings.TrimSpace(string(goCmd(t, m.root, "list", "-m")))
	// With -e a package go list cannot read comes with its error, which
	// names it, instead of a failure that names nothing.
	out := goCmd(t, m.root, "list", "-e", "-deps", "-json", "./...")
	dec := json.NewDecoder(bytes.NewReader(out))
	var broken []string
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading go list's answer: %v", err)
		}
		m.pkgs[p.ImportPath] = p
		if m.inModule(p.ImportPath) {
			m.own = append(m.own, p)
			if p.Error != nil {
				broken = append(broken, fmt.Sprintf("%s: %s", m.name(p.ImportPath), p.Error.Err))
			}
		}
	}
	if len(broken) > 0 {
		t.Fatalf("go list cannot read every package of the module, so the layout cannot be checked:\n%s", strings.Join(broken, "\n"))
	}
	if len(m.own) == 0 {
		t.Fatalf("go list found no package of module %s in %s", m.path, m.root)
	}
	return m
}

// pkg returns a package of the module by its path inside it, failing the
// test when there is none: a rule about it would check nothing.
func (m *module) pkg(t *testing.T, rel string) *pkg {
	t.Helper()
	p := m.pkgs[m.path+"/"+rel]
	if p == nil {
		t.Fatalf("the module has no package %s: this rule would check nothing; change it with the layout", rel)
	}
	return p
}

// standard reports whether an import is of the standard library.
func (m *module) standard(importPath string) bool {
	if importPath == "C" {
		return true
	}
	p := m.pkgs[importPath]
	return p != nil && p.Standard
}

// edge is one direct import: package from imports package to.
type edge struct{ from, to string }

// edges returns the direct imports of the module's packages under dirs.
func (m *module) edges(dirs ...string) []edge {
	var out []edge
	for _, p := range m.own {
		if !under(m.rel(p.ImportPath), dirs...) {
			continue
		}
		for _, imp := range p.Imports {
			out = append(out, edge{p.ImportPath, imp})
		}
	}
	return out
}

func TestLayout(t *testing.T) {
	m := load(t)

	t.Run("the contract leaves import only the standard library and each other downward", func(t *testing.T) {
		below := map[string][]string{
			"contract":          nil,
			"contract/rulebook": {"contract"},
			"contract/engine":   {"contract", "contract/rulebook"},
		}
		for _, leaf := range slices.Sorted(maps.Keys(below)) {
			p := m.pkg(t, leaf)
			for _, imp := range p.Imports {
				if m.standard(imp) || m.inModule(imp) && slices.Contains(below[leaf], m.rel(imp)) {
					continue
				}
				t.Errorf("%s imports %s: the contract leaves import only the standard library and the leaves below them (engine → rulebook → contract), so that device and server agree on them and nothing else", leaf, m.name(imp))
			}
		}
	})

	t.Run("nothing under syncqueue or localstore imports app, ui or server", func(t *testing.T) {
		m.pkg(t, "syncqueue")
		m.pkg(t, "localstore")
		for _, e := range m.edges("syncqueue", "localstore") {
			if m.inModule(e.to) && under(m.rel(e.to), "app", "ui", "server") {
				t.Errorf("%s imports %s: the device's lower parts must not know the facade, the screens or the server above them; declare an interface where it is used instead", m.name(e.from), m.name(e.to))
			}
		}
	})

	t.Run("nothing under server imports app, ui, syncqueue or localstore", func(t *testing.T) {
		m.pkg(t, "server")
		for _, e := range m.edges("server") {
			if m.inModule(e.to) && under(m.rel(e.to), "app", "ui", "syncqueue", "localstore") {
				t.Errorf("%s imports %s: the server never imports device packages; what both sides need belongs in the contract leaves or under internal/", m.name(e.from), m.name(e.to))
			}
		}
	})

	t.Run("ui and app/mobile import no package of the module but app, and ui assets", func(t *testing.T) {
		doors := []struct {
			dir string
			may []string // besides the door's own subpackages
		}{{"ui", []string{"app", "assets"}}, {"app/mobile", []string{"app"}}}
		for _, door := range doors {
			m.pkg(t, door.dir)
			for _, e := range m.edges(door.dir) {
				if !m.inModule(e.to) {
					continue
				}
				if to := m.rel(e.to); slices.Contains(door.may, to) || under(to, door.dir) {
					continue
				}
				t.Errorf("%s imports %s: screens and bindings reach the module only through the app facade; have app offer what %s needs", m.name(e.from), m.name(e.to), door.dir)
			}
		}
	})

	t.Run("ui makes no Fyne app and touches no SQL or HTTP", func(t *testing.T) {
		m.pkg(t, "ui")
		banned := map[string]string{
			"fyne.io/fyne/v2/app": "the app is made in main.go, which hands it to ui",
			"database/sql":        "storage is the app facade's business",
			"net/http":            "the server is the app facade's business",
		}
		for _, e := range m.edges("ui") {
			if why, ok := banned[e.to]; ok {
				t.Errorf("%s imports %s: %s", m.name(e.from), e.to, why)
			}
		}
	})

	t.Run("nothing under localstore or syncqueue imports Fyne", func(t *testing.T) {
		m.pkg(t, "syncqueue")
		m.pkg(t, "localstore")
		for _, e := range m.edges("localstore", "syncqueue") {
			if e.to == "fyne.io" || strings.HasPrefix(e.to, "fyne.io/") {
				t.Errorf("%s imports %s: the device's store and sync queue never import Fyne; they run headless, under the CLI and the phone bindings too", m.name(e.from), e.to)
			}
		}
	})

	t.Run("internal/wirejson is imported only by server, syncqueue, localstore and internal/apiclient", func(t *testing.T) {
		wire := m.pkg(t, "internal/wirejson").ImportPath
		for _, p := range m.own {
			if !slices.Contains(p.Imports, wire) {
				continue
			}
			rel := m.rel(p.ImportPath)
			if under(rel, "server") || rel == "syncqueue" || rel == "localstore" || rel == "internal/apiclient" {
				continue
			}
			t.Errorf("%s imports internal/wirejson: the fast push and pull codec is for the server and the device code that speaks the protocol; use encoding/json or the apiclient", m.name(p.ImportPath))
		}
	})

	t.Run("app exports no Store or Queue", func(t *testing.T) {
		app := m.pkg(t, "app")
		fset := token.NewFileSet()
		for _, name := range slices.Concat(app.GoFiles, app.CgoFiles, app.IgnoredGoFiles) {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			path := filepath.Join(app.Dir, name)
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Errorf("reading %s: %v", m.relFile(path), err)
				continue
			}
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Name.Name != "Store" && fn.Name.Name != "Queue" {
					continue
				}
				what := "function " + fn.Name.Name
				if fn.Recv != nil && len(fn.Recv.List) == 1 {
					what = fmt.Sprintf("method (%s).%s", types(fn.Recv.List[0].Type), fn.Name.Name)
				}
				pos := fset.Position(fn.Pos())
				t.Errorf("%s:%d: app exports %s: screens and bindings would reach past the facade to the device's store or queue; have app offer what they need instead",
					m.relFile(pos.Filename), pos.Line, what)
			}
		}
	})

	t.Run("no non-test Go file is over 800 lines", func(t *testing.T) {
		files, err := m.sourceFiles()
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			n := bytes.Count(data, []byte("\n"))
			if len(data) > 0 && data[len(data)-1] != '\n' {
				n++
			}
			if n > maxLines {
				t.Errorf("%s has %d lines, over %d: split it by concern", m.relFile(path), n, maxLines)
			}
		}
	})
}

// sourceFiles returns the module's non-test Go files, whatever their build
// constraints: every directory under the root but testdata, hidden ones
// and other modules'.
func (m *module) sourceFiles() ([]string, error) {
	var out []string
	err := filepath.WalkDir(m.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == m.root {
				return nil
			}
			name := d.Name()
			if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			out = append(out, path)
		}
		return nil
	})
	return out, err
}

// relFile names a file by its path from the module root.
func (m *module) relFile(path string) string {
	if r, err := filepath.Rel(m.root, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}

// types prints a receiver type such as *App.
func types(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return "*" + types(e.X)
	case *ast.Ident:
		return e.Name
	case *ast.IndexExpr:
		return types(e.X)
	case *ast.IndexListExpr:
		return types(e.X)
	}
	return "?"
}
