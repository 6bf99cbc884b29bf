// Command haul pulls container images from Docker/OCI registries with no daemon.
// It only wires the process to internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/haul-dev/haul/internal/cli"
)

func main() {
	// Two, so that a second interrupt arrives while the first is handled.
	interrupts := make(chan os.Signal, 2)
	signal.Notify(interrupts, os.Interrupt, syscall.SIGTERM)
	exit := os.Exit
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		if st, err := term.GetState(fd); err == nil {
			exit = func(code int) { term.Restore(fd, st); os.Exit(code) }
		}
	}
	code := cli.Run(context.Background(), os.Args[1:], cli.IO{
		Stdin:            os.Stdin,
		Stdout:           os.Stdout,
		Stderr:           os.Stderr,
		Getenv:           os.Getenv,
		StdinIsTerminal:  func() bool { return term.IsTerminal(int(os.Stdin.Fd())) },
		StderrIsTerminal: func() bool { return term.IsTerminal(int(os.Stderr.Fd())) },
		StdoutIsTerminal: func() bool { return term.IsTerminal(int(os.Stdout.Fd())) },
		ReadPassword:     func() ([]byte, error) { return term.ReadPassword(int(os.Stdin.Fd())) },
		Interrupts:       interrupts,
		Exit:             exit,
	})
	signal.Stop(interrupts)
	os.Exit(code)
}
