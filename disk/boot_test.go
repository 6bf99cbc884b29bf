package disk_test

import (
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/haul-dev/haul/disk"
)

func TestBootID(t *testing.T) {
	t.Parallel()
	want := map[string]*regexp.Regexp{
		"linux":   regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`),
		"darwin":  regexp.MustCompile(`^boottime:[1-9][0-9]*$`),
		"windows": regexp.MustCompile(`^boottime:[1-9][0-9]*$`),
	}[runtime.GOOS]
	id := disk.BootID()
	if want == nil {
		if id != "" {
			t.Errorf("BootID = %q where it cannot be told", id)
		}
		return
	}
	if !want.MatchString(id) {
		t.Fatalf("BootID = %q, want %v", id, want)
	}
	for range 20 { // the same boot, however the clock and the tick count are read
		time.Sleep(7 * time.Millisecond)
		if again := disk.BootID(); again != id {
			t.Fatalf("BootID changed within a boot: %q, then %q", id, again)
		}
	}
}
