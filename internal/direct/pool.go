package direct

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Pool holds the stages of at most n Writers at once and hands those a
// closed Writer used to the next one. On a virtual machine whose freed memory
// goes back to the host, each fresh page costs a fault, so a pull of 40 blobs
// touches fresh stage memory for n Writers, not for 40. It also judges, for
// its Switchers, whether the page cache is slow (Slow); a Pool judged slow
// stays so: make one per pull, or per Store.
type Pool struct {
	slots chan []byte // n entries: a Writer's stages, or nil where none were made yet
	cost  cost        // of its Switchers' ordinary writes
}

// NewPool returns a Pool for n Writers at once.
func NewPool(n int) *Pool {
	p := &Pool{slots: make(chan []byte, n), cost: cost{window: costWindow}}
	for range n {
		p.slots <- nil
	}
	return p
}

// get takes a free slot's two stages, making them on its first use, or
// returns nil when every slot is taken.
func (p *Pool) get() []byte {
	select {
	case mem := <-p.slots:
		if mem == nil {
			mem = alignedStages()
		}
		return mem
	default:
		return nil
	}
}

// put gives a slot's stages back.
func (p *Pool) put(mem []byte) { p.slots <- mem }

// alignedStages returns 2×Stage bytes starting at a multiple of Align, as
// O_DIRECT needs. They are ordinary Go memory, freed with the Pool.
func alignedStages() []byte {
	b := make([]byte, 2*Stage+Align)
	skip := (Align - int(uintptr(unsafe.Pointer(&b[0]))%Align)) % Align
	return b[skip : skip+2*Stage : skip+2*Stage]
}

// Slow says whether the ordinary writes of p's Switchers were judged to cost
// more than costPerMiB per MiB, in any window since p was made. Once they
// were, every Switcher of p writes with O_DIRECT from its next write on, and
// a caller choosing how to write a new stream should choose O_DIRECT too.
func (p *Pool) Slow() bool { return p.cost.slow.Load() }

// MarkSlow makes p judge the page cache slow without measuring it.
func (p *Pool) MarkSlow() { p.cost.slow.Store(true) }

// cost judges the ordinary writes of a Pool's Switchers, costWindow bytes of
// them at a time, all Switchers together: what one blob meets, the next
// would too.
type cost struct {
	mu     sync.Mutex
	window int64
	n      int64         // bytes in this window
	spent  time.Duration // the CPU time they took
	slow   atomic.Bool
}

// add counts n bytes written the ordinary way in spent.
func (c *cost) add(n int64, spent time.Duration) {
	if c.slow.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += n
	c.spent += max(spent, 0)
	if c.n >= c.window {
		if c.spent > costPerMiB*time.Duration(c.n)/(1<<20) {
			c.slow.Store(true)
		}
		c.n, c.spent = 0, 0
	}
}
