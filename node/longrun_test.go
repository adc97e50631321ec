//go:build !race

// The race detector slows writes tenfold, too few to show a bound in a short
// run, and keeps a nutsdb goroutine per closed log generation; make test runs
// this in its non-race pass.

package node

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// longRunDuration is how long TestLongRunBounded writes: RSML_LONGRUN_DURATION
// (make longrun), or in make test (short true) until enough was written to
// show a bound: 6 to 12 s as fast as the disk goes, at most a minute.
func longRunDuration(t *testing.T) (d time.Duration, short bool) {
	if s := os.Getenv("RSML_LONGRUN_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("RSML_LONGRUN_DURATION: %v", err)
		}
		return d, false
	}
	return time.Minute, true
}

// du is the disk space (allocated blocks) of every file under dir.
func du(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				total += st.Blocks * 512
			}
		}
		return nil
	})
	return total
}

type longRunSample struct {
	ops             int64
	disk, heap, rss int64
	goroutines      int
}

// rssBytes is the process's resident set (0 where /proc is missing).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestLongRunBounded writes without pause to a durable 3-replica cluster
// over a fixed key space and samples disk use, live heap and goroutines. With
// snapshots, truncation and log generations, none of them may keep growing
// with what was written: the last quarter of the run may not exceed the
// second quarter by more than a small slack, while the bytes written grow
// linearly. Without truncation the disk and the heap both grow by the bytes
// written in between, which is many times the slack.
func TestLongRunBounded(t *testing.T) {
	// longRunHeapBound: see its check below.
	const longRunHeapBound = 40 << 20
	const (
		valueSize    = 512
		keys         = 1000
		writers      = 16
		compactBytes = 1 << 20
	)
	dur, short := longRunDuration(t)
	// Slack: per replica, both logs may each hold up to two generations'
	// worth, plus two snapshots of the state and nutsdb's fixed files.
	stateSize := int64(keys * (valueSize + 32))
	diskSlack := int64(3 * (2*2*compactBytes + 2*stateSize + 1<<20))
	dir := t.TempDir()
	// The plain KV store: the other tests' recorder keeps every command.
	c, err := StartCluster(ctxFor(t, 10*time.Second), ClusterConfig{Nodes: 3, Template: Config{SnapshotEvery: 2000, Logger: testLogger()},
		NewStore: func(id msg.NodeID) (storage.Store, error) {
			return storage.OpenDir(filepath.Join(dir, id.String()), "test", id, discard, storage.WithCompactBytes(compactBytes))
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(ctxFor(t, 15*time.Second)); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
	})
	tc := &testCluster{Cluster: c, t: t}
	l := tc.leader()
	ctx, cancel := context.WithTimeout(context.Background(), dur+time.Minute)
	defer cancel()

	var ops, fails atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			val := make([]byte, valueSize)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := range val {
					val[i] = byte(rng.Uint32())
				}
				if _, err := l.Put(ctx, fmt.Sprintf("key-%d", rng.IntN(keys)), val, kv.Cond{}); err != nil {
					fails.Add(1)
					continue
				}
				ops.Add(1)
			}
		}(w)
	}

	var samples []longRunSample
	interval := dur / 24
	if short {
		interval = 250 * time.Millisecond
	}
	tick := time.NewTicker(interval)
	started := time.Now()
	deadline := time.After(dur)
	var ms runtime.MemStats
sampling:
	for {
		select {
		case <-tick.C:
			runtime.GC()
			runtime.ReadMemStats(&ms)
			samples = append(samples, longRunSample{ops: ops.Load(), disk: du(dir), heap: int64(ms.HeapAlloc),
				rss: rssBytes(), goroutines: runtime.NumGoroutine()})
			// Short: stop once the writes between the quarters (three
			// quarters of them) hold three times the slack.
			if short && len(samples) >= 24 && ops.Load()*valueSize*3 >= 4*diskSlack {
				break sampling
			}
		case <-deadline:
			break sampling
		}
	}
	tick.Stop()
	dur = time.Since(started).Round(time.Millisecond)
	if p := os.Getenv("RSML_LONGRUN_HEAPPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			runtime.GC()
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	close(stop)
	wg.Wait()
	if f := fails.Load(); f > 0 {
		t.Fatalf("%d writes failed in a fault-free run", f)
	}

	n := len(samples)
	peak := func(from, to int, f func(longRunSample) int64) int64 {
		var m int64
		for _, s := range samples[from:to] {
			m = max(m, f(s))
		}
		return m
	}
	median := func(from, to int, f func(longRunSample) int64) int64 {
		var v []int64
		for _, s := range samples[from:to] {
			v = append(v, f(s))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	disk := func(s longRunSample) int64 { return s.disk }
	heap := func(s longRunSample) int64 { return s.heap }
	gor := func(s longRunSample) int64 { return int64(s.goroutines) }
	rss := func(s longRunSample) int64 { return s.rss }
	q2, q4 := [2]int{n / 4, n / 2}, [2]int{3 * n / 4, n}
	written := samples[n-1].ops * valueSize * 3 // each replica logs every value (twice: acceptor and chosen)
	between := (samples[q4[1]-1].ops - samples[q2[0]].ops) * valueSize * 3
	t.Logf("%d writes of %d B in %v (%.0f/s); values logged by all replicas %d MiB, %d MiB of them between the second and the last quarter",
		samples[n-1].ops, valueSize, dur, float64(samples[n-1].ops)/dur.Seconds(), written>>20, between>>20)
	t.Logf("disk peak: second quarter %d MiB, last quarter %d MiB; live heap peak: %d MiB, %d MiB (medians %d, %d); goroutines: %d, %d",
		peak(q2[0], q2[1], disk)>>20, peak(q4[0], q4[1], disk)>>20, peak(q2[0], q2[1], heap)>>20,
		peak(q4[0], q4[1], heap)>>20, median(q2[0], q2[1], heap)>>20, median(q4[0], q4[1], heap)>>20,
		peak(q2[0], q2[1], gor), peak(q4[0], q4[1], gor))
	t.Logf("RSS of the process (3 replicas and 16 writers): peak %d MiB, %d MiB; median %d MiB, %d MiB",
		peak(q2[0], q2[1], rss)>>20, peak(q4[0], q4[1], rss)>>20, median(q2[0], q2[1], rss)>>20, median(q4[0], q4[1], rss)>>20)

	if between < 2*diskSlack {
		t.Fatalf("only %d MiB written between the quarters; the run is too short to show a bound (slack %d MiB)", between>>20, diskSlack>>20)
	}
	if d2, d4 := peak(q2[0], q2[1], disk), peak(q4[0], q4[1], disk); d4 > d2+diskSlack {
		t.Errorf("disk grew from %d MiB to %d MiB (slack %d MiB)", d2>>20, d4>>20, diskSlack>>20)
	}
	// The live heap is a sawtooth: the acceptor log's compaction holds a
	// whole generation's encoding for a moment, so a quarter's peak depends
	// on where the samples fall. A leak lifts the middle of the quarter; the
	// median shows it without the phase.
	if h2, h4 := median(q2[0], q2[1], heap), median(q4[0], q4[1], heap); h4 > h2+h2/2+16<<20 {
		t.Errorf("median live heap grew from %d MiB to %d MiB", h2>>20, h4>>20)
	}
	// And it is small: three replicas whose logs keep values in memory only
	// until they are durable, and chosen-log caches of 4 MiB. Values kept
	// until truncation (every 2000 writes of 512 B, back to the previous
	// snapshot) would add about 2 MiB per replica and more with the
	// protocol's copies; the bound leaves room for the machine.
	if h := median(q4[0], q4[1], heap); h > longRunHeapBound {
		t.Errorf("median live heap %d MiB in the last quarter, bound %d MiB", h>>20, longRunHeapBound>>20)
	}
	if g2, g4 := peak(q2[0], q2[1], gor), peak(q4[0], q4[1], gor); g4 > g2+64 {
		t.Errorf("goroutines grew from %d to %d", g2, g4)
	}
	tc.converge()
}
