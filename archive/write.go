package archive

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/image"
)

// Source opens blob data already on disk, such as a verified cache.
type Source interface {
	Open(d image.Descriptor) (*os.File, error)
}

// SourceFunc makes a function a Source.
type SourceFunc func(d image.Descriptor) (*os.File, error)

// Open calls f(d).
func (f SourceFunc) Open(d image.Descriptor) (*os.File, error) { return f(d) }

// copyChunk is how much of a blob streamBlob copies between two looks at ctx.
const copyChunk = 64 << 20

// WriteSkeleton writes every header, every small file (index.json,
// manifest.json, oci-layout, repositories), the padding after every blob's data
// and the two zero blocks that end the tar. It never writes inside a blob's
// data region, so a caller may fill those before, after or while it runs, each
// at Offset(d). With every region filled, the tar is byte for byte what
// WriteFile and WriteTo produce.
func (p *Plan) WriteSkeleton(w io.WriterAt) error {
	zeros := make([]byte, 2*blockSize)
	for i := range p.entries {
		e := &p.entries[i]
		if _, err := w.WriteAt(e.header, e.off); err != nil {
			return fmt.Errorf("write tar header of %s: %w", e.name, err)
		}
		if e.data != nil {
			if _, err := w.WriteAt(e.data, e.dataOff()); err != nil {
				return fmt.Errorf("write %s: %w", e.name, err)
			}
		}
		if pad := padding(e.size); pad > 0 {
			if _, err := w.WriteAt(zeros[:pad], e.dataOff()+e.size); err != nil {
				return fmt.Errorf("write padding of %s: %w", e.name, err)
			}
		}
	}
	if _, err := w.WriteAt(zeros, p.size-2*blockSize); err != nil {
		return fmt.Errorf("write end of tar: %w", err)
	}
	return nil
}

// WriteTo streams the tar to w in order, each blob's data read from src. A
// blob file longer or shorter than its descriptor is an *image.SizeError; its
// digest is not checked again (src is a verified cache). It returns the bytes
// written, Size() on success.
func (p *Plan) WriteTo(ctx context.Context, w io.Writer, src Source) (int64, error) {
	zeros := make([]byte, 2*blockSize)
	var n int64
	write := func(b []byte) error {
		m, err := w.Write(b)
		n += int64(m)
		return err
	}
	for i := range p.entries {
		e := &p.entries[i]
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if err := write(e.header); err != nil {
			return n, fmt.Errorf("write tar header of %s: %w", e.name, err)
		}
		switch {
		case e.blob:
			m, err := streamBlob(ctx, w, src, e.desc)
			n += m
			if err != nil {
				return n, err
			}
		case e.data != nil:
			if err := write(e.data); err != nil {
				return n, fmt.Errorf("write %s: %w", e.name, err)
			}
		}
		if err := write(zeros[:padding(e.size)]); err != nil {
			return n, fmt.Errorf("write padding of %s: %w", e.name, err)
		}
	}
	if err := write(zeros); err != nil {
		return n, fmt.Errorf("write end of tar: %w", err)
	}
	return n, nil
}

// streamBlob copies d's data in chunks, so that ctx is honoured and
// io.CopyN still hands *os.File pairs to sendfile or splice.
func streamBlob(ctx context.Context, w io.Writer, src Source, d image.Descriptor) (int64, error) {
	f, err := openBlob(src, d)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	for n < d.Size {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := io.CopyN(w, f, min(copyChunk, d.Size-n))
		n += m
		if errors.Is(err, io.EOF) {
			return n, &image.SizeError{What: "blob " + d.Digest.String(), Want: d.Size, Got: n}
		}
		if err != nil {
			return n, fmt.Errorf("copy blob %s: %w", d.Digest, err)
		}
	}
	return n, nil
}

// openBlob opens d and checks that the file is exactly d.Size long.
func openBlob(src Source, d image.Descriptor) (*os.File, error) {
	f, err := src.Open(d)
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d.Digest, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open blob %s: %w", d.Digest, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open blob %s: %s is not a regular file", d.Digest, f.Name())
	}
	if fi.Size() != d.Size {
		f.Close()
		return nil, &image.SizeError{What: "blob " + d.Digest.String() + " (" + f.Name() + ")", Want: d.Size, Got: fi.Size()}
	}
	return f, nil
}

// WriteFile writes the tar to path: Create, every blob copied from src to its
// offset (disk.CopyRange: in the kernel where it can, sharing extents where
// the filesystem can), jobs blobs at a time (jobs <= 0: 4), then Commit. On
// any error, ctx's end included, the temporary file is removed and path is
// left as it was.
func (p *Plan) WriteFile(ctx context.Context, path string, src Source, jobs int) (err error) {
	if jobs <= 0 {
		jobs = 4
	}
	o, err := p.Create(ctx, path)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			o.Abort()
			err = fmt.Errorf("write archive %s: %w", path, err)
		}
	}()
	if err := o.copyBlobs(ctx, src, jobs); err != nil {
		return err
	}
	return o.Commit()
}

// Output is a tar being written under a temporary name beside its path: its
// skeleton is in place, and each blob's bytes go to the blob's region, in any
// order and concurrently. Commit renames it onto the path. Abort leaves
// nothing at the path; what the Regions received stays in the temporary
// file, named after the path and the Plan, for the next Create of the same
// Plan and path to resume, as a browser keeps a download it did not finish.
//
// Past the tar's end, until Commit cuts it off, the file holds a journal:
// for each blob, how many of its bytes from its start are in place. A
// Region moves its blob's count forward as it is written (every
// journalStep bytes, and at its end), after the bytes, so that a process
// killed at any moment leaves a count its file holds; a power failure may
// leave one it does not, which the digest check of the resumed blob catches.
type Output struct {
	p    *Plan
	f    *os.File // the temporary file, locked
	path string
	have []int64 // per blob, in tar order: bytes in place from its start
}

const (
	// resumeSuffix ends the name of a tar being written; a second pull of
	// the same images to the same path finds it there.
	resumeSuffix = ".haul-partial"
	journalMagic = "haul-journal-v1\n"
	// journalStep is how often a Region writes its count: every MiB is at
	// most a MiB fetched again after a kill, for one small write per MiB.
	journalStep = 1 << 20
)

func (p *Plan) journalSize() int64 {
	return int64(len(journalMagic)) + int64(len(p.id)) + 8*int64(len(p.blobs))
}

// tempName is the name the tar is written under: hidden beside path, and
// named after the Plan, so that another pull to path never mistakes it.
func (p *Plan) tempName(path string) string {
	dir, base := filepath.Split(path)
	return filepath.Join(dir, "."+base+"."+hex.EncodeToString(p.id[:6])+resumeSuffix)
}

// Create makes, or takes up again, the temporary file for path, with every
// header and small file written. A tar that a failed pull of the same Plan
// to the same path left is resumed: Region.Resume says how much of each blob
// it holds. Those of other Plans for path are removed. A tar its disk's free
// space cannot hold is refused with a *disk.SpaceError before anything is
// written. The caller fills each blob's region (CopyBlob, or Region for
// bytes that arrive from elsewhere), then calls Commit or Abort.
func (p *Plan) Create(ctx context.Context, path string) (_ *Output, err error) {
	if path == "" {
		return nil, errors.New("write archive: no path")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("write archive %s: %w", path, err)
	}
	o, err := p.open(path)
	if err != nil {
		return nil, fmt.Errorf("write archive %s: %w", path, err)
	}
	o.removeStale()
	err = disk.CheckFree(filepath.Dir(o.f.Name()), p.size+p.journalSize()-o.kept())
	if err == nil {
		err = p.WriteSkeleton(o.f)
	}
	if err == nil {
		err = o.writeJournal()
	}
	if err != nil {
		o.Abort()
		return nil, fmt.Errorf("write archive %s: %w", path, err)
	}
	return o, nil
}

// open opens and locks the temporary file, and reads its journal if it has
// one of this Plan.
func (p *Plan) open(path string) (*Output, error) {
	name := p.tempName(path)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o666) // the umask decides, as for os.Create
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return nil, pe.Err // the caller names path; the temporary name would only puzzle
	}
	if err != nil {
		return nil, err
	}
	if ok, err := tryLock(f); !ok || err != nil {
		f.Close()
		return nil, errors.Join(fmt.Errorf("another haul is writing it (%s is locked)", name), err)
	}
	o := &Output{p: p, f: f, path: path, have: make([]int64, len(p.blobs))}
	if !o.readJournal() {
		clear(o.have)
		if err := disk.Empty(f); err != nil {
			f.Close()
			return nil, err
		}
	}
	return o, nil
}

// tryLock takes f's lock, allowing a moment for a lock this process has
// just released: a flock belongs to the open file, which a child being
// forked at the time (a credential helper's, say) holds until it execs.
func tryLock(f *os.File) (bool, error) {
	for i := 0; ; i++ {
		ok, err := disk.TryLock(f)
		if ok || err != nil || i == 20 {
			return ok, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readJournal loads the counts of a journal of this Plan, and reports
// whether there was one.
func (o *Output) readJournal() bool {
	fi, err := o.f.Stat()
	if err != nil || fi.Size() != o.p.size+o.p.journalSize() {
		return false
	}
	b := make([]byte, o.p.journalSize())
	if _, err := o.f.ReadAt(b, o.p.size); err != nil {
		return false
	}
	if string(b[:len(journalMagic)]) != journalMagic || string(b[len(journalMagic):][:len(o.p.id)]) != string(o.p.id[:]) {
		return false
	}
	counts := b[len(journalMagic)+len(o.p.id):]
	for i, d := range o.p.blobs {
		n := int64(binary.LittleEndian.Uint64(counts[8*i:]))
		if n < 0 || n > d.Size {
			return false
		}
		o.have[i] = n
	}
	return true
}

func (o *Output) writeJournal() error {
	b := make([]byte, 0, o.p.journalSize())
	b = append(b, journalMagic...)
	b = append(b, o.p.id[:]...)
	for _, n := range o.have {
		b = binary.LittleEndian.AppendUint64(b, uint64(n))
	}
	_, err := o.f.WriteAt(b, o.p.size)
	return err
}

// journal writes blob i's count.
func (o *Output) journal(i int) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(o.have[i]))
	_, err := o.f.WriteAt(b[:], o.p.size+int64(len(journalMagic))+int64(len(o.p.id))+8*int64(i))
	return err
}

// kept is how many blob bytes the file held already.
func (o *Output) kept() int64 {
	var n int64
	for _, k := range o.have {
		n += k
	}
	return n
}

// removeStale removes what failed pulls of other Plans to the same path
// left (a tag that moved since); best effort, and never one that another
// pull holds locked.
func (o *Output) removeStale() {
	dir, base := filepath.Split(o.path)
	es, err := os.ReadDir(filepath.Clean(dir + "."))
	if err != nil {
		return
	}
	for _, e := range es {
		n := e.Name()
		if !strings.HasPrefix(n, "."+base+".") || !strings.HasSuffix(n, resumeSuffix) || n == filepath.Base(o.f.Name()) {
			continue
		}
		if len(n) != len(base)+2+12+len(resumeSuffix) {
			continue
		}
		name := filepath.Join(dir, n)
		if f, err := os.OpenFile(name, os.O_RDWR, 0); err == nil {
			if ok, _ := disk.TryLock(f); ok {
				os.Remove(name)
			}
			f.Close()
		}
	}
}

// CopyBlob copies blob d from src into its region (disk.CopyRange).
func (o *Output) CopyBlob(ctx context.Context, d image.Descriptor, src Source) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := openBlob(src, d)
	if err != nil {
		return err
	}
	defer f.Close()
	off, ok := o.p.offsets[d.Digest]
	if !ok {
		return fmt.Errorf("blob %s is not in the archive", d.Digest)
	}
	if err := disk.CopyRange(ctx, o.f, off, f, 0, d.Size); err != nil {
		return fmt.Errorf("copy blob %s: %w", d.Digest, err)
	}
	return nil
}

// Region returns blob d's region of the file, for bytes that arrive from
// elsewhere (the network). It is a store.Sink.
func (o *Output) Region(d image.Descriptor) (*Region, error) {
	off, ok := o.p.offsets[d.Digest]
	if !ok {
		return nil, fmt.Errorf("blob %s is not in the archive", d.Digest)
	}
	return &Region{o: o, i: o.p.index[d.Digest], base: off, size: d.Size}, nil
}

// Region is one blob's bytes in an Output. One goroutine at a time writes it.
type Region struct {
	o         *Output
	i         int // the blob's index in the Plan, and its journal count's
	base      int64
	size      int64
	journaled int64 // the count as last written to the journal
}

// Resume is how many of the blob's bytes, from its start, are in place.
func (r *Region) Resume() int64 { return r.o.have[r.i] }

// ReadAt reads the blob's bytes in place.
func (r *Region) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= r.size {
		return 0, io.EOF
	}
	n, err := r.o.f.ReadAt(p[:min(int64(len(p)), r.size-off)], r.base+off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// WriteAt writes p at offset off of the blob, and moves the blob's count
// forward when p continues what is in place.
func (r *Region) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > r.size {
		return 0, fmt.Errorf("write of %d bytes at %d is outside a blob of %d", len(p), off, r.size)
	}
	n, err := r.o.f.WriteAt(p, r.base+off)
	if have := r.o.have[r.i]; off <= have && off+int64(n) > have {
		r.o.have[r.i] = off + int64(n)
		if r.o.have[r.i]-r.journaled >= journalStep || r.o.have[r.i] == r.size {
			err = errors.Join(err, r.sync())
		}
	}
	return n, err
}

// Reset forgets the blob's bytes in place.
func (r *Region) Reset() error {
	r.o.have[r.i] = 0
	return r.sync()
}

// Commit notes in the journal that the blob is whole.
func (r *Region) Commit() error {
	if r.o.have[r.i] != r.size {
		return &image.SizeError{What: "blob in archive region", Want: r.size, Got: r.o.have[r.i]}
	}
	return r.sync()
}

// Close writes the blob's count to the journal.
func (r *Region) Close() error { return r.sync() }

func (r *Region) sync() error {
	r.journaled = r.o.have[r.i]
	return r.o.journal(r.i)
}

// File is the archive's temporary file and the offset of the blob's data in
// it, for a copy of the blob once it is whole (a cache that clones it).
func (r *Region) File() (*os.File, int64) { return r.o.f, r.base }

// Commit cuts the journal off and renames the file to its path. It does not
// fsync: like docker save, crane and skopeo, haul leaves write-back to the
// kernel; the rename makes the archive appear whole to every process, and a
// crash of haul leaves only the temporary name.
func (o *Output) Commit() error {
	err := o.f.Truncate(o.p.size)
	if err = errors.Join(err, o.f.Close()); err == nil {
		err = disk.Rename(o.f.Name(), o.path)
	}
	if err != nil {
		os.Remove(o.f.Name())
		return fmt.Errorf("write archive %s: %w", o.path, err)
	}
	return nil
}

// Abort closes the file. Nothing is at the path; the temporary file stays
// for a resumption if some blob's bytes are in it, else it is removed. It
// returns the name of the file it kept, and how many blob bytes it holds.
func (o *Output) Abort() (kept string, n int64) {
	n = o.kept()
	keep := n > 0 && o.writeJournal() == nil
	o.f.Close()
	if !keep {
		os.Remove(o.f.Name())
		return "", 0
	}
	return o.f.Name(), n
}

// copyBlobs copies every blob into the file, jobs at a time; the first error stops the rest.
func (o *Output) copyBlobs(ctx context.Context, src Source, jobs int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan image.Descriptor)
	var wg sync.WaitGroup
	for range min(jobs, len(o.p.blobs)) {
		wg.Go(func() {
			for d := range work {
				if err := o.CopyBlob(ctx, d, src); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, d := range o.p.blobs {
		select {
		case work <- d:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}
