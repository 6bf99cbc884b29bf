// Package image is the plain data of container images: media types, descriptors,
// manifests, indexes and configs (the OCI image-spec types, with Docker schema2's
// media types beside them), how to tell them apart in untrusted bytes, and how a
// platform is chosen from an index, and how content is checked against the
// descriptor it was fetched by (VerifyReader judges at EOF). It does no I/O and imports nothing of haul's,
// so every other package may use it.
package image
