// Package layout is the OCI image layout on disk: a directory holding
// oci-layout, index.json and blobs/<alg>/<encoded>, as the image-spec defines
// it. Both haul's blob cache (package store) and its "oci" output are layouts.
//
// A file appears under a blob's name only once its size and digest have been
// checked: blobs are written to a temporary name (a dot first, never a digest) in
// their own directory and renamed into place, so a reader of the layout never
// sees half a blob, and a failed write leaves nothing behind. Blob names come
// from validated digests only, so no digest can name a path outside the layout.
// index.json is replaced by rename under an exclusive lock on a lock file in
// the layout, so several writers may add images to one layout at once.
package layout
