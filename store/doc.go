// Package store keeps blobs on disk under their digest, as an OCI image layout, so a
// second pull downloads only what is missing. A blob appears under its final name
// only after its size and digest have been checked.
//
// A download in progress is a Partial: a file in ingest/ named after the digest,
// written only by the holder of its lock file, so two processes (or goroutines)
// pulling the same blob never write it twice: the second waits and finds it done.
// Fill is the one download haul has: into a Partial, or into any Sink (the blob's
// region of a tar being written), verified as it is written, resumed after what
// the Sink already holds (its prefix hashed again first); if that prefix turns out
// not to be the blob's, the blob is fetched once more from the start. Partials are
// never served as blobs, and old ones are dropped by Open and Prune.
//
// Nothing is fsynced. Every blob is noted as written in the current boot, and a
// store opened after the machine restarted hashes such a blob again at its first
// use, so a power failure that cut one short or zeroed it costs a download, not a
// wrong blob.
package store
