// Package treetest lists a directory tree one line per path, sorted, for the
// tests that compare the trees haul writes: "dir/", "file = content",
// "link -> target", and "name TYPE" for anything else (fifos, devices).
package treetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// List lists the tree under root, root itself left out; any error fails t.
func List(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, rel+" -> "+l)
		case fi.IsDir():
			out = append(out, rel+"/")
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out = append(out, rel+" = "+string(b))
		default:
			out = append(out, rel+" "+fi.Mode().Type().String())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", root, err)
	}
	sort.Strings(out)
	return out
}
