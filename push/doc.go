// Package push carries images into registries: the reverse of pull. Copy
// reads an image or index from one registry and puts it into another (or
// another repository of the same one) with every digest kept: blobs stream
// from the source into the upload without touching the disk, verified as
// they pass; manifests go exactly as read, children before the index.
//
// The work is split in two. A Plan says what to put: manifests as exact
// bytes with their descriptors, children first, and for each image manifest
// the blobs it needs with a way to open them from any offset. An Images
// (RegistryImages for a registry; a local archive later) builds it. Then
// one loop puts a plan into a destination: per blob a HEAD (present: skipped),
// a cross-repository mount within one registry, else a resumable upload
// (registry.PushBlob, whose sessions UploadSessions keeps between runs);
// then each manifest by digest, the root last, under its tag.
//
// Data flows one way: registry (and, later, archive) → push. Nothing imports
// push but the CLI.
package push
