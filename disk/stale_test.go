package disk_test

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/haul-dev/haul/disk"
)

// TestRemoveStale: what a killed write left beside its path (a temporary
// file of Create's, unlocked) is removed; one a live writer holds, a
// finished file, and names haul did not mark for that path are kept.
func TestRemoveStale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.tar")
	// A killed process leaves its file, and its lock goes with the process:
	// a file of Create's name that nothing holds.
	killed := writeFile(t, filepath.Join(dir, ".x.tar.abcdefghijk23.haul-tmp"))
	live, err := disk.Create(path) // held locked by this handle until closed
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	kept := []string{
		writeFile(t, path),
		writeFile(t, filepath.Join(dir, ".x.tar.abcdefghijk2.haul-tmp")),      // too short
		writeFile(t, filepath.Join(dir, ".x.tar.ABCDEFGHIJK45.haul-tmp")),     // not Create's alphabet (and another name where case does not count)
		writeFile(t, filepath.Join(dir, ".y.tar.abcdefghijk23.haul-tmp")),     // another path's
		writeFile(t, filepath.Join(dir, ".x.tar.abcdefghijk23.tmp")),          // not marked
		writeFile(t, filepath.Join(dir, "x.tar.abcdefghijk23.haul-tmp")),      // no dot first
		writeFile(t, filepath.Join(dir, ".x.tar.x.abcdefghijk23.haul-tmp")),   // x.tar.x's
		writeFile(t, filepath.Join(dir, ".x.tar.abcdefghijk23.haul-partial")), // archive's, with its own rules
		live.Name(),
	}
	if n := disk.RemoveStale(path); n != 1 {
		t.Errorf("RemoveStale removed %d files, want 1", n)
	}
	if _, err := os.Stat(killed); !os.IsNotExist(err) {
		t.Errorf("the killed write's %s is still there (%v)", killed, err)
	}
	for _, name := range kept {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
	if _, err := live.Write([]byte("still mine")); err != nil {
		t.Fatal(err)
	}
	if err := live.Commit(false, false); err != nil {
		t.Fatalf("the live write's Commit: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "still mine" {
		t.Errorf("%s holds %q after the live write's Commit", path, b)
	}
}

// TestRemoveStaleIn: in a directory (a layout's blobs), every unlocked
// temporary file of Create's goes, whatever path it was for.
func TestRemoveStaleIn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stale := []string{
		writeFile(t, filepath.Join(dir, ".index.json.abcdefghijk23.haul-tmp")),
		writeFile(t, filepath.Join(dir, ".0123abcd.abcdefghijk23.haul-tmp")),
	}
	live, err := disk.Create(filepath.Join(dir, "blob"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	kept := []string{writeFile(t, filepath.Join(dir, "0123abcd")), writeFile(t, filepath.Join(dir, ".abcdefghijk23.haul-tmp")), live.Name()}
	if n := disk.RemoveStaleIn(dir); n != len(stale) {
		t.Errorf("RemoveStaleIn removed %d files, want %d", n, len(stale))
	}
	for _, name := range stale {
		if _, err := os.Stat(name); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", name, err)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
}

// TestCreateRacesRemoveStale: writers and sweepers of one path at once, as
// two processes would be: every Create's file survives to its Commit,
// however the sweeps fall between its creation, its lock and its rename (a
// sweep that comes between the first two takes the file, and Create makes
// another).
func TestCreateRacesRemoveStale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				disk.RemoveStale(path)
			}
		})
	}
	for i := range 300 {
		f, err := disk.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := f.Commit(false, false); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("Commit %d: %v", i, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if got := names(t, dir); !slices.Equal(got, []string{"out"}) {
		t.Errorf("left %v, want only out", got)
	}
}

// TestRemoveStaleDirs: a temporary directory of a killed process (no lock)
// goes with all it holds; one a live MkdirTemp holds, and names of other
// prefixes or not MkdirTemp's, stay.
func TestRemoveStaleDirs(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	const prefix = ".haul-rootfs-out-"
	killed := filepath.Join(parent, prefix+"12345")
	if err := os.MkdirAll(filepath.Join(killed, "etc", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(killed, "etc", "deep", "f"))
	live, err := disk.MkdirTemp(parent, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer live.RemoveAll()
	var kept []string
	for _, n := range []string{prefix + "x1", ".haul-rootfs-out-x-123", ".haul-rootfs-outer-123", prefix} {
		if err := os.Mkdir(filepath.Join(parent, n), 0o755); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, filepath.Join(parent, n))
	}
	kept = append(kept, writeFile(t, filepath.Join(parent, prefix+"777")), live.Name) // a file is no temporary directory
	if n := disk.RemoveStaleDirs(parent, prefix); n != 1 {
		t.Errorf("RemoveStaleDirs removed %d, want 1", n)
	}
	if _, err := os.Stat(killed); !os.IsNotExist(err) {
		t.Errorf("the killed process's %s is still there (%v)", killed, err)
	}
	for _, name := range kept {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
	live.Release()
	if n := disk.RemoveStaleDirs(parent, prefix); n != 1 {
		t.Errorf("once released, RemoveStaleDirs removed %d, want 1", n)
	}
}
