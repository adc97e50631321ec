package client

import (
	"fmt"
	"net/http"
	"time"
)

// Defaults of the options.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMaxAttempts = 10
	DefaultBackoffMin  = 50 * time.Millisecond
	DefaultBackoffMax  = 2 * time.Second
)

// Option configures a Client.
type Option func(*settings)

type settings struct {
	timeout     time.Duration
	maxAttempts int
	backoffMin  time.Duration
	backoffMax  time.Duration
	httpClient  *http.Client
	inOrder     bool
}

func defaults() settings {
	return settings{
		timeout:     DefaultTimeout,
		maxAttempts: DefaultMaxAttempts,
		backoffMin:  DefaultBackoffMin,
		backoffMax:  DefaultBackoffMax,
	}
}

// WithTimeout bounds each HTTP request (default 5s). A whole call is bounded
// by its context, across retries.
func WithTimeout(d time.Duration) Option { return func(s *settings) { s.timeout = d } }

// WithMaxAttempts bounds the requests one call makes, the first included
// (default 10). Leader discovery does not count.
func WithMaxAttempts(n int) Option { return func(s *settings) { s.maxAttempts = n } }

// WithBackoff sets the wait after a round of failed attempts (one per
// endpoint): it starts at lo and doubles up to hi (defaults 50ms and 2s). A
// server's Retry-After lengthens a wait, but never beyond hi.
func WithBackoff(lo, hi time.Duration) Option {
	return func(s *settings) { s.backoffMin, s.backoffMax = lo, hi }
}

// WithHTTPClient sends requests through hc instead of the client's own. Do
// not let hc follow redirects or retry writes by itself.
func WithHTTPClient(hc *http.Client) Option { return func(s *settings) { s.httpClient = hc } }

// WithEndpointsInOrder makes calls go to the first endpoint, and to the
// next only once one failed, rather than to the leader the client finds:
// every replica forwards writes and linearizable reads to the leader, so
// clients given their endpoints in different orders spread the load of
// parsing and answering requests over the replicas (at the cost of a hop).
func WithEndpointsInOrder() Option { return func(s *settings) { s.inOrder = true } }

func (s *settings) validate() error {
	switch {
	case s.timeout <= 0:
		return fmt.Errorf("client: WithTimeout(%v): must be positive", s.timeout)
	case s.maxAttempts < 1:
		return fmt.Errorf("client: WithMaxAttempts(%d): must be at least 1", s.maxAttempts)
	case s.backoffMin < 0 || s.backoffMax < s.backoffMin:
		return fmt.Errorf("client: WithBackoff(%v, %v): want 0 <= lo <= hi", s.backoffMin, s.backoffMax)
	}
	return nil
}
