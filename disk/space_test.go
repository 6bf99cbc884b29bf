package disk_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/haul-dev/haul/disk"
)

func TestSpaceError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name  string
		err   error
		space bool   // errors.As finds a *SpaceError
		full  bool   // IsSpace
		text  string // in the message
	}{
		{"itself", &disk.SpaceError{Path: "/x", Need: 10, Free: 3}, true, true, "/x: 10 bytes do not fit on the disk, which has 3 free"},
		{"free unknown", &disk.SpaceError{Path: "/x", Need: 10, Free: -1}, true, true, "/x: 10 bytes do not fit on the disk"},
		{"wrapped", fmt.Errorf("writing blob: %w", &disk.SpaceError{Path: "/y", Need: 1 << 40, Free: 0}), true, true, "writing blob: /y"},
		{"from CheckFree", disk.CheckFree(dir, 1<<62), true, true, dir},
		{"a write's ENOSPC", &os.PathError{Op: "write", Path: "/z", Err: syscall.ENOSPC}, false, true, "/z"},
		{"something else", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), false, false, "reading"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.err == nil {
				t.Fatal("no error to look at")
			}
			var se *disk.SpaceError
			if got := errors.As(tt.err, &se); got != tt.space {
				t.Errorf("errors.As(%v, *SpaceError) = %v, want %v", tt.err, got, tt.space)
			}
			if tt.space && !errors.Is(tt.err, syscall.ENOSPC) {
				t.Errorf("errors.Is(%v, ENOSPC) = false", tt.err)
			}
			if got := disk.IsSpace(tt.err); got != tt.full {
				t.Errorf("IsSpace(%v) = %v, want %v", tt.err, got, tt.full)
			}
			if !strings.Contains(tt.err.Error(), tt.text) {
				t.Errorf("%q does not say %q", tt.err.Error(), tt.text)
			}
		})
	}
}

func TestCheckFree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	free, err := disk.Free(dir)
	if err != nil || free <= 0 {
		t.Fatalf("Free(%s) = %d, %v; want bytes and no error", dir, free, err)
	}
	tests := []struct {
		name   string
		dir    string
		need   int64
		refuse bool
	}{
		{"nothing", dir, 0, false},
		{"a byte", dir, 1, false},
		{"4 EiB", dir, 1 << 62, true},
		{"free space cannot be read", filepath.Join(dir, "absent"), 1 << 62, false}, // the write will say
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := disk.CheckFree(tt.dir, tt.need)
			var se *disk.SpaceError
			if got := errors.As(err, &se); got != tt.refuse {
				t.Fatalf("CheckFree(%s, %d) = %v, refusal %v wanted", tt.dir, tt.need, err, tt.refuse)
			}
			if tt.refuse && (se.Path != tt.dir || se.Need != tt.need || se.Free < 0 || se.Free >= tt.need) {
				t.Errorf("CheckFree's SpaceError = %+v", *se)
			}
		})
	}
	if _, err := disk.Free(filepath.Join(dir, "absent")); err == nil {
		t.Error("Free of an absent directory gave no error")
	}
}
