// Package auth authenticates haul to registries: it finds the credential a user holds
// for a registry (docker's config.json and its credential helpers, podman's auth.json,
// flags), parses the registry's WWW-Authenticate challenges, and runs the token dance
// as an http.RoundTripper that fetches, caches and refreshes bearer tokens.
//
// Credentials never leave the registry they belong to: a Transport attaches them only
// to requests whose scheme, host and port equal its Origin, and sends Basic credentials
// to a token realm only when that realm was named by the registry's own challenge. A
// redirect to a CDN or any other host goes out with no Authorization header at all.
//
// Lookup follows docker's order (credHelpers, then credsStore, then auths), and login
// stores credentials where docker would, so `docker` and `haul` share one login.
package auth
