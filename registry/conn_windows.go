package registry

import (
	"errors"
	"syscall"
)

// Winsock's codes, which package syscall does not name (it maps only a
// few of them onto its POSIX-like Errno values).
const (
	wsaeconnreset   syscall.Errno = 10054
	wsaenetunreach  syscall.Errno = 10051
	wsaeconnrefused syscall.Errno = 10061
	wsaehostunreach syscall.Errno = 10065
)

func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, wsaeconnrefused)
}

func isUnreachable(err error) bool {
	return errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, wsaenetunreach) || errors.Is(err, wsaehostunreach)
}

func isReset(err error) bool { return errors.Is(err, wsaeconnreset) }
