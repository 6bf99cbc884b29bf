//go:build linux

package direct

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSwitcher writes a stream through a Switcher whose writes cost what each
// case says, into the middle of a larger file, and checks that it turns to
// O_DIRECT exactly when the ordinary writes were slow and a Pool slot was
// free, and that the file holds the stream where it belongs either way.
func TestSwitcher(t *testing.T) {
	t.Parallel()
	data := randomBytes(2, 5*Stage+4321)
	const base = 2 * Align
	around := bytes.Repeat([]byte{0x55}, len(data)+2*base)
	for _, tc := range []struct {
		name       string
		perWrite   time.Duration // the CPU time each ordinary write takes
		poolBusy   bool          // every slot of the Pool is taken
		start      int64
		chunk      int
		wantSwitch bool
	}{
		{name: "cheap writes stay ordinary", perWrite: time.Microsecond, chunk: 100003},
		{name: "slow writes switch", perWrite: 10 * time.Millisecond, chunk: 100003, wantSwitch: true},
		{name: "slow writes switch at an unaligned offset, from an unaligned start", perWrite: 10 * time.Millisecond, start: 4095, chunk: 65537, wantSwitch: true},
		{name: "slow writes with no stages free stay ordinary", perWrite: 10 * time.Millisecond, poolBusy: true, chunk: 100003},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			big := openFile(t, filepath.Join(t.TempDir(), "big"), around)
			target := Target{File: big, Direct: openDirect(t, big.Name()), Base: base}
			pool := NewPool(1)
			if tc.poolBusy {
				pool.get()
			}
			s := pool.NewSwitcher(tc.start, int64(len(data)), target)
			if s == nil {
				t.Fatal("NewSwitcher returned nil")
			}
			s.window = 256 << 10
			var clock time.Duration
			calls := 0
			s.cpu = func() time.Duration { // called before and after each write
				calls++
				if calls%2 == 0 {
					clock += tc.perWrite
				}
				return clock
			}
			switchedAt := int64(-1)
			for off := tc.start; off < int64(len(data)); {
				end := min(off+int64(tc.chunk), int64(len(data)))
				if n, err := s.Write(data[off:end]); err != nil || n != int(end-off) {
					t.Fatalf("Write at %d: %d, %v", off, n, err)
				}
				off = end
				if s.Switched() && switchedAt < 0 {
					switchedAt = off
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if got := switchedAt >= 0; got != tc.wantSwitch {
				t.Fatalf("switched = %v (at %d), want %v", got, switchedAt, tc.wantSwitch)
			}
			if tc.wantSwitch && switchedAt-tc.start > s.window+int64(tc.chunk) {
				t.Errorf("switched after %d bytes, want within the first window of %d", switchedAt-tc.start, s.window)
			}
			want := bytes.Clone(around)
			copy(want[base+tc.start:], data[tc.start:])
			if got := readFile(t, big.Name()); !bytes.Equal(got, want) {
				t.Fatal("the file does not hold the stream at its base and its own bytes around it")
			}
		})
	}
}

// TestSwitcherRefuses checks that a Switcher writes nothing past its stream
// or out of order, switched or not.
func TestSwitcherRefuses(t *testing.T) {
	t.Parallel()
	for _, slow := range []bool{false, true} {
		f := openFile(t, filepath.Join(t.TempDir(), "f"), nil)
		s := NewPool(1).NewSwitcher(0, 3*Align, Target{File: f, Direct: openDirect(t, f.Name())})
		s.window = Align
		step := time.Nanosecond // each read of the clock: a write costs one step
		if slow {
			step = time.Second
		}
		var clock time.Duration
		s.cpu = func() time.Duration { clock += step; return clock }
		if _, err := s.Write(make([]byte, 2*Align)); err != nil {
			t.Fatal(err)
		}
		if s.Switched() != slow {
			t.Fatalf("slow %v: Switched() = %v", slow, s.Switched())
		}
		if _, err := s.Write(make([]byte, Align+1)); err == nil || !strings.Contains(err.Error(), "past the end") {
			t.Fatalf("slow %v: a write past the end: %v", slow, err)
		}
		if _, err := s.WriteAt(make([]byte, 1), 2*Align+1); err == nil || !strings.Contains(err.Error(), "out of order") {
			t.Fatalf("slow %v: a write out of order: %v", slow, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got := len(readFile(t, f.Name())); got != 2*Align {
			t.Fatalf("slow %v: the file holds %d bytes, want %d", slow, got, 2*Align)
		}
	}
	if NewPool(1).NewSwitcher(0, 1, Target{}) != nil {
		t.Fatal("NewSwitcher made a Switcher for a target without files")
	}
}
