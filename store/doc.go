// Package store keeps blobs on disk under their digest, as an OCI image layout, so a
// second pull downloads only what is missing. A blob appears under its final name
// only after its size and digest have been checked.
//
// A download in progress is a partial file in ingest/, named after the digest and
// held under an exclusive lock, so two processes (or goroutines) pulling the same
// blob never write it twice: the second waits and finds it done. A partial left by
// an interrupted pull, or a killed process, is resumed by the next one from where
// it stopped, its prefix hashed again from disk; if that prefix turns out not to
// be the blob's, the blob is fetched once more from the start. Partials are never
// served as blobs, and old ones are dropped by Open and Prune.
package store
