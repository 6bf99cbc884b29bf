package boundary

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/importer"
	"go/token"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/haul-dev/haul"

// listed is the part of `go list -json` the test reads.
type listed struct {
	ImportPath string
	Name       string
	Export     string
	Imports    []string
}

// TestNoInternalTypesInExportedAPI fails with every exported identifier of a
// public package whose type mentions a type declared under internal/: a caller
// outside the module could receive such a value but never name its type, nor
// match an error of it with errors.As.
func TestNoInternalTypesInExportedAPI(t *testing.T) {
	t.Parallel()
	pkgs, exports := listModule(t)
	imp := importer.ForCompiler(token.NewFileSet(), "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	var leaks []string
	for _, path := range pkgs {
		p, err := imp.Import(path)
		if err != nil {
			t.Fatalf("importing %s: %v", path, err)
		}
		leaks = append(leaks, checkPackage(p)...)
	}
	slices.Sort(leaks)
	if len(leaks) > 0 {
		t.Errorf("%d exported identifiers mention a type of an internal package:\n\t%s",
			len(leaks), strings.Join(slices.Compact(leaks), "\n\t"))
	}
}

// listModule returns the module's public, importable packages and the export
// data file of every package they depend on, by import path. Only those are
// compiled: not the tools and tests, whose dependencies (the distribution
// registry) are most of the build.
func listModule(t *testing.T) ([]string, map[string]string) {
	t.Helper()
	var pkgs []string
	for _, p := range goList(t, module+"/...") {
		if !isInternal(p.ImportPath) && p.Name != "main" {
			pkgs = append(pkgs, p.ImportPath)
		}
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no public package")
	}
	exports := map[string]string{}
	for _, p := range goList(t, append([]string{"-export", "-deps"}, pkgs...)...) {
		exports[p.ImportPath] = p.Export
	}
	return pkgs, exports
}

// goList runs go list -json with args.
func goList(t *testing.T, args ...string) []listed {
	t.Helper()
	// go test puts its own GOROOT/bin first in PATH, so this is the go that runs the test.
	cmd := exec.CommandContext(t.Context(), "go", append([]string{"list", "-json=ImportPath,Name,Export,Imports"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	var ps []listed
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return ps
		} else if err != nil {
			t.Fatalf("reading go list's output: %v", err)
		}
		ps = append(ps, p)
	}
}

// isInternal reports whether path may be imported only from inside the
// module: it has an element named internal (cmd/go's rule).
func isInternal(path string) bool {
	return slices.Contains(strings.Split(path, "/"), "internal")
}

// TestOrchestratorsImportedByFrontDoorOnly holds DESIGN's rule: pull and
// push, which orchestrate the others, are imported only by package haul
// (the front door) and the CLI; no package under them reaches back up.
func TestOrchestratorsImportedByFrontDoorOnly(t *testing.T) {
	t.Parallel()
	allowed := map[string]bool{module: true, module + "/internal/cli": true}
	for _, p := range goList(t, module+"/...") {
		for _, imp := range p.Imports {
			if (imp == module+"/pull" || imp == module+"/push") && !allowed[p.ImportPath] {
				t.Errorf("%s imports %s: only package haul and the CLI may", p.ImportPath, imp)
			}
		}
	}
}
