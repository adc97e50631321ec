package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rsml-go/rsml/client"
)

// A rolling restart under load: three times, the replica that leads gets
// SIGTERM, exits 0 and is started again on its data directory. The leader
// hands over before it exits (it logs so), so no write fails; the longest
// write and the time until another replica leads are logged.
func TestProcessRollingRestart(t *testing.T) {
	c := newTrio(t, "--log-level", "info")
	procs := c.startAll()
	eps := make([]string, 3)
	for i, p := range procs {
		eps[i] = p.url
	}
	leaderOf := func() int {
		for i, p := range procs {
			if st, err := getStatus(p.url); err == nil && st.IsLeader {
				return i
			}
		}
		return -1
	}
	waitUntil(t, "a leader", func() bool { return leaderOf() >= 0 })
	cl, err := client.New(eps)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdleConnections()
	var mu sync.Mutex
	var failures []string
	var slowest time.Duration
	acked := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				start := time.Now()
				_, err := cl.Put(ctx, fmt.Sprintf("w%d-%d", w, i), []byte("v"), client.Cond{})
				took := time.Since(start)
				cancel()
				mu.Lock()
				slowest = max(slowest, took)
				if err != nil {
					failures = append(failures, fmt.Sprintf("%s (started %v, took %v)", err, start.Format("15:04:05.000000"), took))
				} else {
					acked++
				}
				mu.Unlock()
			}
		})
	}
	// Over TCP, through a follower: POST /v1/leader moves leadership to the
	// other follower.
	waitUntil(t, "some writes", func() bool { mu.Lock(); defer mu.Unlock(); return acked >= 50 })
	l := leaderOf()
	via, to := (l+1)%3, (l+2)%3
	code, body := httpDo(t, "POST", procs[via].url+"/v1/leader", fmt.Sprintf(`{"id": "%d"}`, to+1))
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"leader":"%d"`, to+1)) {
		t.Fatalf("POST /v1/leader {id: %d} through replica %d: %d %s", to+1, via+1, code, body)
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return acked
	}
	for round := range 3 {
		waitUntil(t, "writes before the restart", func() bool { return count() >= 100*(round+1) })
		l := leaderOf()
		if l < 0 {
			t.Fatalf("round %d: no leader", round)
		}
		sent := time.Now()
		t.Logf("SIGTERM at %s", sent.Format("15:04:05.000000"))
		_ = procs[l].cmd.Process.Signal(syscall.SIGTERM)
		waitUntil(t, "another replica to lead", func() bool { n := leaderOf(); return n >= 0 && n != l })
		moved := time.Since(sent)
		if err := <-procs[l].done; err != nil {
			t.Fatalf("round %d: replica %d exited with %v after SIGTERM; stderr:\n%s", round, l+1, err, procs[l].stderr)
		}
		if !strings.Contains(procs[l].stderr.String(), "leadership handed over") {
			t.Fatalf("round %d: the leader, replica %d, stopped without handing over; stderr:\n%s", round, l+1, procs[l].stderr)
		}
		t.Logf("round %d: replica %d (leader) stopped; another led %v after SIGTERM", round, l+1, moved)
		procs[l] = c.start(l)
		waitUntil(t, "the restarted replica to serve", func() bool { _, err := getStatus(procs[l].url); return err == nil })
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d writes failed during the rolling restart, first: %s", len(failures), failures[0])
	}
	t.Logf("%d writes, none failed; the slowest took %v", count(), slowest)
}
