package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rsml-go/rsml/kv"
)

// A node whose first writes were never applied (no leader yet) must still
// write afterwards: its session does not exist at the executors, so its
// watermark must not claim earlier answers (the executor would refuse every
// later write as from an expired session). The simulator found this.
func TestFirstWritesLostThenWritesWork(t *testing.T) {
	tc := startCluster(t, 3, Config{ElectionTimeout: time.Minute, HeartbeatInterval: 50 * time.Millisecond})
	n := tc.Node(tc.IDs()[0])
	for i := 0; i < 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err := n.Put(ctx, "early", []byte("x"), kv.Cond{})
		cancel()
		if !errors.Is(err, ErrNoLeader) {
			t.Fatalf("write before any leader: %v, want ErrNoLeader", err)
		}
	}
	n.Campaign()
	ctx := ctxFor(t, 10*time.Second)
	if _, err := tc.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := n.Put(ctx, "later", []byte("y"), kv.Cond{}); err != nil {
			t.Fatalf("write %d after a leader was elected: %v", i, err)
		}
	}
}
