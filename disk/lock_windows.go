//go:build windows

package disk

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// lockOffset is where the locked byte range starts: far past the end of any
// file, so that the lock (mandatory on Windows) never refuses a read or a
// write of the file's bytes, as SQLite places its locks.
const lockOffset = 1 << 62

// TryLock takes an exclusive LockFileEx on f if no one holds one. The lock
// is on one byte at lockOffset, past the end of any file, so reads and
// writes of f's bytes through other handles go on.
func TryLock(f *os.File) (bool, error) {
	ol := new(windows.Overlapped)
	ol.Offset = uint32(lockOffset & 0xffffffff)
	ol.OffsetHigh = uint32(lockOffset >> 32)
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION), errors.Is(err, windows.ERROR_IO_PENDING):
		return false, nil
	}
	return false, &os.PathError{Op: "LockFileEx", Path: f.Name(), Err: err}
}

// openLock opens the file at name for LockPath, creating it if needed, as
// os.OpenFile would but sharing delete access too: a waiter's handle must
// not stop the holder from renaming or removing the file.
func openLock(name string) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	var h windows.Handle
	err = retry(func() error { // a file removed while others hold it open is "access denied" until they close
		h, err = windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
			windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
			nil, windows.OPEN_ALWAYS, windows.FILE_ATTRIBUTE_NORMAL, 0)
		return err
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(h), name), nil
}

// fileStandardInfo is FILE_STANDARD_INFO, which golang.org/x/sys/windows
// does not define.
type fileStandardInfo struct {
	AllocationSize, EndOfFile int64
	NumberOfLinks             uint32
	DeletePending, Directory  bool // BOOLEANs
}

// deletePending reports whether f's file was removed while open: where
// removal is not POSIX-like (Windows before 10, FAT, Wine), its name stays
// until the last handle closes, and then goes.
func deletePending(f *os.File) bool {
	var info fileStandardInfo
	err := windows.GetFileInformationByHandleEx(windows.Handle(f.Fd()), windows.FileStandardInfo,
		(*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)))
	return err == nil && info.DeletePending
}

// openExisting opens the file at name to lock it, not creating it, and
// sharing delete access, so that it can be removed while held.
func openExisting(name string) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(h), name), nil
}
