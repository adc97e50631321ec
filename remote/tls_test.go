package remote

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rsml-go/rsml/internal/devcerts"
)

// tlsFiles writes a certificate and key issued by ca for l, and ca's
// certificate, into dir under name; it returns the three paths.
func tlsFiles(t *testing.T, dir, name string, ca *devcerts.CA, l devcerts.Leaf) (cert, key, caFile string) {
	t.Helper()
	c, k, err := ca.Issue(l)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, caFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), filepath.Join(dir, name+"-ca.crt")
	for f, b := range map[string][]byte{cert: c, key: k, caFile: ca.CertPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key, caFile
}

func newCA(t *testing.T, name string) *devcerts.CA {
	t.Helper()
	ca, err := devcerts.NewCA(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func peerTLS(t *testing.T, dir, name string, ca *devcerts.CA, l devcerts.Leaf) *PeerTLS {
	t.Helper()
	p, err := LoadPeerTLS(tlsFiles(t, dir, name, ca, l))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func replicaLeaf(name string) devcerts.Leaf {
	return devcerts.Leaf{Name: name, Hosts: devcerts.LocalHosts, Server: true, Client: true}
}

// handshake runs one TLS handshake over loopback: server with srv, client
// with cli (nil: the client speaks plaintext, as a replica without TLS
// would). It returns each side's error.
func handshake(t *testing.T, srv *PeerTLS, cli *PeerTLS) (serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		done <- tls.Server(c, srv.serverConfig()).Handshake()
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	if cli == nil {
		// gRPC's plaintext preface, then hang up: the server must refuse it.
		_, _ = raw.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
		serverErr = <-done
		return serverErr, nil
	}
	cfg := cli.clientConfig()
	cfg.ServerName = "127.0.0.1" // what gRPC sets from the address dialed
	// Present the certificate whatever CAs the server names: Go's client
	// would otherwise keep back one the server does not trust, and the
	// server's check would go untested.
	own := cfg.Certificates[0]
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &own, nil }
	c := tls.Client(raw, cfg)
	clientErr = c.Handshake()
	if clientErr == nil {
		// TLS 1.3: the server checks the client's certificate after the
		// client's handshake returns; a read sees its verdict.
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Read(make([]byte, 1))
	}
	_ = c.Close()
	serverErr = <-done
	return serverErr, clientErr
}

// Mutual TLS between replicas accepts only a peer with a certificate from
// the cluster CA, valid now, for the address dialed, and never plaintext.
func TestPeerTLSAcceptsOnlyTheClusterCA(t *testing.T) {
	dir := t.TempDir()
	ca, other := newCA(t, "cluster"), newCA(t, "other")
	r1 := peerTLS(t, dir, "r1", ca, replicaLeaf("replica-1"))
	r2 := peerTLS(t, dir, "r2", ca, replicaLeaf("replica-2"))
	if s, c := handshake(t, r1, r2); s != nil || c != nil {
		t.Fatalf("two replicas of the cluster: server %v, client %v", s, c)
	}

	// A client from another CA that trusts ours: only the server can
	// refuse it.
	fc, fk, _ := tlsFiles(t, dir, "foreign", other, replicaLeaf("replica-9"))
	_, _, ours := tlsFiles(t, dir, "ours", ca, replicaLeaf("replica-8"))
	foreign, err := LoadPeerTLS(fc, fk, ours)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		srv, cli   *PeerTLS
		wantServer bool // the server refuses (else the client does)
	}{
		{"plaintext peer", r1, nil, true},
		{"client from another CA", r1, foreign, true},
		{"expired client", r1, peerTLS(t, dir, "expired", ca, devcerts.Leaf{Name: "replica-3", Hosts: devcerts.LocalHosts,
			Server: true, Client: true, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}), true},
		{"client certificate not for clients", r1, peerTLS(t, dir, "serveronly", ca, devcerts.Leaf{Name: "replica-4",
			Hosts: devcerts.LocalHosts, Server: true}), true},
		{"server from another CA", peerTLS(t, dir, "foreign-srv", other, replicaLeaf("replica-9")), r2, false},
		{"server for another host", peerTLS(t, dir, "elsewhere", ca, devcerts.Leaf{Name: "replica-5",
			Hosts: []string{"db.example"}, Server: true, Client: true}), r2, false},
	} {
		s, c := handshake(t, tc.srv, tc.cli)
		switch {
		case tc.wantServer && s == nil:
			t.Errorf("%s: the server accepted it", tc.name)
		case !tc.wantServer && c == nil:
			t.Errorf("%s: the client accepted it", tc.name)
		}
	}
}

// Reload swaps the material for the connections made after it, and a
// failed reload keeps the material in use.
func TestPeerTLSReload(t *testing.T) {
	dir := t.TempDir()
	ca, next := newCA(t, "cluster"), newCA(t, "next")
	cert, key, caFile := tlsFiles(t, dir, "r1", ca, replicaLeaf("replica-1"))
	r1, err := LoadPeerTLS(cert, key, caFile)
	if err != nil {
		t.Fatal(err)
	}
	old := peerTLS(t, dir, "r2", ca, replicaLeaf("replica-2"))
	fresh := peerTLS(t, dir, "r3", next, replicaLeaf("replica-3"))
	if s, _ := handshake(t, r1, fresh); s == nil {
		t.Fatal("a peer of the next CA accepted before the reload")
	}
	// The files move to the next CA.
	tlsFiles(t, dir, "r1", next, replicaLeaf("replica-1"))
	if err := r1.Reload(); err != nil {
		t.Fatal(err)
	}
	if s, c := handshake(t, r1, fresh); s != nil || c != nil {
		t.Fatalf("a peer of the next CA after the reload: server %v, client %v", s, c)
	}
	if s, _ := handshake(t, r1, old); s == nil {
		t.Fatal("a peer of the old CA still accepted after the reload")
	}
	if err := os.WriteFile(caFile, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r1.Reload(); !errors.Is(err, ErrTLS) {
		t.Fatalf("reload of a damaged CA file: %v, want ErrTLS", err)
	}
	if s, c := handshake(t, r1, fresh); s != nil || c != nil {
		t.Fatalf("after a failed reload: server %v, client %v (the material in use should stay)", s, c)
	}
}

func TestLoadPeerTLSErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "cluster")
	cert, key, caFile := tlsFiles(t, dir, "r1", ca, replicaLeaf("replica-1"))
	for _, tc := range [][3]string{
		{filepath.Join(dir, "missing.crt"), key, caFile},
		{cert, filepath.Join(dir, "missing.key"), caFile},
		{cert, key, filepath.Join(dir, "missing-ca.crt")},
		{cert, key, cert + "x"},
		{key, cert, caFile},
	} {
		if _, err := LoadPeerTLS(tc[0], tc[1], tc[2]); !errors.Is(err, ErrTLS) {
			t.Errorf("LoadPeerTLS(%v): %v, want ErrTLS", tc, err)
		}
	}
}

// A connection refused at the handshake is counted and reported, never
// dropped silently.
func TestPeerTLSCountsRefusals(t *testing.T) {
	r1 := peerTLS(t, t.TempDir(), "r1", newCA(t, "cluster"), replicaLeaf("replica-1"))
	var told []string
	r1.OnRefused(func(remote string, err error) { told = append(told, remote) })
	srv, cli := net.Pipe()
	go func() {
		_, _ = cli.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
		_ = cli.Close()
	}()
	if _, _, err := (peerCreds{r1}).ServerHandshake(srv); err == nil {
		t.Fatal("a plaintext peer passed the handshake")
	}
	if r1.Refused() != 1 || len(told) != 1 {
		t.Fatalf("refused %d, told %v; want one of each", r1.Refused(), told)
	}
}
