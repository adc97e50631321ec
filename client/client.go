package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client talks to an rsml cluster over HTTP. It is safe for concurrent use.
type Client struct {
	endpoints []string
	hc        *http.Client
	set       settings
	// sleep waits between retry rounds; tests replace it to record the waits.
	sleep func(ctx context.Context, d time.Duration) error

	mu        sync.Mutex
	preferred int  // index of the endpoint to try first; -1: look again
	isLeader  bool // preferred said it leads
	chosenAt  time.Time
	inflight  *discovery // the discovery other calls wait for
	rotate    int        // where to start when no endpoint is preferred
}

// rediscoverAfter is how long a preferred endpoint that did not lead (no
// leader was known) is kept before the client looks for the leader again.
const rediscoverAfter = time.Second

// maxBody bounds a response body the client reads.
const maxBody = 64 << 20

// New returns a client of the replicas at endpoints: base URLs such as
// "http://127.0.0.1:8001" ("127.0.0.1:8001" means http). It sends nothing
// until the first call.
func New(endpoints []string, opts ...Option) (*Client, error) {
	set := defaults()
	for _, o := range opts {
		o(&set)
	}
	if err := set.validate(); err != nil {
		return nil, err
	}
	if len(endpoints) == 0 {
		return nil, errors.New("client: no endpoints")
	}
	var eps []string
	seen := make(map[string]bool)
	for _, e := range endpoints {
		if set.tls != nil && !strings.Contains(e, "://") {
			e = "https://" + strings.TrimSpace(e) // TLS asked for: a bare host:port means https
		}
		n, err := normalizeEndpoint(e)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		if set.token != "" && strings.HasPrefix(n, "http://") && !loopbackURL(n) {
			return nil, fmt.Errorf("client: endpoint %q: a token would cross the network in clear text: use https://", e)
		}
		if !seen[n] {
			seen[n] = true
			eps = append(eps, n)
		}
	}
	hc := set.httpClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		if set.tls != nil {
			tr.TLSClientConfig = set.tls.Clone()
		}
		hc = &http.Client{
			Transport: tr,
			// The API never redirects; following one would re-send a write.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if set.token != "" {
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		withToken := *hc
		withToken.Transport = bearerTransport{base: base, value: "Bearer " + set.token}
		hc = &withToken
	}
	return &Client{endpoints: eps, hc: hc, set: set, sleep: sleepCtx, preferred: -1}, nil
}

// normalizeEndpoint turns "host:port" or "http(s)://host:port[/]" into
// "scheme://host:port", naming the endpoint in its error.
func normalizeEndpoint(e string) (string, error) {
	raw := strings.TrimSpace(e)
	if raw == "" {
		return "", errors.New("empty endpoint")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", fmt.Errorf("endpoint %q: %w", e, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("endpoint %q: scheme %q: want http or https", e, u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("endpoint %q: no host", e)
	case u.User != nil:
		return "", fmt.Errorf("endpoint %q: user info is not supported", e)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.Opaque != "":
		return "", fmt.Errorf("endpoint %q: want a base URL such as http://127.0.0.1:8001, without a path or query", e)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("endpoint %q: bad port %q", e, p)
		}
	}
	return u.Scheme + "://" + u.Host, nil
}

// Endpoints returns the normalized endpoints, in the order given.
func (c *Client) Endpoints() []string { return append([]string(nil), c.endpoints...) }

// CloseIdleConnections closes the idle connections of the HTTP client.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// call is one API request, retried as its kind allows.
type call struct {
	op     string // "get", "put", "delete": for error messages
	key    string
	method string
	path   string // escaped path and query
	header http.Header
	body   []byte
	write  bool
}

// reply is a server's answer, body read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do runs cl, retrying as the policy in the package comment says, and
// returns the 2xx reply or an error wrapped with the call's context.
func (c *Client) do(ctx context.Context, cl *call) (reply, error) {
	rep, err := c.retry(ctx, cl)
	switch {
	case err == nil:
	case cl.key == "": // a transaction, or a listing of every key
		return reply{}, fmt.Errorf("%s: %w", cl.op, err)
	default:
		return reply{}, fmt.Errorf("%s %q: %w", cl.op, cl.key, err)
	}
	return rep, nil
}

func (c *Client) retry(ctx context.Context, cl *call) (reply, error) {
	n := len(c.endpoints)
	var (
		lastErr    error
		start      int
		retryAfter time.Duration
	)
	for attempt := 0; attempt < c.set.maxAttempts; attempt++ {
		if attempt%n == 0 {
			if round := attempt / n; round > 0 {
				wait := max(c.backoff(round-1), min(retryAfter, c.set.backoffMax))
				retryAfter = 0
				if err := c.sleep(ctx, wait); err != nil {
					return reply{}, fmt.Errorf("%w (last failure: %w)", err, lastErr)
				}
			}
			start = c.start(ctx)
		}
		if err := ctx.Err(); err != nil {
			if lastErr != nil {
				return reply{}, fmt.Errorf("%w (last failure: %w)", err, lastErr)
			}
			return reply{}, err
		}
		i := (start + attempt) % n
		ep := c.endpoints[i]
		rep, how, err := c.attempt(ctx, ep, cl)
		if err != nil {
			if how == failedFinal {
				return reply{}, err
			}
			c.forget(i)
			if cl.write && how == failedMaybeSent {
				// The request may have reached the server and been applied.
				return reply{}, fmt.Errorf("%w: %w", ErrIndeterminate, err)
			}
			if ctx.Err() != nil {
				return reply{}, err
			}
			lastErr = err
			continue
		}
		if rep.status >= 200 && rep.status < 300 {
			return rep, nil
		}
		aerr := fmt.Errorf("%s: %w", ep, apiError(rep))
		switch {
		case rep.status == http.StatusServiceUnavailable:
			// Certainly not applied: safe for writes too.
			c.forget(i)
			retryAfter = max(retryAfter, parseRetryAfter(rep.header.Get("Retry-After")))
			lastErr = aerr
		case errors.Is(aerr, ErrTimeout):
			// The server waited its full time already: asking another
			// one would wait as long again.
			return reply{}, aerr
		case rep.status >= 500:
			c.forget(i)
			if cl.write {
				if errors.Is(aerr, ErrIndeterminate) {
					return reply{}, aerr
				}
				return reply{}, fmt.Errorf("%w: %w", ErrIndeterminate, aerr)
			}
			lastErr = aerr
		default:
			// 4xx, or an unexpected 1xx/3xx: the answer stands.
			return reply{}, aerr
		}
	}
	return reply{}, fmt.Errorf("gave up after %d attempts: %w", c.set.maxAttempts, lastErr)
}

// failure says how an attempt failed, which decides whether to retry it.
type failure int

const (
	failedNotSent   failure = iota // no connection was made: nothing reached a server
	failedMaybeSent                // the request may have reached the server
	failedFinal                    // retrying cannot help, or could apply a write twice
)

// attempt sends cl to ep once.
func (c *Client) attempt(ctx context.Context, ep string, cl *call) (reply, failure, error) {
	ctx, cancel := context.WithTimeout(ctx, c.set.timeout)
	defer cancel()
	var gotConn atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	})
	var body io.Reader = http.NoBody
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, ep+cl.path, body)
	if err != nil {
		return reply{}, failedFinal, err
	}
	for k, v := range cl.header {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if !gotConn.Load() || isDialError(err) {
			return reply{}, failedNotSent, err
		}
		return reply{}, failedMaybeSent, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	switch {
	case err == nil && len(b) > maxBody:
		err = fmt.Errorf("response body over %d bytes", maxBody)
	case err != nil:
		err = fmt.Errorf("reading the response: %w", err)
	}
	if err != nil {
		if resp.StatusCode < 300 && cl.write {
			// The server said the write was applied; only its rev is lost.
			return reply{}, failedFinal, fmt.Errorf("%s: the write was applied but its response was lost: %w", ep, err)
		}
		if resp.StatusCode < 300 {
			return reply{}, failedMaybeSent, fmt.Errorf("%s: %w", ep, err)
		}
		b = nil // an error answer: the status code is enough
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, 0, nil
}

// isDialError reports whether err happened while connecting, before any
// byte of the request was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect")
}

// apiError builds the error of a non-2xx reply from its JSON body.
func apiError(rep reply) *APIError {
	e := &APIError{Status: rep.status}
	var body struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(rep.body, &body) == nil {
		e.Code, e.Message = body.Code, body.Error
	} else if s := strings.TrimSpace(string(rep.body)); s != "" && len(s) < 512 {
		e.Message = s
	}
	return e
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// backoff is the wait after the given round (0-based) of failures: doubling
// from backoffMin, capped at backoffMax, with jitter in its upper half so
// that many clients do not retry in step.
func (c *Client) backoff(round int) time.Duration {
	d := c.set.backoffMin
	for i := 0; i < round && d < c.set.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.set.backoffMax)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loopbackURL reports whether a normalized endpoint is on this machine.
func loopbackURL(u string) bool {
	pu, err := url.Parse(u)
	if err != nil {
		return false
	}
	h := pu.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
