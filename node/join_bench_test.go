package node

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
)

// BenchmarkJoinCatchUp measures how long a new replica takes to join a
// cluster that holds RSML_JOIN_KEYS keys (default 1,000,000) of 128 bytes:
// from Cluster.JoinNode to AddMember returning (added as a learner, then
// with every role: it counts in quorums), and to the new replica having
// applied everything the cluster had when it was added (caught up). Run it
// once: go test -run XXX -bench JoinCatchUp -benchtime 1x ./node. The
// replicas keep their logs in memory and snapshot every 100,000 commands,
// so the new replica gets a snapshot and the log after it.
func BenchmarkJoinCatchUp(b *testing.B) {
	keys := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("RSML_JOIN_KEYS")); err == nil && v > 0 {
		keys = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	c, err := StartCluster(ctx, ClusterConfig{Nodes: 3, Template: Config{Logger: testLogger(), SnapshotEvery: 100_000}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Stop(context.Background()) }()
	l, err := c.WaitLeader(ctx)
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 128)
	const perTxn, writers = 500, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w * perTxn; i < keys; i += writers * perTxn {
				var t kv.Txn
				for k := i; k < min(i+perTxn, keys); k++ {
					t.Then = append(t.Then, kv.PutOp(fmt.Sprintf("key/%08d", k), value))
				}
				if _, err := l.Txn(ctx, t); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		id := msg.NodeID(4 + i)
		start := time.Now()
		if err := c.JoinNode(ctx, id); err != nil {
			b.Fatal(err)
		}
		target := l.Status().Commit
		if _, err := l.AddMember(ctx, membership.Member{ID: id, Addr: c.Addr(id)}); err != nil {
			b.Fatal(err)
		}
		added := time.Since(start)
		n := c.Node(id)
		for n.Status().Applied < target {
			time.Sleep(5 * time.Millisecond)
		}
		caught := time.Since(start)
		b.ReportMetric(float64(added.Milliseconds()), "added_ms")
		b.ReportMetric(float64(caught.Milliseconds()), "caught_up_ms")
		b.Logf("%d keys: replica %d added (every role) after %v, applied all %d slots after %v",
			keys, id, added.Round(time.Millisecond), target, caught.Round(time.Millisecond))
	}
}
