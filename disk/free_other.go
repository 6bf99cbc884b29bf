//go:build !linux && !darwin && !freebsd && !dragonfly && !windows

package disk

import "errors"

// Free is not known here.
func Free(string) (int64, error) { return -1, errors.ErrUnsupported }

func isDiskFull(error) bool { return false }
