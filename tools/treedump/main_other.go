//go:build !linux && !darwin

package main

import (
	"fmt"
	"os"
	"runtime"
)

// The listing holds owners, device numbers and xattrs, which only a Unix
// system's stat and xattr calls give: treedump runs on Linux and macOS.
func main() {
	fmt.Fprintf(os.Stderr, "treedump: lists owners, devices and xattrs, which %s does not have: it runs on Linux and macOS\n", runtime.GOOS)
	os.Exit(2)
}
