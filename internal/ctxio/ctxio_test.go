package ctxio

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	r := Reader(ctx, strings.NewReader("abc"))
	ra := ReaderAt(ctx, strings.NewReader("abc"))
	buf := make([]byte, 1)
	if n, err := r.Read(buf); n != 1 || err != nil {
		t.Fatalf("Read before cancel = %d, %v", n, err)
	}
	if n, err := ra.ReadAt(buf, 1); n != 1 || err != nil {
		t.Fatalf("ReadAt before cancel = %d, %v", n, err)
	}
	cancel()
	if _, err := io.ReadAll(r); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel: %v, want context.Canceled", err)
	}
	if _, err := ra.ReadAt(buf, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadAt after cancel: %v, want context.Canceled", err)
	}
}
