// Package direct writes a stream of bytes to one or more files with O_DIRECT:
// the aligned bulk goes from reused, page-aligned stages straight to the disk,
// bypassing the page cache, and the unaligned head and tail go the ordinary
// way.
//
// On a virtual machine whose freed memory goes back to the host, as this
// project's does, every page of a fresh page-cache write costs a host fault:
// a buffered 1 GiB write measured 0.35 s into reused memory and 2.4–3.5 s into
// fresh memory, O_DIRECT 0.9 s either way, and two O_DIRECT writers at once
// 1.45 s for 2 GiB (`dd bs=1M`, 2026-12-03). A cached pull to a tar writes
// every byte twice, once into the cache and once into the tar; with one
// Writer over both, each stage is filled once and sent to both files at once.
// That trades the page cache's swings for the disk's pace (2 GiB at
// 1.1–1.2 GB/s): BENCHMARKS.md has the measurements both ways. A Pool hands
// the stages a closed Writer used to the next, so a pull of many blobs touches
// fresh memory for a few Writers only.
//
// A Switcher is for a stream written once: a tar pulled without a cache, the
// tar's copy of a blob that also goes to the cache, or the cache's copy of a
// blob under 64 MiB. It writes through the
// page cache while its Pool judges that cheap, and turns to a Writer once the
// Pool has judged it slow: the Pool sums the kernel CPU time of all its
// Switchers' writes, 16 MiB at a time, and from the first window above 1 ms
// per MiB on, every stream goes by O_DIRECT. In memory the guest holds, the
// page cache is the faster way (1 GiB pulled with `--no-cache`: medians of
// 1.14–1.28 s buffered against 1.23–1.57 s by O_DIRECT); in memory the host
// took back it is not (a buffered pull took 3.35 s where one through a
// Switcher took at most 1.54 s, in the same run). For a cached pull to a tar,
// the cache's copy of a blob of 64 MiB or more goes by O_DIRECT and the tar's
// through a Switcher: 1 GiB took a median 1.50–1.75 s that way against
// 1.98–2.00 s with both copies by O_DIRECT. Smaller blobs go through two
// Switchers: 40 blobs of 10 MiB took 0.48 s that way against 0.555 s with
// the cache's copy by O_DIRECT. BENCHMARKS.md has the runs.
//
// Reserve and Allocate give a file its disk blocks before it is written, in
// one call, where ext4 would otherwise reserve and map them page by page as
// the bytes come: a partial in the store gets its blob's blocks reserved
// ahead of the download, an archive its whole size allocated, or a
// SpaceError at once if its disk has not that much free. 40 blobs of 10 MiB
// pulled into a layout took a median 0.425 s that way against 0.50 s.
package direct
