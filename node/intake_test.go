package node

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
)

func TestIntakeRingsOnlyWhenAsked(t *testing.T) {
	rings := 0
	in := newIntake(func() { rings++ })
	req := func(size int) *msg.ClientRequest {
		return &msg.ClientRequest{Cmd: msg.Command{Data: make([]byte, size)}}
	}
	// Before the proposer asked anything, the first request rings, and the
	// next ones wait for that Doorbell to be answered.
	in.push(req(1))
	in.push(req(1))
	if rings != 1 {
		t.Fatalf("%d rings for two requests before any Want, want 1", rings)
	}
	if got := in.Take(nil); len(got) != 2 {
		t.Fatalf("took %d requests, want 2", len(got))
	}
	if got := in.Take(nil); len(got) != 0 {
		t.Fatalf("took %d requests from an emptied intake", len(got))
	}
	// Asked for three, it rings at the third and not again.
	if in.Want(3, 0) {
		t.Fatal("Want(3) on an empty intake reported them due")
	}
	for range 5 {
		in.push(req(1))
	}
	if rings != 2 {
		t.Fatalf("%d rings after five requests with three wanted, want 2", rings)
	}
	// Already due when asked: no ring, the caller takes them itself.
	if !in.Want(4, 0) {
		t.Fatal("Want(4) with five waiting did not report them due")
	}
	in.push(req(1))
	if rings != 2 {
		t.Fatal("rang after Want reported the requests due")
	}
	in.Take(nil)
	// The byte bound rings before the count does (each counts data + 32).
	in.Want(100, 150)
	in.push(req(60))
	if rings != 2 {
		t.Fatal("rang below both bounds")
	}
	in.push(req(60))
	if rings != 3 {
		t.Fatalf("%d rings once 184 bytes wait with 150 wanted, want 3", rings)
	}
}

func TestIntakeKeepsArrivalOrder(t *testing.T) {
	in := newIntake(func() {})
	for i := range 10 {
		in.push(&msg.ClientRequest{Attempt: uint32(i)})
	}
	got := in.Take(make([]*msg.ClientRequest, 0, 4))
	for i, r := range got {
		if r.Attempt != uint32(i) {
			t.Fatalf("request %d is attempt %d: order lost", i, r.Attempt)
		}
	}
	if len(got) != 10 {
		t.Fatalf("took %d of 10", len(got))
	}
}

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
