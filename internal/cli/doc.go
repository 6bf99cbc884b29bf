// Package cli is haul's command line: one file per command. Each command turns
// its parsed arguments into a library Config, calls the library, and prints text
// or --json to the writers it was given. Exit codes are chosen in one place.
package cli
