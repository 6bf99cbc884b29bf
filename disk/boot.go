package disk

// BootID names the running boot of this machine: it changes at every
// restart, and so tells whether files written without fsync may have lost
// bytes to a power failure since. "" where it cannot be told.
//
// Linux gives the kernel's random boot_id. macOS and Windows give the boot's
// time: on macOS, kern.boottime to the second; on Windows, the clock's time
// less the milliseconds since boot (GetTickCount64), rounded to the minute.
// A boot time moves when the clock is set, and Windows' estimate drifts with
// the clock's corrections (seconds a day at worst) and may sit on a minute's
// edge: then the id changes within one boot, which makes a caller re-check
// what it need not, and is the safe way to be wrong. Two boots less than a
// minute apart on Windows could share an id.
func BootID() string { return bootID() }
