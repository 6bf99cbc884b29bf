//go:build !linux

package disk

func bootID() string { return "" }
