package proposer

import (
	"testing"

	"github.com/rsml-go/rsml/msg"
)

func TestIntakeRingsOnlyWhenAsked(t *testing.T) {
	rings := 0
	in := NewIntake(func() { rings++ })
	req := func(size int) *msg.ClientRequest {
		return &msg.ClientRequest{Cmd: msg.Command{Data: make([]byte, size)}}
	}
	// Before the proposer asked anything, the first request rings, and the
	// next ones wait for that Doorbell to be answered.
	in.Push(req(1))
	in.Push(req(1))
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
		in.Push(req(1))
	}
	if rings != 2 {
		t.Fatalf("%d rings after five requests with three wanted, want 2", rings)
	}
	// Already due when asked: no ring, the caller takes them itself.
	if !in.Want(4, 0) {
		t.Fatal("Want(4) with five waiting did not report them due")
	}
	in.Push(req(1))
	if rings != 2 {
		t.Fatal("rang after Want reported the requests due")
	}
	in.Take(nil)
	// The byte bound rings before the count does (each counts data + 32).
	in.Want(100, 150)
	in.Push(req(60))
	if rings != 2 {
		t.Fatal("rang below both bounds")
	}
	in.Push(req(60))
	if rings != 3 {
		t.Fatalf("%d rings once 184 bytes wait with 150 wanted, want 3", rings)
	}
}

func TestIntakeKeepsArrivalOrder(t *testing.T) {
	in := NewIntake(func() {})
	for i := range 10 {
		in.Push(&msg.ClientRequest{Attempt: uint32(i)})
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
