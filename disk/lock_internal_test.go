package disk

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestLockPathReopens: a holder renames or removes the lock file while a
// waiter has it open; once the holder lets go, the waiter must not settle
// for the file that no one else can find, but lock the name anew.
func TestLockPathReopens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		moved func(name string) error // what the holder does to the file
		wine  string                  // why Wine cannot run the case; "" if it can
	}{
		{"renamed", func(name string) error { return Rename(name, name+".old") }, ""},
		{"removed", func(name string) error { return Remove(name) }, "Wine 8 leaves a removed file at its " +
			"name until its last handle closes and reports no FILE_STANDARD_INFO.DeletePending, so the " +
			"waiter cannot tell (nor can anyone else: they all open the same file, and exclude each other)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.wine != "" && underWine() {
				t.Skip(tt.wine)
			}
			name := filepath.Join(t.TempDir(), "lock")
			holder, err := LockPath(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Close()
			var opens atomic.Int32
			firstOpen := make(chan struct{})
			type result struct {
				f   *os.File
				err error
			}
			got := make(chan result, 1)
			go func() {
				f, err := lockPath(t.Context(), name, func() {
					if opens.Add(1) == 1 {
						close(firstOpen)
					}
				})
				got <- result{f, err}
			}()
			<-firstOpen // the waiter holds the old file open
			if err := tt.moved(name); err != nil {
				t.Fatalf("the holder could not move the lock file away from under the waiter: %v", err)
			}
			holder.Close()
			r := <-got
			if r.err != nil {
				t.Fatal(r.err)
			}
			defer r.f.Close()
			if !isNamed(r.f, name) {
				t.Error("the waiter locked a file no longer at the name")
			}
			if n := opens.Load(); n < 2 {
				t.Errorf("the waiter opened the name %d times, want 2", n)
			}
		})
	}
}
