//go:build windows

package disk

import (
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// getTickCount64 is kernel32's GetTickCount64 (Vista and later), which
// golang.org/x/sys/windows does not wrap.
var getTickCount64 = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetTickCount64")

// bootID is the minute the machine booted: now less the milliseconds since
// boot. The two are read a few milliseconds apart and the tick count moves
// in steps of 10 to 16 ms, so the difference jitters; a minute absorbs that
// but on its edge (see BootID).
func bootID() string {
	if getTickCount64.Find() != nil {
		return ""
	}
	now := time.Now()
	lo, hi, _ := getTickCount64.Call()
	ms := uint64(lo)
	if unsafe.Sizeof(lo) == 4 { // a 32-bit Windows returns the high half in EDX
		ms |= uint64(hi) << 32
	}
	boot := now.Add(-time.Duration(ms) * time.Millisecond).Round(time.Minute)
	return "boottime:" + strconv.FormatInt(boot.Unix(), 10)
}
