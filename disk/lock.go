package disk

import (
	"context"
	"os"
	"time"
)

// poll is how often a busy lock is tried again: no system's lock call can be
// ended by a context, so Lock polls a non-blocking try.
const poll = 20 * time.Millisecond

// Lock takes an exclusive lock on f, waiting until it is free or ctx is
// done. The lock belongs to f's open file (not to the process), so it also
// excludes other goroutines that opened the file themselves. Closing f, or
// the end of the process, releases it. On Windows the lock covers a byte
// range far past any file's end, so reads and writes of the file's bytes
// through other handles are never refused by it.
func Lock(ctx context.Context, f *os.File) error {
	for {
		ok, err := TryLock(f)
		if ok || err != nil {
			return err
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// LockPath opens (creating if needed, mode 0o644) the file at name and locks
// it, waiting as Lock does. If whoever held the lock before renamed or
// removed the file meanwhile, the lock would guard a file no one else can
// find: then it opens the name again.
// On Windows the file is opened with FILE_SHARE_DELETE (which os.OpenFile
// leaves out), so that there too the holder can rename or remove it while
// others wait.
func LockPath(ctx context.Context, name string) (*os.File, error) {
	return lockPath(ctx, name, nil)
}

// lockPath is LockPath; opened, if not nil, is told of each open, so that a
// test can rename the file from under a waiter that has opened it.
func lockPath(ctx context.Context, name string, opened func()) (*os.File, error) {
	for {
		f, err := openLock(name)
		if err != nil {
			return nil, err
		}
		if opened != nil {
			opened()
		}
		if err := Lock(ctx, f); err != nil {
			f.Close()
			return nil, err
		}
		if isNamed(f, name) {
			return f, nil
		}
		f.Close()
	}
}

// isNamed reports whether name is f's file, and will stay so.
func isNamed(f *os.File, name string) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	ni, err := os.Stat(name)
	return err == nil && os.SameFile(fi, ni) && !deletePending(f)
}
