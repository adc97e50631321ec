package quorum

import (
	"testing"

	"github.com/rsml-go/rsml/msg"
)

func TestMajority(t *testing.T) {
	for _, tc := range []struct {
		voters int
		size   int
	}{{1, 1}, {2, 2}, {3, 2}, {4, 3}, {5, 3}, {7, 4}, {64, 33}} {
		ids := make([]msg.NodeID, tc.voters)
		for i := range ids {
			ids[i] = msg.NodeID(i + 1)
		}
		q := New(ids)
		if q.Size() != tc.size {
			t.Errorf("%d voters: size %d, want %d", tc.voters, q.Size(), tc.size)
		}
		var mask uint64
		for i, id := range ids {
			b, ok := q.Bit(id)
			if !ok {
				t.Fatalf("voter %d has no bit", id)
			}
			mask |= b
			if got, want := q.Reached(mask), i+1 >= tc.size; got != want {
				t.Errorf("%d voters, %d votes: reached %v, want %v", tc.voters, i+1, got, want)
			}
			if q.Count(i+1) != q.Reached(mask) {
				t.Errorf("Count and Reached disagree at %d votes", i+1)
			}
		}
	}
	q := New([]msg.NodeID{1, 2, 3})
	if _, ok := q.Bit(4); ok {
		t.Error("a non-voter has a bit")
	}
	if (Majority{}).Reached(^uint64(0)) || (Majority{}).Count(5) {
		t.Error("the empty quorum was reached")
	}
}

func TestCommitted(t *testing.T) {
	q := New([]msg.NodeID{1, 2, 3, 4, 5})
	acked := map[msg.NodeID]uint64{1: 10, 2: 7, 3: 9, 4: 2}
	// Sorted 0 2 7 9 10: three voters reached 7.
	if got := q.Committed(func(id msg.NodeID) uint64 { return acked[id] }); got != 7 {
		t.Fatalf("Committed = %d, want 7", got)
	}
	if got := (Majority{}).Committed(func(msg.NodeID) uint64 { return 9 }); got != 0 {
		t.Fatalf("empty quorum committed %d", got)
	}
}
