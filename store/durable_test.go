package store

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSuspectAfterRestart: blobs written in one boot are hashed again at
// their first use in the next; one that a power failure zero-filled is
// removed and fetched again, an intact one is kept and not hashed twice.
func TestSuspectAfterRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, dGood := blob(50_000, 11)
	bad, dBad := blob(60_000, 12)
	s := newStore(t, Config{Dir: dir})
	s.boot = "boot-1"
	if _, err := s.Ensure(t.Context(), dGood, (&fake{data: good}).fetch, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ensure(t.Context(), dBad, (&fake{data: bad}).fetch, nil); err != nil {
		t.Fatal(err)
	}
	// The power failed before the second blob's pages reached the disk.
	path, _ := s.Path(t.Context(), dBad)
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, make([]byte, len(bad)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Path(t.Context(), dBad); !ok {
		t.Fatal("in the same boot, a blob is not hashed again")
	}

	s2, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s2.boot = "boot-2"
	s2.sweepBoots()
	if _, ok := s2.Path(t.Context(), dBad); ok {
		t.Fatal("after a restart, a zero-filled blob is served")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the damaged blob is still there (%v)", err)
	}
	if _, ok := s2.Path(t.Context(), dGood); !ok {
		t.Fatal("after a restart, an intact blob is not served")
	}
	marks, _ := filepath.Glob(filepath.Join(dir, suspectDir, "*"))
	if len(marks) != 0 {
		t.Errorf("suspects left after both were checked: %v", marks)
	}
	f := &fake{data: bad}
	if _, err := s2.Ensure(t.Context(), dBad, f.fetch, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.calls(); len(got) != 1 {
		t.Errorf("the damaged blob was fetched %d times, want once", len(got))
	}
	checkBlob(t, s2, dBad, bad)
}
