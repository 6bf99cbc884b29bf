// Package mirror spreads the reads of one upstream registry over its mirrors
// in order, then the upstream: pull-through caches (the distribution registry
// in proxy mode, Harbor, a P2P cache such as Spegel) that serve the upstream's
// names under their own host. A read that a mirror fails (refused, timed out,
// 5xx after its retries, 401/403, 404, wrong bytes) goes to the next one.
//
// What a mirror serves is believed no more than the upstream: every manifest
// and blob is verified against the digest the user or a manifest asked for, by
// the registry client that fetched it. Each mirror has its own client, with
// the mirror's own credentials; the upstream's never go to a mirror.
//
// Names map as containers-registries.conf(5) maps them: an upstream name under
// the mirrors' scope (by default the whole upstream registry, "docker.io")
// moves under the mirror's host and path, so docker.io/library/alpine is
// m.local:5000/library/alpine on mirror "m.local:5000" (what docker's
// registry-mirrors and distribution's proxy mode expect), and
// m.local:5000/hub/library/alpine on mirror "m.local:5000/hub".
package mirror
