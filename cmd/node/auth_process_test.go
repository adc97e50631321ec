package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rsml-go/rsml/client"
)

// A secured cluster of processes: mutual TLS between replicas, HTTPS, bearer
// tokens and client certificates. The client commands and the client
// package take the same credentials; no credentials get 401, a read token
// writing gets 403 and changes nothing, a client certificate is admin, and
// SIGHUP swaps the token file without a restart.
func TestProcessSecuredCluster(t *testing.T) {
	bin := buildBinary(t)
	root := t.TempDir()
	certs := filepath.Join(root, "certs")
	if code := run([]string{"certs", "--dir", certs, "--replicas", "4"}, nil, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("certs: exit %d", code)
	}
	const readTok, writeTok, newWriteTok = "read-token-0123456789", "write-token-0123456789", "rotated-token-0123456789"
	tokens := filepath.Join(root, "tokens")
	if err := os.WriteFile(tokens, []byte(readTok+" read\n"+writeTok+" write\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cons, https := freePorts(t, 3), freePorts(t, 3)
	peers := fmt.Sprintf("1=%s,2=%s,3=%s", cons[0], cons[1], cons[2])
	var procs []*proc
	var urls []string
	for i := 1; i <= 3; i++ {
		c := func(n string) string { return filepath.Join(certs, n) }
		p := startProc(t, bin, i, peers, https[i-1], filepath.Join(root, fmt.Sprint("data-", i)),
			"--peer-cert", c(fmt.Sprintf("replica-%d.crt", i)), "--peer-key", c(fmt.Sprintf("replica-%d.key", i)), "--peer-ca", c("ca.crt"),
			"--client-cert", c(fmt.Sprintf("replica-%d.crt", i)), "--client-key", c(fmt.Sprintf("replica-%d.key", i)),
			"--client-ca", c("client-ca.crt"), "--auth-tokens", tokens)
		procs = append(procs, p)
		urls = append(urls, "https://"+https[i-1])
	}
	eps := strings.Join(urls, ",")
	cacert := filepath.Join(certs, "ca.crt")
	cli := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(append(args, "--endpoints", eps, "--cacert", cacert, "--timeout", "20s"), nil, &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := cli("kv", "put", "k", "v1", "--token", writeTok); code != 0 {
		t.Fatalf("kv put with a write token: exit %d: %s", code, out)
	}
	if code, out := cli("kv", "put", "k", "v2", "--token", readTok); code == 0 || !strings.Contains(out, "forbidden") {
		t.Fatalf("kv put with a read token: exit %d: %s; want it refused as forbidden", code, out)
	}
	if code, out := cli("kv", "get", "k", "--token", readTok); code != 0 || !strings.Contains(out, "v1") {
		t.Fatalf("kv get with a read token: exit %d: %s; want v1", code, out)
	}
	if code, out := cli("kv", "get", "k"); code == 0 || !strings.Contains(out, "unauthenticated") {
		t.Fatalf("kv get without credentials: exit %d: %s; want unauthenticated", code, out)
	}
	if code, out := cli("member", "list", "--cert", filepath.Join(certs, "client.crt"), "--key", filepath.Join(certs, "client.key")); code != 0 {
		t.Fatalf("member list with a client certificate: exit %d: %s", code, out)
	}

	// Plain HTTP to an HTTPS port gets nothing it can use; /healthz over
	// HTTPS needs no credentials.
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(cacert)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + https[0] + "/v1/kv/k"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP to the HTTPS port: %d", resp.StatusCode)
		}
	}
	resp, err := hc.Get(urls[0] + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /healthz over HTTPS: %v %v", resp, err)
	}
	resp.Body.Close()

	// Rotate the tokens: the old write token stops working, the new one works.
	if err := os.WriteFile(tokens, []byte(readTok+" read\n"+newWriteTok+" write\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	tlsCfg, err := client.LoadTLS(cacert, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	old, err := client.New(urls, client.WithTLS(tlsCfg), client.WithToken(writeTok))
	if err != nil {
		t.Fatal(err)
	}
	defer old.CloseIdleConnections()
	waitUntil(t, "the old write token to be refused on every replica", func() bool {
		for _, u := range urls {
			c, err := client.New([]string{u}, client.WithTLS(tlsCfg), client.WithToken(writeTok), client.WithEndpointsInOrder())
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = c.Get(ctx, "k")
			c.CloseIdleConnections()
			if !errors.Is(err, client.ErrUnauthenticated) {
				return false
			}
		}
		return true
	})
	fresh, err := client.New(urls, client.WithTLS(tlsCfg), client.WithToken(newWriteTok))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.CloseIdleConnections()
	if _, err := fresh.Put(ctx, "k", []byte("v3"), client.Cond{}); err != nil {
		t.Fatalf("put with the rotated token: %v", err)
	}
	if v, _, err := fresh.Get(ctx, "k"); err != nil || string(v) != "v3" {
		t.Fatalf("k = %q, %v; want v3", v, err)
	}

	// A fourth replica joins with a read token (run's --cacert and --token),
	// and an admin (a client certificate) adds it.
	cons4, http4 := freePorts(t, 1)[0], freePorts(t, 1)[0]
	c := func(n string) string { return filepath.Join(certs, n) }
	j := launch(t, bin, http4, "run", "--id", "4", "--join", urls[0]+","+urls[1], "--bind", cons4, "--http", http4,
		"--cluster-id", "proc-test", "--log-format", "json", "--log-level", "warn", "--storage", "nutsdb",
		"--data-dir", filepath.Join(root, "data-4"), "--cacert", cacert, "--token", readTok,
		"--peer-cert", c("replica-4.crt"), "--peer-key", c("replica-4.key"), "--peer-ca", c("ca.crt"),
		"--client-cert", c("replica-4.crt"), "--client-key", c("replica-4.key"), "--client-ca", c("client-ca.crt"),
		"--auth-tokens", tokens)
	if code, out := cli("member", "add", "4", cons4, "--http", "https://"+http4,
		"--cert", c("client.crt"), "--key", c("client.key")); code != 0 {
		t.Fatalf("member add 4: exit %d: %s", code, out)
	}
	c4, err := client.New([]string{"https://" + http4}, client.WithTLS(tlsCfg), client.WithToken(readTok), client.WithEndpointsInOrder())
	if err != nil {
		t.Fatal(err)
	}
	defer c4.CloseIdleConnections()
	waitUntil(t, "the joined replica to serve k", func() bool {
		v, _, err := c4.Get(ctx, "k", client.Stale())
		return err == nil && string(v) == "v3"
	})
	_ = j
}
