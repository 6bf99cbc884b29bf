package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// OutputError says that an output cannot be written where it was asked to
// go. The checks that return it run before anything is fetched or written,
// so a pull refuses at once rather than after its last download. Path is
// the output as the caller named it, never a temporary name; errors.Is sees
// through Err to fs.ErrNotExist (the directory it goes in is missing),
// ErrNotDir, ErrIsDir, ErrNotRegular, ErrNotEmpty, and to the system's error
// for a directory that takes no new file (EROFS; EACCES, which is
// fs.ErrPermission).
type OutputError struct {
	Path string
	Err  error
}

func (e *OutputError) Error() string { return "output " + e.Path + ": " + e.Err.Error() }

func (e *OutputError) Unwrap() error { return e.Err }

// What an OutputError's Err may match.
var (
	ErrNotDir     = errors.New("not a directory")
	ErrIsDir      = errors.New("is a directory")
	ErrNotRegular = errors.New("not a regular file")
	ErrNotEmpty   = errors.New("directory not empty")
)

// reason is an OutputError's cause: a sentence for a person, and the error
// a program matches.
type reason struct {
	msg string
	err error
}

func (r *reason) Error() string { return r.msg }
func (r *reason) Unwrap() error { return r.err }

// Refuse returns an *OutputError for path, saying msg and matching err.
func Refuse(path string, err error, msg string, a ...any) *OutputError {
	return &OutputError{Path: path, Err: &reason{fmt.Sprintf(msg, a...), err}}
}

// CheckFile checks that Create and Commit can put a file at path: path is
// absent or a regular file (which Commit replaces), and its directory exists
// and takes a new file. The only sure test of the last is to make one:
// root ignores mode bits, and a read-only mount tells only a write, so it
// creates a temporary file there, marked as Create marks it, and removes it.
func CheckFile(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return Refuse(path, ErrIsDir, "it is a directory, and a file was to be written there: name a file, inside it or elsewhere")
	case err == nil && !fi.Mode().IsRegular():
		return Refuse(path, ErrNotRegular, "it exists and is not a regular file (%s): for a pipe or a device, write to stdout with -o - and redirect it", fileType(fi.Mode()))
	}
	return CheckParent(path)
}

// CheckDir checks that a directory can be written at path: if it exists, it
// is a directory that takes a new file; else its parent exists and does.
func CheckDir(path string) error {
	fi, err := os.Stat(path)
	if err == nil {
		if !fi.IsDir() {
			return Refuse(path, ErrNotDir, "it exists and is not a directory")
		}
		return probe(path, path)
	}
	return CheckParent(path)
}

// CheckParent checks that the directory path goes in exists and takes a new
// file.
func CheckParent(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Refuse(path, fs.ErrNotExist, "the directory %s does not exist", dir)
	case err != nil:
		return Refuse(path, cause(err), "the directory %s cannot be read: %v", dir, cause(err))
	case !fi.IsDir():
		return Refuse(path, ErrNotDir, "%s is not a directory", dir)
	}
	return probe(path, dir)
}

// probe creates and removes a temporary file in dir, for the output path.
func probe(path, dir string) error {
	f, err := Create(filepath.Join(dir, "haul-probe"))
	if err != nil {
		return Refuse(path, cause(err), "no file can be written in the directory %s: %v", dir, cause(err))
	}
	f.Abort()
	return nil
}

// cause is the system's error inside err, without the name of the file it
// was about (a temporary one, which the user never named).
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}
