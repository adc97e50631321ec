package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/node"
)

func ExampleStartCluster() {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := node.StartCluster(ctx, node.ClusterConfig{Nodes: 3, Template: node.Config{Logger: quiet}})
	if err != nil {
		panic(err)
	}
	defer c.Stop(ctx)

	n := c.Nodes()[0] // any replica: followers forward to the leader
	w, err := n.Put(ctx, "greeting", []byte("hello"), kv.Cond{})
	if err != nil {
		panic(err)
	}
	fmt.Println("written at rev", w.Rev)

	if r, _ := n.Put(ctx, "greeting", []byte("hi"), kv.IfRev(w.Rev)); r.OK {
		fmt.Println("conditional write at rev", r.Rev)
	}
	if r, _ := n.Put(ctx, "greeting", []byte("late"), kv.IfRev(w.Rev)); !r.OK {
		fmt.Println("stale rev: nothing changed")
	}
	v, rev, found, err := n.Get(ctx, "greeting")
	fmt.Println(string(v), rev, found, err)

	res, err := n.Propose(ctx, kv.Delete("greeting"))
	fmt.Println("deleted at rev", res.Rev, err)
	// Output:
	// written at rev 1
	// conditional write at rev 2
	// stale rev: nothing changed
	// hi 2 true <nil>
	// deleted at rev 4 <nil>
}
