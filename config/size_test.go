package config

import "testing"

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64 // -1: an error
	}{
		{"0", 0},
		{"1234", 1234},
		{"512M", 512 << 20},
		{"10G", 10 << 30},
		{"10g", 10 << 30},
		{"64KiB", 64 << 10},
		{"100MB", 100 << 20},
		{"1.5T", 3 << 39},
		{"2K", 2048},
		{" 7 ", 7},
		{"", -1},
		{"G", -1},
		{"-1", -1},
		{"-1G", -1},
		{"1e3", -1},
		{"0x10", -1},
		{"NaN", -1},
		{"Inf", -1},
		{"10Q", -1},
		{"9000000000E", -1},
		{"99999999999999999999", -1},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSize(tt.in)
			if tt.want < 0 {
				if err == nil {
					t.Fatalf("ParseSize(%q) = %d, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}
