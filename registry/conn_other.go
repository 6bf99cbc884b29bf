//go:build !windows

package registry

import (
	"errors"
	"syscall"
)

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func isUnreachable(err error) bool {
	return errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH)
}

// isReset is ECONNRESET's twins elsewhere; retryableError checks it itself.
func isReset(error) bool { return false }
