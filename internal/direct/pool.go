package direct

import "unsafe"

// Pool holds the stages of at most n Writers at once and hands those a
// closed Writer used to the next one. On a virtual machine whose freed memory
// goes back to the host, each fresh page costs a fault, so a pull of 40 blobs
// touches fresh stage memory for n Writers, not for 40.
type Pool struct {
	slots chan []byte // n entries: a Writer's stages, or nil where none were made yet
}

// NewPool returns a Pool for n Writers at once.
func NewPool(n int) *Pool {
	p := &Pool{slots: make(chan []byte, n)}
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
