package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/rsml-go/rsml/client"
	"github.com/rsml-go/rsml/internal/linearize"
)

// The process chaos test: three `rsml-node run` processes on nutsdb, clients
// over HTTP recording a history, and a nemesis that SIGKILLs and SIGSTOPs
// the processes and replaces them (a new id joins, the old one is removed). The in-process chaos test (node/chaos_test.go) covers
// network faults and role crashes; this one covers what only real processes
// have: a kill -9 at any instruction, replay of nutsdb after it, a process
// frozen while its peers move on, remoting connections that break, and the
// HTTP layer's mapping of outcomes to status codes (DESIGN.md §4.2).

// pchaosReplaces bounds the replace faults of one run (each needs ports of
// its own).
const pchaosReplaces = 4

// pchaosSnapshotEvery is small so that snapshots, log truncation and
// snapshot installs all happen many times under the faults.
const pchaosSnapshotEvery = "50"

// pchaosReplica is one replica of the cluster: its addresses and data
// directory outlive each process (incarnation) started on them.
type pchaosReplica struct {
	id       int
	httpAddr string
	url      string
	dir      string
	// join and bind, for a replica that joined (the replace fault): run
	// --join join --bind bind instead of --peers.
	join, bind string
	cur        *pchaosProc   // the running incarnation; nil while down
	runs       []*pchaosProc // every incarnation, for the logs on failure
}

// pchaosProc is one incarnation of a replica's process.
type pchaosProc struct {
	cmd     *exec.Cmd
	stderr  bytes.Buffer // read only after exited is closed
	serving chan struct{}
	exited  chan struct{}
	err     error // set before exited is closed
}

// lineSignal closes ch at the first newline written to it: `rsml-node run`
// prints its URL on stdout once its HTTP API serves.
type lineSignal struct {
	once sync.Once
	ch   chan struct{}
}

// Write takes the process's stdout and signals at the first line's end.
func (l *lineSignal) Write(b []byte) (int, error) {
	if bytes.IndexByte(b, '\n') >= 0 {
		l.once.Do(func() { close(l.ch) })
	}
	return len(b), nil
}

// pchaosCluster runs the replicas' processes. Only the nemesis goroutine
// starts and signals processes while the test runs; mu guards the replicas'
// incarnations against the cleanup and the checks reading them.
type pchaosCluster struct {
	bin   string
	peers string
	mu    sync.Mutex
	reps  []*pchaosReplica
	// retired are the replicas the replace fault removed, for the logs.
	retired []*pchaosReplica
	// installs counts snapshot installs over every incarnation: each
	// process's counter is read just before it is killed, and at the end.
	installs atomic.Int64
}

// scrape reads one unlabelled metric from url's /metrics, or reports false.
func scrape(url, name string) (float64, bool) {
	hc := http.Client{Timeout: time.Second}
	resp, err := hc.Get(url + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	return v, err == nil
}

// countInstalls adds replica i's running process's snapshot installs.
func (c *pchaosCluster) countInstalls(i int) {
	if n, ok := scrape(c.reps[i].url, "rsml_snapshot_installs_total"); ok {
		c.installs.Add(int64(n))
	}
}

// url returns replica i's URL: the replica in slot i changes when the
// replace fault swaps it for a new one.
func (c *pchaosCluster) url(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reps[i].url
}

// start starts a new incarnation of replica i and waits until it serves
// HTTP (or exits, or 60s pass: replay after a crash can take a while under
// the race detector's load).
func (c *pchaosCluster) start(i int) error { return c.startReplica(c.reps[i]) }

func (c *pchaosCluster) startReplica(r *pchaosReplica) error {
	p := &pchaosProc{serving: make(chan struct{}), exited: make(chan struct{})}
	members := []string{"--peers", c.peers}
	if r.join != "" {
		members = []string{"--join", r.join, "--bind", r.bind}
	}
	p.cmd = exec.Command(c.bin, append(append([]string{"run", "--id", strconv.Itoa(r.id)}, members...), "--http", r.httpAddr,
		"--cluster-id", "pchaos", "--log-format", "json", "--log-level", "info",
		"--storage", "nutsdb", "--data-dir", r.dir, "--snapshot-every", pchaosSnapshotEvery)...)
	p.cmd.Stdout = &lineSignal{ch: p.serving}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start replica %d: %w", r.id, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	c.mu.Lock()
	r.cur = p
	r.runs = append(r.runs, p)
	c.mu.Unlock()
	select {
	case <-p.serving:
		return nil
	case <-p.exited:
		return fmt.Errorf("replica %d (run %d) exited before serving: %v\n%s", r.id, len(r.runs), p.err, &p.stderr)
	case <-time.After(60 * time.Second):
		return fmt.Errorf("replica %d (run %d) did not serve within 60s", r.id, len(r.runs))
	}
}

// replace swaps replica i for a new one, as an operator replaces a replica
// that lost its disk: replica id starts with an empty data directory and
// run --join, is added (POST /v1/members: a learner, then every role once
// it has caught up), and replica i is removed (DELETE /v1/members/{id}),
// whose run must then exit 0 by itself.
func (c *pchaosCluster) replace(i, id int, bind, httpAddr, dir string) error {
	var live []string
	for _, r := range c.reps {
		live = append(live, r.url)
	}
	nr := &pchaosReplica{id: id, httpAddr: httpAddr, url: "http://" + httpAddr, dir: dir, join: strings.Join(live, ","), bind: bind}
	if err := c.startReplica(nr); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := client.New(live)
	if err != nil {
		return err
	}
	defer cl.CloseIdleConnections()
	if _, err := cl.AddMember(ctx, client.Member{ID: strconv.Itoa(id), Address: bind, HTTP: nr.url}); err != nil {
		return fmt.Errorf("add %d: %w", id, err)
	}
	old := c.reps[i]
	c.mu.Lock()
	c.reps[i] = nr
	c.retired = append(c.retired, old)
	c.mu.Unlock()
	live[i] = nr.url
	cl2, err := client.New(live)
	if err != nil {
		return err
	}
	defer cl2.CloseIdleConnections()
	if _, err := cl2.RemoveMember(ctx, strconv.Itoa(old.id)); err != nil {
		return fmt.Errorf("remove %d: %w", old.id, err)
	}
	c.mu.Lock()
	p := old.cur
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.exited:
		if p.err != nil {
			return fmt.Errorf("removed replica %d exited with %v", old.id, p.err)
		}
	case <-ctx.Done():
		return fmt.Errorf("removed replica %d did not exit", old.id)
	}
	c.mu.Lock()
	old.cur = nil
	c.mu.Unlock()
	return nil
}

// kill SIGKILLs replica i's process and waits until it is gone, so that its
// ports and its data directory's lock are free for the next incarnation.
func (c *pchaosCluster) kill(i int) {
	c.countInstalls(i)
	c.mu.Lock()
	p := c.reps[i].cur
	c.reps[i].cur = nil
	c.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// signal sends sig to replica i's running process.
func (c *pchaosCluster) signal(i int, sig syscall.Signal) {
	c.mu.Lock()
	p := c.reps[i].cur
	c.mu.Unlock()
	if p != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// exitedEarly reports a replica whose running process has exited on its own.
func (c *pchaosCluster) exitedEarly() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.reps {
		if r.cur == nil {
			continue
		}
		select {
		case <-r.cur.exited:
			return fmt.Errorf("replica %d (run %d) exited by itself: %v", r.id, len(r.runs), r.cur.err)
		default:
		}
	}
	return nil
}

// leader returns the index of the replica that says it leads, or -1. A
// frozen or dead replica simply does not answer.
func (c *pchaosCluster) leader() int {
	for i, r := range c.reps {
		if st, err := getStatus(r.url); err == nil && st.IsLeader {
			return i
		}
	}
	return -1
}

// stopAll kills every process and waits for them (the test's cleanup).
func (c *pchaosCluster) stopAll() {
	for i := range c.reps {
		c.kill(i)
	}
	for _, r := range c.retired {
		if p := r.cur; p != nil {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.exited
		}
	}
}

// saveLogs writes every incarnation's stderr to files under one new
// directory (the processes must have exited) and returns it.
func (c *pchaosCluster) saveLogs(seed int64) (string, error) {
	dir, err := os.MkdirTemp("", fmt.Sprintf("rsml-pchaos-%d-logs-", seed))
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range slices.Concat(c.reps, c.retired) {
		for n, p := range r.runs {
			name := filepath.Join(dir, fmt.Sprintf("replica-%d-run-%d.log", r.id, n+1))
			if err := os.WriteFile(name, p.stderr.Bytes(), 0o644); err != nil {
				return dir, err
			}
		}
	}
	return dir, nil
}

// restartablePorts returns n free loopback addresses below the kernel's
// ephemeral port range. A replica's ports stay free while it is down, and a
// port from freePorts could meanwhile become the local end of some outgoing
// connection (they come from the ephemeral range), so that the restart could
// not listen on it; ports outside that range are never handed out that way.
func restartablePorts(t *testing.T, n int) []string {
	t.Helper()
	lo, hi := 10000, 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var first, last int
		if _, err := fmt.Sscan(string(b), &first, &last); err == nil {
			hi = first - 1
		}
	}
	if hi-lo < 1000 {
		return freePorts(t, n) // not Linux, or an odd range: make do
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var out []string
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("no %d free ports in [%d, %d]", n, lo, hi)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", lo+rng.Intn(hi-lo))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		if !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	return out
}

// pchaosPatient is the timeout of the clients that outwait a replica's own
// request timeout (10s), frozen for up to 2s first: such a client always
// hears an answer.
const pchaosPatient = 15 * time.Second

// pchaosOutcome classifies one HTTP operation's result for the history.
type pchaosOutcome uint8

const (
	outKnown         pchaosOutcome = iota // 200, 404 on a read, 412
	outUnknown                            // a write that may or may not have applied
	outIndeterminate                      // the same, said by the replica (504)
	outNotApplied                         // a write that certainly did not apply (503)
	outNoConn                             // no connection: the replica is down (nothing was sent)
	outReadFailed                         // a read with no answer: it changed nothing
)

// pchaosStats counts the clients' operations by outcome.
type pchaosStats struct {
	ok, condFailed, unknown, notApplied, noConn, readsFailed, unexpected atomic.Int64
	// indeterminate counts the 504s among the unknown outcomes.
	indeterminate atomic.Int64
}

var tookRev = regexp.MustCompile(`took rev (\d+)`)

// pchaosDo runs one operation over HTTP with the given timeout and says what
// the history may record. It never fails the test: under faults every
// error is an outcome. A reply the contract does not allow is reported in
// unexpected (and treated as an unknown outcome, which is always sound).
func pchaosDo(hc *http.Client, base string, in linearize.Input, timeout time.Duration) (out linearize.Output, class pchaosOutcome, unexpected string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if in.Kind == linearize.Txn {
		return pchaosTxn(ctx, hc, base, in.Txn)
	}
	method := http.MethodGet
	var body io.Reader
	switch in.Kind {
	case linearize.Put:
		method, body = http.MethodPut, strings.NewReader(in.Value)
	case linearize.Delete:
		method = http.MethodDelete
	}
	req, err := http.NewRequestWithContext(ctx, method, base+"/v1/kv/"+in.Key, body)
	if err != nil {
		return out, outUnknown, err.Error()
	}
	switch in.Cond {
	case linearize.CondRev:
		req.Header.Set("If-Match", strconv.Quote(strconv.FormatUint(in.Rev, 10)))
	case linearize.CondExists:
		req.Header.Set("If-Match", "*")
	case linearize.CondAbsent:
		req.Header.Set("If-None-Match", "*")
	}
	resp, err := hc.Do(req)
	var b []byte
	if err == nil {
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err != nil {
		// A request that never reached a replica certainly did not apply;
		// any later failure of a write (a reset, a timeout) leaves it unknown.
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return out, outNoConn, ""
		}
		if timeout >= pchaosPatient && ctx.Err() != nil {
			// The replica answers within its own request timeout (10s),
			// whatever happens to consensus: silence past it is a bug.
			unexpected = fmt.Sprintf("%s: no answer within %v", linearize.Describe(in, linearize.Output{Unknown: true}), timeout)
		}
		if in.Kind == linearize.Get {
			return out, outReadFailed, unexpected
		}
		return out, outUnknown, unexpected
	}
	code := resp.StatusCode
	if in.Kind == linearize.Get {
		switch code {
		case http.StatusOK:
			tag, err := strconv.Unquote(resp.Header.Get("ETag"))
			if err == nil {
				out.Rev, err = strconv.ParseUint(tag, 10, 64)
			}
			if err != nil {
				return out, outReadFailed, fmt.Sprintf("GET 200 with ETag %q", resp.Header.Get("ETag"))
			}
			out.Found, out.Value = true, string(b)
			return out, outKnown, ""
		case http.StatusNotFound:
			return out, outKnown, ""
		case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return out, outReadFailed, ""
		}
		return out, outReadFailed, fmt.Sprintf("GET %d %s", code, b)
	}
	switch code {
	case http.StatusOK:
		var res struct {
			Rev     uint64 `json:"rev"`
			Deleted bool   `json:"deleted"`
		}
		if err := json.Unmarshal(b, &res); err != nil || res.Rev == 0 {
			return out, outUnknown, fmt.Sprintf("%s 200 with body %q", method, b)
		}
		out.OK, out.Rev, out.Deleted = true, res.Rev, res.Deleted
		return out, outKnown, ""
	case http.StatusPreconditionFailed:
		// The rev the attempt took is in the message; without it the model
		// checks only that the condition could fail.
		if m := tookRev.FindSubmatch(b); m != nil {
			out.Rev, _ = strconv.ParseUint(string(m[1]), 10, 64)
		}
		return out, outKnown, ""
	case http.StatusServiceUnavailable:
		return out, outNotApplied, ""
	case http.StatusGatewayTimeout:
		return out, outIndeterminate, ""
	}
	return out, outUnknown, fmt.Sprintf("%s %d %s", method, code, b)
}

// txnBody is the JSON of POST /v1/txn for a transaction of the model (whose
// keys and values are plain text).
func txnBody(t *linearize.TxnInput) []byte {
	type cond struct {
		Key    string  `json:"key"`
		Rev    *uint64 `json:"rev,omitempty"`
		Exists *bool   `json:"exists,omitempty"`
	}
	type op struct {
		Op    string  `json:"op"`
		Key   string  `json:"key"`
		Value *string `json:"value,omitempty"`
	}
	ops := func(in []linearize.TxnOp) []op {
		out := []op{}
		for _, o := range in {
			switch o.Kind {
			case linearize.Put:
				v := o.Value
				out = append(out, op{Op: "put", Key: o.Key, Value: &v})
			case linearize.Delete:
				out = append(out, op{Op: "delete", Key: o.Key})
			default:
				out = append(out, op{Op: "get", Key: o.Key})
			}
		}
		return out
	}
	body := struct {
		If   []cond `json:"if"`
		Then []op   `json:"then"`
		Else []op   `json:"else"`
	}{If: []cond{}, Then: ops(t.Then), Else: ops(t.Else)}
	for _, c := range t.If {
		cj := cond{Key: c.Key}
		switch c.Cond {
		case linearize.CondRev:
			rev := c.Rev
			cj.Rev = &rev
		default:
			exists := c.Cond == linearize.CondExists
			cj.Exists = &exists
		}
		body.If = append(body.If, cj)
	}
	b, _ := json.Marshal(body)
	return b
}

// pchaosTxn runs a transaction over HTTP and classifies its answer as
// pchaosDo does: a read-only one like a read, one that writes like a write.
func pchaosTxn(ctx context.Context, hc *http.Client, base string, t *linearize.TxnInput) (out linearize.Output, class pchaosOutcome, unexpected string) {
	failed := outUnknown
	if t.ReadOnly() {
		failed = outReadFailed
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/txn", bytes.NewReader(txnBody(t)))
	if err != nil {
		return out, failed, err.Error()
	}
	resp, err := hc.Do(req)
	var b []byte
	if err == nil {
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return out, outNoConn, ""
		}
		return out, failed, ""
	}
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case code == http.StatusServiceUnavailable && t.ReadOnly(), code == http.StatusGatewayTimeout && t.ReadOnly():
		return out, outReadFailed, ""
	case code == http.StatusServiceUnavailable:
		return out, outNotApplied, ""
	case code == http.StatusGatewayTimeout:
		return out, outIndeterminate, ""
	default:
		return out, failed, fmt.Sprintf("POST /v1/txn %d %s", code, b)
	}
	var res struct {
		Rev       *uint64 `json:"rev"`
		Succeeded bool    `json:"succeeded"`
		Results   []struct {
			Rev     uint64  `json:"rev"`
			Deleted bool    `json:"deleted"`
			Found   bool    `json:"found"`
			Value   *string `json:"value"`
		} `json:"results"`
	}
	ops := t.Else
	if err := json.Unmarshal(b, &res); err == nil && res.Succeeded {
		ops = t.Then
	}
	if err := json.Unmarshal(b, &res); err != nil || res.Rev == nil || len(res.Results) != len(ops) {
		return out, failed, fmt.Sprintf("POST /v1/txn 200 with body %q", b)
	}
	out.Rev, out.Succeeded = *res.Rev, res.Succeeded
	for _, r := range res.Results {
		o := linearize.TxnOpOutput{Rev: r.Rev, Deleted: r.Deleted, Found: r.Found}
		if r.Found {
			if r.Value == nil {
				return linearize.Output{}, failed, fmt.Sprintf("POST /v1/txn 200, a found key without a text value: %q", b)
			}
			o.Value = *r.Value
		}
		out.Results = append(out.Results, o)
	}
	return out, outKnown, ""
}

// staleGet reads replica url's own copy of key (?consistency=stale).
func staleGet(hc *http.Client, url, key string) (linearize.Output, error) {
	var out linearize.Output
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/kv/"+key+"?consistency=stale", nil)
	if err != nil {
		return out, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return out, err
	case resp.StatusCode == http.StatusNotFound:
		return out, nil
	case resp.StatusCode != http.StatusOK:
		return out, fmt.Errorf("stale GET %s: %d %s", key, resp.StatusCode, b)
	}
	tag, err := strconv.Unquote(resp.Header.Get("ETag"))
	if err == nil {
		out.Rev, err = strconv.ParseUint(tag, 10, 64)
	}
	out.Found, out.Value = true, string(b)
	return out, err
}

// pchaosHistory is the recorded history, shared by the clients.
type pchaosHistory struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func (h *pchaosHistory) now() int64 { return int64(time.Since(h.start)) }

// record adds one operation by its outcome; a certainly-not-applied write
// and a failed read are left out, as neither changed anything.
func (h *pchaosHistory) record(client int, in linearize.Input, call int64, out linearize.Output, class pchaosOutcome, ret int64) {
	switch class {
	case outNotApplied, outNoConn, outReadFailed:
		return
	case outUnknown, outIndeterminate:
		out, ret = linearize.Output{Unknown: true}, math.MaxInt64
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
}

func (h *pchaosHistory) snapshot() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

// pchaosDuration reads RSML_PCHAOS_DURATION (default 10s).
func pchaosDuration(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv("RSML_PCHAOS_DURATION")
	if s == "" {
		return 10 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("RSML_PCHAOS_DURATION=%q: want a positive duration", s)
	}
	return d
}

// pchaosSeed reads RSML_PCHAOS_SEED, or draws one.
func pchaosSeed(t *testing.T) int64 {
	t.Helper()
	s := os.Getenv("RSML_PCHAOS_SEED")
	if s == "" {
		return time.Now().UnixNano()
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("RSML_PCHAOS_SEED=%q: %v", s, err)
	}
	return v
}

// TestProcessChaosLinearizable runs clients over HTTP against three
// rsml-node processes while a nemesis kills (SIGKILL) and freezes
// (SIGSTOP) them, then checks that the cluster recovers, that the replicas
// converge, that every acknowledged write is visible, and that porcupine
// finds the history linearizable. RSML_PCHAOS_DURATION sets the chaos
// phase's length (default 10s), RSML_PCHAOS_SEED replays the nemesis's and
// the clients' choices (process scheduling still varies), and
// RSML_PCHAOS_KEEP_LOGS=1 keeps the replicas' logs even when it passes.
func TestProcessChaosLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("process chaos test skipped in -short mode")
	}
	seed, duration := pchaosSeed(t), pchaosDuration(t)
	t.Logf("process chaos seed %d (replay the nemesis and clients with RSML_PCHAOS_SEED=%d), duration %v", seed, seed, duration)

	c := &pchaosCluster{bin: buildBinary(t)}
	// Ports for the 3 replicas and for pchaosReplaces replacements.
	ports := restartablePorts(t, 2*(3+pchaosReplaces))
	cons, https := ports[:3+pchaosReplaces], ports[3+pchaosReplaces:]
	c.peers = fmt.Sprintf("1=%s,2=%s,3=%s", cons[0], cons[1], cons[2])
	dataRoot := t.TempDir()
	for i := range 3 {
		c.reps = append(c.reps, &pchaosReplica{id: i + 1, httpAddr: https[i], url: "http://" + https[i],
			dir: filepath.Join(dataRoot, fmt.Sprint("replica-", i+1))})
	}
	// Registered after t.TempDir, so it runs before the directories go.
	// RSML_PCHAOS_KEEP_LOGS=1 keeps the replicas' logs of a passing run too.
	t.Cleanup(func() {
		c.stopAll()
		if !t.Failed() && os.Getenv("RSML_PCHAOS_KEEP_LOGS") == "" {
			return
		}
		dir, err := c.saveLogs(seed)
		t.Logf("replicas' stderr, every run (seed %d): %s %v", seed, dir, err)
		if !t.Failed() {
			return
		}
		for _, r := range slices.Concat(c.reps, c.retired) {
			for n, p := range r.runs {
				s := p.stderr.String()
				if len(s) > 2000 {
					s = "..." + s[len(s)-2000:]
				}
				t.Logf("replica %d run %d (%v), end of stderr:\n%s", r.id, n+1, p.err, s)
			}
		}
	})
	for i := range c.reps {
		if err := c.start(i); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "a leader", func() bool { return c.leader() >= 0 })

	// Clients 0-5 read and write single keys; clients 6 and 7 run
	// transactions: the bank (transfers and audits) and random transactions
	// over keys of their own, mixed with single-key ops on those keys. The
	// groups use separate keys so that porcupine's partitions stay small.
	const (
		clients    = 6
		txnClients = 2
		nkeys      = 5
	)
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	txnKeys := []string{"t0", "t1", "t2"}
	bank := linearize.DefaultBank
	var bankMu sync.Mutex
	var bankErrs []error
	var txns, audits atomic.Int64
	hist := &pchaosHistory{start: time.Now()}
	var stats pchaosStats
	var unexpMu sync.Mutex
	var unexpected []string
	noteUnexpected := func(s string) {
		stats.unexpected.Add(1)
		unexpMu.Lock()
		if len(unexpected) < 20 {
			unexpected = append(unexpected, s)
		}
		unexpMu.Unlock()
	}
	// count updates the figures for one operation; ackedRev keeps, per
	// key, the acknowledged write with the highest rev.
	type acked struct {
		rev   uint64
		put   bool
		value string
	}
	var ackMu sync.Mutex
	lastAcked := map[string]acked{}
	count := func(in linearize.Input, out linearize.Output, class pchaosOutcome) {
		switch class {
		case outKnown:
			if in.Kind == linearize.Txn {
				stats.ok.Add(1)
				txns.Add(1)
				if bank.IsAudit(in) {
					audits.Add(1)
				}
				if err := bank.Check(in, out); err != nil {
					bankMu.Lock()
					bankErrs = append(bankErrs, err)
					bankMu.Unlock()
				}
				return
			}
			if in.Kind != linearize.Get && !out.OK {
				stats.condFailed.Add(1)
				return
			}
			stats.ok.Add(1)
			if in.Kind != linearize.Get {
				ackMu.Lock()
				if out.Rev > lastAcked[in.Key].rev {
					lastAcked[in.Key] = acked{rev: out.Rev, put: in.Kind == linearize.Put, value: in.Value}
				}
				ackMu.Unlock()
			}
		case outUnknown:
			stats.unknown.Add(1)
		case outIndeterminate:
			stats.unknown.Add(1)
			stats.indeterminate.Add(1)
		case outNotApplied:
			stats.notApplied.Add(1)
		case outNoConn:
			stats.noConn.Add(1)
		case outReadFailed:
			stats.readsFailed.Add(1)
		}
	}

	// Windows when a follower was down or frozen: the leader and a
	// majority serve, so definite answers must go on.
	var winMu sync.Mutex
	var windows [][2]int64
	var answers []int64
	answered := func(at int64) {
		winMu.Lock()
		answers = append(answers, at)
		winMu.Unlock()
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	// The canary writes keys of its own, each once, with short timeouts: at
	// the end every key acknowledged must be there, and none answered 503
	// (certainly not applied) may be.
	var canaryMu sync.Mutex
	canary := map[string]string{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
		defer hc.CloseIdleConnections()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("canary/%06d", i)
			in := linearize.Input{Kind: linearize.Put, Key: key, Value: "x"}
			out, class, unexp := pchaosDo(hc, c.url(i%3), in, time.Duration(50+i%450)*time.Millisecond)
			if unexp != "" {
				noteUnexpected(unexp)
			}
			outcome := "unknown"
			switch {
			case class == outKnown && out.OK:
				outcome = "ok"
			case class == outNotApplied, class == outNoConn:
				outcome = "not-applied"
			}
			canaryMu.Lock()
			canary[key] = outcome
			canaryMu.Unlock()
			if class == outNoConn {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	for cl := range clients + txnClients {
		rng := rand.New(rand.NewSource(seed + int64(cl) + 1))
		// One transport per client: a frozen replica's connections hold up
		// only the client that is waiting on one.
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		t.Cleanup(hc.CloseIdleConnections)
		wg.Add(1)
		go func() {
			defer wg.Done()
			lastRev := map[string]uint64{}
			bc := linearize.NewBankClient(bank)
			myKeys := keys
			if cl >= clients {
				myKeys = txnKeys
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := myKeys[rng.Intn(len(myKeys))]
				in := linearize.Input{Key: key}
				switch p := rng.Intn(100); {
				case cl >= clients && p < 40:
					in = bc.Next(rng.Intn)
				case cl >= clients && p < 75:
					in = linearize.RandomTxn(rng.Intn, txnKeys, lastRev, fmt.Sprintf("c%d-%d", cl, i))
				case p < 40:
					in.Kind = linearize.Get
				case p < 80:
					in.Kind, in.Value = linearize.Put, fmt.Sprintf("c%d-%d", cl, i)
				default:
					in.Kind = linearize.Delete
				}
				if in.Kind == linearize.Put || in.Kind == linearize.Delete {
					switch p := rng.Intn(100); {
					case p < 35:
					case p < 70:
						in.Cond, in.Rev = linearize.CondRev, max(lastRev[key], 1)
					case p < 85:
						in.Cond = linearize.CondExists
					default:
						in.Cond = linearize.CondAbsent
					}
				}
				base := c.url(rng.Intn(3))
				// Mostly a short timeout, as a client in a hurry would; some
				// outwait the replica's own 10s request timeout, so that its
				// answer (503 certainly not applied, 504 unknown) is heard.
				timeout := time.Duration(1000+rng.Intn(1500)) * time.Millisecond
				if rng.Intn(100) < 15 {
					timeout = pchaosPatient
				}
				call := hist.now()
				out, class, unexp := pchaosDo(hc, base, in, timeout)
				ret := hist.now()
				if unexp != "" {
					noteUnexpected(unexp)
				}
				if class == outKnown && (in.Kind == linearize.Get && out.Found || in.Kind == linearize.Put && out.OK) {
					lastRev[key] = out.Rev
				}
				if class == outKnown {
					linearize.LearnRevs(lastRev, in, out)
					bc.Learn(in, out)
				}
				count(in, out, class)
				if class == outKnown {
					answered(ret)
				}
				hist.record(cl, in, call, out, class, ret)
				if class == outNoConn {
					// The replica is down: pace the retries rather than
					// spin on a closed port.
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}

	// The nemesis: one fault at a time, every 1-3s; at most one replica is
	// down or frozen, except in kill-two, which takes the majority away
	// for a moment.
	faults := map[string]int{}
	nemesisErr := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewSource(seed))
		deadline := time.Now().Add(duration)
		pause := func(lo, hi int) { time.Sleep(time.Duration(lo+rng.Intn(hi-lo)) * time.Millisecond) }
		others := func(i int) []int {
			var o []int
			for j := range c.reps {
				if j != i {
					o = append(o, j)
				}
			}
			return o
		}
		restart := func(is ...int) error {
			for _, i := range is {
				if err := c.start(i); err != nil {
					return err
				}
			}
			return nil
		}
		replaced := 0
		for first := true; time.Now().Before(deadline); first = false {
			if err := c.exitedEarly(); err != nil {
				nemesisErr <- err
				return
			}
			leader := c.leader()
			var name string
			var err error
			follower := func() int {
				if leader < 0 {
					return rng.Intn(len(c.reps))
				}
				o := others(leader)
				return o[rng.Intn(len(o))]
			}
			// window notes that a follower fault lasted from..now.
			window := func(from int64) {
				winMu.Lock()
				windows = append(windows, [2]int64{from, hist.now()})
				winMu.Unlock()
			}
			p := rng.Intn(110)
			if first {
				p = 100 // every run replaces a replica at least once
			} else if p >= 100 && replaced == pchaosReplaces {
				p = rng.Intn(100)
			}
			switch {
			case p >= 100: // replace a replica (the leader, perhaps) by a new id
				name = "replace"
				i, id := rng.Intn(len(c.reps)), 4+replaced
				err = c.replace(i, id, cons[3+replaced], https[3+replaced], filepath.Join(dataRoot, fmt.Sprint("replica-", id)))
				replaced++
			case p < 20: // kill the leader (or anyone, when none is known)
				name = "kill-leader"
				if leader < 0 {
					name, leader = "kill-any", rng.Intn(len(c.reps))
				}
				c.kill(leader)
				pause(200, 1000)
				err = restart(leader)
			case p < 35: // kill a follower
				name = "kill-follower"
				victim := follower()
				from := hist.now()
				c.kill(victim)
				pause(200, 1000)
				if leader >= 0 {
					window(from)
				}
				err = restart(victim)
			case p < 50: // freeze a follower
				name = "freeze-follower"
				victim := follower()
				from := hist.now()
				c.signal(victim, syscall.SIGSTOP)
				pause(1000, 2000)
				c.signal(victim, syscall.SIGCONT)
				if leader >= 0 {
					window(from)
				}
			case p < 70: // freeze the leader past the election timeout, then resume it
				name = "pause-leader"
				if leader < 0 {
					name, leader = "pause-any", rng.Intn(len(c.reps))
				}
				c.signal(leader, syscall.SIGSTOP)
				pause(1000, 2000)
				c.signal(leader, syscall.SIGCONT)
			case p < 80: // kill a process while it is frozen
				name = "kill-frozen"
				victim := rng.Intn(len(c.reps))
				c.signal(victim, syscall.SIGSTOP)
				pause(200, 800)
				c.kill(victim)
				pause(200, 800)
				err = restart(victim)
			case p < 90: // kill two: no majority for a moment
				name = "kill-two"
				a := rng.Intn(len(c.reps))
				o := others(a)
				b := o[rng.Intn(len(o))]
				c.kill(a)
				c.kill(b)
				pause(200, 800)
				err = restart(a, b)
			case p < 100: // two down for long
				name = "two-down-long"
				a := rng.Intn(len(c.reps))
				o := others(a)
				b := o[rng.Intn(len(o))]
				c.kill(a)
				c.kill(b)
				pause(3000, 5000)
				err = restart(a, b)
			}
			faults[name]++
			if err != nil {
				nemesisErr <- fmt.Errorf("%s: %w", name, err)
				return
			}
			pause(1000, 3000)
		}
		nemesisErr <- c.exitedEarly()
	}()

	var nerr error
	select {
	case nerr = <-nemesisErr:
	case <-time.After(duration + 5*time.Minute):
		t.Fatalf("nemesis hung (seed %d)", seed)
	}
	close(stop)
	clientsDone := make(chan struct{})
	go func() { wg.Wait(); close(clientsDone) }()
	select {
	case <-clientsDone: // each request has its own timeout
	case <-time.After(30 * time.Second):
		t.Fatalf("clients hung after the chaos (seed %d)", seed)
	}
	if nerr != nil {
		t.Fatalf("nemesis (seed %d): %v", seed, nerr)
	}
	var kinds []string
	nfaults := 0
	for k, n := range faults {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
		nfaults += n
	}
	sort.Strings(kinds)
	t.Logf("faults injected: %s", strings.Join(kinds, " "))
	t.Logf("ops: %d ok, %d failed condition, %d unknown outcome (%d of them 504), %d certainly not applied (503), %d failed reads, %d refused connections, %d unexpected replies",
		stats.ok.Load(), stats.condFailed.Load(), stats.unknown.Load(), stats.indeterminate.Load(), stats.notApplied.Load(),
		stats.readsFailed.Load(), stats.noConn.Load(), stats.unexpected.Load())
	for _, u := range unexpected {
		t.Errorf("a reply the HTTP contract does not allow (seed %d): %s", seed, u)
	}
	t.Logf("transactions: %d answered, %d of them bank audits", txns.Load(), audits.Load())
	for i, err := range bankErrs {
		if i == 5 {
			t.Errorf("... and %d more bank violations", len(bankErrs)-i)
			break
		}
		t.Errorf("%v (seed %d)", err, seed)
	}
	if audits.Load() == 0 {
		t.Errorf("no bank audit succeeded during the chaos (seed %d): the invariant was never checked", seed)
	}

	// Every replica is back. Liveness: a write commits within a bound.
	hc := &http.Client{}
	t.Cleanup(hc.CloseIdleConnections)
	healed := time.Now()
	live := linearize.Input{Kind: linearize.Put, Key: "liveness", Value: "after-chaos"}
	waitUntil(t, "a write to commit after the chaos", func() bool {
		call := hist.now()
		out, class, _ := pchaosDo(hc, c.reps[0].url, live, 5*time.Second)
		hist.record(clients, live, call, out, class, hist.now())
		return class == outKnown
	})
	liveIn := time.Since(healed)

	// The replicas converge: the same applied point on all three.
	var applied uint64
	waitUntil(t, "every replica to apply the same slots", func() bool {
		var seqs []uint64
		for _, r := range c.reps {
			st, err := getStatus(r.url)
			if err != nil {
				return false
			}
			seqs = append(seqs, st.Applied)
		}
		applied = seqs[0]
		return seqs[0] > 0 && seqs[0] == seqs[1] && seqs[1] == seqs[2]
	})
	convergedIn := time.Since(healed)

	// Every acknowledged write is visible: a linearizable read of every key
	// through every replica (recorded, so porcupine checks them against the
	// whole history), and each replica's own copy agrees with it.
	for ri, r := range c.reps {
		for _, key := range keys {
			in := linearize.Input{Kind: linearize.Get, Key: key}
			var out linearize.Output
			waitUntil(t, fmt.Sprintf("a linearizable read of %s through replica %d", key, r.id), func() bool {
				call := hist.now()
				o, class, _ := pchaosDo(hc, r.url, in, 5*time.Second)
				hist.record(clients+txnClients+1+ri, in, call, o, class, hist.now())
				out = o
				return class == outKnown
			})
			if st, err := staleGet(hc, r.url, key); err != nil || !reflect.DeepEqual(st, out) {
				t.Errorf("key %s: replica %d's own copy is %s, its linearizable read %s (seed %d)",
					key, r.id, linearize.Describe(in, st), linearize.Describe(in, out), seed)
			}
			a := lastAcked[key]
			switch {
			case a.rev == 0:
			case !out.Found:
				// If the last acknowledged write was a put, a delete whose
				// outcome was unknown may have followed it: porcupine tells.
			case out.Found && out.Rev < a.rev:
				t.Errorf("key %s: replica %d reads %q@%d, older than the acknowledged write at rev %d (seed %d)",
					key, r.id, out.Value, out.Rev, a.rev, seed)
			case out.Found && out.Rev == a.rev && (!a.put || out.Value != a.value):
				t.Errorf("key %s: replica %d reads %q@%d, but the write acknowledged at that rev was %+v (seed %d)",
					key, r.id, out.Value, out.Rev, a, seed)
			}
		}
	}
	// And the bank: an audit through every replica sees the whole total.
	for ri, r := range c.reps {
		in := bank.Audit()
		var out linearize.Output
		waitUntil(t, fmt.Sprintf("a bank audit through replica %d", r.id), func() bool {
			call := hist.now()
			o, class, _ := pchaosDo(hc, r.url, in, 5*time.Second)
			hist.record(clients+txnClients+1+ri, in, call, o, class, hist.now())
			out = o
			return class == outKnown
		})
		if err := bank.Check(in, out); err != nil {
			t.Errorf("after the chaos, through replica %d: %v (seed %d)", r.id, err, seed)
		}
	}
	for i := range c.reps {
		c.countInstalls(i)
	}
	t.Logf("after the chaos: a write committed in %v, the replicas converged at applied_seq %d in %v; %d snapshot installs in all",
		liveIn.Round(time.Millisecond), applied, convergedIn.Round(time.Millisecond), c.installs.Load())

	// Definite answers during the follower faults.
	served := 0
	winMu.Lock()
	for _, w := range windows {
		for _, a := range answers {
			if a >= w[0] && a < w[1] {
				served++
				break
			}
		}
	}
	nwin := len(windows)
	winMu.Unlock()
	t.Logf("definite answers during %d of %d follower faults", served, nwin)
	if nwin > 0 && served*2 < nwin {
		t.Errorf("definite answers during only %d of %d follower faults (seed %d): the leader and a majority were up", served, nwin, seed)
	}

	// The canary's keys, through a linearizable listing.
	present := map[string]bool{}
	for after := ""; ; {
		q := url.Values{"prefix": {"canary/"}, "limit": {"1000"}}
		if after != "" {
			q.Set("start_after", after)
		}
		resp, err := hc.Get(c.reps[0].url + "/v1/kv?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct {
				Key string `json:"key"`
			} `json:"items"`
			More bool `json:"more"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("canary listing: %d %v", resp.StatusCode, err)
		}
		for _, it := range page.Items {
			present[it.Key] = true
			after = it.Key
		}
		if !page.More {
			break
		}
	}
	canaryMu.Lock()
	var canaryOK, canaryNot int
	for k, o := range canary {
		switch {
		case o == "ok" && !present[k]:
			t.Errorf("canary %s was acknowledged and is missing (seed %d)", k, seed)
		case o == "not-applied" && present[k]:
			t.Errorf("canary %s was answered 503 (certainly not applied), and was applied (seed %d)", k, seed)
		}
		switch o {
		case "ok":
			canaryOK++
		case "not-applied":
			canaryNot++
		}
	}
	canaryMu.Unlock()
	t.Logf("canary: %d keys acknowledged, %d answered certainly not applied", canaryOK, canaryNot)

	h := hist.snapshot()
	v, err := linearize.Check(h, fmt.Sprintf("rsml-pchaos-%d", seed))
	if err != nil {
		t.Logf("%v", err)
	}
	switch v.Result {
	case porcupine.Ok:
		t.Logf("history of %d ops is linearizable (checked in %v)", len(h), v.Elapsed.Round(time.Millisecond))
	case porcupine.Unknown:
		t.Fatalf("linearizability check of %d ops did not finish within %v (seed %d): inconclusive, not a violation; use a shorter RSML_PCHAOS_DURATION",
			len(h), v.Limit, seed)
	default:
		t.Fatalf("history of %d ops is %s (seed %d, replay with RSML_PCHAOS_SEED=%d); visualization: %s",
			len(h), v.Result, seed, seed, v.Visualization)
	}
	// One line in a fixed shape for scripts/chaos.sh's summary.
	t.Logf("pchaos-figures: ok=%d cond_failed=%d unknown=%d indeterminate_504=%d not_applied=%d reads_failed=%d no_conn=%d unexpected=%d txns=%d audits=%d faults=%d %s installs=%d check_ms=%d",
		stats.ok.Load(), stats.condFailed.Load(), stats.unknown.Load(), stats.indeterminate.Load(), stats.notApplied.Load(),
		stats.readsFailed.Load(), stats.noConn.Load(), stats.unexpected.Load(), txns.Load(), audits.Load(), nfaults, strings.Join(kinds, " "), c.installs.Load(), v.Elapsed.Milliseconds())

	// A clean stop still works after all that: exit 0 within 10s of SIGTERM.
	for _, r := range c.reps {
		c.mu.Lock()
		p := r.cur
		c.mu.Unlock()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			if p.err != nil {
				t.Errorf("replica %d exited with %v after SIGTERM", r.id, p.err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("replica %d did not exit within 10s of SIGTERM", r.id)
		}
	}
}
