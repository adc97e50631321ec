package node

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rsml-go/rsml/internal/devcerts"
)

const (
	readToken  = "read-token-0123456789"
	writeToken = "write-token-0123456789"
	adminToken = "admin-token-0123456789"
)

func tokenFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Each role may do what DESIGN.md §4.1 gives it and no more; no or a wrong
// token gets 401, too few rights 403, and a refused request changes
// nothing; /healthz needs nothing.
func TestHTTPAuthRoles(t *testing.T) {
	tc := startCluster(t, 1, Config{})
	n := tc.Node(1)
	toks, err := LoadTokens(tokenFile(t, "# comment\n"+readToken+" read\n"+writeToken+" write  # trailing\n\n"+adminToken+" admin\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := n.Handler(HTTPConfig{Tokens: toks, Pprof: true})
	call := func(method, path, token, body string) (int, string) {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	readTxn := `{"then":[{"op":"get","key":"k"}]}`
	writeTxn := `{"then":[{"op":"put","key":"k","value":"txn"}]}`
	for _, tc := range []struct {
		method, path, body string
		need               Role
	}{
		{"GET", "/healthz", "", RoleNone},
		{"GET", "/v1/status", "", RoleRead},
		{"GET", "/metrics", "", RoleRead},
		{"GET", "/v1/kv/k", "", RoleRead},
		{"GET", "/v1/kv?prefix=k", "", RoleRead},
		{"POST", "/v1/txn", readTxn, RoleRead},
		{"GET", "/v1/members", "", RoleRead},
		{"PUT", "/v1/kv/k", "v", RoleWrite},
		{"DELETE", "/v1/kv/gone", "", RoleWrite},
		{"POST", "/v1/txn", writeTxn, RoleWrite},
		{"POST", "/v1/leader", `{}`, RoleAdmin},
		{"DELETE", "/v1/members/9", "", RoleAdmin},
		{"GET", "/debug/pprof/cmdline", "", RoleAdmin},
	} {
		for _, who := range []struct {
			token string
			role  Role
		}{{"", RoleNone}, {"wrong-token-0123456789", RoleNone}, {readToken, RoleRead}, {writeToken, RoleWrite}, {adminToken, RoleAdmin}} {
			code, body := call(tc.method, tc.path, who.token, tc.body)
			switch {
			case who.role >= tc.need:
				if code == http.StatusUnauthorized || code == http.StatusForbidden {
					t.Errorf("%s %s as %s: %d %s, want it allowed", tc.method, tc.path, who.role, code, body)
				}
			case who.role == RoleNone:
				if code != http.StatusUnauthorized || !strings.Contains(body, `"unauthenticated"`) {
					t.Errorf("%s %s without valid credentials: %d %s, want 401 unauthenticated", tc.method, tc.path, code, body)
				}
			default:
				if code != http.StatusForbidden || !strings.Contains(body, `"forbidden"`) {
					t.Errorf("%s %s as %s: %d %s, want 403 forbidden", tc.method, tc.path, who.role, code, body)
				}
			}
		}
	}
	// The refused writes changed nothing; the allowed ones did.
	ctx := ctxFor(t, 10*time.Second)
	if v, _, found, err := n.Get(ctx, "k"); err != nil || !found || string(v) != "txn" {
		t.Fatalf("k = %q, %v, %v: want the write and admin roles' last write", v, found, err)
	}
}

// Tokens are read strictly: a short token, an unknown role, a line without
// a role, a token twice, or no token at all is an error naming the line,
// and a reload that fails keeps the tokens in use.
func TestTokenFile(t *testing.T) {
	for body, want := range map[string]string{
		"short read\n":        "at least 16",
		readToken + " root\n": `role "root"`,
		readToken + "\n":      "line 1: want TOKEN ROLE",
		readToken + " read\n" + readToken + " write\n": "line 2: the token of line 1 again",
		"# nothing\n\n":                     "no tokens",
		"tok\x01en-0123456789abcdef read\n": "not printable ASCII",
		readToken + " read extra\n":         "line 1: want TOKEN ROLE, got 3",
	} {
		_, err := LoadTokens(tokenFile(t, body))
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", body, err, want)
		}
	}
	p := tokenFile(t, readToken+" read\n")
	toks, err := LoadTokens(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := toks.Reload(); err == nil || toks.role(readToken) != RoleRead {
		t.Fatalf("a failed reload: %v, role %v; want an error and the old tokens", err, toks.role(readToken))
	}
	if err := os.WriteFile(p, []byte(writeToken+" write\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := toks.Reload(); err != nil || toks.role(readToken) != RoleNone || toks.role(writeToken) != RoleWrite {
		t.Fatalf("a reload: %v; the old token %v, the new %v", err, toks.role(readToken), toks.role(writeToken))
	}
}

// FuzzTokens: no file crashes the parser, and a parsed file gives each of
// its tokens the role it names.
func FuzzTokens(f *testing.F) {
	f.Add([]byte(readToken + " read\n" + adminToken + " admin # x\n"))
	f.Add([]byte("#\n\n \t" + writeToken + "\twrite\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := parseTokens(b)
		if err != nil {
			return
		}
		toks := &Tokens{}
		toks.cur.Store(set)
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			if fl := strings.Fields(line); len(fl) == 2 {
				if want, _ := ParseRole(fl[1]); toks.role(fl[0]) != want {
					t.Fatalf("token %q: role %v, want %v", fl[0], toks.role(fl[0]), want)
				}
			}
		}
	})
}

// FuzzBearer: no header crashes the parser, and what it returns is the
// header's token.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc ", "Basic abc", "Bearer", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", h)
		tok, ok := bearer(r)
		if ok && !strings.Contains(r.Header.Get("Authorization"), tok) {
			t.Fatalf("header %q gave token %q", h, tok)
		}
	})
}

// Over HTTPS with a client CA: a client certificate from it is admin, one
// from another CA or the peer CA is refused, none at all gets 401, a token
// still works, and /healthz needs nothing.
func TestHTTPSClientCertificates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	if err := devcerts.WriteDir(dir, 1, nil); err != nil {
		t.Fatal(err)
	}
	other, err := devcerts.NewCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	oc, ok, err := other.Issue(devcerts.Leaf{Name: "intruder", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	ctls, err := LoadClientTLS(filepath.Join(dir, "replica-1.crt"), filepath.Join(dir, "replica-1.key"), filepath.Join(dir, "client-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	toks, err := LoadTokens(tokenFile(t, readToken+" read\n"))
	if err != nil {
		t.Fatal(err)
	}
	tc := startCluster(t, 1, Config{})
	srv, err := tc.Node(1).ListenHTTP("127.0.0.1:0", HTTPConfig{TLS: ctls, Tokens: toks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(ctxFor(t, 5*time.Second)) })
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("URL %s", srv.URL())
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	clientFor := func(certPEM, keyPEM []byte) *http.Client {
		cfg := &tls.Config{RootCAs: roots}
		if certPEM != nil {
			c, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			// Present it whatever CAs the server names (Go's client would
			// keep back one the server does not list).
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	}
	readFile := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	put := func(c *http.Client, token string) (int, error) {
		req, _ := http.NewRequest("PUT", srv.URL()+"/v1/kv/k", bytes.NewReader([]byte("v")))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if code, err := put(clientFor(readFile("client.crt"), readFile("client.key")), ""); err != nil || code != 200 {
		t.Fatalf("PUT with a client certificate of the client CA: %d, %v", code, err)
	}
	if code, err := put(clientFor(nil, nil), ""); err != nil || code != 401 {
		t.Fatalf("PUT without credentials: %d, %v; want 401", code, err)
	}
	if code, err := put(clientFor(nil, nil), readToken); err != nil || code != 403 {
		t.Fatalf("PUT with a read token: %d, %v; want 403", code, err)
	}
	if code, err := put(clientFor(oc, ok), ""); err == nil && code != 401 {
		t.Fatalf("PUT with a certificate of another CA: %d, want it refused", code)
	}
	// A replica certificate (peer CA) is no client certificate.
	if code, err := put(clientFor(readFile("replica-1.crt"), readFile("replica-1.key")), ""); err == nil && code != 401 {
		t.Fatalf("PUT with a replica's certificate: %d, want it refused", code)
	}
	// A certificate of the client CA that has expired, or one made for
	// servers only, is no admin either.
	ca2 := mustCA(t, dir)
	for _, l := range []devcerts.Leaf{
		{Name: "old", Client: true, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)},
		{Name: "server-only", Server: true, Hosts: devcerts.LocalHosts},
	} {
		c, k, err := ca2.Issue(l)
		if err != nil {
			t.Fatal(err)
		}
		if code, err := put(clientFor(c, k), ""); err == nil && code != 401 {
			t.Fatalf("PUT with the certificate %s of the client CA: %d, want it refused", l.Name, code)
		}
	}
	resp, err := clientFor(nil, nil).Get(srv.URL() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /healthz over HTTPS without credentials: %v, %v", resp, err)
	}
	var doc map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
}

// mustCA loads the client CA that devcerts.WriteDir wrote into dir, so that
// a test can issue more certificates from it.
func mustCA(t *testing.T, dir string) *devcerts.CA {
	t.Helper()
	ca, err := devcerts.LoadCA(filepath.Join(dir, "client-ca.crt"), filepath.Join(dir, "client-ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// A made-up method is counted as "other": one series per method would let
// anyone grow the metrics without end.
func TestHTTPMethodLabelsAreBounded(t *testing.T) {
	tc := startCluster(t, 1, Config{})
	h := tc.Node(1).Handler(HTTPConfig{})
	for _, m := range []string{"BREW", "SPAM1", "SPAM2"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(m, "/v1/kv/k", nil))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	if strings.Contains(body, "BREW") || strings.Contains(body, "SPAM") || !strings.Contains(body, `method="other"`) {
		t.Fatalf("made-up methods in /metrics, or no \"other\":\n%s", body)
	}
}
