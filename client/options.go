package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
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
	tls         *tls.Config
	token       string
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

// WithTLS talks to https:// endpoints with cfg: the CA to trust (RootCAs)
// and the client certificate to present, if any (LoadTLS reads them from
// files). With it, an endpoint given as host:port means https. Ignored with WithHTTPClient, whose transport is the caller's.
func WithTLS(cfg *tls.Config) Option { return func(s *settings) { s.tls = cfg } }

// WithToken sends "Authorization: Bearer token" with every request, leader
// discovery included. New refuses it with an http:// endpoint that is not
// on this machine: the token would cross the network in clear text. A cluster with authentication answers a missing or
// wrong token with ErrUnauthenticated, too few rights with ErrForbidden.
func WithToken(token string) Option { return func(s *settings) { s.token = token } }

// LoadTLS reads the PEM files of WithTLS, as etcdctl's --cacert, --cert and
// --key: caFile ("" for the system's roots) is the CA that signed the
// replicas' HTTPS certificates; certFile and keyFile (both or neither) are
// a client certificate.
func LoadTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("client: CA: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: CA %s holds no PEM certificate", caFile)
		}
	}
	switch {
	case certFile != "" && keyFile != "":
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client: certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	case certFile != "" || keyFile != "":
		return nil, errors.New("client: a client certificate needs both its certificate and its key")
	}
	return cfg, nil
}

// bearerTransport adds the token to every request.
type bearerTransport struct {
	base  http.RoundTripper
	value string
}

func (t bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", t.value)
	return t.base.RoundTrip(r)
}

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
