package node

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

func TestMain(m *testing.M) {
	// nutsdb leaves one writer goroutine per closed DB (it never closes the
	// channel it reads); see storage.NutsLeftoverGoroutine.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction(storage.NutsLeftoverGoroutine))
}

// TestStopLeavesNoGoroutine stops one replica, then the whole cluster, and
// checks that nothing they started is still running.
func TestStopLeavesNoGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := StartCluster(ctx, ClusterConfig{Nodes: 3, Template: Config{Logger: testLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := c.Nodes()[i%3].Put(ctx, "k", []byte("v"), kv.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	c.Net.SetDelay(time.Millisecond, 2*time.Millisecond) // link goroutines too
	if _, err := l.Put(ctx, "k", []byte("v"), kv.Cond{}); err != nil {
		t.Fatal(err)
	}
	var follower msg.NodeID
	for _, id := range c.IDs() {
		if id != l.ID() {
			follower = id
		}
	}
	if err := c.StopNode(ctx, follower); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, before)
}
