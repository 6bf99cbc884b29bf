package boundary

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"slices"
	"testing"
)

// internalSrc is a package under internal/, as the walker sees one.
const internalSrc = `package x
type T int
type Err struct{}
func (*Err) Error() string { return "" }
`

// TestWalkerFinds checks that each way an exported identifier can mention a
// type is walked: the module test above passes only while the walker sees them.
func TestWalkerFinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string // declarations of package p, which imports internal/x as x
		want []string
	}{
		{"nothing exported", `type t struct{ F x.T }; func f() x.T { return 0 }`, nil},
		{"no internal type", `type S struct{ F int }; func F(s string) error { return nil }`, nil},
		{"func result", `func F() *x.Err { return nil }`, []string{"p.F result 0: internal/x.Err"}},
		{"func parameter", `func F(n x.T) {}`, []string{"p.F parameter n: internal/x.T"}},
		{"variadic parameter", `func F(_ ...x.T) {}`, []string{"p.F parameter 0: internal/x.T"}},
		{"var", `var V map[string][]x.T`, []string{"p.V: internal/x.T"}},
		{"map key", `var V map[x.T]int`, []string{"p.V key: internal/x.T"}},
		{"chan and func type", `var V chan func() x.T`, []string{"p.V result 0: internal/x.T"}},
		{"const", `const C = x.T(1)`, []string{"p.C: internal/x.T"}},
		{"struct field", `type S struct{ F [2]x.T; g x.T }`, []string{"p.S.F: internal/x.T"}},
		{"embedded field", `type S struct{ *x.Err }`, []string{"p.S.Err: internal/x.Err"}},
		{"unexported embedded", `type S struct{ x.T }`, []string{"p.S.T: internal/x.T"}},
		{"method", `type S int; func (S) M() x.T { return 0 }; func (S) m() x.T { return 0 }`, []string{"p.S.M result 0: internal/x.T"}},
		{"pointer method", `type S int; func (*S) M(x.T) {}`, []string{"p.S.M parameter 0: internal/x.T"}},
		{"interface method", `type I interface{ M() x.T; m() x.T }`, []string{"p.I.M result 0: internal/x.T"}},
		{"defined as (takes only the underlying type)", `type D x.T`, nil},
		{"alias", `type A = x.Err`, []string{"p.A: internal/x.Err"}},
		{"type argument", `type G[E any] struct{ V E }; var V G[x.T]`, []string{"p.V type argument: internal/x.T"}},
		{"constraint", `func F[E interface{ ~string | x.T }]() {}`, []string{"p.F type parameter E embeds: internal/x.T"}},
		{"unexported type handed out", `type s struct{ F x.T; g x.T }; func (s) M() *x.Err { return nil }; func New() s { return s{} }`,
			[]string{"p.New result 0 (s).F: internal/x.T", "p.New result 0 (s).M result 0: internal/x.Err"}},
		{"recursive unexported type", `type s struct{ Next *s; F x.T }; func New() *s { return nil }`, []string{"p.New result 0 (s).F: internal/x.T"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := typeCheck(t, "package p\nimport \"github.com/haul-dev/haul/internal/x\"\nvar _ x.T\n"+tt.src)
			got := checkPackage(p)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("leaks = %q, want %q", got, tt.want)
			}
		})
	}
}

// typeCheck type-checks src as package github.com/haul-dev/haul/p, with
// internal/x beside it.
func typeCheck(t *testing.T, src string) *types.Package {
	t.Helper()
	fset := token.NewFileSet()
	x := check(t, fset, module+"/internal/x", internalSrc, nil)
	return check(t, fset, module+"/p", src, x)
}

func check(t *testing.T, fset *token.FileSet, path, src string, dep *types.Package) *types.Package {
	t.Helper()
	f, err := parser.ParseFile(fset, path+".go", src, 0)
	if err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	conf := types.Config{Importer: importerFunc(func(p string) (*types.Package, error) {
		if dep != nil && p == dep.Path() {
			return dep, nil
		}
		return nil, fmt.Errorf("no package %s here", p)
	})}
	p, err := conf.Check(path, fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatalf("type-checking %s: %v", path, err)
	}
	return p
}

type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }
