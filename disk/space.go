package disk

import (
	"errors"
	"fmt"
	"syscall"
)

// SpaceError says that a file does not fit on its filesystem, found before
// the first byte is written: CheckFree returns it, and so does every write
// built on it, a pull's tar (archive's Output) among them. Match it with
// errors.As for the sizes; errors.Is(err, syscall.ENOSPC) matches it too, and
// IsSpace matches it and a write that found the disk full (ENOSPC, or
// Windows' ERROR_DISK_FULL), which is not a SpaceError.
type SpaceError struct {
	Path string // the file, or the directory it was to go in
	Need int64  // bytes the file takes
	Free int64  // bytes the filesystem has free for this user; -1 if not known
}

func (e *SpaceError) Error() string {
	if e.Free < 0 {
		return fmt.Sprintf("%s: %d bytes do not fit on the disk", e.Path, e.Need)
	}
	return fmt.Sprintf("%s: %d bytes do not fit on the disk, which has %d free", e.Path, e.Need, e.Free)
}

func (e *SpaceError) Unwrap() error { return syscall.ENOSPC }

// CheckFree returns a *SpaceError if need bytes do not fit in dir's
// filesystem, as free space available to this user counts it. Where free
// space cannot be read, it returns nil: the write itself will say.
func CheckFree(dir string, need int64) error {
	free, err := Free(dir)
	if err != nil || free >= need {
		return nil
	}
	return &SpaceError{Path: dir, Need: need, Free: free}
}

// IsSpace reports whether err says a disk is full: a *SpaceError, or the
// ENOSPC (or, on Windows, ERROR_DISK_FULL) of a write.
func IsSpace(err error) bool {
	var se *SpaceError
	return errors.As(err, &se) || errors.Is(err, syscall.ENOSPC) || isDiskFull(err)
}
