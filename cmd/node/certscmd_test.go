package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// certs writes the files DESIGN.md §4.1 names, a replica's certificate
// chains to ca.crt and the client's to client-ca.crt only, and it refuses
// to overwrite a CA or to run without --dir.
func TestCertsCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	var out, errb bytes.Buffer
	if code := run([]string{"certs", "--dir", dir, "--replicas", "2", "--hosts", "db.example,10.0.0.7"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	pool := func(name string) *x509.CertPool {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(b) {
			t.Fatalf("%s holds no certificate", name)
		}
		return p
	}
	leaf := func(name string) *x509.Certificate {
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf
	}
	peers, clients := pool("ca.crt"), pool("client-ca.crt")
	r2 := leaf("replica-2")
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "db.example", "10.0.0.7"} {
		if _, err := r2.Verify(x509.VerifyOptions{Roots: peers, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("replica-2 for %s: %v", host, err)
		}
	}
	cl := leaf("client")
	if _, err := cl.Verify(x509.VerifyOptions{Roots: clients, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client against client-ca.crt: %v", err)
	}
	if _, err := cl.Verify(x509.VerifyOptions{Roots: peers, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("the client certificate passes for a replica's")
	}
	if st, err := os.Stat(filepath.Join(dir, "replica-1.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("replica-1.key: %v, %v; want mode 0600", st.Mode(), err)
	}
	errb.Reset()
	if code := run([]string{"certs", "--dir", dir}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "already holds a ca.crt") {
		t.Errorf("a second run on the same directory: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"certs"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--dir is required") {
		t.Errorf("no --dir: exit %d, %q", code, errb.String())
	}
}
