package client

import (
	"errors"
	"fmt"
	"net/http"
)

// Errors callers branch on. Server answers arrive as *APIError, which matches
// these through errors.Is; ErrIndeterminate also wraps transport failures of
// writes that may have reached a server.
var (
	// ErrNotFound: the key is absent (404).
	ErrNotFound = errors.New("not found")
	// ErrConditionFailed: an If-Match / If-None-Match condition did not hold
	// (412); nothing changed.
	ErrConditionFailed = errors.New("condition failed")
	// ErrTooLarge: the value is over the server's limit (413).
	ErrTooLarge = errors.New("value too large")
	// ErrBadRequest: the server rejected the request as malformed (400), for
	// example an empty or too long key.
	ErrBadRequest = errors.New("bad request")
	// ErrNoLeader: the cluster could not take the request now (503,
	// "no_leader" or "unavailable"). The request was certainly not applied,
	// so retrying it is safe.
	ErrNoLeader = errors.New("no leader: the request was not applied")
	// ErrIndeterminate: a write's outcome is unknown (504 "indeterminate", or
	// the connection failed after the request may have been sent). It may or
	// may not have been applied: read the key before deciding to write again.
	ErrIndeterminate = errors.New("outcome unknown: the write may or may not have been applied")
	// ErrConflict: the request contradicts the cluster's membership (409),
	// for example a leadership transfer to a replica that is not a member.
	ErrConflict = errors.New("conflict")
	// ErrTimeout: an operation on the cluster did not complete in time (504
	// "timeout"), for example a leadership transfer to a replica that is down.
	ErrTimeout = errors.New("timed out")
	// ErrUnauthenticated: the cluster needs credentials and got none, or a
	// token it does not know (401): WithToken, or a client certificate.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the credentials' role does not allow the request (403).
	ErrForbidden = errors.New("forbidden")
)

// APIError is an error answer of the HTTP API: its status code and the
// {"error": ..., "code": ...} body.
type APIError struct {
	Status  int    // HTTP status code
	Code    string // the body's "code", e.g. "no_leader"; "" if the body had none
	Message string // the body's "error", or the status text
}

// Error gives the status, the server's code and its message: what a log line
// needs to tell a refused write from an unknown outcome.
func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code == "" {
		return fmt.Sprintf("%s (HTTP %d)", msg, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d %s)", msg, e.Status, e.Code)
}

// Is matches the sentinel error that the status code stands for.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConditionFailed:
		return e.Status == http.StatusPreconditionFailed
	case ErrTooLarge:
		return e.Status == http.StatusRequestEntityTooLarge
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrNoLeader:
		return e.Status == http.StatusServiceUnavailable
	case ErrIndeterminate:
		return e.Status == http.StatusGatewayTimeout && e.Code != "timeout" || e.Code == "indeterminate"
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrTimeout:
		return e.Status == http.StatusGatewayTimeout && e.Code == "timeout"
	case ErrUnauthenticated:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	}
	return false
}
