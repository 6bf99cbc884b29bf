// Package archive writes images as tars that are at once OCI image layouts
// (oci-layout, index.json, blobs/<alg>/<hex>) and, in the docker format,
// docker-load archives (manifest.json and repositories beside them, in the shape
// Docker 25+ `docker save` writes), laid out before any byte of a blob arrives.
//
// A Plan is computed from descriptors alone: every entry's name, header, size
// and offset is known up front, so the tar can be written in three ways that
// give byte-identical files:
//
//   - WriteFile copies blobs from a cache into their regions concurrently, in
//     the kernel (copy_file_range), into a temporary file renamed when whole;
//   - WriteSkeleton writes everything but the blob data, and a caller that is
//     still downloading writes each blob at Offset(d) itself;
//   - WriteTo streams the tar in order, for `-o -`.
//
// Entries follow `docker save`: names in byte order (blobs/, blobs/sha256/,
// the blobs by digest, index.json, manifest.json, oci-layout, repositories),
// uid and gid 0, no user or group names, mode 0644 for files and 0755 for
// directories, and every time the Unix epoch (Docker stamps some blobs with the
// image's creation time; one fixed time keeps the output a pure function of its
// input). The same images always give the same bytes.
//
// Blobs of 1 MiB or more have their data aligned to 4 KiB in the tar, by a PAX
// "comment" record in their header: a POSIX keyword that GNU tar and Go's
// archive/tar (Docker, containerd, podman, skopeo) read and ignore. A filesystem
// that shares extents (XFS, Btrfs) can then clone a blob between the cache and
// the tar, either way, instead of copying it.
//
// An Output is resumable: until Commit, a journal after the tar's end says how
// much of each blob is in place, and a failed pull's temporary file is taken
// up again by the next Create of the same Plan and path.
//
// Reader reads them back, and what other tools write: Docker's tars of every
// version (the old ones hold only manifest.json and <id>/layer.tar), OCI
// archives and OCI layout directories. A tar is indexed once and its blobs
// read in place; everything in it is bounded and verified as a registry's
// answer would be.
package archive
