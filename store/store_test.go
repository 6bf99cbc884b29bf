package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/image"
)

var errNet = errors.New("connection reset by fake peer")

// blob returns size deterministic bytes and their descriptor.
func blob(size int, seed byte) ([]byte, image.Descriptor) {
	b := make([]byte, size)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b, image.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(size)}
}

// corrupt returns a copy of b with one byte changed.
func corrupt(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)/2] ^= 0xff
	return c
}

// fake serves data as registry.Client.BlobAt would: from an offset, every byte
// fed to the caller's verifier, and at the end the verifier's judgement.
type fake struct {
	data         []byte
	failAt       int64 // > 0: a network error once this offset is reached
	exitAt       int64 // > 0: the process dies once this offset is reached
	refuseResume bool  // a fetch at an offset > 0 fails at once, as after a 416
	down         bool  // every fetch fails
	chunk        int   // 0: 4 KiB
	delay        time.Duration
	mu           sync.Mutex
	offsets      []int64
}

func (f *fake) fetch(ctx context.Context, offset int64, v *image.Verifier) (io.ReadCloser, error) {
	f.mu.Lock()
	f.offsets = append(f.offsets, offset)
	f.mu.Unlock()
	if v == nil || v.Written() != offset {
		return nil, fmt.Errorf("fetch at %d, but the verifier has not seen exactly that", offset)
	}
	if f.down || f.refuseResume && offset > 0 {
		return nil, errNet
	}
	return io.NopCloser(&fakeReader{f: f, pos: offset, v: v, ctx: ctx}), nil
}

func (f *fake) calls() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.offsets)
}

type fakeReader struct {
	f   *fake
	ctx context.Context
	pos int64
	v   *image.Verifier
}

func (r *fakeReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if r.pos >= int64(len(r.f.data)) {
		if err := r.v.Check(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if r.f.failAt > 0 && r.pos >= r.f.failAt {
		return 0, errNet
	}
	if r.f.exitAt > 0 && r.pos >= r.f.exitAt {
		os.Exit(3) // killed mid-download: no deferred function runs
	}
	end := min(int64(len(r.f.data)), r.pos+int64(cmp.Or(r.f.chunk, 4<<10)))
	if r.f.failAt > 0 {
		end = min(end, r.f.failAt)
	}
	n := copy(p, r.f.data[r.pos:end])
	r.v.Write(p[:n])
	r.pos += int64(n)
	time.Sleep(r.f.delay)
	return n, nil
}

// noFetch fails the test if it is called.
func noFetch(t *testing.T) Fetcher {
	return func(context.Context, int64, *image.Verifier) (io.ReadCloser, error) {
		t.Error("fetch called for a blob that is present")
		return nil, errors.New("unexpected fetch")
	}
}

func newStore(t *testing.T, c Config) *Store {
	t.Helper()
	if c.Dir == "" {
		c.Dir = t.TempDir()
	}
	s, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writePartial(t *testing.T, s *Store, d image.Descriptor, b []byte) {
	t.Helper()
	if err := os.WriteFile(s.partialPath(d), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// partialSize is the size of d's partial download, or -1 if there is none.
func partialSize(t *testing.T, s *Store, d image.Descriptor) int64 {
	t.Helper()
	fi, err := os.Stat(s.partialPath(d))
	if errors.Is(err, os.ErrNotExist) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// lockPath is the lock file of d's partial download.
func lockPath(s *Store, d image.Descriptor) string {
	return strings.TrimSuffix(s.partialPath(d), partialSuffix) + lockSuffix
}

func checkBlob(t *testing.T, s *Store, d image.Descriptor, want []byte) {
	t.Helper()
	p, ok := s.Path(t.Context(), d)
	if !ok {
		t.Fatalf("blob %s is not present", d.Digest)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("blob %s holds %d other bytes (%v)", d.Digest, len(got), err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o222 != 0 {
		t.Fatalf("blob %s is writable (%v)", d.Digest, err)
	}
}

func TestEnsure(t *testing.T) {
	t.Parallel()
	const size = 100_000
	content, d := blob(size, 1)
	const k = size * 3 / 10
	tests := []struct {
		name         string
		partial      []byte // on disk before; nil for none
		serve        []byte // nil: content
		failAt       int64
		refuseResume bool
		down         bool
		wantOffsets  []int64
		wantCached   int64
		wantFetched  int64
		wantProgress int64
		wantErr      any   // pointer to the error type expected; nil for success
		wantPartial  int64 // after a failure: the partial's size, or -1 for none
	}{
		{name: "fresh", wantOffsets: []int64{0}, wantFetched: size, wantProgress: size},
		{name: "resume", partial: content[:k], wantOffsets: []int64{k}, wantCached: k, wantFetched: size - k, wantProgress: size},
		{name: "complete partial", partial: content, wantCached: size, wantProgress: size},
		{name: "complete but corrupt partial", partial: corrupt(content), wantOffsets: []int64{0}, wantFetched: size, wantProgress: size},
		{name: "partial too long", partial: append(bytes.Clone(content), 'x'), wantOffsets: []int64{0}, wantFetched: size, wantProgress: size},
		{
			name: "corrupt prefix is fetched again", partial: corrupt(content[:k]),
			wantOffsets: []int64{k, 0}, wantFetched: size - k + size, wantProgress: k + size - k + size,
		},
		{
			name: "registry refuses to resume", partial: content[:k], refuseResume: true,
			wantOffsets: []int64{k, 0}, wantFetched: size, wantProgress: k + size,
		},
		{
			name: "wrong bytes", serve: corrupt(content),
			wantOffsets: []int64{0}, wantErr: new(*image.DigestError), wantPartial: -1,
		},
		{
			name: "wrong bytes after resume", partial: content[:k], serve: corrupt(content),
			wantOffsets: []int64{k, 0}, wantErr: new(*image.DigestError), wantPartial: -1,
		},
		{
			name: "short body", serve: content[:size/2],
			wantOffsets: []int64{0}, wantErr: new(*image.SizeError), wantPartial: -1,
		},
		{
			name: "long body", serve: append(bytes.Clone(content), "more"...),
			wantOffsets: []int64{0}, wantErr: new(*image.SizeError), wantPartial: -1,
		},
		{
			name: "drop", failAt: 40_000,
			wantOffsets: []int64{0}, wantErr: &errNet, wantPartial: 40_000,
		},
		{
			name: "drop after resume", partial: content[:k], failAt: 60_000,
			wantOffsets: []int64{k}, wantErr: &errNet, wantPartial: 60_000,
		},
		{
			name: "registry down keeps the partial", partial: content[:k], down: true,
			wantOffsets: []int64{k, 0}, wantErr: &errNet, wantPartial: k,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, Config{})
			if tt.partial != nil {
				writePartial(t, s, d, tt.partial)
			}
			f := &fake{data: orBytes(tt.serve, content), failAt: tt.failAt, refuseResume: tt.refuseResume, down: tt.down}
			var progress int64
			res, err := s.Ensure(t.Context(), d, f.fetch, func(n int64) { progress += n })
			if got := f.calls(); !slices.Equal(got, tt.wantOffsets) {
				t.Errorf("fetch offsets = %v, want %v", got, tt.wantOffsets)
			}
			if tt.wantErr != nil {
				if target, ok := tt.wantErr.(*error); ok {
					if !errors.Is(err, *target) {
						t.Fatalf("err = %v, want %v", err, *target)
					}
				} else if !errors.As(err, tt.wantErr) {
					t.Fatalf("err = %v, want %T", err, tt.wantErr)
				}
				if _, ok := s.Path(t.Context(), d); ok {
					t.Fatal("a failed Ensure left a blob")
				}
				if got := partialSize(t, s, d); got != tt.wantPartial {
					t.Fatalf("partial size = %d, want %d", got, tt.wantPartial)
				}
				if tt.wantPartial > 0 {
				}
				if res != (Result{}) {
					t.Fatalf("Result = %+v on error, want zero", res)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Result{Path: filepath.Join(s.Dir(), "blobs", "sha256", d.Digest.Encoded()), Cached: tt.wantCached, Fetched: tt.wantFetched}
			if res != want {
				t.Errorf("Result = %+v, want %+v", res, want)
			}
			if progress != tt.wantProgress {
				t.Errorf("progress added up to %d, want %d", progress, tt.wantProgress)
			}
			checkBlob(t, s, d, content)
			if got := partialSize(t, s, d); got != -1 {
				t.Errorf("a partial of %d bytes is left", got)
			}
			// Present now: nothing is fetched, the whole blob is cached.
			res, err = s.Ensure(t.Context(), d, noFetch(t), nil)
			if err != nil || res != (Result{Path: want.Path, Cached: size, Present: true}) {
				t.Fatalf("second Ensure = %+v, %v", res, err)
			}
		})
	}
}

func orBytes(a, b []byte) []byte {
	if a != nil {
		return a
	}
	return b
}

// TestEnsureResumes is the pull that drops and the next one that finishes it.
func TestEnsureResumes(t *testing.T) {
	t.Parallel()
	content, d := blob(50_000, 2)
	s := newStore(t, Config{})
	first := &fake{data: content, failAt: 12_345}
	if _, err := s.Ensure(t.Context(), d, first.fetch, nil); !errors.Is(err, errNet) {
		t.Fatalf("first Ensure: err = %v, want the network error", err)
	}
	if _, ok := s.Path(t.Context(), d); ok {
		t.Fatal("a partial is served as a blob")
	}
	second := &fake{data: content}
	res, err := s.Ensure(t.Context(), d, second.fetch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := second.calls(); !slices.Equal(got, []int64{12_345}) {
		t.Fatalf("second Ensure fetched at %v, want [12345]", got)
	}
	if res.Cached != 12_345 || res.Fetched != d.Size-12_345 {
		t.Fatalf("Result = %+v", res)
	}
	checkBlob(t, s, d, content)
}

func TestEnsureEmptyBlob(t *testing.T) {
	t.Parallel()
	s := newStore(t, Config{})
	d := image.Descriptor{Digest: digest.FromBytes(nil), Size: 0}
	res, err := s.Ensure(t.Context(), d, noFetch(t), nil)
	if err != nil || res.Path == "" || res.Fetched != 0 {
		t.Fatalf("Ensure = %+v, %v", res, err)
	}
	checkBlob(t, s, d, nil)
}

func TestEnsureInvalid(t *testing.T) {
	t.Parallel()
	s := newStore(t, Config{})
	for _, d := range []image.Descriptor{
		{Digest: "sha256:../../x", Size: 1},
		{Digest: "md5:d41d8cd98f00b204e9800998ecf8427e", Size: 1},
		{Digest: digest.FromString("x"), Size: -1},
	} {
		if _, err := s.Ensure(t.Context(), d, noFetch(t), nil); !errors.Is(err, image.ErrInvalidDescriptor) {
			t.Errorf("Ensure(%v): err = %v, want ErrInvalidDescriptor", d, err)
		}
		if p, ok := s.Path(t.Context(), d); ok || p != "" && d.Size >= 0 {
			t.Errorf("Path(%v) = %q, %v", d, p, ok)
		}
	}
}

func TestEnsureLockWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	_, d := blob(1000, 3)
	s := newStore(t, Config{})
	holder, err := os.OpenFile(lockPath(s, d), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := disk.Lock(t.Context(), holder); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	f := &fake{}
	if _, err := s.Ensure(ctx, d, f.fetch, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if len(f.calls()) != 0 {
		t.Fatal("fetched without the lock")
	}
}

func TestEnsureConcurrent(t *testing.T) {
	t.Parallel()
	content, d := blob(200_000, 4)
	s := newStore(t, Config{})
	var fetched, cached atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			f := &fake{data: content, chunk: 16 << 10, delay: time.Millisecond}
			res, err := s.Ensure(t.Context(), d, f.fetch, nil)
			if err != nil {
				t.Error(err)
				return
			}
			fetched.Add(res.Fetched)
			cached.Add(res.Cached)
		})
	}
	wg.Wait()
	if fetched.Load() != d.Size {
		t.Errorf("%d bytes fetched in all, want %d: one download", fetched.Load(), d.Size)
	}
	if cached.Load() != 7*d.Size {
		t.Errorf("%d bytes cached in all, want %d", cached.Load(), 7*d.Size)
	}
	checkBlob(t, s, d, content)
	if n := partialSize(t, s, d); n != -1 {
		t.Errorf("a partial of %d bytes is left", n)
	}
}

func TestPut(t *testing.T) {
	t.Parallel()
	content, d := blob(300, 5)
	tests := []struct {
		name string
		b    []byte
		ok   bool
	}{
		{name: "ok", b: content, ok: true},
		{name: "wrong bytes", b: corrupt(content)},
		{name: "short", b: content[:299]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, Config{})
			err := s.Put(t.Context(), d, tt.b)
			if (err == nil) != tt.ok {
				t.Fatalf("Put: err = %v", err)
			}
			if _, present := s.Path(t.Context(), d); present != tt.ok {
				t.Fatalf("present = %v after Put, want %v", present, tt.ok)
			}
			if tt.ok {
				checkBlob(t, s, d, content)
			}
		})
	}
}

func TestOpenDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string // under the test's temporary directory; "" for an error
	}{
		{name: "xdg", env: map[string]string{"XDG_CACHE_HOME": "xdg", "HOME": "home"}, want: "xdg/haul"},
		{name: "home", env: map[string]string{"HOME": "home"}, want: "home/.cache/haul"},
		{name: "relative xdg is ignored", env: map[string]string{"XDG_CACHE_HOME": "relative", "HOME": "home"}, want: "home/.cache/haul"},
		{name: "neither", env: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			env := func(k string) string {
				v, ok := tt.env[k]
				if ok && (k == "HOME" || v == "xdg") {
					v = filepath.Join(tmp, v)
				}
				return v
			}
			s, err := Open(Config{Env: env})
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Open succeeded at %s", s.Dir())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(tmp, tt.want); s.Dir() != want || s.Layout().Dir() != want {
				t.Fatalf("Dir() = %s, want %s", s.Dir(), want)
			}
			for _, name := range []string{"oci-layout", "blobs", "ingest"} {
				if _, err := os.Stat(filepath.Join(s.Dir(), name)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestListPrune(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	later := time.Now().Add(8 * 24 * time.Hour)
	s := newStore(t, Config{Dir: dir})
	blobA, a := blob(1000, 6)
	partialB, b := blob(2000, 7)
	partialC, c := blob(3000, 8)
	if _, err := s.Ensure(t.Context(), a, (&fake{data: blobA}).fetch, nil); err != nil {
		t.Fatal(err)
	}
	writePartial(t, s, b, partialB[:500])
	writePartial(t, s, c, partialC[:700])
	held, err := os.OpenFile(lockPath(s, c), os.O_RDWR|os.O_CREATE, 0o644) // a pull in another process, resuming C
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := disk.Lock(t.Context(), held); err != nil {
		t.Fatal(err)
	}
	oldTemp := filepath.Join(dir, "blobs", "sha256", ".tmp-crashed")
	newTemp := filepath.Join(dir, "blobs", "sha256", ".tmp-writing")
	for _, p := range []string{oldTemp, newTemp} {
		if err := os.WriteFile(p, []byte("leftover"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(oldTemp, time.Time{}, time.Now().Add(-30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}

	list := func(s *Store) []string {
		t.Helper()
		es, err := s.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, fmt.Sprintf("%s %d %v", e.Digest, e.Size, e.Partial))
		}
		return out
	}
	entry := func(d image.Descriptor, size int64, partial bool) string {
		return fmt.Sprintf("%s %d %v", d.Digest, size, partial)
	}
	all := []string{entry(a, 1000, false), entry(b, 500, true), entry(c, 700, true)}
	slices.Sort(all) // List sorts by digest
	if got := list(s); !slices.Equal(got, all) {
		t.Fatalf("List = %v, want %v", got, all)
	}

	// Young partials and temporary files stay; a month-old leftover goes.
	if n, freed, err := s.Prune(t.Context(), PruneOptions{}); err != nil || n != 1 || freed != int64(len("leftover")) {
		t.Fatalf("Prune now = %d, %d, %v; want the old leftover removed", n, freed, err)
	}
	if _, err := os.Stat(oldTemp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old leftover survived Prune: %v", err)
	}
	if _, err := os.Stat(newTemp); err != nil {
		t.Errorf("a recent temporary file was pruned: %v", err)
	}
	// Eight days later, B and the other leftover are old; C is held.
	s8 := newStore(t, Config{Dir: dir, Now: func() time.Time { return later }, PartialMaxAge: 365 * 24 * time.Hour})
	n, freed, err := s8.Prune(t.Context(), PruneOptions{PartialsOlderThan: 7 * 24 * time.Hour})
	if err != nil || n != 2 || freed != 500+int64(len("leftover")) {
		t.Fatalf("Prune a week later = %d, %d, %v; want B and the leftover", n, freed, err)
	}
	want := []string{entry(a, 1000, false), entry(c, 700, true)}
	slices.Sort(want)
	if got := list(s); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	// All: the blob goes, the held partial stays.
	n, freed, err = s.Prune(t.Context(), PruneOptions{All: true})
	if err != nil || n != 1 || freed != 1000 {
		t.Fatalf("Prune(All) = %d, %d, %v; want the blob only", n, freed, err)
	}
	if got, want := list(s), []string{entry(c, 700, true)}; !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	// Released, and old: Open drops it.
	held.Close()
	newStore(t, Config{Dir: dir, Now: func() time.Time { return later }})
	if got := list(s); len(got) != 0 {
		t.Fatalf("List after Open = %v, want nothing", got)
	}
}

func TestFillTee(t *testing.T) {
	t.Parallel()
	content := bytes.Repeat([]byte("haul tee "), 20000)
	d := image.Descriptor{Digest: digest.FromBytes(content), Size: int64(len(content))}
	bad := bytes.Clone(content[:len(content)/3])
	bad[10] ^= 1
	tests := []struct {
		name    string
		partial []byte
		wantErr error
	}{
		{name: "fresh"},
		{name: "resumed prefix", partial: content[:len(content)/3]},
		{name: "complete partial", partial: content},
		{name: "corrupt prefix cannot start over", partial: bad, wantErr: errRestart},
		{name: "corrupt complete partial cannot start over", partial: corrupt(content), wantErr: errRestart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, Config{})
			if tt.partial != nil {
				writePartial(t, s, d, tt.partial)
			}
			p, err := s.Partial(t.Context(), d)
			if err != nil || p == nil {
				t.Fatalf("Partial = %v, %v", p, err)
			}
			defer p.Close()
			var tee bytes.Buffer
			_, err = Fill(t.Context(), p, Download{Blob: d, Fetch: (&fake{data: content}).fetch, Tee: &tee})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tee.Bytes(), content) {
				t.Fatalf("tee got %d bytes that are not the blob", tee.Len())
			}
		})
	}
}
