package boundary

import (
	"fmt"
	"go/types"
	"strings"
)

// walker finds internal types in the API a package exports. Each finding
// names where it was found, as a caller would write it (store.Tee.Direct
// result 0), and the internal type.
type walker struct {
	pkg   *types.Package
	seen  map[types.Type]bool // unexported named types already walked
	leaks []string
}

func checkPackage(p *types.Package) []string {
	w := &walker{pkg: p, seen: map[types.Type]bool{}}
	scope := p.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		where := p.Name() + "." + name
		switch obj := obj.(type) {
		case *types.TypeName:
			w.typeName(where, obj)
		default: // funcs, vars, consts
			w.typ(where, obj.Type())
		}
	}
	return w.leaks
}

// typeName walks a declared type: what it is defined as (or aliases), its
// type parameters' constraints, and its exported methods.
func (w *walker) typeName(where string, obj *types.TypeName) {
	if a, ok := obj.Type().(*types.Alias); ok {
		w.typ(where, types.Unalias(a))
		return
	}
	n, ok := obj.Type().(*types.Named)
	if !ok {
		return
	}
	w.named(where, n)
}

func (w *walker) named(where string, n *types.Named) {
	tps := n.TypeParams()
	for i := range tps.Len() {
		w.typ(fmt.Sprintf("%s type parameter %s", where, tps.At(i).Obj().Name()), tps.At(i).Constraint())
	}
	w.typ(where, n.Underlying())
	for i := range n.NumMethods() {
		if m := n.Method(i); m.Exported() {
			w.typ(where+"."+m.Name(), m.Type())
		}
	}
}

func (w *walker) typ(where string, t types.Type) {
	switch t := t.(type) {
	case *types.Alias:
		w.typ(where, types.Unalias(t))
	case *types.Named:
		w.reference(where, t)
	case *types.Pointer:
		w.typ(where, t.Elem())
	case *types.Slice:
		w.typ(where, t.Elem())
	case *types.Array:
		w.typ(where, t.Elem())
	case *types.Chan:
		w.typ(where, t.Elem())
	case *types.Map:
		w.typ(where+" key", t.Key())
		w.typ(where, t.Elem())
	case *types.Signature:
		w.signature(where, t)
	case *types.Struct:
		for i := range t.NumFields() {
			if f := t.Field(i); f.Exported() || f.Embedded() {
				w.typ(where+"."+f.Name(), f.Type())
			}
		}
	case *types.Interface:
		for i := range t.NumEmbeddeds() {
			w.typ(where+" embeds", t.EmbeddedType(i))
		}
		for i := range t.NumExplicitMethods() {
			if m := t.ExplicitMethod(i); m.Exported() {
				w.typ(where+"."+m.Name(), m.Type())
			}
		}
	case *types.Union:
		for i := range t.Len() {
			w.typ(where, t.Term(i).Type())
		}
	case *types.TypeParam, *types.Basic, *types.Tuple, nil:
		// a type parameter is walked through its constraint where it is declared
	}
}

func (w *walker) signature(where string, s *types.Signature) {
	tps := s.TypeParams()
	for i := range tps.Len() {
		w.typ(fmt.Sprintf("%s type parameter %s", where, tps.At(i).Obj().Name()), tps.At(i).Constraint())
	}
	for i := range s.Params().Len() {
		w.typ(fmt.Sprintf("%s parameter %s", where, paramName(s.Params().At(i), i)), s.Params().At(i).Type())
	}
	for i := range s.Results().Len() {
		w.typ(fmt.Sprintf("%s result %d", where, i), s.Results().At(i).Type())
	}
}

func paramName(v *types.Var, i int) string {
	if v.Name() == "" || v.Name() == "_" {
		return fmt.Sprint(i)
	}
	return v.Name()
}

// reference checks one use of a named type: a type of an internal package is
// a leak; an unexported type of this package is walked too, since a caller
// holding one can use its exported fields and methods; any other named type
// is checked where it is declared, but its type arguments here.
func (w *walker) reference(where string, n *types.Named) {
	obj := n.Obj()
	if obj.Pkg() != nil && isInternal(obj.Pkg().Path()) {
		w.leaks = append(w.leaks, fmt.Sprintf("%s: %s.%s", where, strings.TrimPrefix(obj.Pkg().Path(), module+"/"), obj.Name()))
	}
	args := n.TypeArgs()
	for i := range args.Len() {
		w.typ(where+" type argument", args.At(i))
	}
	if obj.Pkg() == w.pkg && !obj.Exported() && !w.seen[n.Origin()] {
		w.seen[n.Origin()] = true
		w.named(where+" ("+obj.Name()+")", n.Origin())
	}
}
