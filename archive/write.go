package archive

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/direct"
)

// Source opens blob data already on disk, such as a verified cache.
type Source interface {
	Open(d image.Descriptor) (*os.File, error)
}

// SourceFunc makes a function a Source.
type SourceFunc func(d image.Descriptor) (*os.File, error)

// Open calls f(d).
func (f SourceFunc) Open(d image.Descriptor) (*os.File, error) { return f(d) }

const (
	copyChunk = 64 << 20 // per copy_file_range call: ctx is checked between calls
	bufSize   = 1 << 20  // the ReadAt/WriteAt fallback's buffer
)

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
// offset with copy_file_range (falling back to reads and writes across
// filesystems or where the kernel lacks it), jobs blobs at a time (jobs <= 0:
// 4), then Commit. On any error, ctx's end included, the temporary file is
// removed and path is left as it was.
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
	if err := p.copyBlobs(ctx, o.f, src, jobs); err != nil {
		return err
	}
	return o.Commit()
}

// Output is a tar being written under a temporary name beside its final path:
// its skeleton is in place, and each blob's bytes go to the blob's offset, in
// any order and concurrently. Commit renames it into place; Abort removes it.
type Output struct {
	p    *Plan
	f    *os.File
	tmp  string
	path string

	directOnce sync.Once
	direct     *os.File // f opened with O_DIRECT, once a Region asks; nil where it cannot be
}

// Create makes the temporary file for path, sized, with every header and
// small file written. The caller fills each blob's region (CopyBlob, or
// WriterAt for bytes that arrive from elsewhere), then calls Commit or Abort.
func (p *Plan) Create(ctx context.Context, path string) (_ *Output, err error) {
	if path == "" {
		return nil, errors.New("write archive: no path")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("write archive %s: %w", path, err)
	}
	dir, base := filepath.Split(path)
	tmp := filepath.Join(dir, "."+base+"."+rand.Text()+".tmp")
	// O_EXCL: a name never used before; 0o666 lets the umask decide, as os.Create does.
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return nil, fmt.Errorf("write archive %s: %w", path, err)
	}
	o := &Output{p: p, f: f, tmp: tmp, path: path}
	if err := direct.Allocate(f, p.size); err != nil {
		o.Abort()
		return nil, fmt.Errorf("write archive %s: %w", path, err)
	}
	if err := p.WriteSkeleton(f); err != nil {
		o.Abort()
		return nil, fmt.Errorf("write archive %s: %w", path, err)
	}
	return o, nil
}

// CopyBlob copies blob d from src into its region.
func (o *Output) CopyBlob(ctx context.Context, d image.Descriptor, src Source) error {
	return o.p.copyBlob(ctx, o.f, src, d)
}

// Region returns blob d's region of the file, for bytes that arrive from
// elsewhere (the network): it writes sequentially or at offsets within the
// blob, and refuses to write past it.
func (o *Output) Region(d image.Descriptor) (*Region, error) {
	off, ok := o.p.offsets[d.Digest]
	if !ok {
		return nil, fmt.Errorf("blob %s is not in the archive", d.Digest)
	}
	return &Region{o: o, base: off, size: d.Size}, nil
}

// Region is one blob's bytes in an Output.
type Region struct {
	o    *Output
	base int64
	size int64
	next int64 // where Write goes
}

// DirectTarget offers the region to a direct.Writer, so that a large blob's
// bytes reach the archive without passing through the page cache. It says
// false where the blob's data is not aligned (a small blob) or the
// filesystem has no O_DIRECT.
func (r *Region) DirectTarget() (direct.Target, bool) {
	if r.base%direct.Align != 0 {
		return direct.Target{}, false
	}
	r.o.directOnce.Do(func() {
		if f, err := direct.Open(r.o.tmp); err == nil {
			r.o.direct = f
		}
	})
	if r.o.direct == nil {
		return direct.Target{}, false
	}
	return direct.Target{File: r.o.f, Direct: r.o.direct, Base: r.base}, true
}

// WriteAt writes p at offset off of the blob.
func (r *Region) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > r.size {
		return 0, fmt.Errorf("write of %d bytes at %d is outside a blob of %d", len(p), off, r.size)
	}
	return r.o.f.WriteAt(p, r.base+off)
}

// Write writes p after what Write wrote before.
func (r *Region) Write(p []byte) (int, error) {
	n, err := r.WriteAt(p, r.next)
	r.next += int64(n)
	return n, err
}

// Commit renames the file to its path. It does not fsync: like docker save,
// crane and skopeo, haul leaves write-back to the kernel; the rename makes the
// archive appear whole to every process, and a crash of haul leaves only the
// temporary name. (A power loss can still lose what the kernel had not yet
// written, as it can for every file the peers write.)
func (o *Output) Commit() error {
	if err := errors.Join(o.closeDirect(), o.f.Close()); err != nil {
		os.Remove(o.tmp)
		return fmt.Errorf("write archive %s: %w", o.path, err)
	}
	if err := os.Rename(o.tmp, o.path); err != nil {
		os.Remove(o.tmp)
		return fmt.Errorf("write archive %s: %w", o.path, err)
	}
	return nil
}

// Abort removes the temporary file; nothing is left at the path.
func (o *Output) Abort() {
	o.closeDirect()
	o.f.Close()
	os.Remove(o.tmp)
}

func (o *Output) closeDirect() error {
	o.directOnce.Do(func() {}) // no Region may open it from now on
	if o.direct == nil {
		return nil
	}
	return o.direct.Close()
}

// copyBlobs copies every blob into f, jobs at a time; the first error stops the rest.
func (p *Plan) copyBlobs(ctx context.Context, f *os.File, src Source, jobs int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan image.Descriptor)
	var wg sync.WaitGroup
	for range min(jobs, len(p.blobs)) {
		wg.Go(func() {
			for d := range work {
				if err := p.copyBlob(ctx, f, src, d); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, d := range p.blobs {
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

func (p *Plan) copyBlob(ctx context.Context, dst *os.File, src Source, d image.Descriptor) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := openBlob(src, d)
	if err != nil {
		return err
	}
	defer f.Close()
	off := p.offsets[d.Digest]
	if err := copyRange(ctx, dst, off, f, d.Size); err != nil {
		var se *image.SizeError
		if errors.As(err, &se) {
			se.What = "blob " + d.Digest.String()
			return se
		}
		return fmt.Errorf("copy blob %s: %w", d.Digest, err)
	}
	return nil
}

// copyRange copies size bytes from the start of src to dst at off, in the
// kernel when it can: copy_file_range with explicit offsets never moves either
// file's position, so many run at once on one dst, and on XFS or Btrfs it
// shares extents instead of copying them.
func copyRange(ctx context.Context, dst *os.File, off int64, src *os.File, size int64) error {
	var srcOff int64
	dstOff := off
	dfd, sfd := int(dst.Fd()), int(src.Fd())
	defer runtime.KeepAlive(dst)
	defer runtime.KeepAlive(src)
	for srcOff < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := unix.CopyFileRange(sfd, &srcOff, dfd, &dstOff, int(min(copyChunk, size-srcOff)), 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL),
			errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EPERM):
			// Across filesystems before Linux 5.3 (and again since 5.19), without the
			// syscall, or on a filesystem that refuses it: copy through a buffer from
			// where the kernel stopped.
			return copyBuffered(ctx, dst, dstOff, src, srcOff, size)
		case err != nil:
			return err
		case n == 0:
			return &image.SizeError{Want: size, Got: srcOff} // the file shrank after it was opened
		}
	}
	return nil
}

func copyBuffered(ctx context.Context, dst *os.File, dstOff int64, src *os.File, srcOff, size int64) error {
	buf := make([]byte, bufSize)
	for srcOff < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := src.ReadAt(buf[:min(int64(len(buf)), size-srcOff)], srcOff)
		if n > 0 {
			if _, werr := dst.WriteAt(buf[:n], dstOff); werr != nil {
				return werr
			}
			srcOff += int64(n)
			dstOff += int64(n)
		}
		if errors.Is(err, io.EOF) && srcOff < size {
			return &image.SizeError{Want: size, Got: srcOff}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	return nil
}
