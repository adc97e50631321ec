//go:build !race

// A host's actor system over TCP: several remoting systems in one process,
// which -race rejects (see tcp_test.go); make test runs these without it.

package node

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pa "github.com/asynkron/protoactor-go/remote"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
)

// hostRemoting starts remoting on sys as a host program would, with
// protoactor's own remote package and the settings DESIGN.md §3 recommends,
// and returns what stops it again (what remote.TCP.Shutdown does: the gRPC
// server, then the endpoint actors; protoactor's graceful Shutdown can wait
// 10 s for peers).
func hostRemoting(t *testing.T, sys *actor.ActorSystem, addr string) (stop func()) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	rc := pa.Configure(host, port, pa.WithEndpointWriterQueueSize(1024), pa.WithEndpointWriterBatchSize(256),
		pa.WithServerOptions(grpc.MaxRecvMsgSize(256<<20)))
	rc.MaxRetryCount = 1
	r := pa.NewRemote(sys, rc)
	r.Start()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		r.Shutdown(false)
		for _, id := range []string{"EndpointSupervisor", "activator"} {
			_ = sys.Root.StopFuture(actor.NewPID(sys.ProcessRegistry.Address, id)).Wait()
		}
	}
	t.Cleanup(stop)
	return stop
}

// echoIn returns a fresh copy of a PID for use in another system: a PID
// caches the process it resolved to in the first system that used it.
func echoIn(pid *actor.PID) *actor.PID { return actor.NewPID(pid.Address, pid.Id) }

// putEverywhere writes one key through each replica and reads it back,
// linearizably, through the next one.
func putEverywhere(t *testing.T, ctx context.Context, nodes []*Node) {
	t.Helper()
	for i, n := range nodes {
		key := fmt.Sprintf("k%d", i)
		r, err := n.Put(ctx, key, []byte(key), kv.Cond{})
		if err != nil || !r.OK {
			t.Fatalf("put via %d: %+v %v", n.ID(), r, err)
		}
		other := nodes[(i+1)%len(nodes)]
		v, rev, ok, err := other.Get(ctx, key)
		if err != nil || !ok || string(v) != key || rev != r.Rev {
			t.Fatalf("get via %d: %q@%d %v %v, want %q@%d", other.ID(), v, rev, ok, err, key, r.Rev)
		}
	}
}

func stopNodes(t *testing.T, nodes []*Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := n.Stop(ctx); err != nil {
			t.Errorf("stop replica %d: %v", n.ID(), err)
		}
	}
}

// TestHostSystemTCPStartsRemoting: three host programs' systems without
// remoting, each given to a replica. The replicas start TCP remoting on
// them, agree over it, and the hosts' actors spawned after Start share it;
// Stop stops that remoting and leaves nothing of the replica running, while
// the hosts' systems and actors keep working.
func TestHostSystemTCPStartsRemoting(t *testing.T) {
	addrs := freeAddrs(t, 3)
	peers := map[msg.NodeID]string{1: addrs[0], 2: addrs[1], 3: addrs[2]}
	var systems []*actor.ActorSystem
	for range addrs {
		systems = append(systems, hostSystem(t))
	}
	before := goleak.IgnoreCurrent()
	ctx := ctxFor(t, 30*time.Second)
	var nodes []*Node
	for i, sys := range systems {
		n, err := Start(ctx, Config{ID: msg.NodeID(i + 1), Peers: peers, ClusterID: "host-test", System: sys, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
		if n.tcp == nil || remote.TCPOf(sys) != n.tcp {
			t.Fatalf("replica %d did not start remoting on the host's system", i+1)
		}
	}
	t.Cleanup(func() { stopNodes(t, nodes) })
	var echoes []*actor.PID
	for i, sys := range systems {
		pid := spawnEcho(t, sys)
		if pid.Address != peers[msg.NodeID(i+1)] {
			t.Fatalf("a host actor spawned after Start has address %q, want %q", pid.Address, peers[msg.NodeID(i+1)])
		}
		echoes = append(echoes, pid)
	}
	putEverywhere(t, ctx, nodes)
	// The hosts' actors reach each other over the replicas' remoting.
	for i, sys := range systems {
		if err := ask(sys, echoIn(echoes[(i+1)%3]), "over tcp"); err != nil {
			t.Fatalf("host %d to host %d's actor: %v", i+1, (i+1)%3+1, err)
		}
	}

	stopNodes(t, nodes)
	goleak.VerifyNone(t, before)
	for i, sys := range systems {
		if remote.Unaddressed(sys) {
			t.Errorf("host %d's system lost its address", i+1)
		}
		if err := ask(sys, echoes[i], "after stop"); err != nil {
			t.Errorf("host %d's actor after the replica stopped: %v", i+1, err)
		}
	}
}

// TestHostSystemTCPReusesHostRemoting: three host systems whose hosts
// started protoactor remoting themselves. The replicas use it with the
// msgpack wire, and Stop leaves it running: the hosts' actors still talk
// over it afterwards.
func TestHostSystemTCPReusesHostRemoting(t *testing.T) {
	addrs := freeAddrs(t, 3)
	peers := map[msg.NodeID]string{1: addrs[0], 2: addrs[1], 3: addrs[2]}
	var systems []*actor.ActorSystem
	for range addrs {
		systems = append(systems, hostSystem(t))
	}
	before := goleak.IgnoreCurrent()
	var stops []func()
	var echoes []*actor.PID
	for i, sys := range systems {
		stops = append(stops, hostRemoting(t, sys, addrs[i]))
		echoes = append(echoes, spawnEcho(t, sys))
	}
	ctx := ctxFor(t, 30*time.Second)
	var nodes []*Node
	for i, sys := range systems {
		n, err := Start(ctx, Config{ID: msg.NodeID(i + 1), Peers: peers, ClusterID: "host-test", System: sys, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
		if n.tcp != nil {
			t.Fatalf("replica %d started remoting of its own on a system that had it", i+1)
		}
	}
	t.Cleanup(func() { stopNodes(t, nodes) })
	putEverywhere(t, ctx, nodes)

	stopNodes(t, nodes)
	for i, sys := range systems {
		if err := ask(sys, echoIn(echoes[(i+1)%3]), "after stop"); err != nil {
			t.Fatalf("host %d to host %d's actor after the replicas stopped: %v", i+1, (i+1)%3+1, err)
		}
	}
	for _, stop := range stops {
		stop()
	}
	goleak.VerifyNone(t, before)
	for i, sys := range systems {
		if err := ask(sys, echoes[i], "local"); err != nil {
			t.Errorf("host %d's actor: %v", i+1, err)
		}
	}
}

// TestHostSystemTCPWrongAddress: a host system whose remoting runs at
// another address than Peers[ID] (or Listen) is refused with an error that
// names both, and nothing of the replica runs; at the right address the
// replica reuses remoting started with remote.StartTCP.
func TestHostSystemTCPWrongAddress(t *testing.T) {
	addrs := freeAddrs(t, 3)
	sys := hostSystem(t)
	tcp, err := remote.StartTCP(sys, addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tcp.Shutdown)
	ctx := ctxFor(t, 20*time.Second)
	for _, c := range []struct {
		name   string
		cfg    Config
		naming []string
	}{
		{"Peers", Config{ID: 1, Peers: map[msg.NodeID]string{1: addrs[1], 2: addrs[2]}}, []string{addrs[0], addrs[1]}},
		{"Listen", Config{ID: 1, Peers: map[msg.NodeID]string{1: addrs[0], 2: addrs[2]}, Listen: addrs[1]}, []string{addrs[0], addrs[1], "Listen"}},
	} {
		c.cfg.System, c.cfg.Logger = sys, testLogger()
		n, err := Start(ctx, c.cfg)
		if err == nil {
			n.Stop(ctx)
			t.Fatalf("%s: a replica started on a system whose remoting is at %s", c.name, addrs[0])
		}
		for _, s := range c.naming {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not name %q", c.name, err, s)
			}
		}
		if _, ok := sys.ProcessRegistry.GetLocal(remote.SupervisorName); ok {
			t.Fatalf("%s: a refused replica left its supervisor running", c.name)
		}
	}
	n, err := Start(ctx, Config{ID: 1, Peers: map[msg.NodeID]string{1: addrs[0], 2: addrs[2]}, System: sys, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if tcp.Stopped() {
		t.Fatal("Stop stopped remoting the host had started")
	}
}

// TestHostSystemTCPAddressInUse: when rsml cannot listen on a host's system,
// Start fails and leaves the system as it was, so the host may try again.
func TestHostSystemTCPAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addrs := freeAddrs(t, 2)
	sys := hostSystem(t)
	ctx := ctxFor(t, 20*time.Second)
	n, err := Start(ctx, Config{ID: 1, Peers: map[msg.NodeID]string{1: ln.Addr().String(), 2: addrs[1]}, System: sys, Logger: testLogger()})
	if err == nil {
		n.Stop(ctx)
		t.Fatal("a replica started on an address in use")
	}
	if !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("error %q does not name %s", err, ln.Addr())
	}
	if !remote.Unaddressed(sys) || remote.Remoting(sys) != nil {
		t.Fatalf("a failed start left the system with address %q, remoting %v", sys.ProcessRegistry.Address, remote.Remoting(sys))
	}
	n, err = Start(ctx, Config{ID: 1, Peers: map[msg.NodeID]string{1: addrs[0], 2: addrs[1]}, System: sys, Logger: testLogger()})
	if err != nil {
		t.Fatalf("a second try on a free address: %v", err)
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestHostSystemTCPRestartNeedsHostRemoting: the remoting a replica started
// on a host's system stops with it and cannot start again there, so a second
// replica on that system is refused with an error that says what to do.
func TestHostSystemTCPRestartNeedsHostRemoting(t *testing.T) {
	addrs := freeAddrs(t, 2)
	peers := map[msg.NodeID]string{1: addrs[0], 2: addrs[1]}
	sys := hostSystem(t)
	ctx := ctxFor(t, 20*time.Second)
	n, err := Start(ctx, Config{ID: 1, Peers: peers, System: sys, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	n, err = Start(ctx, Config{ID: 1, Peers: peers, System: sys, Logger: testLogger()})
	if err == nil {
		n.Stop(ctx)
		t.Fatal("a replica started on a system whose remoting was stopped")
	}
	if !strings.Contains(err.Error(), "stopped") || !strings.Contains(err.Error(), "remote.StartTCP") {
		t.Errorf("error %q does not say the remoting stopped and what to do", err)
	}
}
