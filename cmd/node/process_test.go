package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
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
	exited chan struct{} // closed once Wait returned
}

func startProc(t *testing.T, bin string, id int, peers, httpAddr, dataDir string, extra ...string) *proc {
	t.Helper()
	args := []string{"run", "--id", fmt.Sprint(id), "--peers", peers, "--http", httpAddr,
		"--cluster-id", "proc-test", "--log-format", "json", "--log-level", "warn",
		"--storage", "nutsdb", "--data-dir", dataDir}
	return launch(t, bin, httpAddr, append(args, extra...)...)
}

// launch starts bin with args, serving HTTP on httpAddr; the test's cleanup
// kills it if it is still running.
func launch(t *testing.T, bin, httpAddr string, args ...string) *proc {
	t.Helper()
	p := &proc{url: "http://" + httpAddr, stderr: &bytes.Buffer{}, done: make(chan error, 1), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		close(p.exited)
		p.done <- err
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

type statusDoc struct {
	ID       string `json:"id"`
	Leader   string `json:"leader"`
	IsLeader bool   `json:"is_leader"`
	Applied  uint64 `json:"applied_seq"`
	Witness  bool   `json:"witness"`
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
	dirs := map[string]string{}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprint(i)
		dirs[id] = filepath.Join(t.TempDir(), "replica-"+id)
		procs[id] = startProc(t, bin, i, peers, https[i-1], dirs[id])
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

	// A second process on the killed replica's data directory while the
	// restarted one holds it is refused, naming the lock.
	httpOf := map[string]string{"1": https[0], "2": https[1], "3": https[2]}
	back := startProc(t, bin, atoi(leader), peers, httpOf[leader], dirs[leader])
	waitUntil(t, "the restarted replica to serve", func() bool { _, err := getStatus(back.url); return err == nil })
	dup := exec.Command(bin, "run", "--id", leader, "--peers", peers, "--http", freePorts(t, 1)[0],
		"--cluster-id", "proc-test", "--storage", "nutsdb", "--data-dir", dirs[leader])
	out, err := dup.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "locked by another process") {
		t.Fatalf("second process on %s: err=%v output=%s", dirs[leader], err, out)
	}
	// The restarted replica catches up: it serves every acknowledged write
	// from its own copy.
	procs[leader] = back
	acked["after-kill"] = "x"
	waitUntil(t, "the restarted replica to catch up", func() bool {
		for k, v := range acked {
			code, body := httpDo(t, "GET", back.url+"/v1/kv/"+k+"?consistency=stale", "")
			if code != 200 || body != v {
				return false
			}
		}
		return true
	})

	// SIGTERM: each process exits 0 within 10s.
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

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// trio is three `rsml-node run` replicas whose ports and data directories
// outlive their processes, so tests can kill and restart them.
type trio struct {
	t           *testing.T
	bin, peers  string
	https, dirs []string
	extra       []string
}

func newTrio(t *testing.T, extra ...string) *trio {
	t.Helper()
	cons := freePorts(t, 3)
	c := &trio{t: t, bin: buildBinary(t), peers: fmt.Sprintf("1=%s,2=%s,3=%s", cons[0], cons[1], cons[2]),
		https: freePorts(t, 3), extra: extra}
	for i := 0; i < 3; i++ {
		c.dirs = append(c.dirs, filepath.Join(t.TempDir(), fmt.Sprint("replica-", i+1)))
	}
	return c
}

// start starts replica i+1 on its directory.
func (c *trio) start(i int) *proc {
	return startProc(c.t, c.bin, i+1, c.peers, c.https[i], c.dirs[i], c.extra...)
}

func (c *trio) startAll() []*proc {
	return []*proc{c.start(0), c.start(1), c.start(2)}
}

// TestProcessKillAllMidLoad SIGKILLs every replica while clients write, then
// restarts them all on their data directories: every write acknowledged
// before the kill must be readable afterwards.
func TestProcessKillAllMidLoad(t *testing.T) {
	c := newTrio(t)
	start := c.startAll
	procs := start()
	waitUntil(t, "a leader", func() bool {
		for _, p := range procs {
			if st, err := getStatus(p.url); err == nil && st.IsLeader {
				return true
			}
		}
		return false
	})
	type ack struct{ key, val string }
	acks := make(chan ack, 100000)
	stop := make(chan struct{})
	done := make(chan struct{})
	const writers = 8
	for w := 0; w < writers; w++ {
		go func(w int) {
			defer func() { done <- struct{}{} }()
			c := http.Client{Timeout: 2 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key, val := fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("v%d", i)
				req, _ := http.NewRequest("PUT", procs[(w+i)%3].url+"/v1/kv/"+key, strings.NewReader(val))
				resp, err := c.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acks <- ack{key, val}
				}
			}
		}(w)
	}
	waitUntil(t, "some acknowledged writes", func() bool { return len(acks) >= 200 })
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	for _, p := range procs {
		<-p.done
	}
	close(stop)
	for w := 0; w < writers; w++ {
		<-done
	}
	close(acks)
	var all []ack
	for a := range acks {
		all = append(all, a)
	}
	t.Logf("%d writes acknowledged before the kill", len(all))

	procs = start()
	waitUntil(t, "a leader after the restart, and every replica serving", func() bool {
		leader := false
		for _, p := range procs {
			st, err := getStatus(p.url)
			if err != nil {
				return false // still replaying its logs
			}
			leader = leader || st.IsLeader
		}
		return leader
	})
	for _, a := range all {
		if code, body := httpDo(t, "GET", procs[0].url+"/v1/kv/"+a.key, ""); code != 200 || body != a.val {
			t.Fatalf("acknowledged write %s=%s lost after kill -9 of every replica: %d %q", a.key, a.val, code, body)
		}
	}

	// A clean stop (SIGTERM) and restart keeps everything too.
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for i, p := range procs {
		if err := <-p.done; err != nil {
			t.Fatalf("replica %d exited with %v after SIGTERM", i+1, err)
		}
	}
	// The data directory of replica 1 is refused to another cluster.
	out, err := exec.Command(c.bin, "run", "--id", "1", "--peers", c.peers, "--http", c.https[0],
		"--cluster-id", "another", "--storage", "nutsdb", "--data-dir", c.dirs[0]).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `belongs to replica 1 of cluster "proc-test"`) {
		t.Fatalf("another cluster's replica on this directory: err=%v output=%s", err, out)
	}
	procs = start()
	waitUntil(t, "a leader after the clean restart", func() bool {
		for _, p := range procs {
			if st, err := getStatus(p.url); err == nil && st.IsLeader {
				return true
			}
		}
		return false
	})
	for _, a := range all {
		if code, body := httpDo(t, "GET", procs[1].url+"/v1/kv/"+a.key, ""); code != 200 || body != a.val {
			t.Fatalf("acknowledged write %s=%s lost after SIGTERM and restart: %d %q", a.key, a.val, code, body)
		}
	}
}

// TestProcessRefusesDamagedLog damages the acceptor log of a stopped replica
// before its last records; the replica must refuse to start, naming the file,
// rather than come back having forgotten what it promised.
func TestProcessRefusesDamagedLog(t *testing.T) {
	bin := buildBinary(t)
	cons, https := freePorts(t, 1), freePorts(t, 1)
	dir := filepath.Join(t.TempDir(), "replica-1")
	peers := "1=" + cons[0]
	p := startProc(t, bin, 1, peers, https[0], dir)
	waitUntil(t, "the replica to lead", func() bool { st, err := getStatus(p.url); return err == nil && st.IsLeader })
	for i := 0; i < 20; i++ {
		if code, body := httpDo(t, "PUT", p.url+fmt.Sprintf("/v1/kv/k%d", i), "v"); code != 200 {
			t.Fatalf("PUT: %d %s", code, body)
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "acceptor", "*", "*.dat"))
	if len(files) == 0 {
		t.Fatalf("no acceptor data file under %s", dir)
	}
	// The data files are large and sparse: damage a byte near the start,
	// inside the first records, with valid records after it.
	f, err := os.OpenFile(files[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, 64); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, 64); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "run", "--id", "1", "--peers", peers, "--http", https[0],
		"--cluster-id", "proc-test", "--storage", "nutsdb", "--data-dir", dir).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("a replica with a damaged log started and ran; output: %s", out)
	}
	if err == nil || !strings.Contains(string(out), files[0]) {
		t.Fatalf("a replica with a damaged log did not refuse naming the file (err=%v); output: %s", err, out)
	}
	t.Logf("refused: %s", strings.TrimSpace(string(out)))
}
