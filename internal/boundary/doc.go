// Package boundary holds no code, only the test that keeps the module's
// exported API whole: a program outside the module can name every type an
// exported identifier mentions, because none of them lives under internal/.
//
// The test reads each public package's export data (go list -export, so the
// build cache answers in a second and nothing is fetched) and walks what a
// caller can reach: exported functions and their signatures, exported
// variables, constants and types, the exported fields (embedded ones
// included) and methods of those types, interface methods, type parameters'
// constraints, and the exported surface of unexported types that exported
// API hands out.
package boundary
