package node

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
)

// acceptorTruncated reads replica id's acceptor truncation point from its
// storage.
func (tc *testCluster) acceptorTruncated(id msg.NodeID) uint64 {
	tc.t.Helper()
	tc.mu.Lock()
	st := tc.stores[id]
	tc.mu.Unlock()
	s, err := st.Acceptor().Load()
	if err != nil {
		tc.t.Fatal(err)
	}
	return s.Truncated
}

// chosenLast and chosenBase read replica id's chosen log: the last slot it
// holds, and the highest it dropped behind a snapshot.
func (tc *testCluster) chosenLast(id msg.NodeID) uint64 {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.stores[id].Chosen().Last()
}

func (tc *testCluster) chosenBase(id msg.NodeID) uint64 {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.stores[id].Chosen().Base()
}

// A witness (acceptor only) votes and holds no state: it refuses reads and
// writes, and truncates its acceptor log behind the floors the leader
// proposes, which stop at the lowest durable snapshot of the full replicas.
// With the other full replica away, the leader and the witness go on, and
// the witness keeps what only they hold: when the leader is then lost for
// good, the other full replica recovers every acknowledged write from the
// witness.
func TestWitness(t *testing.T) {
	tc := startCluster(t, 3, Config{Roles: map[msg.NodeID]membership.Roles{3: membership.Acceptor}, SnapshotEvery: 10})
	ctx := ctxFor(t, 60*time.Second)
	w := tc.Node(3)
	if !w.cfg.Witness {
		t.Fatal("an acceptor-only replica of the first configuration is no witness")
	}
	if _, err := w.Propose(ctx, kv.Put("k", []byte("v"))); !errors.Is(err, ErrWitness) {
		t.Fatalf("write through the witness: %v, want ErrWitness", err)
	}
	if _, _, _, err := w.Get(ctx, "k"); !errors.Is(err, ErrWitness) {
		t.Fatalf("read through the witness: %v, want ErrWitness", err)
	}
	if _, _, _, err := w.StaleGet(ctx, "k"); !errors.Is(err, ErrWitness) {
		t.Fatalf("stale read through the witness: %v, want ErrWitness", err)
	}
	rec := httptest.NewRecorder()
	w.Handler(HTTPConfig{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/kv/k", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("GET /v1/kv/k on the witness: %d %s, want 503", rec.Code, rec.Body)
	}

	l := tc.leader()
	if l.ID() == 3 {
		t.Fatal("the witness leads")
	}
	other := tc.Node(3 - l.ID())
	acked := map[string]uint64{}
	put := func(i int) {
		t.Helper()
		k := fmt.Sprintf("k%03d", i)
		r, err := l.Put(ctx, k, []byte(k), kv.Cond{})
		if err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		acked[k] = r.Rev
	}
	next := 0
	// writeUntil writes until cond holds: a replica snapshots only as it
	// applies, so an idle cluster would never get there.
	writeUntil := func(what string, cond func() bool) {
		t.Helper()
		for start := next; !cond(); next++ {
			if next-start > 2000 {
				t.Fatalf("%d writes and still not %s", next-start, what)
			}
			put(next)
		}
	}
	writeUntil("every replica truncating, the witness too", func() bool {
		return next >= 100 && tc.acceptorTruncated(1) > 0 && tc.acceptorTruncated(2) > 0 && tc.acceptorTruncated(3) > 0
	})
	if w.floorsTaken.Load() == 0 {
		t.Fatal("the witness truncated with no floor taken")
	}

	// The other full replica goes away; the leader and the witness choose
	// on, and the leader snapshots and truncates far past it.
	if err := tc.StopNode(ctx, other.ID()); err != nil {
		t.Fatal(err)
	}
	behind := tc.chosenLast(other.ID()) // all the away replica holds
	// The leader and the witness snapshot far past it; the floors, each
	// the lowest snapshot of the full replicas, stay where the away
	// replica's was. A few linearizable reads, each confirmed by the
	// witness's answer to a heartbeat, give the witness time to act on
	// any floor chosen meanwhile.
	writeUntil("truncated past the away replica", func() bool {
		return tc.acceptorTruncated(l.ID()) > behind+50 && tc.chosenBase(3) > behind+50
	})
	for range 3 {
		if _, _, _, err := l.Get(ctx, "k000"); err != nil {
			t.Fatal(err)
		}
	}
	if got := tc.acceptorTruncated(3); got > behind {
		t.Fatalf("the witness truncated to %d, past the away replica's %d: slots only the leader keeps", got, behind)
	}

	// The leader is lost for good; the other full replica and the witness
	// hold every acknowledged write between them.
	if err := tc.StopNode(ctx, l.ID()); err != nil {
		t.Fatal(err)
	}
	if err := tc.StartNode(ctx, other.ID()); err != nil {
		t.Fatal(err)
	}
	survivor := tc.Node(other.ID())
	for k, rev := range acked {
		v, got, found, err := survivor.Get(ctx, k)
		if err != nil || !found || string(v) != k || got != rev {
			t.Fatalf("acknowledged %s@%d reads back through replica %d as %q@%d found=%v err=%v", k, rev, other.ID(), v, got, found, err)
		}
	}
}

// A witness in the first configuration takes the acceptor role only, and
// has no state machine: Start refuses anything else, saying why.
func TestWitnessConfig(t *testing.T) {
	peers := map[msg.NodeID]string{1: "a1", 2: "a2", 3: "a3"}
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{ID: 3, Peers: peers, Witness: true}, "acceptor role only"},
		{Config{ID: 3, Peers: peers, Witness: true, Roles: map[msg.NodeID]membership.Roles{3: membership.All}}, "acceptor role only"},
		{Config{ID: 3, Peers: peers, Roles: map[msg.NodeID]membership.Roles{3: membership.Acceptor}, StateMachine: kv.New()}, "no state machine"},
	} {
		cfg := tt.cfg
		cfg.setDefaults()
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want an error saying %q", tt.cfg, err, tt.want)
		}
	}
	ok := Config{ID: 3, Peers: peers, Roles: map[msg.NodeID]membership.Roles{3: membership.Acceptor}}
	ok.setDefaults()
	if err := ok.Validate(); err != nil || !ok.Witness {
		t.Fatalf("an acceptor-only replica: witness %v, %v", ok.Witness, err)
	}
}
