package disk

// BootID names the running boot of this machine: it changes at every
// restart, and so tells whether files written without fsync may have lost
// bytes to a power failure since. "" where it cannot be told.
func BootID() string { return bootID() }
