package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestThreeHostPrograms builds this program and runs three of it as
// processes, each embedding a replica in its own actor system over TCP. Each
// host's own actor proposes one write through the Go API; every replica ends
// up with every write; SIGTERM stops each process with exit status 0.
func TestThreeHostPrograms(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "embed")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cons, https := freeAddrs(t, 3), freeAddrs(t, 3)
	var peers []string
	for i, a := range cons {
		peers = append(peers, fmt.Sprintf("%d=%s", i+1, a))
	}
	var hosts []*host
	for i := range cons {
		args := []string{"--id", fmt.Sprint(i + 1), "--peers", strings.Join(peers, ","), "--http", https[i]}
		if i == 0 {
			args = append(args, "--data-dir", t.TempDir()) // one durable replica, to cover the flag
		}
		hosts = append(hosts, startHost(t, bin, "http://"+https[i], args...))
	}

	waitUntil(t, "a leader every host agrees on", func() bool {
		leader := ""
		for _, h := range hosts {
			var st struct{ Leader string }
			if h.getJSON("/v1/status", &st) != nil || st.Leader == "" || (leader != "" && st.Leader != leader) {
				return false
			}
			leader = st.Leader
		}
		return true
	})

	want := map[string]string{}
	for i, h := range hosts {
		key, value := fmt.Sprintf("from-host-%d", i+1), fmt.Sprintf("value %d", i+1)
		var res struct{ Rev uint64 }
		if err := h.getJSON("/example/propose?key="+key+"&value="+url.QueryEscape(value), &res); err != nil || res.Rev == 0 {
			t.Fatalf("host %d's actor proposing %s: rev %d, %v\n%s", i+1, key, res.Rev, err, h.output())
		}
		want[key] = value
	}
	waitUntil(t, "every replica to hold every write", func() bool {
		for _, h := range hosts {
			for k, v := range want {
				if code, body, err := h.get("/v1/kv/" + k + "?consistency=stale"); err != nil || code != 200 || body != v {
					return false
				}
			}
		}
		return true
	})

	for i, h := range hosts {
		if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-h.exited:
			if h.err != nil {
				t.Fatalf("host %d exited with %v after SIGTERM\n%s", i+1, h.err, h.output())
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("host %d did not exit within 15s of SIGTERM\n%s", i+1, h.output())
		}
	}
}

// host is one running host program.
type host struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{} // closed once the process has exited
	err    error         // its exit error, once exited is closed

	mu     sync.Mutex
	stderr bytes.Buffer
}

func startHost(t *testing.T, bin, url string, args ...string) *host {
	t.Helper()
	h := &host{cmd: exec.Command(bin, args...), url: url, exited: make(chan struct{})}
	h.cmd.Stderr = lockedWriter{h}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		h.err = h.cmd.Wait()
		close(h.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-h.exited:
		default:
			_ = h.cmd.Process.Kill()
			<-h.exited
		}
	})
	return h
}

// lockedWriter lets the test read a host's stderr while it runs.
type lockedWriter struct{ h *host }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	return w.h.stderr.Write(p)
}

func (h *host) output() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stderr.String()
}

var client = http.Client{Timeout: 20 * time.Second}

func (h *host) get(path string) (int, string, error) {
	resp, err := client.Get(h.url + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (h *host) getJSON(path string, v any) error {
	code, body, err := h.get(path)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, code, body)
	}
	return json.Unmarshal([]byte(body), v)
}

// waitUntil polls cond until it holds, for at most 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// freeAddrs returns n loopback addresses whose ports the OS just chose.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}
