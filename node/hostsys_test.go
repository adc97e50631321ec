package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
)

// hostSystem is a host program's own actor system; the host shuts it down
// at the end of the test, after the replicas in it stopped.
func hostSystem(t *testing.T) *actor.ActorSystem {
	t.Helper()
	sys := newSystem(nil)
	t.Cleanup(func() {
		if sys.IsStopped() {
			t.Error("the host's actor system was shut down by someone else")
			return
		}
		sys.Shutdown()
	})
	return sys
}

// spawnEcho spawns a host actor, named "echo", that answers every request
// with its message: a protobuf message, so that it can cross remoting.
func spawnEcho(t *testing.T, sys *actor.ActorSystem) *actor.PID {
	t.Helper()
	pid, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*wrapperspb.StringValue); ok {
			c.Respond(m)
		}
	}), "echo")
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// ask sends text to an echo actor from sys and checks the answer.
func ask(sys *actor.ActorSystem, pid *actor.PID, text string) error {
	res, err := sys.Root.RequestFuture(pid, wrapperspb.String(text), 5*time.Second).Result()
	if err != nil {
		return err
	}
	if got, ok := res.(*wrapperspb.StringValue); !ok || got.GetValue() != text {
		return fmt.Errorf("answer %v, want %q", res, text)
	}
	return nil
}

// TestHostSystemSingleReplica: a lone replica in a host's system without
// remoting starts none; the host's actors, spawned before it, keep working
// after Stop, and nothing of the replica is left running.
func TestHostSystemSingleReplica(t *testing.T) {
	sys := hostSystem(t)
	echo := spawnEcho(t, sys)
	before := goleak.IgnoreCurrent()
	ctx := ctxFor(t, 20*time.Second)
	n, err := Start(ctx, Config{ID: 1, Peers: map[msg.NodeID]string{1: "127.0.0.1:7001"}, System: sys, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if n.tcp != nil || remote.Remoting(sys) != nil {
		t.Fatal("a lone replica started remoting")
	}
	if r, err := n.Put(ctx, "k", []byte("v"), kv.Cond{}); err != nil || !r.OK {
		t.Fatalf("put: %+v %v", r, err)
	}
	if _, ok := sys.ProcessRegistry.GetLocal(remote.WaitersName); !ok {
		t.Fatal("the replica registered no waiters process")
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := sys.ProcessRegistry.GetLocal(remote.WaitersName); ok {
		t.Fatal("the stopped replica left its waiters process in the host's registry")
	}
	goleak.VerifyNone(t, before)
	if err := ask(sys, echo, "after stop"); err != nil {
		t.Fatalf("the host's actor after the replica stopped: %v", err)
	}
}

// TestHostSystemRefused: Start refuses a host's system whose address is not
// Peers[ID] (attached to a Network as another replica) and a system that
// already runs a replica, naming what is wrong, and starts nothing.
func TestHostSystemRefused(t *testing.T) {
	net := remote.NewNetwork(1)
	t.Cleanup(net.Close)
	peers := net.Addrs(1, 2, 3)
	ctx := ctxFor(t, 20*time.Second)

	sys := hostSystem(t)
	net.Attach(2, sys)
	n, err := Start(ctx, Config{ID: 1, Peers: peers, System: sys, Logger: testLogger()})
	if err == nil {
		n.Stop(ctx)
		t.Fatal("a replica started in a system attached as another replica")
	}
	if !strings.Contains(err.Error(), peers[1]) || !strings.Contains(err.Error(), peers[2]) {
		t.Errorf("error %q does not name %q and %q", err, peers[1], peers[2])
	}
	if _, ok := sys.ProcessRegistry.GetLocal(remote.SupervisorName); ok {
		t.Fatal("a refused replica left its supervisor running")
	}

	sys = hostSystem(t)
	net.Attach(1, sys)
	first, err := Start(ctx, Config{ID: 1, Peers: peers, System: sys, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Stop(context.Background()) })
	n, err = Start(ctx, Config{ID: 1, Peers: peers, System: sys, Logger: testLogger()})
	if err == nil {
		n.Stop(ctx)
		t.Fatal("a second replica started in one actor system")
	}
	if !strings.Contains(err.Error(), "already runs a replica") {
		t.Errorf("error %q does not say the system already runs a replica", err)
	}
	if _, ok := sys.ProcessRegistry.GetLocal(remote.SupervisorName); !ok || first.isStopped() {
		t.Fatal("the refused second replica stopped the first")
	}
}
