package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rsml-go/rsml/internal/devcerts"
	"github.com/rsml-go/rsml/node"
)

// devTLS is what dev --tls serves with: each replica's HTTPS material (its
// certificate from the development CA, the client CA), and the tokens.
type devTLS struct {
	dir               string
	https             []*node.ClientTLS
	tokens            *node.Tokens
	adminTok, readTok string
}

// setUpDevTLS makes (or reuses) the certificates and the token file in dir
// ("-": a new temporary directory) for n replicas.
func setUpDevTLS(dir string, n int) (*devTLS, error) {
	if dir == "-" {
		d, err := os.MkdirTemp("", "rsml-dev-tls-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.crt")); errors.Is(err, os.ErrNotExist) {
		if err := devcerts.WriteDir(dir, n, nil); err != nil {
			return nil, err
		}
	}
	dt := &devTLS{dir: dir}
	tokFile := filepath.Join(dir, "tokens")
	if _, err := os.Stat(tokFile); errors.Is(err, os.ErrNotExist) {
		dt.adminTok, dt.readTok = "admin-"+randomHex(16), "read-"+randomHex(16)
		body := fmt.Sprintf("# rsml-node dev --tls: TOKEN ROLE\n%s admin\n%s read\n", dt.adminTok, dt.readTok)
		if err := os.WriteFile(tokFile, []byte(body), 0o600); err != nil {
			return nil, err
		}
	}
	var err error
	if dt.tokens, err = node.LoadTokens(tokFile); err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		c, err := node.LoadClientTLS(filepath.Join(dir, fmt.Sprintf("replica-%d.crt", i)),
			filepath.Join(dir, fmt.Sprintf("replica-%d.key", i)), filepath.Join(dir, "client-ca.crt"))
		if err != nil {
			return nil, fmt.Errorf("%w (a directory made for fewer replicas? give another --tls-dir)", err)
		}
		dt.https = append(dt.https, c)
	}
	return dt, nil
}

// explain prints where the files are and the commands that work.
func (dt *devTLS) explain(w io.Writer, url string) {
	f := func(name string) string { return filepath.Join(dt.dir, name) }
	fmt.Fprintf(w, "TLS files and tokens: %s (HTTPS; every request but /healthz needs a token or a client certificate)\n", dt.dir)
	tok := dt.adminTok
	if tok == "" {
		tok = "TOKEN"
		fmt.Fprintf(w, "tokens: %s (reused)\n", f("tokens"))
	}
	fmt.Fprintf(w, "  curl --cacert %s -H 'Authorization: Bearer %s' %s/v1/status\n", f("ca.crt"), tok, url)
	fmt.Fprintf(w, "  curl --cacert %s --cert %s --key %s -X PUT --data-binary world %s/v1/kv/hello\n", f("ca.crt"), f("client.crt"), f("client.key"), url)
	fmt.Fprintf(w, "  rsml-node kv get hello --endpoints %s --cacert %s --token %s\n", url, f("ca.crt"), tok)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the system's randomness is gone
	}
	return hex.EncodeToString(b)
}
