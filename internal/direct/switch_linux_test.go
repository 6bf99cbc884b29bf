//go:build linux

package direct

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSwitcher writes a stream through a Switcher whose writes cost what each
// case says, into the middle of a larger file, and checks that it turns to
// O_DIRECT exactly when its Pool judged the ordinary writes slow and had a
// slot free, and that the file holds the stream where it belongs either way.
func TestSwitcher(t *testing.T) {
	t.Parallel()
	data := randomBytes(2, 5*Stage+4321)
	const base = 2 * Align
	around := bytes.Repeat([]byte{0x55}, len(data)+2*base)
	for _, tc := range []struct {
		name       string
		slow       bool // each ordinary write takes 1 s of CPU, not 1 ns
		poolBusy   bool // every slot of the Pool is taken
		start      int64
		chunk      int
		wantSwitch bool
	}{
		{name: "cheap writes stay ordinary", chunk: 100003},
		{name: "slow writes switch", slow: true, chunk: 100003, wantSwitch: true},
		{name: "slow writes switch at an unaligned offset, from an unaligned start", slow: true, start: 4095, chunk: 65537, wantSwitch: true},
		{name: "slow writes with no stages free stay ordinary", slow: true, poolBusy: true, chunk: 100003},
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
			pool.cost.window = 256 << 10
			s.cpu = fakeCPU(tc.slow)
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
			if window := pool.cost.window; tc.wantSwitch && switchedAt-tc.start > window+2*int64(tc.chunk) {
				t.Errorf("switched after %d bytes, want at the first write after the first window of %d", switchedAt-tc.start, window)
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
		pool := NewPool(1)
		pool.cost.window = Align
		s := pool.NewSwitcher(0, 3*Align, Target{File: f, Direct: openDirect(t, f.Name())})
		s.cpu = fakeCPU(slow)
		for range 2 { // the first write is judged, the second is made as judged
			if _, err := s.Write(make([]byte, Align)); err != nil {
				t.Fatal(err)
			}
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

// TestSwitchersShareJudgement checks that a Pool judges its Switchers'
// writes together: slow writes of one stream turn another to O_DIRECT, and a
// window is judged on all of them, cheap and slow alike.
func TestSwitchersShareJudgement(t *testing.T) {
	t.Parallel()
	const window = 8 * Align
	pool := NewPool(2)
	pool.cost.window = window
	newSwitcher := func(slow bool) (*Switcher, *os.File) {
		f := openFile(t, filepath.Join(t.TempDir(), "f"), nil)
		s := pool.NewSwitcher(0, 4*window, Target{File: f, Direct: openDirect(t, f.Name())})
		s.cpu = fakeCPU(slow)
		return s, f
	}
	cheap, cheapFile := newSwitcher(false)
	slow, _ := newSwitcher(true)
	data := randomBytes(3, 4*window)
	// A window half cheap and half slow is judged slow: its mean is far above
	// costPerMiB.
	for i := range 4 {
		if _, err := cheap.Write(data[i*Align : (i+1)*Align]); err != nil {
			t.Fatal(err)
		}
		if _, err := slow.Write(data[i*Align : (i+1)*Align]); err != nil {
			t.Fatal(err)
		}
	}
	if !pool.Slow() {
		t.Fatal("the Pool did not judge a window with slow writes slow")
	}
	if cheap.Switched() || slow.Switched() {
		t.Fatal("a Switcher switched before its next write")
	}
	if _, err := cheap.Write(data[4*Align:]); err != nil {
		t.Fatal(err)
	}
	if !cheap.Switched() {
		t.Fatal("the Switcher with cheap writes did not switch once the Pool judged the page cache slow")
	}
	if err := cheap.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, cheapFile.Name()); !bytes.Equal(got, data) {
		t.Fatal("the switched stream's file does not hold the stream")
	}
}

// fakeCPU is a clock for a Switcher under test that says each write took
// 1 ns of CPU, or 1 s when slow.
func fakeCPU(slow bool) func() time.Duration {
	step := time.Nanosecond
	if slow {
		step = time.Second
	}
	var clock time.Duration
	calls := 0
	return func() time.Duration { // called before and after each write
		calls++
		if calls%2 == 0 {
			clock += step
		}
		return clock
	}
}
