package node

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rsml-go/rsml/actors/executor"
	"github.com/rsml-go/rsml/internal/powercut"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// The whole cluster loses power, again and again: each cut loses every write
// not fsynced on every replica at once, and each restart must still hold
// every write acknowledged before the cut, with its rev, and the replicas
// must agree. A SIGKILL cannot test this (the page cache survives it): the
// cut is simulated under the data directories (internal/powercut), each
// fsync taking 2ms so that a reply sent before its record is durable has a
// window to be caught in.
//
// Snapshots, acceptor log truncation and log generations all run within a
// round, so the cut also lands in them. RSML_POWER_ROUNDS sets the number of
// cuts (default 4).
func TestPowerLossKeepsAcknowledgedWrites(t *testing.T) {
	rounds := 4
	if s := os.Getenv("RSML_POWER_ROUNDS"); s != "" {
		var err error
		if rounds, err = strconv.Atoi(s); err != nil {
			t.Fatalf("RSML_POWER_ROUNDS: %v", err)
		}
	}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("power seed %d", seed)
	root := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	rec, err := powercut.Install(root, 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Uninstall()

	a := newAcked()
	for round := 0; round <= rounds; round++ {
		tc := startPowerCluster(t, root)
		// Everything acknowledged before the earlier cuts is there, once a
		// leader has recovered the slots the chosen logs lost: a write
		// through it follows them all.
		barrier := fmt.Sprintf("barrier-%d", round)
		if _, err := tc.leader().Put(ctxFor(t, 10*time.Second), barrier, []byte("x"), kv.Cond{}); err != nil {
			t.Fatalf("round %d: a write after the restart: %v", round, err)
		}
		a.check(tc.testCluster)
		tc.sameState()
		if round == rounds {
			tc.stop()
			t.Logf("power-figures: cuts=%d acked=%d fsyncs=%d", rounds, a.len(), rec.Syncs())
			break
		}
		// Cut once a random number of new writes were acknowledged: early
		// (elections, first snapshot) or late (compactions).
		target := a.len() + 50 + rng.Intn(600)
		var cut atomic.Bool
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					n := tc.Node(tc.IDs()[(w+i)%len(tc.IDs())])
					key, val := fmt.Sprintf("r%d-w%d-%d", round, w, i), fmt.Sprintf("v%d", i)
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					r, err := n.Put(ctx, key, []byte(val), kv.Cond{})
					cancel()
					// Only a write acknowledged before the cut must survive;
					// the flag is read after the answer, so one read as
					// not yet cut was acknowledged before the cut.
					if err == nil && r.OK && !cut.Load() {
						a.add(key, val, r.Rev)
					}
				}
			})
		}
		waitFor(t, func() bool { return a.len() >= target })
		rec.Cut()
		cut.Store(true)
		close(stop)
		wg.Wait()
		tc.stop()
		if err := rec.Restore(); err != nil {
			t.Fatalf("round %d: restore after the cut: %v", round, err)
		}
		t.Logf("round %d: cut after %d acknowledged writes, %d fsyncs recorded so far", round, a.len(), rec.Syncs())
	}
}

type powerCluster struct {
	*testCluster
}

// startPowerCluster starts three durable replicas on the data directories
// under root, snapshotting and compacting often.
func startPowerCluster(t *testing.T, root string) *powerCluster {
	t.Helper()
	tc := &testCluster{t: t, recs: map[msg.NodeID]*recorder{}}
	var mu sync.Mutex
	c, err := StartCluster(ctxFor(t, 10*time.Second), ClusterConfig{Nodes: 3, Seed: time.Now().UnixNano(),
		Template: Config{SnapshotEvery: 150, Logger: testLogger()},
		NewStore: func(id msg.NodeID) (storage.Store, error) {
			return storage.OpenDir(filepath.Join(root, id.String()), "power", id, discard, storage.WithCompactBytes(32<<10))
		},
		NewStateMachine: func(id msg.NodeID) executor.StateMachine {
			mu.Lock()
			defer mu.Unlock()
			r := newRecorder()
			tc.recs[id] = r
			return r
		}})
	if err != nil {
		t.Fatalf("start the cluster on the restored data: %v", err)
	}
	tc.Cluster = c
	return &powerCluster{tc}
}

func (tc *powerCluster) stop() {
	tc.t.Helper()
	if err := tc.Stop(ctxFor(tc.t, 15*time.Second)); err != nil {
		tc.t.Fatalf("stop the cluster: %v", err)
	}
}

// sameState asserts that the replicas, converged, hold the same state: after
// a restart they replay from different snapshots, so their records of
// applied commands differ in length, but not their states.
func (tc *powerCluster) sameState() {
	tc.t.Helper()
	tc.converge()
	var ref msg.NodeID
	for _, id := range tc.IDs() {
		if ref == 0 {
			ref = id
			continue
		}
		if d, d0 := tc.recs[id].Digest(), tc.recs[ref].Digest(); d != d0 {
			tc.t.Fatalf("replica %d state digest %x differs from replica %d's %x", id, d, ref, d0)
		}
	}
}
