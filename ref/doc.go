// Package ref parses and normalizes image references exactly as docker does,
// using github.com/distribution/reference for the grammar:
//
//	alpine                        → docker.io/library/alpine:latest
//	index.docker.io/foo/bar       → docker.io/foo/bar:latest
//	localhost:5000/x              → localhost:5000/x:latest
//	host:port/a/b:t@sha256:<hex>  → both kept; the digest is what is fetched
//
// A Reference is a plain comparable value: two references are equal exactly when
// they name the same thing. It also knows where to send requests: Docker Hub's
// name is "docker.io", but its API lives at registry-1.docker.io.
package ref
