package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rsml-go/rsml/client"
)

// A rolling restart under load: three times, the replica that leads gets
// SIGTERM, exits 0 and is started again on its data directory. The leader
// hands over before it exits (it logs so), so no write fails. Logged: the
// time until another replica leads, and for the transfer, each SIGTERM and
// the whole run, the writes' p99 and longest latency and the longest
// stretch when no write completed.
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
	var done []writeSpan
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
				done = append(done, writeSpan{start, start.Add(took)})
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
	var windows []window
	asked := time.Now()
	code, body := httpDo(t, "POST", procs[via].url+"/v1/leader", fmt.Sprintf(`{"id": "%d"}`, to+1))
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"leader":"%d"`, to+1)) {
		t.Fatalf("POST /v1/leader {id: %d} through replica %d: %d %s", to+1, via+1, code, body)
	}
	windows = append(windows, window{"leader transfer", asked, time.Now().Add(250 * time.Millisecond)})
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
		windows = append(windows, window{fmt.Sprintf("SIGTERM %d", round), sent, sent.Add(moved + 250*time.Millisecond)})
		procs[l] = c.start(l)
		waitUntil(t, "the restarted replica to serve", func() bool { _, err := getStatus(procs[l].url); return err == nil })
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d writes failed during the rolling restart, first: %s", len(failures), failures[0])
	}
	t.Logf("%d writes, none failed; the slowest took %v", count(), slowest)
	all := window{"whole run", done[0].start, done[len(done)-1].end}
	for _, w := range append(windows, all) {
		n, p99, longest, gap := w.measure(done)
		t.Logf("%s: %d writes, p99 %v, slowest %v, longest stall (no write completing) %v", w.name, n, p99, longest, gap)
	}
}

// writeSpan is when one write started and when its answer came.
type writeSpan struct{ start, end time.Time }

// window is a stretch of a run, from an event (a transfer asked, a
// SIGTERM) to 250 ms after its effect (the transfer answered, another
// replica leading).
type window struct {
	name     string
	from, to time.Time
}

// measure returns, for the writes that overlap w: their count, p99 and
// longest latency, and the longest time within w when no write completed.
func (w window) measure(spans []writeSpan) (n int, p99, longest, stall time.Duration) {
	var lat []time.Duration
	last := w.from
	var ends []time.Time
	runEnd := w.from
	for _, s := range spans {
		if s.end.After(runEnd) {
			runEnd = s.end
		}
	}
	if runEnd.Before(w.to) {
		w.to = runEnd // the run ended before w did
	}
	for _, s := range spans {
		if s.end.Before(w.from) || s.start.After(w.to) {
			continue
		}
		lat = append(lat, s.end.Sub(s.start))
		ends = append(ends, s.end)
	}
	if len(lat) == 0 {
		return 0, 0, 0, w.to.Sub(w.from)
	}
	slices.Sort(lat)
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	for _, e := range ends {
		if e.After(last) {
			stall = max(stall, e.Sub(last))
			last = e
		}
	}
	stall = max(stall, w.to.Sub(last))
	return len(lat), lat[len(lat)*99/100], lat[len(lat)-1], stall
}
