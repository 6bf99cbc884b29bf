package editdist

import (
	"strings"
	"testing"
)

func TestDistance(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 200)
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "abc", 0},
		{"kitten", "sitting", 3},
		{"flaw", "lawn", 2},
		{"1.2", "1.0", 1},
		{"1.2", "2.0", 2},
		{"latest", "lastest", 1},
		{"3.20", "3.2", 1},
		{"3.20", "3.20.1", 2},
		{"abc", "cba", 2},
		{"v1.0.0", "1.0.0", 1},
		{long, strings.Repeat("b", 200), 200},
		{long, "a", 200}, // over 128 bytes: capped at the longer length
	}
	for _, tt := range tests {
		t.Run(tt.a+"/"+tt.b, func(t *testing.T) {
			t.Parallel()
			if got := Distance(tt.a, tt.b); got != tt.want {
				t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Distance(tt.b, tt.a); got != tt.want {
				t.Errorf("Distance(%q, %q) = %d, want %d (not symmetric)", tt.b, tt.a, got, tt.want)
			}
		})
	}
}
