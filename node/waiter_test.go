package node

import (
	"testing"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
)

func received(w *waiter) []any {
	var out []any
	for {
		select {
		case m := <-w.ch:
			out = append(out, m)
		default:
			return out
		}
	}
}

// A waiter is reused after close; an answer addressed to its earlier use
// (a late result of a call that gave up) must not reach the new caller.
func TestWaiterAnswerForClosedWaiterIsDropped(t *testing.T) {
	tab := newWaiters("inc-")
	first := tab.open()
	oldRef := first.ref
	tab.deliver(oldRef, "early") // sits in the channel when the call gives up
	tab.close(first)
	second := tab.open()
	if second != first {
		t.Log("the pool did not hand the waiter back; the check still holds")
	}
	if second.ref == oldRef {
		t.Fatalf("a name was reused: %q", oldRef)
	}
	tab.deliver(oldRef, "late")
	if got := received(second); len(got) != 0 {
		t.Fatalf("a new caller got answers of an earlier call: %v", got)
	}
	tab.deliver(second.ref, "mine")
	if got := received(second); len(got) != 1 || got[0] != "mine" {
		t.Fatalf("got %v, want [mine]", got)
	}
	tab.close(second)
}

// Names carry the incarnation: a replica restarted in the same process has a
// new table, and answers naming the old one's waiters find nothing.
func TestWaiterOtherIncarnationDropped(t *testing.T) {
	old, cur := newWaiters("aaa-"), newWaiters("bbb-")
	wOld := old.open()
	w := cur.open()
	if wOld.ref[len(old.prefix):] != w.ref[len(cur.prefix):] {
		t.Fatalf("keys differ (%q, %q): the test needs equal keys", wOld.ref, w.ref)
	}
	for _, ref := range []string{wOld.ref, "", "w", cur.prefix, cur.prefix + "!!", cur.prefix + "zzzzzzzzzzzzzzzzzz"} {
		cur.deliver(ref, ref)
	}
	if got := received(w); len(got) != 0 {
		t.Fatalf("answers for other names arrived: %q", got)
	}
}

// A full channel drops extra answers instead of blocking the executor.
func TestWaiterDeliverNeverBlocks(t *testing.T) {
	tab := newWaiters("x-")
	w := tab.open()
	for i := 0; i < 3*cap(w.ch); i++ {
		tab.deliver(w.ref, i)
	}
	if got := received(w); len(got) != cap(w.ch) {
		t.Fatalf("%d answers kept, want %d", len(got), cap(w.ch))
	}
}

// The waiters process takes peers' answers (encoded over TCP) and hands
// them on by their Ref; other types, other clusters and answers without a Ref
// are dropped.
func TestWaitersProcessRoutesByRef(t *testing.T) {
	tab := newWaiters("p-")
	w := tab.open()
	p := &waitersProcess{t: tab, cluster: "c1"}
	enc := func(cluster string, m any) any {
		a, err := remote.Encode(cluster, m)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	p.SendUserMessage(nil, enc("c1", &msg.Reject{Reason: msg.RejectNoLeader, Attempt: 2, Ref: w.ref}))
	p.SendUserMessage(nil, enc("c1", &msg.ReadIndex{Index: 9, Ref: w.ref}))
	p.SendUserMessage(nil, enc("c2", &msg.ReadIndex{Index: 10, Ref: w.ref})) // another cluster
	p.SendUserMessage(nil, enc("c1", &msg.ReadIndex{Index: 11}))             // no Ref
	p.SendUserMessage(nil, enc("c1", &msg.Result{Slot: 1}))                  // not an answer peers send
	got := received(w)
	if len(got) != 2 {
		t.Fatalf("got %d answers %v, want the Reject and the ReadIndex", len(got), got)
	}
	if r, ok := got[0].(*msg.Reject); !ok || r.Attempt != 2 {
		t.Errorf("first answer %#v", got[0])
	}
	if r, ok := got[1].(*msg.ReadIndex); !ok || r.Index != 9 {
		t.Errorf("second answer %#v", got[1])
	}
}
