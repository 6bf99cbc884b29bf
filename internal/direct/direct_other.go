//go:build !linux

package direct

import (
	"errors"
	"os"
)

// Open fails: O_DIRECT is only used on Linux.
func Open(string) (*os.File, error) { return nil, errors.New("O_DIRECT is not used on this system") }

// Writer is never made here.
type Writer struct{}

// NewWriter returns nil: the caller writes the ordinary way.
func (p *Pool) NewWriter(int64, int64, ...Target) *Writer { return nil }

func (w *Writer) Write([]byte) (int, error)          { return 0, errors.ErrUnsupported }
func (w *Writer) WriteAt([]byte, int64) (int, error) { return 0, errors.ErrUnsupported }
func (w *Writer) Close() error                       { return nil }

// Switcher is never made here.
type Switcher struct{}

// NewSwitcher returns nil: the caller writes the ordinary way.
func (p *Pool) NewSwitcher(int64, int64, Target) *Switcher { return nil }

func (s *Switcher) Write([]byte) (int, error)          { return 0, errors.ErrUnsupported }
func (s *Switcher) WriteAt([]byte, int64) (int, error) { return 0, errors.ErrUnsupported }
func (s *Switcher) Switched() bool                     { return false }
func (s *Switcher) Close() error                       { return nil }

// Reserve does nothing here.
func Reserve(*os.File, int64, int64) {}

// Release does nothing here.
func Release(*os.File) error { return nil }

// Allocate truncates f to size: a sparse file.
func Allocate(f *os.File, size int64) error { return f.Truncate(size) }
