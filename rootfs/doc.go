// Package rootfs applies image layers, in order, to a directory, as the OCI
// image spec's "applying changesets" describes: files, directories, links,
// devices, whiteouts and opaque directories, modes, owners, times and xattrs.
//
// Layers are tar streams from strangers. Nothing an entry says can create,
// change or remove anything outside the directory: every entry's parent is
// resolved inside the root as a chroot would (openat2 with RESOLVE_IN_ROOT,
// through filepath-securejoin's pathrs-lite), the last component is created
// without being followed, and hardlink targets are resolved the same way.
// Each layer's blob digest and uncompressed digest (the config's diff_id)
// are checked at its end; an unpack is built in a sibling temporary directory
// and renamed onto its target only once every layer has verified.
//
// Export writes the same tree, flattened, as one tar stream.
//
// Unpacking needs Linux (openat2, and the calls that set a symlink's own
// times, devices and xattrs); elsewhere Create returns ErrUnsupported.
// Export works on every system.
//
// rootfs knows nothing of registries: it takes each layer as an io.Reader of
// the blob's bytes and the layer's descriptor, from a download or an archive.
package rootfs
