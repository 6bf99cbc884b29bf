//go:build darwin

package disk

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// bootID is the second the kernel booted, from kern.boottime. Its
// microseconds are left out: macOS moves them when it adjusts the clock.
func bootID() string {
	tv, err := unix.SysctlTimeval("kern.boottime")
	if err != nil || tv.Sec == 0 {
		return ""
	}
	return "boottime:" + strconv.FormatInt(int64(tv.Sec), 10)
}
