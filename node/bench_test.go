package node

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// BenchmarkClusterPut measures puts of 128-byte values through the Go API on
// the leader of an in-process 3-replica cluster (memory network and storage),
// with 1 and 64 concurrent clients.
func BenchmarkClusterPut(b *testing.B) {
	for _, store := range []string{"memory", "nutsdb"} {
		for _, clients := range []int{1, 64} {
			b.Run(fmt.Sprintf("storage=%s/clients=%d", store, clients), func(b *testing.B) {
				benchPut(b, store, clients)
			})
		}
	}
}

func benchPut(b *testing.B, store string, clients int) {
	{
		{
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cc := ClusterConfig{Nodes: 3, Template: Config{Logger: discard}}
			if store == "nutsdb" {
				dir := b.TempDir()
				cc.NewStore = func(id msg.NodeID) (storage.Store, error) {
					return storage.OpenDir(filepath.Join(dir, id.String()), "bench", id, discard)
				}
			}
			c, err := StartCluster(ctx, cc)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Stop(context.Background())
			l, err := c.WaitLeader(ctx)
			if err != nil {
				b.Fatal(err)
			}
			val := make([]byte, 128)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := 0; w < clients; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						k := next.Add(1)
						if k > int64(b.N) {
							return
						}
						if _, err := l.Put(ctx, fmt.Sprintf("key-%d", k%1000), val, kv.Cond{}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		}
	}
}
