//go:build !race

// Several remoting systems in one process cannot pass -race: each Proto.Actor
// remote Start sets gRPC's process-wide logger while an earlier system's gRPC
// goroutines read it. These tests run without -race, in their own make test
// pass; remote's tests run one replica per child process under -race.

package node

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
)

// freeAddrs reserves n loopback ports chosen by the OS.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
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

// TestTCPReplicas runs three replicas in one process but each with its own
// actor system talking Proto.Actor remoting over loopback: the same code as
// separate processes.
func TestTCPReplicas(t *testing.T) {
	addrs := freeAddrs(t, 3)
	peers := map[msg.NodeID]string{1: addrs[0], 2: addrs[1], 3: addrs[2]}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var nodes []*Node
	for id := msg.NodeID(1); id <= 3; id++ {
		n, err := Start(ctx, Config{ID: id, Peers: peers, ClusterID: "tcp-test", Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	defer func() {
		for _, n := range nodes {
			if err := n.Stop(context.Background()); err != nil {
				t.Error(err)
			}
		}
	}()
	for i := 0; i < 30; i++ {
		n := nodes[i%3]
		key := fmt.Sprintf("k%d", i)
		r, err := n.Put(ctx, key, []byte(key), kv.Cond{})
		if err != nil || !r.OK {
			t.Fatalf("put via %d: %+v %v", n.ID(), r, err)
		}
		v, rev, ok, err := nodes[(i+1)%3].Get(ctx, key)
		if err != nil || !ok || string(v) != key || rev != r.Rev {
			t.Fatalf("get via %d: %q@%d %v %v, want %q@%d", nodes[(i+1)%3].ID(), v, rev, ok, err, key, r.Rev)
		}
	}
	st := nodes[0].Status()
	if st.Leader == 0 || st.Commit < 30 {
		t.Fatalf("status %+v", st)
	}
	// A replica of another cluster that names our replicas as its peers is
	// ignored: its messages are dropped and counted, and nothing changes.
	rogueAddr := freeAddrs(t, 1)[0]
	rogue, err := Start(ctx, Config{ID: 4, ClusterID: "other", Logger: discard, ElectionTimeout: 20 * time.Millisecond,
		HeartbeatInterval: 10 * time.Millisecond, TickInterval: 5 * time.Millisecond,
		Peers: map[msg.NodeID]string{4: rogueAddr, 1: addrs[0], 2: addrs[1], 3: addrs[2]}})
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Stop(context.Background())
	waitFor(t, func() bool {
		var dropped float64
		for _, n := range nodes {
			dropped += testutil.ToFloat64(n.metrics.dropped.WithLabelValues("foreign_cluster"))
		}
		return dropped > 0
	})
	if r, err := nodes[1].Put(ctx, "after-rogue", []byte("x"), kv.Cond{}); err != nil || !r.OK {
		t.Fatalf("put after the rogue: %v", err)
	}
	if after := nodes[0].Status(); after.Ballot != st.Ballot {
		t.Fatalf("a replica of another cluster changed the ballot: %v -> %v", st.Ballot, after.Ballot)
	}
}

func TestTCPAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	other := freeAddrs(t, 1)[0]
	_, err = Start(context.Background(), Config{ID: 1, Peers: map[msg.NodeID]string{1: ln.Addr().String(), 2: other}, Logger: discard})
	if err == nil {
		t.Fatal("a replica started on an address in use")
	}
	t.Logf("error: %v", err)
}
