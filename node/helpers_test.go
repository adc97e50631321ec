package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rsml-go/rsml/actors/executor"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// testLogger returns a logger that shows replica logs when RSML_TEST_LOG is
// set, for debugging a failing run.
func testLogger() *slog.Logger {
	if os.Getenv("RSML_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return discard
}

// recorder wraps the KV store and records every applied command in order, so
// tests can compare the sequences replicas applied. A restore (executor
// restart) rewinds the record to the snapshot it restores, as the executor
// then replays what follows.
type recorder struct {
	*kv.Store
	mu       sync.Mutex
	log      []string
	snapLens map[string]int
}

func newRecorder() *recorder { return &recorder{Store: kv.New(), snapLens: map[string]int{}} }

func (r *recorder) Apply(rev uint64, cmd []byte) []byte {
	r.mu.Lock()
	r.log = append(r.log, fmt.Sprintf("%d:%x", rev, cmd))
	r.mu.Unlock()
	return r.Store.Apply(rev, cmd)
}

func (r *recorder) Snapshot(w io.Writer) error {
	var buf bytes.Buffer
	if err := r.Store.Snapshot(&buf); err != nil {
		return err
	}
	r.mu.Lock()
	r.snapLens[buf.String()] = len(r.log)
	r.mu.Unlock()
	_, err := w.Write(buf.Bytes())
	return err
}

// Capture records, as Snapshot does, how much of the record the snapshot
// covers: the length when it is captured. (Without it the embedded Store's
// Capture would be used, and the record would never rewind.)
func (r *recorder) Capture() func(io.Writer) error {
	write := r.Store.Capture()
	r.mu.Lock()
	n := len(r.log)
	r.mu.Unlock()
	return func(w io.Writer) error {
		var buf bytes.Buffer
		if err := write(&buf); err != nil {
			return err
		}
		r.mu.Lock()
		r.snapLens[buf.String()] = n
		r.mu.Unlock()
		_, err := w.Write(buf.Bytes())
		return err
	}
}

func (r *recorder) Restore(rd io.Reader) error {
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if n, ok := r.snapLens[string(b)]; ok {
		r.log = r.log[:n]
	}
	r.mu.Unlock()
	return r.Store.Restore(bytes.NewReader(b))
}

func (r *recorder) sequence() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

type testCluster struct {
	*Cluster
	t    *testing.T
	recs map[msg.NodeID]*recorder
}

func startCluster(t *testing.T, nodes int, tmpl Config) *testCluster {
	t.Helper()
	return startClusterStore(t, nodes, tmpl, nil)
}

// startDurableCluster is startCluster with each replica on nutsdb in its own
// data directory.
func startDurableCluster(t *testing.T, nodes int, tmpl Config) *testCluster {
	t.Helper()
	dir := t.TempDir()
	return startClusterStore(t, nodes, tmpl, func(id msg.NodeID) (storage.Store, error) {
		return storage.OpenDir(filepath.Join(dir, id.String()), "test", id, discard)
	})
}

func startClusterStore(t *testing.T, nodes int, tmpl Config, newStore func(msg.NodeID) (storage.Store, error)) *testCluster {
	t.Helper()
	seed := time.Now().UnixNano()
	t.Logf("cluster seed %d", seed)
	if tmpl.Logger == nil {
		tmpl.Logger = testLogger()
	}
	tc := &testCluster{t: t, recs: map[msg.NodeID]*recorder{}}
	var mu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := StartCluster(ctx, ClusterConfig{Nodes: nodes, Seed: seed, Template: tmpl, NewStore: newStore,
		NewStateMachine: func(id msg.NodeID) executor.StateMachine {
			mu.Lock()
			defer mu.Unlock()
			r := newRecorder()
			tc.recs[id] = r
			return r
		}})
	if err != nil {
		t.Fatal(err)
	}
	tc.Cluster = c
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
	})
	return tc
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (tc *testCluster) leader() *Node {
	tc.t.Helper()
	l, err := tc.WaitLeader(ctxFor(tc.t, 10*time.Second))
	if err != nil {
		tc.t.Fatal(err)
	}
	return l
}

// follower returns a running replica other than l.
func (tc *testCluster) follower(l *Node) *Node {
	tc.t.Helper()
	for _, n := range tc.Nodes() {
		if n.ID() != l.ID() {
			return n
		}
	}
	tc.t.Fatalf("no replica other than %d is running", l.ID())
	return nil
}

// converge waits until every running replica has applied the same number of
// slots and returns that number.
func (tc *testCluster) converge() uint64 {
	tc.t.Helper()
	ctx := ctxFor(tc.t, 20*time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var lo, hi uint64 = 1<<64 - 1, 0
		for _, n := range tc.Nodes() {
			a := n.Status().Applied
			lo, hi = min(lo, a), max(hi, a)
		}
		if lo == hi {
			// Also wait for the leader's commit point to be applied everywhere.
			if l := tc.Leader(); l == nil || l.Status().Commit == hi {
				return hi
			}
		}
		select {
		case <-ctx.Done():
			for _, n := range tc.Nodes() {
				tc.t.Logf("replica %d: %+v", n.ID(), n.Status())
			}
			tc.t.Fatalf("replicas did not converge: applied %d..%d", lo, hi)
		case <-tick.C:
		}
	}
}

// checkSameSequence asserts that every running replica applied exactly the
// same commands with the same revs.
func (tc *testCluster) checkSameSequence() []string {
	tc.t.Helper()
	tc.converge()
	var ref []string
	var refID msg.NodeID
	for _, n := range tc.Nodes() {
		seq := tc.recs[n.ID()].sequence()
		if ref == nil {
			ref, refID = seq, n.ID()
			continue
		}
		if len(seq) != len(ref) {
			tc.t.Fatalf("replica %d applied %d commands, replica %d applied %d", n.ID(), len(seq), refID, len(ref))
		}
		for i := range seq {
			if seq[i] != ref[i] {
				tc.t.Fatalf("replica %d and %d differ at command %d: %s vs %s", n.ID(), refID, i, seq[i], ref[i])
			}
		}
	}
	for _, n := range tc.Nodes() {
		if d, d0 := tc.recs[n.ID()].Digest(), tc.recs[refID].Digest(); d != d0 {
			tc.t.Fatalf("replica %d state digest %x differs from replica %d's %x", n.ID(), d, refID, d0)
		}
	}
	return ref
}

// acked records writes that were acknowledged, to check none is lost.
type acked struct {
	mu   sync.Mutex
	vals map[string]ackedWrite
}

type ackedWrite struct {
	value string
	rev   uint64
}

func newAcked() *acked { return &acked{vals: map[string]ackedWrite{}} }

func (a *acked) add(key, value string, rev uint64) {
	a.mu.Lock()
	a.vals[key] = ackedWrite{value, rev}
	a.mu.Unlock()
}

func (a *acked) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.vals)
}

// check asserts every acknowledged write is readable, with its rev, on every
// running replica (after convergence, so stale reads see everything).
func (a *acked) check(tc *testCluster) {
	tc.t.Helper()
	tc.converge()
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx := ctxFor(tc.t, 20*time.Second)
	for _, n := range tc.Nodes() {
		for k, w := range a.vals {
			v, rev, ok, err := n.StaleGet(ctx, k)
			if err != nil || !ok || string(v) != w.value || rev != w.rev {
				tc.t.Fatalf("replica %d lost acknowledged write %s=%s@%d: got %q@%d found=%v err=%v", n.ID(), k, w.value, w.rev, v, rev, ok, err)
			}
		}
	}
}

// load runs writers that put unique keys through the given nodes until stop
// is closed, recording what was acknowledged. It returns when all writers
// have finished.
func load(tc *testCluster, a *acked, writers int, stop <-chan struct{}, prefix string) (wait func() (ok, failed int)) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	okN, failN := 0, 0
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				nodes := tc.Nodes()
				if len(nodes) == 0 {
					return
				}
				n := nodes[(w+i)%len(nodes)]
				key := fmt.Sprintf("%s-%d-%d", prefix, w, i)
				val := fmt.Sprintf("v%d", i)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				r, err := n.Put(ctx, key, []byte(val), kv.Cond{})
				cancel()
				mu.Lock()
				if err == nil && r.OK {
					a.add(key, val, r.Rev)
					okN++
				} else {
					failN++
				}
				mu.Unlock()
			}
		}(w)
	}
	return func() (int, int) {
		wg.Wait()
		return okN, failN
	}
}
