package node

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rsml-go/rsml/kv"
)

// With ticks a second apart, writes still go at the pace of the messages:
// neither the intake (the proposer must ask to be rung again after each
// request it takes) nor a held slot (the hold timer must end it) waits for a
// tick. Broken, each write would wait for the next tick, half a second on
// average.
func TestWritesNeedNoTicks(t *testing.T) {
	tc := startCluster(t, 3, Config{TickInterval: time.Second, HeartbeatInterval: time.Second,
		ElectionTimeout: 30 * time.Second, ResendInterval: time.Second})
	tc.Node(tc.IDs()[0]).Campaign()
	l := tc.leader()
	ctx := ctxFor(t, time.Minute)
	start := time.Now()
	for i := range 20 {
		if _, err := l.Put(ctx, fmt.Sprint("seq-", i), []byte("v"), kv.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("20 writes one after another took %v with ticks a second apart", d)
	}
	// Several writers share a slot, then one writes alone: the slot after
	// theirs is held for writers that do not come back, until its timer.
	var alone time.Duration
	for round := range 10 {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				if _, err := l.Put(ctx, fmt.Sprint("r", round, "w", w), []byte("v"), kv.Cond{}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		start := time.Now()
		if _, err := l.Put(ctx, fmt.Sprint("alone-", round), []byte("v"), kv.Cond{}); err != nil {
			t.Fatal(err)
		}
		alone += time.Since(start)
	}
	if alone > time.Second {
		t.Fatalf("10 lone writes after shared slots took %v in all with ticks a second apart", alone)
	}
}
