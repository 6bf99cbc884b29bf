//go:build windows

package disk

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// retryFor bounds how long Rename and Remove wait for other processes to
// let go of a file: about two seconds, doubling from a millisecond.
const retryFor = time.Second

// Rename renames oldpath to newpath, replacing newpath. A file another
// process holds open without FILE_SHARE_DELETE (as Go's os.Open, a virus
// scanner, an indexer or a reader of the cache do) cannot be replaced on
// Windows until it lets go: the rename is tried again for about two seconds
// before the error is returned. A read-only newpath, which Windows refuses
// to replace, loses its read-only attribute first, as it would be replaced
// on Unix.
func Rename(oldpath, newpath string) error {
	return retry(func() error {
		err := os.Rename(oldpath, newpath)
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) && clearReadOnly(newpath) {
			err = os.Rename(oldpath, newpath)
		}
		return err
	})
}

// Remove removes the file or empty directory at name, trying again for
// about two seconds while another process holds it open (see Rename).
func Remove(name string) error { return retry(func() error { return os.Remove(name) }) }

func retry(op func() error) error {
	for wait := time.Millisecond; ; wait *= 2 {
		err := op()
		if err == nil || !sharing(err) || wait > retryFor {
			return err
		}
		time.Sleep(wait)
	}
}

// sharing reports whether err may be another handle's doing, and so may
// pass: a sharing or lock violation, or the access denied of a file
// whose deletion is pending while a handle to it stays open.
func sharing(err error) bool {
	return errors.Is(err, windows.ERROR_SHARING_VIOLATION) || errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_LOCK_VIOLATION)
}

// clearReadOnly removes the read-only attribute of the file (not directory)
// at name, and reports whether it did.
func clearReadOnly(name string) bool {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return false
	}
	a, err := windows.GetFileAttributes(p)
	if err != nil || a&windows.FILE_ATTRIBUTE_READONLY == 0 || a&windows.FILE_ATTRIBUTE_DIRECTORY != 0 {
		return false
	}
	return windows.SetFileAttributes(p, a&^windows.FILE_ATTRIBUTE_READONLY) == nil
}

// createExcl creates the file at name, which must not exist, for reading
// and writing, as os.OpenFile would but sharing delete access too: Windows
// renames no file that a handle opened without FILE_SHARE_DELETE holds,
// and Commit renames its file while it still holds it locked.
func createExcl(name string) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if errors.Is(err, windows.ERROR_FILE_EXISTS) {
		err = fs.ErrExist
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(h), name), nil
}
