package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
)

// UnsupportedError is an engine address haul cannot speak to: ssh://,
// npipe://, an unknown scheme or a malformed address.
type UnsupportedError struct {
	Host   Host
	Reason string
	Hint   string // what to do instead; "" when there is nothing to add
}

func (e *UnsupportedError) Error() string {
	msg := fmt.Sprintf("engine %s (from %s): %s", e.Host.URL, e.Host.From, e.Reason)
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

// UnreachableError is an engine that did not answer: nothing listens at the
// socket or port, the dial timed out, or the connection broke before an answer.
type UnreachableError struct {
	Host    Host
	Request string // "GET /_ping"
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("engine %s (from %s): %s: %v", e.Host.URL, e.Host.From, e.Request, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Hint says what to check when no engine answered.
func (e *UnreachableError) Hint() string {
	const other = " DOCKER_HOST, DOCKER_CONTEXT or docker context use choose another engine."
	if errors.Is(e.Err, fs.ErrPermission) {
		return "this user may not use the engine's socket: run as root, or join the group that owns it (docker)." + other
	}
	return "is dockerd (or podman system service) running and listening there?" + other
}

// Error is an engine's refusal: a non-2xx answer, or an error inside the
// stream that followed a 200 (Status is then 200).
type Error struct {
	Host    Host
	Request string // "POST /v1.41/images/load"
	Status  int
	Message string // the engine's own words: its JSON "message", or errorDetail's
}

func (e *Error) Error() string {
	if e.Status == http.StatusOK {
		return fmt.Sprintf("engine %s (from %s): %s: %s", e.Host.URL, e.Host.From, e.Request, e.Message)
	}
	return fmt.Sprintf("engine %s (from %s): %s: %d %s: %s", e.Host.URL, e.Host.From, e.Request,
		e.Status, http.StatusText(e.Status), e.Message)
}
