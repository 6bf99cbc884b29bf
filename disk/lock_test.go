package disk_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/haul-dev/haul/disk"
)

// TestLockExcludes: two handles on one file, in one process, exclude each
// other; a wait ends with its context, and succeeds once the holder closes.
// The holder's lock never stops the other handle's reads and writes (on
// Windows, where locks are mandatory, because the locked range is past EOF).
func TestLockExcludes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctx  func(context.Context) (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 100*time.Millisecond)
		}, context.DeadlineExceeded},
		{"canceled while waiting", func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"canceled before", func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := filepath.Join(t.TempDir(), "lock")
			holder, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Close()
			other, err := os.OpenFile(name, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if err := disk.Lock(t.Context(), holder); err != nil {
				t.Fatalf("Lock of a free file: %v", err)
			}
			if ok, err := disk.TryLock(other); ok || err != nil {
				t.Fatalf("TryLock of a held lock = %v, %v", ok, err)
			}
			if _, err := other.WriteAt([]byte("data"), 0); err != nil {
				t.Errorf("writing through another handle while the lock is held: %v", err)
			}
			b := make([]byte, 4)
			if _, err := holder.ReadAt(b, 0); err != nil || string(b) != "data" {
				t.Errorf("reading back through the holder: %q, %v", b, err)
			}
			ctx, cancel := tt.ctx(t.Context())
			defer cancel()
			start := time.Now()
			if err := disk.Lock(ctx, other); !errors.Is(err, tt.want) {
				t.Fatalf("Lock of a held lock = %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Lock took %v to see its context end", d)
			}
			time.AfterFunc(50*time.Millisecond, func() { holder.Close() })
			if err := disk.Lock(t.Context(), other); err != nil {
				t.Fatalf("Lock once the holder closed: %v", err)
			}
		})
	}
}

func TestLockPathContext(t *testing.T) {
	t.Parallel()
	name := filepath.Join(t.TempDir(), "lock")
	holder, err := disk.LockPath(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if f, err := disk.LockPath(ctx, name); !errors.Is(err, context.DeadlineExceeded) {
		f.Close()
		t.Fatalf("LockPath of a held lock = %v, want the deadline", err)
	}
}
