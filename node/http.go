package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rsml-go/rsml/kv"
)

// HTTP limits and timeouts (DESIGN.md §4.2). Zero fields take the defaults.
type HTTPConfig struct {
	// MaxKeyBytes is the longest key accepted (default 1024).
	MaxKeyBytes int
	// MaxValueBytes is the largest value accepted, inclusive (default 1 MiB).
	MaxValueBytes int
	// RequestTimeout bounds one request's wait for consensus (default 10s).
	RequestTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included, so a slow
	// client cannot hold a connection forever (default 30s).
	ReadTimeout time.Duration
	// MaxTxnBytes is the largest transaction body accepted, inclusive
	// (default 4 MiB).
	MaxTxnBytes int
	// Pprof serves Go's profiles (net/http/pprof) under /debug/pprof/.
	// Off by default: a profile shows keys and values in memory, and
	// taking one costs the replica CPU.
	Pprof bool
	// TLS serves HTTPS (LoadClientTLS); with a client CA, a client
	// certificate that chains to it authenticates as RoleAdmin.
	TLS *ClientTLS
	// Tokens are the bearer tokens accepted (LoadTokens). With Tokens or a
	// client CA, every request but /healthz needs credentials: 401
	// unauthenticated without valid ones, 403 forbidden when the role does
	// not allow the request (Role).
	Tokens *Tokens
}

// authOn reports whether requests need credentials.
func (c *HTTPConfig) authOn() bool { return c.Tokens != nil || c.TLS != nil && c.TLS.ClientCA() }

func (c *HTTPConfig) setDefaults() {
	if c.MaxKeyBytes == 0 {
		c.MaxKeyBytes = 1024
	}
	if c.MaxValueBytes == 0 {
		c.MaxValueBytes = 1 << 20
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.MaxTxnBytes == 0 {
		c.MaxTxnBytes = 4 << 20
	}
}

const kvPrefix = "/v1/kv/"

// Handler returns the replica's HTTP API: the KV endpoints (keys, prefix
// listings, transactions), /v1/status, /healthz and /metrics. Every replica accepts every request; writes and
// linearizable reads reach the leader through the actor system.
func (n *Node) Handler(cfg HTTPConfig) http.Handler {
	cfg.setDefaults()
	h := &httpAPI{n: n, cfg: cfg, metrics: n.metrics.handler()}
	if cfg.Pprof {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		h.pprof = mux
	}
	return h
}

type httpAPI struct {
	n       *Node
	cfg     HTTPConfig
	metrics http.Handler
	pprof   http.Handler // nil unless HTTPConfig.Pprof
}

// statusRecorder remembers the status code for the request counter.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (h *httpAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	defer func() { h.n.metrics.observeRequest(r.Method, rec.code) }()
	path := r.URL.EscapedPath()
	if h.cfg.authOn() {
		need := needs(r, path)
		role, badToken := h.authorize(r)
		switch {
		case need > RoleNone && role == RoleNone:
			// The token itself is never logged.
			h.n.logger.Debug("HTTP request refused: no valid credentials", "method", r.Method, "path", r.URL.Path,
				"remote", r.RemoteAddr, "unknown_token", badToken)
			rec.Header().Set("WWW-Authenticate", `Bearer realm="rsml"`)
			writeError(rec, http.StatusUnauthorized, "unauthenticated", "valid credentials required: a bearer token or a client certificate")
			return
		case role < need:
			h.n.logger.Debug("HTTP request refused: role too low", "method", r.Method, "path", r.URL.Path,
				"remote", r.RemoteAddr, "role", role.String(), "needs", need.String())
			writeError(rec, http.StatusForbidden, "forbidden", fmt.Sprintf("role %s may not do this (needs %s)", role, need))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), roleKey{}, role))
	}
	switch {
	case path == "/v1/kv" || path == kvPrefix && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		if allow(rec, r, http.MethodGet) {
			h.list(rec, r)
		}
	case strings.HasPrefix(path, kvPrefix):
		h.kv(rec, r, path[len(kvPrefix):])
	case path == "/v1/txn":
		if allow(rec, r, http.MethodPost) {
			h.txn(rec, r)
		}
	case path == "/v1/members":
		h.members(rec, r)
	case strings.HasPrefix(path, membersPrefix):
		h.member(rec, r, path[len(membersPrefix):])
	case path == "/v1/leader":
		if allow(rec, r, http.MethodPost) {
			h.leader(rec, r)
		}
	case path == "/v1/status":
		if allow(rec, r, http.MethodGet) {
			h.status(rec)
		}
	case path == "/healthz":
		if allow(rec, r, http.MethodGet) {
			writeJSON(rec, http.StatusOK, map[string]string{"status": "ok"})
		}
	case path == "/metrics":
		if allow(rec, r, http.MethodGet) {
			h.metrics.ServeHTTP(rec, r)
		}
	case h.pprof != nil && strings.HasPrefix(path, "/debug/pprof/"):
		h.pprof.ServeHTTP(rec, r)
	default:
		writeError(rec, http.StatusNotFound, "not_found", "no such path: "+r.URL.Path)
	}
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method "+r.Method+" not allowed")
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeRev answers a write with {"rev":N}, byte for byte what writeJSON
// writes for it, without the map, the encoder and their reflection: it is
// the answer to nearly every write.
func writeRev(w http.ResponseWriter, rev uint64) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	var buf [32]byte
	b := strconv.AppendUint(append(buf[:0], `{"rev":`...), rev, 10)
	_, _ = w.Write(append(b, "}\n"...))
}

func writeError(w http.ResponseWriter, code int, kind, text string) {
	writeJSON(w, code, map[string]string{"error": text, "code": kind})
}

func (h *httpAPI) status(w http.ResponseWriter) {
	st := h.n.Status()
	peers := make(map[string]string, len(st.Peers))
	for id, addr := range st.Peers {
		peers[id.String()] = addr
	}
	leader := ""
	if st.Leader != 0 {
		leader = st.Leader.String()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": st.ID.String(), "leader": leader, "is_leader": st.IsLeader, "ballot": st.Ballot.String(),
		"commit_seq": st.Commit, "applied_seq": st.Applied, "peers": peers,
		"config": st.Config, "roles": st.Roles.Names(), "witness": st.Witness,
	})
}

func (h *httpAPI) kv(w http.ResponseWriter, r *http.Request, escaped string) {
	if !allow(w, r, http.MethodGet, http.MethodPut, http.MethodDelete) {
		return
	}
	key, err := url.PathUnescape(escaped)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "malformed key encoding")
		return
	}
	if key == "" || len(key) > h.cfg.MaxKeyBytes {
		writeError(w, http.StatusBadRequest, "bad_request",
			fmt.Sprintf("key must be 1 to %d bytes, got %d", h.cfg.MaxKeyBytes, len(key)))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.get(ctx, w, r, key)
	case http.MethodPut:
		h.put(ctx, w, r, key)
	case http.MethodDelete:
		h.del(ctx, w, r, key)
	}
}

func (h *httpAPI) get(ctx context.Context, w http.ResponseWriter, r *http.Request, key string) {
	read := h.n.Get
	switch c := r.URL.Query().Get("consistency"); c {
	case "", "linearizable":
	case "stale":
		read = h.n.StaleGet
	default:
		writeError(w, http.StatusBadRequest, "bad_request", "consistency must be linearizable or stale, not "+strconv.Quote(c))
		return
	}
	v, rev, found, err := read(ctx, key)
	if err != nil {
		h.fail(w, err, false)
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, "not_found", "key not found")
		return
	}
	// Spelled as the contract spells it (Set would write "Etag"; header names
	// are case-insensitive, but some clients and scripts compare them as text).
	w.Header()["ETag"] = []string{strconv.Quote(strconv.FormatUint(rev, 10))}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(v)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(v)
	}
}

// condition parses If-Match / If-None-Match.
func condition(r *http.Request) (kv.Cond, error) {
	im, hasIM := r.Header["If-Match"]
	inm, hasINM := r.Header["If-None-Match"]
	switch {
	case hasIM && hasINM:
		return kv.Cond{}, errors.New("If-Match and If-None-Match cannot be combined")
	case hasIM:
		if len(im) != 1 {
			return kv.Cond{}, errors.New("one If-Match value expected")
		}
		v := strings.TrimSpace(im[0])
		if v == "*" {
			return kv.IfExists(), nil
		}
		if len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' {
			return kv.Cond{}, fmt.Errorf("If-Match must be * or a quoted rev like \"12\", got %q", v)
		}
		rev, err := strconv.ParseUint(v[1:len(v)-1], 10, 64)
		if err != nil || rev == 0 {
			return kv.Cond{}, fmt.Errorf("If-Match must be * or a quoted rev like \"12\", got %q", v)
		}
		return kv.IfRev(rev), nil
	case hasINM:
		if len(inm) != 1 || strings.TrimSpace(inm[0]) != "*" {
			return kv.Cond{}, errors.New(`If-None-Match supports only "*"`)
		}
		return kv.IfAbsent(), nil
	}
	return kv.Cond{}, nil
}

func (h *httpAPI) put(ctx context.Context, w http.ResponseWriter, r *http.Request, key string) {
	cond, err := condition(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	body, ok := readBody(w, r, "value", h.cfg.MaxValueBytes)
	if !ok {
		return
	}
	res, err := h.n.Put(ctx, key, body, cond)
	h.writeResult(w, res, err, false)
}

// readBody reads a request body of at most limit bytes; when it cannot, it
// answers 413 (too large) or 400 and reports false. what names the body in
// the error ("value", "transaction").
func readBody(w http.ResponseWriter, r *http.Request, what string, limit int) ([]byte, bool) {
	if r.ContentLength > int64(limit) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("%s of %d bytes exceeds the limit of %d", what, r.ContentLength, limit))
		return nil, false
	}
	var body []byte
	var err error
	if n := r.ContentLength; n >= 0 {
		// The length is known and within the limit: one allocation of
		// exactly that size (ReadAll starts at 512 bytes and grows).
		body = make([]byte, n)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large",
				fmt.Sprintf("%s exceeds the limit of %d bytes", what, limit))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "bad_request", "cannot read the request body: "+err.Error())
		return nil, false
	}
	return body, true
}

func (h *httpAPI) del(ctx context.Context, w http.ResponseWriter, r *http.Request, key string) {
	cond, err := condition(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	res, err := h.n.Delete(ctx, key, cond)
	h.writeResult(w, res, err, true)
}

func (h *httpAPI) writeResult(w http.ResponseWriter, res kv.WriteResult, err error, isDelete bool) {
	if err != nil {
		h.fail(w, err, true)
		return
	}
	switch {
	case res.Err != "":
		writeError(w, http.StatusBadRequest, "bad_request", res.Err)
	case !res.OK:
		writeError(w, http.StatusPreconditionFailed, "precondition_failed",
			fmt.Sprintf("condition failed (the attempt took rev %d; nothing changed)", res.Rev))
	case isDelete:
		writeJSON(w, http.StatusOK, map[string]any{"rev": res.Rev, "deleted": res.Deleted})
	default:
		writeRev(w, res.Rev)
	}
}

// fail maps an API error to the contract's codes: 503 only when the request
// was certainly not proposed, 504 when a write's outcome is unknown.
func (h *httpAPI) fail(w http.ResponseWriter, err error, write bool) {
	switch {
	case errors.Is(err, ErrIndeterminate) && write:
		writeError(w, http.StatusGatewayTimeout, "indeterminate",
			"the write may or may not have been applied: "+err.Error())
	case errors.Is(err, ErrNoLeader):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "no_leader", "no leader: "+err.Error())
	case errors.Is(err, ErrOverloaded), errors.Is(err, ErrStopped), errors.Is(err, ErrIndeterminate):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	case errors.Is(err, ErrWitness):
		// Certainly not proposed: a client with other endpoints moves on.
		writeError(w, http.StatusServiceUnavailable, "witness", err.Error())
	case errors.Is(err, ErrStaleRequest), errors.Is(err, ErrSessionExpired):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

// HTTPServer is a replica's running HTTP API.
type HTTPServer struct {
	srv       *http.Server
	ln        net.Listener
	done      chan error
	drainFrom atomic.Int64 // UnixNano when Drain began; 0: serving
	scheme    string       // http, or https with HTTPConfig.TLS
}

// ListenHTTP serves the replica's HTTP API on addr (host:port; port 0 picks a
// free one). An address in use is an error, not a crash.
func (n *Node) ListenHTTP(addr string, cfg HTTPConfig) (*HTTPServer, error) {
	cfg.setDefaults()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http: listen on %s: %w", addr, err)
	}
	s := &HTTPServer{ln: ln, done: make(chan error, 1), scheme: "http"}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS.config())
		s.scheme = "https"
	}
	h := n.Handler(cfg)
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.drainFrom.Load() != 0 {
				w.Header().Set("Connection", "close")
				if strings.HasPrefix(r.URL.Path, "/v1/") && r.URL.Path != "/v1/status" {
					// Certainly not proposed: the client takes it elsewhere
					// at once, and stops sending here before Close.
					w.Header().Set("Retry-After", "0")
					writeError(w, http.StatusServiceUnavailable, "unavailable", "this replica is stopping; ask another")
					return
				}
			}
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.RequestTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *HTTPServer) Addr() string { return s.ln.Addr().String() }

// URL is the server's base URL.
func (s *HTTPServer) URL() string { return s.scheme + "://" + s.Addr() }

// drainGrace is how long Close answers on with "Connection: close" before
// it closes idle connections.
const drainGrace = 150 * time.Millisecond

// Drain makes the server turn requests away (503 "unavailable", nothing
// proposed; /v1/status, /healthz and /metrics still answer) and close every
// connection after its answer, so that clients move to other replicas
// before Close. A connection the server closes while idle races with a
// client sending on it: a write sent then may or may not have been read,
// and the client can only call its outcome unknown. Requests already in
// progress finish. Close drains too; calling Drain earlier (when a stop
// begins) gives clients longer to move.
func (s *HTTPServer) Drain() { s.drainFrom.CompareAndSwap(0, time.Now().UnixNano()) }

// Close stops accepting requests and waits for those in progress, until ctx
// ends; then it closes what is left. It first drains (Drain) until
// drainGrace has passed since the drain began.
func (s *HTTPServer) Close(ctx context.Context) error {
	s.Drain()
	if left := time.Until(time.Unix(0, s.drainFrom.Load()).Add(drainGrace)); left > 0 {
		t := time.NewTimer(left)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// roleKey carries the caller's role in a request's context (auth on).
type roleKey struct{}

// mayWrite reports whether the caller may write: always without auth.
func (h *httpAPI) mayWrite(r *http.Request) bool {
	if !h.cfg.authOn() {
		return true
	}
	role, _ := r.Context().Value(roleKey{}).(Role)
	return role >= RoleWrite
}
