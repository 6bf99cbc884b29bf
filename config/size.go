package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSize reads a byte count: plain bytes, or with a binary suffix, as
// sizes are written for people: 512M, 10G, 1.5T, 64KiB, 100MB (K, M, G, T;
// B and iB optional; all powers of 1024), as --max-size and config.toml
// take them. "0" is zero.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGTPE", t[n-1]); i >= 0 {
			mult = 1 << (10 * (i + 1))
			t = t[:n-1]
		}
	}
	if t == "" {
		return 0, fmt.Errorf("size %q: want bytes, or a number with K, M, G or T", s)
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 || n > (1<<63-1)/mult {
			return 0, fmt.Errorf("size %q: out of range", s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) >= 1<<63 || strings.ContainsAny(t, "EeXxPpNnIi") {
		return 0, fmt.Errorf("size %q: want bytes, or a number with K, M, G or T", s)
	}
	return int64(f * float64(mult)), nil
}
