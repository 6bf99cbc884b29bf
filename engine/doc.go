// Package engine loads images into a Docker Engine, or into podman's
// docker-compatible service, through its HTTP API: the engine the docker CLI
// would use (DOCKER_HOST, else the current docker context, else the default
// socket), over a unix socket or TCP (with TLS as DOCKER_CERT_PATH gives it).
//
// A load is one streamed POST /images/load of a docker-load tar: no
// temporary file. The API version is the one the engine's /_ping announces,
// never one pinned here. A load fails on a non-2xx answer or on an
// errorDetail inside the 200 stream, and when its source fails midway the
// upload is cut off, so the engine loads nothing partial. Errors name the
// engine's address and where it came from. Only the standard library is used:
// no docker client.
package engine
