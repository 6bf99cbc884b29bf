// Package pull is haul's orchestrator: it resolves references to the images to
// keep (a platform, several, or a whole index), fetches every blob concurrently
// and verified, and writes a docker or OCI archive, an OCI layout or a root
// filesystem.
//
// Every format goes through one fetch loop (run.fetch): an output says where
// each blob goes (a tar's region for a tar, the store for the rest), and
// store.Fill downloads it there, each byte written once, resumable after a
// failure or a kill.
//
// Data flows one way: registry → store → archive/layout/rootfs. Nothing
// imports pull but the CLI.
package pull
