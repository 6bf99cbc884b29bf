package disk

import "testing"

func TestHome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, goos string
		env        map[string]string
		want       string
	}{
		{"HOME", "linux", map[string]string{"HOME": "/home/u", "USERPROFILE": `C:\Users\u`}, "/home/u"},
		{"no HOME on Linux", "linux", map[string]string{"USERPROFILE": `C:\Users\u`}, ""},
		{"no HOME on macOS", "darwin", map[string]string{"USERPROFILE": `C:\Users\u`}, ""},
		{"USERPROFILE on Windows", "windows", map[string]string{"USERPROFILE": `C:\Users\u`}, `C:\Users\u`},
		{"HOME first on Windows too", "windows", map[string]string{"HOME": `D:\home`, "USERPROFILE": `C:\Users\u`}, `D:\home`},
		{"nothing", "windows", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := home(tt.goos, func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("home = %q, want %q", got, tt.want)
			}
		})
	}
}
