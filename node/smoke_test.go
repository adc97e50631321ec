package node

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/rsml-go/rsml/kv"
)

func TestSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := StartCluster(ctx, ClusterConfig{Nodes: 3, Template: Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	l, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leader %d", l.ID())
	for i, n := range c.Nodes() {
		r, err := n.Put(ctx, "k", []byte{byte(i)}, kv.Cond{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("put via %d: %+v", n.ID(), r)
		v, rev, ok, err := n.Get(ctx, "k")
		t.Logf("get via %d: %v %d %v %v", n.ID(), v, rev, ok, err)
	}
	start := time.Now()
	n := 0
	for time.Since(start) < time.Second {
		if _, err := l.Put(ctx, "x", []byte("y"), kv.Cond{}); err != nil {
			t.Fatal(err)
		}
		n++
	}
	t.Logf("%d sequential puts/s", n)
	for _, n := range c.Nodes() {
		t.Logf("%+v", n.Status())
	}
}
