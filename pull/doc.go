// Package pull is haul's orchestrator: it resolves references to the images to
// keep (a platform, several, or a whole index), fetches every blob concurrently
// and verified, into the store (or, without a cache, straight into the output
// at its final offset), and writes a docker or OCI archive or an OCI layout.
//
// Data flows one way: registry → store → archive/layout. Nothing imports pull
// but the CLI.
package pull
