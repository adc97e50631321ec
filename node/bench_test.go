package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rsml-go/rsml/kv"
)

// BenchmarkClusterPut measures puts of 128-byte values through the Go API on
// the leader of an in-process 3-replica cluster (memory network and storage),
// with 1 and 64 concurrent clients.
func BenchmarkClusterPut(b *testing.B) {
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := StartCluster(ctx, ClusterConfig{Nodes: 3, Template: Config{Logger: discard}})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Stop(context.Background())
			l, err := c.WaitLeader(ctx)
			if err != nil {
				b.Fatal(err)
			}
			val := make([]byte, 128)
			var n atomic.Int64
			b.SetParallelism((clients + 1) / 2) // RunParallel runs GOMAXPROCS*p goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := n.Add(1) % 1000
					if _, err := l.Put(ctx, fmt.Sprintf("key-%d", k), val, kv.Cond{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
