package node

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
)

// Role is what a client may do through the HTTP API (DESIGN.md §4.1): read
// (GET, prefix listings, read-only transactions, status and metrics),
// write (also everything else of the KV API), admin (also membership,
// leadership transfer and profiles). Each includes the ones before it.
type Role uint8

// The roles, in increasing rights. RoleNone is an unauthenticated caller.
const (
	RoleNone Role = iota
	RoleRead
	RoleWrite
	RoleAdmin
)

// String returns the role's name as the token file spells it.
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// ErrAuth is wrapped by every error about credentials files.
var ErrAuth = errors.New("node: auth")

// Tokens are the bearer tokens the HTTP API accepts, each with a role,
// read from a file of "TOKEN ROLE" lines ('#' starts a comment). Reload
// swaps them for the requests that follow. Tokens are kept as SHA-256
// digests and compared in constant time, and never logged.
type Tokens struct {
	file string
	cur  atomic.Pointer[tokenSet]
}

type tokenSet struct {
	digests [][sha256.Size]byte
	roles   []Role
}

// LoadTokens reads a token file.
func LoadTokens(file string) (*Tokens, error) {
	t := &Tokens{file: file}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload reads the file again; on an error the tokens in use stay.
func (t *Tokens) Reload() error {
	b, err := os.ReadFile(t.file)
	if err != nil {
		return fmt.Errorf("%w: token file: %w", ErrAuth, err)
	}
	set, err := parseTokens(b)
	if err != nil {
		return fmt.Errorf("%w: token file %s: %w", ErrAuth, t.file, err)
	}
	t.cur.Store(set)
	return nil
}

// Len is how many tokens are in use.
func (t *Tokens) Len() int { return len(t.cur.Load().roles) }

// parseTokens reads "TOKEN ROLE" lines. A token is at least 16 bytes of
// printable ASCII without spaces; a token given twice is an error (which
// role would win is a guess), and so is an empty file.
func parseTokens(b []byte) (*tokenSet, error) {
	set := &tokenSet{}
	seen := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want TOKEN ROLE, got %d fields", n, len(f))
		}
		tok, role := f[0], f[1]
		if len(tok) < 16 {
			return nil, fmt.Errorf("line %d: a token of %d bytes: at least 16", n, len(tok))
		}
		for _, c := range []byte(tok) {
			if c < 0x21 || c > 0x7e {
				return nil, fmt.Errorf("line %d: a token holds a byte that is not printable ASCII", n)
			}
		}
		r, err := ParseRole(role)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		d := sha256.Sum256([]byte(tok))
		if prev, dup := seen[d]; dup {
			return nil, fmt.Errorf("line %d: the token of line %d again", n, prev)
		}
		seen[d] = n
		set.digests = append(set.digests, d)
		set.roles = append(set.roles, r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(set.roles) == 0 {
		return nil, errors.New("no tokens: every client would be refused")
	}
	return set, nil
}

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	switch s {
	case "read":
		return RoleRead, nil
	case "write":
		return RoleWrite, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("role %q: want read, write or admin", s)
}

// role returns the role of token, RoleNone for an unknown one. Every
// stored digest is compared, in constant time, so the time taken says
// nothing about which tokens exist.
func (t *Tokens) role(token string) Role {
	d := sha256.Sum256([]byte(token))
	set := t.cur.Load()
	found := RoleNone
	for i := range set.digests {
		if subtle.ConstantTimeCompare(d[:], set.digests[i][:]) == 1 {
			found = set.roles[i]
		}
	}
	return found
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// ClientTLS is the HTTPS material of the HTTP API: the replica's
// certificate and key and, optionally, the client CA whose certificates
// authenticate clients as admin. Reload swaps them for the connections
// that follow.
type ClientTLS struct {
	certFile, keyFile, caFile string
	cur                       atomic.Pointer[clientMaterial]
}

type clientMaterial struct {
	cert tls.Certificate
	pool *x509.CertPool // nil: no client certificates
}

// LoadClientTLS reads the HTTPS certificate and key, and the client CA
// (caFile "": clients authenticate by token only, if at all).
func LoadClientTLS(certFile, keyFile, caFile string) (*ClientTLS, error) {
	c := &ClientTLS{certFile: certFile, keyFile: keyFile, caFile: caFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again; on an error the material in use stays.
func (c *ClientTLS) Reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("%w: HTTPS certificate %s and key %s: %w", ErrAuth, c.certFile, c.keyFile, err)
	}
	m := &clientMaterial{cert: cert}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return fmt.Errorf("%w: client CA: %w", ErrAuth, err)
		}
		m.pool = x509.NewCertPool()
		if !m.pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%w: client CA %s holds no PEM certificate", ErrAuth, c.caFile)
		}
	}
	c.cur.Store(m)
	return nil
}

// verifyClient reports whether chain (leaf first) chains to the client CA
// in use, for client use, now.
func (c *ClientTLS) verifyClient(chain []*x509.Certificate) bool {
	m := c.cur.Load()
	if m.pool == nil {
		return false
	}
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: m.pool, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}

// ClientCA reports whether client certificates authenticate.
func (c *ClientTLS) ClientCA() bool { return c.caFile != "" }

// config serves HTTPS with the material in use at each handshake, and
// asks for a client certificate, checked against the client CA, when
// there is one (a client may still come with a token instead).
func (c *ClientTLS) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := c.cur.Load()
			cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{m.cert}}
			if m.pool != nil {
				cfg.ClientAuth, cfg.ClientCAs = tls.VerifyClientCertIfGiven, m.pool
			}
			return cfg, nil
		},
	}
}

// authorize returns the caller's role: admin for a client certificate
// that chains to the client CA in use now, a token's role, else RoleNone.
// badToken says a token was given and is unknown.
//
// The certificate is checked here, on every request, against the current
// CA and clock, not taken from the handshake: a kept-alive connection
// outlives a CA rotation or the certificate's expiry, and a host that
// mounts Handler behind its own TLS server may trust other CAs.
func (h *httpAPI) authorize(r *http.Request) (role Role, badToken bool) {
	if h.cfg.TLS != nil && h.cfg.TLS.ClientCA() && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 &&
		h.cfg.TLS.verifyClient(r.TLS.PeerCertificates) {
		return RoleAdmin, false
	}
	if tok, ok := bearer(r); ok && h.cfg.Tokens != nil {
		role := h.cfg.Tokens.role(tok)
		return role, role == RoleNone
	}
	return RoleNone, false
}

// needs returns the role a request needs; a transaction that writes is
// checked again once its body is read (txnNeedsWrite).
func needs(r *http.Request, path string) Role {
	switch {
	case path == "/healthz":
		return RoleNone
	case strings.HasPrefix(path, "/debug/pprof/"), path == "/v1/leader":
		return RoleAdmin
	case path == "/v1/members" || strings.HasPrefix(path, membersPrefix):
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return RoleRead
		}
		return RoleAdmin
	case strings.HasPrefix(path, kvPrefix) || path == "/v1/kv":
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return RoleRead
		}
		return RoleWrite
	}
	return RoleRead // status, metrics, transactions (writes checked later), unknown paths
}
