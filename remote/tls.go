package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"
)

// PeerTLS is the material of mutual TLS between replicas: this replica's
// certificate and key, and the cluster's peer CA. A replica started with it
// (WithTLS) accepts only peers whose certificate chains to the CA, dials
// only with its own certificate, and checks the peer it dialed against the
// CA and the address it dialed: it never speaks plaintext. Reload swaps the
// material; connections made after it use the new one, and those already
// open keep theirs.
type PeerTLS struct {
	certFile, keyFile, caFile string
	cur                       atomic.Pointer[peerMaterial]
	refused                   atomic.Uint64
	onRefused                 atomic.Pointer[func(remote string, err error)]
}

// Refused counts the connections refused at the TLS handshake (a plaintext
// peer, a certificate the CA does not vouch for, an expired one).
func (p *PeerTLS) Refused() uint64 { return p.refused.Load() }

// OnRefused has f told of each connection refused at the handshake, so
// that nothing is refused silently (the replica logs it).
func (p *PeerTLS) OnRefused(f func(remote string, err error)) { p.onRefused.Store(&f) }

type peerMaterial struct {
	cert tls.Certificate
	pool *x509.CertPool
}

// ErrTLS is wrapped by every error LoadPeerTLS and Reload return.
var ErrTLS = errors.New("remote: tls")

// LoadPeerTLS reads a replica's certificate and key (PEM) and the peer CA's
// certificates (PEM, one or more).
func LoadPeerTLS(certFile, keyFile, caFile string) (*PeerTLS, error) {
	p := &PeerTLS{certFile: certFile, keyFile: keyFile, caFile: caFile}
	if err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload reads the files again. On an error the material in use stays.
func (p *PeerTLS) Reload() error {
	cert, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		return fmt.Errorf("%w: peer certificate %s and key %s: %w", ErrTLS, p.certFile, p.keyFile, err)
	}
	if cert.Leaf == nil || len(cert.Certificate) == 0 {
		return fmt.Errorf("%w: peer certificate %s holds no certificate", ErrTLS, p.certFile)
	}
	pem, err := os.ReadFile(p.caFile)
	if err != nil {
		return fmt.Errorf("%w: peer CA: %w", ErrTLS, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%w: peer CA %s holds no PEM certificate", ErrTLS, p.caFile)
	}
	p.cur.Store(&peerMaterial{cert: cert, pool: pool})
	return nil
}

// NotAfter is when the certificate in use stops being valid.
func (p *PeerTLS) NotAfter() time.Time { return p.cur.Load().cert.Leaf.NotAfter }

// serverConfig accepts a connection only from a peer with a certificate,
// for client use, that chains to the CA in use now.
func (p *PeerTLS) serverConfig() *tls.Config {
	m := p.cur.Load()
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{m.cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    m.pool,
	}
}

// clientConfig dials with our certificate and accepts a server whose
// certificate chains to the CA in use now (crypto/tls checks it, and the
// name: gRPC sets ServerName to the host dialed).
func (p *PeerTLS) clientConfig() *tls.Config {
	m := p.cur.Load()
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{m.cert},
		RootCAs:      m.pool,
	}
}

// peerCreds are gRPC transport credentials that take the material in use
// at each handshake: credentials.NewTLS would keep the configuration it was
// made with, and Reload could not change the CA.
type peerCreds struct{ p *PeerTLS }

func (c peerCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(c.p.clientConfig()).ClientHandshake(ctx, authority, raw)
}

func (c peerCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := credentials.NewTLS(c.p.serverConfig()).ServerHandshake(raw)
	if err != nil {
		c.p.refused.Add(1)
		if f := c.p.onRefused.Load(); f != nil {
			(*f)(raw.RemoteAddr().String(), err)
		}
	}
	return conn, info, err
}

func (c peerCreds) Info() credentials.ProtocolInfo {
	return credentials.NewTLS(c.p.clientConfig()).Info()
}

func (c peerCreds) Clone() credentials.TransportCredentials { return c }

// OverrideServerName is gRPC's deprecated hook; the name is the host dialed.
func (c peerCreds) OverrideServerName(string) error { return nil }

// WithTLS makes remoting mutual TLS with p's material (see PeerTLS).
func WithTLS(p *PeerTLS) TCPOption {
	return func(c *tcpConfig) { c.tls = p }
}
