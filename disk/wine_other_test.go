//go:build !windows

package disk

// underWine is false: Wine runs Windows programs only.
func underWine() bool { return false }
