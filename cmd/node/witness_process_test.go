package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rsml-go/rsml/client"
)

// A witness replaces a full replica of a process cluster: it joins with
// run --join --witness, is added with the acceptor role only, and the full
// replica is removed. The cluster keeps writing with the witness in its
// quorums; the witness answers reads and writes 503 "witness", and a
// restart without --witness stays a witness (the data directory says so).
// Once the full replicas snapshot, it truncates its acceptor log behind
// them: the floors come through the log.
func TestProcessWitness(t *testing.T) {
	c := newTrio(t, "--snapshot-every", "50")
	procs := c.startAll()
	waitUntil(t, "a leader", func() bool {
		for _, p := range procs {
			if st, err := getStatus(p.url); err == nil && st.IsLeader {
				return true
			}
		}
		return false
	})
	cons, https := freePorts(t, 1), freePorts(t, 1)
	dir := filepath.Join(t.TempDir(), "witness")
	witnessArgs := []string{"run", "--id", "4", "--join", procs[0].url + "," + procs[1].url, "--bind", cons[0], "--witness",
		"--http", https[0], "--cluster-id", "proc-test", "--log-format", "json", "--log-level", "info",
		"--storage", "nutsdb", "--data-dir", dir, "--snapshot-every", "50"}
	w := launch(t, c.bin, https[0], witnessArgs...)
	code, body := httpDo(t, "POST", procs[0].url+"/v1/members",
		fmt.Sprintf(`{"id": "4", "address": %q, "http": %q, "roles": ["acceptor"]}`, cons[0], w.url))
	if code != 200 {
		t.Fatalf("add the witness: %d %s; its stderr:\n%s", code, body, w.stderr)
	}
	if code, body := httpDo(t, "DELETE", procs[0].url+"/v1/members/3", ""); code != 200 {
		t.Fatalf("remove 3: %d %s", code, body)
	}
	select {
	case err := <-procs[2].done:
		if err != nil {
			t.Fatalf("removed replica 3 exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("removed replica 3 did not exit")
	}
	cl, err := client.New([]string{procs[0].url, procs[1].url})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	put := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if _, err := cl.Put(ctx, fmt.Sprintf("k%04d", i), []byte(strings.Repeat("v", 512)), client.Cond{}); err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
		}
	}
	put(0, 100)
	// The witness counts in quorums: with replica 2 down, 1 and the witness
	// choose.
	_ = procs[1].cmd.Process.Signal(syscall.SIGKILL)
	<-procs[1].exited
	// An idle connection to replica 2 would carry the next put, which then
	// fails after it was sent: outcome unknown, by the client's contract.
	// Without it the put's dial is refused and the put goes to replica 1.
	cl.CloseIdleConnections()
	put(100, 200)

	if code, body := httpDo(t, "GET", w.url+"/v1/kv/k0001", ""); code != 503 || !strings.Contains(body, `"witness"`) {
		t.Fatalf("GET through the witness: %d %s, want 503 witness", code, body)
	}
	if code, body := httpDo(t, "PUT", w.url+"/v1/kv/x", "v"); code != 503 || !strings.Contains(body, `"witness"`) {
		t.Fatalf("PUT through the witness: %d %s, want 503 witness", code, body)
	}
	// Restarted without --witness, on its data directory: still a witness.
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.exited
	var again []string
	for _, a := range witnessArgs {
		if a != "--witness" {
			again = append(again, a)
		}
	}
	w = launch(t, c.bin, https[0], again...)
	waitUntil(t, "the witness to serve its status", func() bool {
		st, err := getStatus(w.url)
		return err == nil && st.Witness
	})
	procs[1] = c.start(1)
	put(200, 1000)
	// Slots are batches: count them by the leader's commit point.
	var commit float64
	for _, p := range procs[:2] {
		if v, ok := scrape(p.url, "rsml_commit_seq"); ok {
			commit = max(commit, v)
		}
	}
	waitUntil(t, "the full replicas' acceptor logs to be truncated", func() bool {
		v, ok := scrape(procs[0].url, "rsml_acceptor_truncated")
		return ok && v >= commit/2
	})
	waitUntil(t, "the witness's acceptor log to be truncated behind a floor", func() bool {
		v, ok := scrape(w.url, "rsml_acceptor_truncated")
		return ok && v > 0
	})
	for i := 0; i < 1000; i += 97 {
		v, _, err := cl.Get(ctx, fmt.Sprintf("k%04d", i))
		if err != nil || len(v) != 512 {
			t.Fatalf("read k%04d: %d bytes, %v", i, len(v), err)
		}
	}
}
