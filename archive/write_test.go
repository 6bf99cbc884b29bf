package archive

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRegionsResume writes part of every blob through its Region, aborts,
// and checks that a Create of the same Plan and path takes the bytes up
// again where they stopped, and that the finished archive is WriteFile's.
func TestRegionsResume(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, err := NewPlan(f.images, true)
	if err != nil {
		t.Fatal(err)
	}
	want := writeFile(t, p, f.src)
	dir := t.TempDir()
	path := filepath.Join(dir, "out.tar")

	out, err := p.Create(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	wrote := map[int]int64{}
	for i, d := range p.Blobs() {
		r, err := out.Region(d)
		if err != nil {
			t.Fatal(err)
		}
		n := d.Size * int64(i%3) / 3 // none, a third, two thirds
		if _, err := r.WriteAt(f.src.read(t, d.Digest)[:n], 0); err != nil {
			t.Fatal(err)
		}
		r.Close()
		wrote[i] = n
	}
	out.Abort()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("an aborted archive is at its path (%v)", err)
	}

	out, err = p.Create(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range p.Blobs() {
		r, err := out.Region(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Resume(); got != wrote[i] {
			t.Errorf("blob %d: Resume = %d, want %d", i, got, wrote[i])
		}
		data := f.src.read(t, d.Digest)
		prefix := make([]byte, r.Resume())
		if _, err := r.ReadAt(prefix, 0); err != nil && len(prefix) > 0 {
			t.Fatal(err)
		}
		if !bytes.Equal(prefix, data[:len(prefix)]) {
			t.Errorf("blob %d: the resumed bytes differ", i)
		}
		if _, err := r.WriteAt(data[r.Resume():], r.Resume()); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the resumed archive differs from WriteFile's")
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"out.tar"}) {
		t.Errorf("the directory holds %v, want only out.tar", names)
	}
}

// TestCreateRemovesOtherPlans: what a failed pull of other images to the
// same path left is removed; a fresh Create of another Plan resumes nothing.
func TestCreateRemovesOtherPlans(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p1, err := NewPlan(f.images, true)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := NewPlan(f.images, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "out.tar")
	out, err := p1.Create(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	d := p1.Blobs()[0]
	r, _ := out.Region(d)
	if _, err := r.WriteAt(f.src.read(t, d.Digest)[:1], 0); err != nil {
		t.Fatal(err)
	}
	out.Abort()
	if n := len(dirNames(t, dir)); n != 1 {
		t.Fatalf("an abort with bytes written keeps %d files, want 1", n)
	}
	out2, err := p2.Create(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer out2.Abort() // it holds no blob bytes: removed
	if n := out2.kept(); n != 0 {
		t.Errorf("another Plan resumed %d bytes", n)
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != filepath.Base(p2.tempName(path)) {
		t.Errorf("the directory holds %v, want only the second Plan's file", names)
	}
	if _, err := p2.Create(t.Context(), path); err == nil {
		t.Error("a second Create of a path being written succeeded")
	}
}

// TestCreateKeepsLockedPlans: another Plan's temporary file that a live
// pull holds locked is never removed, and once its holder is gone it is.
// The holder here is another open file, as another process's would be.
func TestCreateKeepsLockedPlans(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p1, err := NewPlan(f.images, true)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := NewPlan(f.images, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "out.tar")
	live, err := p1.Create(t.Context(), path) // holds its file's lock until Abort
	if err != nil {
		t.Fatal(err)
	}
	d := p1.Blobs()[0]
	r, _ := live.Region(d)
	if _, err := r.WriteAt(f.src.read(t, d.Digest)[:1], 0); err != nil {
		t.Fatal(err)
	}
	out2, err := p2.Create(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	out2.Abort()
	if _, err := os.Stat(p1.tempName(path)); err != nil {
		t.Fatalf("the live pull's %s was removed: %v", p1.tempName(path), err)
	}
	live.Abort() // keeps it: a byte is in it
	out3, err := p2.Create(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	out3.Abort()
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("left %v once the holder was gone, want nothing", names)
	}
}

// TestCreateNamesPath: a Create that cannot make its file names the path it
// was given, never the temporary name the user did not choose.
func TestCreateNamesPath(t *testing.T) {
	t.Parallel()
	p, err := NewPlan(newFixture(t).images, true)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "missing", "out.tar")
	_, err = p.Create(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), resumeSuffix) {
		t.Fatalf("err = %v, want one naming %s and no temporary file", err, path)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
