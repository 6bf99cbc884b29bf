package direct

import (
	"fmt"
	"syscall"
)

// SpaceError says that a file does not fit on its filesystem. errors.Is
// matches it to syscall.ENOSPC.
type SpaceError struct {
	Need int64 // bytes the file takes
	Free int64 // bytes the filesystem had free for it; -1 if not known
}

func (e *SpaceError) Error() string {
	if e.Free < 0 {
		return fmt.Sprintf("%d bytes do not fit on the disk", e.Need)
	}
	return fmt.Sprintf("%d bytes do not fit on the disk, which has %d free", e.Need, e.Free)
}

func (e *SpaceError) Unwrap() error { return syscall.ENOSPC }
