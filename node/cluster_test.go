package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
)

func TestWritesCommitAndEveryReplicaAppliesTheSameSequence(t *testing.T) {
	for _, nodes := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d replicas", nodes), func(t *testing.T) {
			tc := startCluster(t, nodes, Config{})
			tc.leader()
			a := newAcked()
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					ctx := ctxFor(t, 20*time.Second)
					for i := 0; i < 50; i++ {
						n := tc.Nodes()[(w+i)%nodes]
						key, val := fmt.Sprintf("k%d-%d", w, i), fmt.Sprintf("v%d", i)
						r, err := n.Put(ctx, key, []byte(val), kv.Cond{})
						if err != nil || !r.OK {
							t.Errorf("put %s via %d: %+v %v", key, n.ID(), r, err)
							return
						}
						a.add(key, val, r.Rev)
						// A linearizable read through any replica sees the write.
						got, rev, ok, err := tc.Nodes()[(w+i+1)%nodes].Get(ctx, key)
						if err != nil || !ok || string(got) != val || rev != r.Rev {
							t.Errorf("read-your-write %s: %q@%d %v %v, want %q@%d", key, got, rev, ok, err, val, r.Rev)
							return
						}
					}
				}(w)
			}
			wg.Wait()
			seq := tc.checkSameSequence()
			if len(seq) != 200 {
				t.Fatalf("applied %d commands, want 200", len(seq))
			}
			// Revs are 1..200 with no gap or repeat.
			for i, s := range seq {
				if want := fmt.Sprintf("%d:", i+1); s[:len(want)] != want {
					t.Fatalf("command %d has rev %s, want %d", i, s, i+1)
				}
			}
			a.check(tc)
		})
	}
}

func TestLeaderStoppedNewLeaderTakesOver(t *testing.T) {
	for _, nodes := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d replicas", nodes), func(t *testing.T) {
			var tc *testCluster
			if nodes == 5 {
				// Durable storage: the stopped leader restarts from disk.
				tc = startDurableCluster(t, nodes, Config{})
			} else {
				tc = startCluster(t, nodes, Config{})
			}
			old := tc.leader()
			a := newAcked()
			stop := make(chan struct{})
			wait := load(tc, a, 4, stop, "w")
			// Let some writes land, then kill the leader under load.
			waitFor(t, func() bool { return a.len() >= 50 })
			start := time.Now()
			if err := tc.StopNode(ctxFor(t, 10*time.Second), old.ID()); err != nil {
				t.Fatal(err)
			}
			nl, err := tc.WaitNewLeader(ctxFor(t, 10*time.Second), old.ID())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("new leader %d after %v", nl.ID(), time.Since(start))
			before := a.len()
			waitFor(t, func() bool { return a.len() >= before+50 })
			close(stop)
			ok, failed := wait()
			t.Logf("%d writes acknowledged, %d failed or unknown", ok, failed)
			// The old leader comes back and must catch up.
			if err := tc.StartNode(ctxFor(t, 10*time.Second), old.ID()); err != nil {
				t.Fatal(err)
			}
			tc.checkSameSequence()
			a.check(tc)
		})
	}
}

func TestLeaderPartitionedMinorityCannotCommit(t *testing.T) {
	tc := startCluster(t, 5, Config{})
	old := tc.leader()
	ctx := ctxFor(t, 30*time.Second)
	if _, err := old.Put(ctx, "before", []byte("1"), kv.Cond{}); err != nil {
		t.Fatal(err)
	}
	// The old leader and one follower form a minority.
	var minority, majority []msg.NodeID
	for _, id := range tc.IDs() {
		if id == old.ID() || (len(minority) < 2 && id != old.ID() && len(minority) == 1) {
			minority = append(minority, id)
		} else {
			majority = append(majority, id)
		}
	}
	if len(minority) == 1 {
		minority = append(minority, majority[0])
		majority = majority[1:]
	}
	tc.Net.Partition(minority, majority)
	t.Logf("minority %v, majority %v", minority, majority)

	// The majority elects a leader and keeps committing.
	var nl *Node
	waitFor(t, func() bool {
		l := tc.Leader()
		if l != nil && slices.Contains(majority, l.ID()) {
			nl = l
			return true
		}
		return false
	})
	a := newAcked()
	for i := 0; i < 20; i++ {
		r, err := tc.Node(majority[i%len(majority)]).Put(ctx, fmt.Sprintf("maj%d", i), []byte("x"), kv.Cond{})
		if err != nil {
			t.Fatalf("majority write %d: %v", i, err)
		}
		a.add(fmt.Sprintf("maj%d", i), "x", r.Rev)
	}
	// The minority cannot: its writes and linearizable reads fail.
	for _, id := range minority {
		sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := tc.Node(id).Put(sctx, "minority", []byte("x"), kv.Cond{})
		cancel()
		if err == nil {
			t.Fatalf("minority replica %d committed a write", id)
		}
		if !errors.Is(err, ErrNoLeader) && !errors.Is(err, ErrIndeterminate) {
			t.Fatalf("minority write: unexpected error %v", err)
		}
		sctx, cancel = context.WithTimeout(ctx, 500*time.Millisecond)
		_, _, _, err = tc.Node(id).Get(sctx, "maj0")
		cancel()
		if err == nil {
			t.Fatalf("minority replica %d served a linearizable read", id)
		}
	}
	if applied := tc.Node(minority[0]).Status().Applied; applied >= nl.Status().Applied {
		t.Fatalf("minority applied %d, majority %d: the minority kept up", applied, nl.Status().Applied)
	}
	// Healed, the minority catches up.
	tc.Net.Heal()
	tc.checkSameSequence()
	a.check(tc)
}

func TestHealedReplicaCatchesUp(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	l := tc.leader()
	var lagger msg.NodeID
	for _, id := range tc.IDs() {
		if id != l.ID() {
			lagger = id
			break
		}
	}
	tc.Net.Isolate(lagger)
	ctx := ctxFor(t, 30*time.Second)
	a := newAcked()
	for i := 0; i < 300; i++ {
		key := fmt.Sprintf("k%d", i)
		r, err := l.Put(ctx, key, []byte(key), kv.Cond{})
		if err != nil {
			t.Fatal(err)
		}
		a.add(key, key, r.Rev)
	}
	if got := tc.Node(lagger).Status().Applied; got >= l.Status().Applied {
		t.Fatalf("isolated replica applied %d, as much as the leader", got)
	}
	tc.Net.Heal()
	tc.checkSameSequence()
	a.check(tc)
}

func TestRolePanicsAreSurvived(t *testing.T) {
	t.Run("memory", func(t *testing.T) { rolePanics(t, startCluster(t, 3, Config{SnapshotEvery: 50})) })
	t.Run("nutsdb", func(t *testing.T) { rolePanics(t, startDurableCluster(t, 3, Config{SnapshotEvery: 50})) })
}

func rolePanics(t *testing.T, tc *testCluster) {
	tc.leader()
	a := newAcked()
	stop := make(chan struct{})
	wait := load(tc, a, 3, stop, "p")
	for _, role := range []msg.Role{msg.RoleAcceptor, msg.RoleLearner, msg.RoleExecutor, msg.RoleProposer} {
		for _, target := range []string{"leader", "follower"} {
			l := tc.leader()
			n := l
			if target == "follower" {
				for _, m := range tc.Nodes() {
					if m.ID() != l.ID() {
						n = m
						break
					}
				}
			}
			before := a.len()
			n.InjectCrash(role)
			t.Logf("crashed the %s of %s %d", role, target, n.ID())
			// Writes must keep being acknowledged.
			waitFor(t, func() bool { return a.len() >= before+30 })
		}
	}
	close(stop)
	ok, failed := wait()
	t.Logf("%d writes acknowledged, %d failed or unknown", ok, failed)
	tc.checkSameSequence()
	a.check(tc)
}

func TestConditionalWrites(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	n := tc.Nodes()[1]
	ctx := ctxFor(t, 10*time.Second)
	r1, err := n.Put(ctx, "k", []byte("a"), kv.Cond{})
	if err != nil || !r1.OK {
		t.Fatal(r1, err)
	}
	r2, err := n.Put(ctx, "k", []byte("b"), kv.IfRev(r1.Rev))
	if err != nil || !r2.OK {
		t.Fatalf("put with the current rev: %+v %v", r2, err)
	}
	stale, err := n.Put(ctx, "k", []byte("c"), kv.IfRev(r1.Rev))
	if err != nil {
		t.Fatal(err)
	}
	if stale.OK {
		t.Fatal("a put with a stale rev succeeded")
	}
	if stale.Rev != r2.Rev+1 {
		t.Fatalf("failed condition took rev %d, want %d (it still consumes a rev)", stale.Rev, r2.Rev+1)
	}
	if v, rev, _, _ := n.Get(ctx, "k"); string(v) != "b" || rev != r2.Rev {
		t.Fatalf("after a failed condition k = %q@%d, want b@%d", v, rev, r2.Rev)
	}
	if r, _ := n.Put(ctx, "k", []byte("d"), kv.IfAbsent()); r.OK {
		t.Fatal("If-None-Match on an existing key succeeded")
	}
	if r, _ := n.Delete(ctx, "k", kv.IfRev(r1.Rev)); r.OK || r.Deleted {
		t.Fatal("delete with a stale rev succeeded")
	}
	if r, _ := n.Delete(ctx, "k", kv.IfRev(r2.Rev)); !r.OK || !r.Deleted {
		t.Fatalf("delete with the current rev: %+v", r)
	}
	if r, _ := n.Put(ctx, "k", []byte("e"), kv.IfExists()); r.OK {
		t.Fatal("If-Match * on an absent key succeeded")
	}
	tc.checkSameSequence()
}

func TestTaggedRequestAppliedOnce(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	tc.leader()
	ctx := ctxFor(t, 10*time.Second)
	cmd := kv.Put("counter", []byte("1"))
	first, err := tc.Nodes()[0].Propose(ctx, cmd, WithSession(42, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	// The client retries, even through another replica: same answer, no new rev.
	for _, n := range tc.Nodes() {
		again, err := n.Propose(ctx, cmd, WithSession(42, 1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if again.Rev != first.Rev {
			t.Fatalf("retry via %d applied again: rev %d, first %d", n.ID(), again.Rev, first.Rev)
		}
	}
	// The next request of the session acknowledges seq 1; retrying 1 is refused.
	if _, err := tc.Nodes()[0].Propose(ctx, cmd, WithSession(42, 2, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Nodes()[0].Propose(ctx, cmd, WithSession(42, 1, 0)); !errors.Is(err, ErrStaleRequest) {
		t.Fatalf("retry of an acknowledged seq: %v, want ErrStaleRequest", err)
	}
	seq := tc.checkSameSequence()
	if len(seq) != 2 {
		t.Fatalf("applied %d commands, want 2 (seq 1 once, seq 2 once): %v", len(seq), seq)
	}
}

// waitFor polls cond until it holds or 20s pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 20s")
		}
		<-tick.C
	}
}

// TestRestartedReplicaNeverGetsAnotherIncarnationsAnswer: a command proposed
// through a replica that then restarts is applied after the restart; its
// answer must not reach a new caller (answers are addressed by waiter name).
func TestRestartedReplicaNeverGetsAnotherIncarnationsAnswer(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	l := tc.leader()
	ctx := ctxFor(t, 30*time.Second)
	var fid msg.NodeID
	for _, id := range tc.IDs() {
		if id != l.ID() {
			fid = id
			break
		}
	}
	f := tc.Node(fid)
	// F forwards A to the leader but hears nothing back: A is chosen while F
	// cannot apply it.
	tc.Net.Block(l.ID(), fid)
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		_, _ = f.Propose(ctx, kv.Put("a", []byte("A")))
	}()
	waitFor(t, func() bool { return l.Status().Applied >= 1 })
	if err := tc.StopNode(ctx, fid); err != nil {
		t.Fatal(err)
	}
	<-aDone
	// The new incarnation proposes B while still cut off from the leader,
	// then catches up: it applies A (whose answer names a waiter of the old
	// incarnation) before B.
	if err := tc.StartNode(ctx, fid); err != nil {
		t.Fatal(err)
	}
	f2 := tc.Node(fid)
	type out struct {
		r   Result
		err error
	}
	bDone := make(chan out, 1)
	go func() {
		r, err := f2.Propose(ctx, kv.Put("b", []byte("B")))
		bDone <- out{r, err}
	}()
	waitFor(t, func() bool { return f2.inflight.Load() == 1 })
	tc.Net.Heal()
	b := <-bDone
	if b.err != nil {
		t.Fatal(b.err)
	}
	aRes, _ := kv.DecodeWrite(b.r.Data)
	if b.r.Rev != 2 || aRes.Rev != 2 {
		t.Fatalf("B answered with rev %d (data rev %d), want 2: it got another command's answer", b.r.Rev, aRes.Rev)
	}
	tc.checkSameSequence()
}
