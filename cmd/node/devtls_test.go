package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rsml-go/rsml/client"
)

// dev --tls serves HTTPS with a development CA, and the curl command it
// prints works: its token reads, a request without one gets 401, and the
// client certificate it names writes.
func TestDevTLS(t *testing.T) {
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "tls")
	cmd := exec.Command(bin, "dev", "--http", "127.0.0.1:0", "--log-level", "warn", "--tls", "--tls-dir", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := <-done; err != nil {
			t.Errorf("rsml-node dev: %v\n%s", err, stderr.String())
		}
	})
	var url, token string
	deadline := time.After(30 * time.Second)
	for token == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("dev exited: %s", stderr.String())
			}
			if f := strings.Fields(l); len(f) == 3 && f[0] == "replica" && f[1] == "1:" {
				url = f[2]
			}
			if strings.Contains(l, "curl") && strings.Contains(l, "Bearer ") {
				token = strings.Fields(l[strings.Index(l, "Bearer ")+len("Bearer "):])[0]
				token = strings.TrimSuffix(token, "'")
			}
		case <-deadline:
			t.Fatalf("no curl command printed: %s", stderr.String())
		}
	}
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("replica 1 at %q, want https", url)
	}
	cfg, err := client.LoadTLS(filepath.Join(dir, "ca.crt"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	status := func(tok string) int {
		req, _ := http.NewRequest("GET", url+"/v1/status", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := status(token); code != 200 {
		t.Fatalf("GET /v1/status with the printed token: %d", code)
	}
	if code := status(""); code != 401 {
		t.Fatalf("GET /v1/status without a token: %d, want 401", code)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	c, err := client.New([]string{url}, client.WithTLS(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	ctx := t.Context()
	if _, err := c.Put(ctx, "hello", []byte("world"), client.Cond{}); err != nil {
		t.Fatalf("put with the client certificate: %v", err)
	}
}
