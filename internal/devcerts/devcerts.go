// Package devcerts makes a certificate authority and certificates for
// development clusters and tests (rsml-node certs, dev --tls): standard
// library crypto only, ECDSA P-256 keys, PEM files. Production clusters
// should use their own PKI; these keys sit unencrypted on disk.
package devcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority that can issue certificates.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CertPEM and KeyPEM are the CA's certificate and key, PEM-encoded.
	CertPEM, KeyPEM []byte
}

// NewCA makes a self-signed CA named name, valid from an hour ago (clocks
// drift) for validity.
func NewCA(name string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devcerts: CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"rsml development"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("devcerts: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devcerts: CA certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: keyPEM}, nil
}

// LoadCA reads a CA that NewCA made and WriteDir wrote (certificate and
// key, PEM), to issue more certificates from it.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("devcerts: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("devcerts: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("devcerts: not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devcerts: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("devcerts: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("devcerts: not an ECDSA key")
	}
	return &CA{Cert: cert, key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// Leaf says what a certificate is for.
type Leaf struct {
	// Name is the subject's common name: a replica's or a client's name.
	Name string
	// Hosts are the DNS names and IP addresses it serves under (server
	// certificates; a replica's is both).
	Hosts []string
	// Server and Client give the certificate those extended key usages.
	Server, Client bool
	// NotBefore and NotAfter bound its validity (zero: an hour ago, and a
	// year from now).
	NotBefore, NotAfter time.Time
}

// Issue makes a certificate for l signed by the CA, and its key, both PEM.
func (ca *CA) Issue(l Leaf) (certPEM, keyPEM []byte, err error) {
	if !l.Server && !l.Client {
		return nil, nil, errors.New("devcerts: a certificate for neither server nor client")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("devcerts: key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	if l.NotBefore.IsZero() {
		l.NotBefore = now.Add(-time.Hour)
	}
	if l.NotAfter.IsZero() {
		l.NotAfter = now.Add(365 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: l.Name, Organization: []string{"rsml development"}},
		NotBefore:    l.NotBefore,
		NotAfter:     l.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if l.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if l.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	for _, h := range l.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("devcerts: certificate for %s: %w", l.Name, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// LocalHosts are the names every development certificate serves under.
var LocalHosts = []string{"localhost", "127.0.0.1", "::1"}

// WriteDir writes into dir (DESIGN.md §4.1): a peer CA (ca.crt, ca.key);
// certificates for replicas 1..replicas signed by it, each for server and
// client use under LocalHosts and hosts (replica-I.crt, replica-I.key); a
// client CA apart from it (client-ca.crt, client-ca.key), so that a client
// certificate never passes for a replica's; and one client certificate
// signed by that (client.crt, client.key). Keys are written 0600. It refuses
// a directory that already holds a ca.crt: certificates signed by the old
// CA would stop being trusted.
func WriteDir(dir string, replicas int, hosts []string) error {
	if replicas < 1 {
		return fmt.Errorf("devcerts: %d replicas, at least 1", replicas)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("devcerts: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.crt")); err == nil {
		return fmt.Errorf("devcerts: %s already holds a ca.crt: remove it or choose another directory", dir)
	}
	const tenYears = 10 * 365 * 24 * time.Hour
	peerCA, err := NewCA("rsml development peer CA", tenYears)
	if err != nil {
		return err
	}
	clientCA, err := NewCA("rsml development client CA", tenYears)
	if err != nil {
		return err
	}
	type file struct {
		name string
		data []byte
		key  bool
	}
	files := []file{{"ca.crt", peerCA.CertPEM, false}, {"ca.key", peerCA.KeyPEM, true},
		{"client-ca.crt", clientCA.CertPEM, false}, {"client-ca.key", clientCA.KeyPEM, true}}
	all := append(append([]string{}, LocalHosts...), hosts...)
	for i := 1; i <= replicas; i++ {
		c, k, err := peerCA.Issue(Leaf{Name: fmt.Sprintf("replica-%d", i), Hosts: all, Server: true, Client: true})
		if err != nil {
			return err
		}
		files = append(files, file{fmt.Sprintf("replica-%d.crt", i), c, false}, file{fmt.Sprintf("replica-%d.key", i), k, true})
	}
	c, k, err := clientCA.Issue(Leaf{Name: "client", Client: true})
	if err != nil {
		return err
	}
	files = append(files, file{"client.crt", c, false}, file{"client.key", k, true})
	for _, f := range files {
		mode := os.FileMode(0o644)
		if f.key {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, mode); err != nil {
			return fmt.Errorf("devcerts: %w", err)
		}
	}
	return nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("devcerts: key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("devcerts: serial number: %w", err)
	}
	return n, nil
}
