package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds rsml-node once for the process tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rsml-node")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var lns []net.Listener
	var out []string
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

type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
	done   chan error
}

func startProc(t *testing.T, bin string, id int, peers, httpAddr string) *proc {
	t.Helper()
	p := &proc{url: "http://" + httpAddr, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, "run", "--id", fmt.Sprint(id), "--peers", peers, "--http", httpAddr,
		"--cluster-id", "proc-test", "--log-format", "json", "--log-level", "warn")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

type statusDoc struct {
	ID       string `json:"id"`
	Leader   string `json:"leader"`
	IsLeader bool   `json:"is_leader"`
	Applied  uint64 `json:"applied_seq"`
}

func getStatus(url string) (statusDoc, error) {
	var st statusDoc
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url + "/v1/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

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

func httpDo(t *testing.T, method, url string, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	c := http.Client{Timeout: 15 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestProcessCluster runs three rsml-node run processes on loopback, writes
// and reads through every replica (HTTP and the CLI), SIGKILLs the leader and
// checks that a new leader serves every acknowledged write, then stops the
// rest with SIGTERM and checks they exit 0 in time.
func TestProcessCluster(t *testing.T) {
	bin := buildBinary(t)
	cons := freePorts(t, 3)
	https := freePorts(t, 3)
	peers := fmt.Sprintf("1=%s,2=%s,3=%s", cons[0], cons[1], cons[2])
	procs := map[string]*proc{}
	for i := 1; i <= 3; i++ {
		procs[fmt.Sprint(i)] = startProc(t, bin, i, peers, https[i-1])
	}
	var leader string
	waitUntil(t, "a leader", func() bool {
		for id, p := range procs {
			if st, err := getStatus(p.url); err == nil && st.IsLeader {
				leader = id
				return true
			}
		}
		return false
	})
	acked := map[string]string{}
	i := 0
	for _, p := range procs {
		for j := 0; j < 10; j++ {
			key, val := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
			i++
			code, body := httpDo(t, "PUT", p.url+"/v1/kv/"+key, val)
			if code != 200 {
				t.Fatalf("PUT via %s: %d %s", p.url, code, body)
			}
			acked[key] = val
		}
	}
	// Every replica answers linearizable reads of every write.
	for _, p := range procs {
		for k, v := range acked {
			if code, body := httpDo(t, "GET", p.url+"/v1/kv/"+k, ""); code != 200 || body != v {
				t.Fatalf("GET %s via %s: %d %q, want %q", k, p.url, code, body, v)
			}
		}
	}
	var eps []string
	for _, p := range procs {
		eps = append(eps, p.url)
	}
	// The CLI against the running cluster.
	cli := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append(args, "--endpoints", strings.Join(eps, ","))...).CombinedOutput()
		return string(out), err
	}
	if out, err := cli("kv", "put", "cli-key", "cli-value"); err != nil || !strings.Contains(out, "rev=") {
		t.Fatalf("kv put: %v %s", err, out)
	}
	if out, err := cli("kv", "get", "cli-key"); err != nil || !strings.Contains(out, "cli-value") {
		t.Fatalf("kv get: %v %s", err, out)
	}
	acked["cli-key"] = "cli-value"
	if out, err := cli("status"); err != nil || !strings.Contains(out, leader) {
		t.Fatalf("status: %v %s", err, out)
	}

	// SIGKILL the leader: a new one takes over with every acknowledged write.
	killed := procs[leader]
	start := time.Now()
	if err := killed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-killed.done
	delete(procs, leader)
	var newLeader string
	waitUntil(t, "a new leader", func() bool {
		for id, p := range procs {
			if st, err := getStatus(p.url); err == nil && st.IsLeader && id != leader {
				newLeader = id
				return true
			}
		}
		return false
	})
	t.Logf("leader %s killed; replica %s leads after %v", leader, newLeader, time.Since(start))
	for _, p := range procs {
		for k, v := range acked {
			if code, body := httpDo(t, "GET", p.url+"/v1/kv/"+k, ""); code != 200 || body != v {
				t.Fatalf("after the kill, GET %s via %s: %d %q, want %q", k, p.url, code, body, v)
			}
		}
		if code, body := httpDo(t, "PUT", p.url+"/v1/kv/after-kill", "x"); code != 200 {
			t.Fatalf("PUT after the kill via %s: %d %s", p.url, code, body)
		}
	}

	// SIGTERM: each remaining process exits 0 within 10s.
	for id, p := range procs {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-p.done:
			if err != nil {
				t.Fatalf("replica %s exited with %v after SIGTERM\n%s", id, err, p.stderr)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("replica %s did not exit within 10s of SIGTERM", id)
		}
	}
}

func netListen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
