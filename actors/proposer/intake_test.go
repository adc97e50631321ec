package proposer

import (
	"slices"
	"testing"

	"github.com/rsml-go/rsml/msg"
)

// Requests taken together share a slot: a leader with a free eager slot
// queues them all before it fills the slot, where one by one the first
// would have gone alone.
func TestStepRequestsShareABatch(t *testing.T) {
	cfg := testConfig(1)
	cfg.EagerSlots, cfg.Window, cfg.MaxBatch = 1, 4, 10
	c := New(cfg, msg.Ballot{}, 0)
	elect(t, c, nil)
	reqs := func(k int) []*msg.ClientRequest {
		var rs []*msg.ClientRequest
		for range k {
			rs = append(rs, &msg.ClientRequest{Cmd: msg.Command{Data: []byte("x")}})
		}
		return rs
	}
	if got := slotSizes(stepReqs(c, reqs(4))); !slices.Equal(got, []int{4}) {
		t.Fatalf("four requests taken together: slots %v, want one slot of 4", got)
	}
	// Past MaxBatch they split, and past the eager slot only full batches go.
	if got := slotSizes(stepReqs(c, reqs(25))); !slices.Equal(got, []int{10, 10}) {
		t.Fatalf("25 more with a slot in flight: slots %v, want two full slots of 10", got)
	}
	if st := c.Status(); st.Queued != 5 || st.InFlight != 3 {
		t.Fatalf("status %+v, want 5 queued and 3 in flight", st)
	}
}

// A follower forwards requests taken from the intake as it would forward
// them from its mailbox.
func TestStepRequestsOnAFollowerForward(t *testing.T) {
	c := New(testConfig(2), msg.Ballot{}, 0)
	step(c, &msg.Heartbeat{From: 1, Ballot: msg.Ballot{Round: 1, ID: 1}})
	out := stepReqs(c, []*msg.ClientRequest{{Cmd: msg.Command{Origin: 2, Reply: "a"}}, {Cmd: msg.Command{Origin: 2, Reply: "b"}}})
	fwd, to := find[*msg.ClientRequest](out)
	if len(fwd) != 2 || to[0] != (msg.Target{Node: 1, Role: msg.RoleProposer}) || fwd[1].Cmd.Reply != "b" || fwd[0].Hops != 1 {
		t.Fatalf("forwarded %+v to %v, want both requests, in order, to the leader's proposer", fwd, to)
	}
}

// RequestsWanted asks for a wake-up at the first request whenever the
// proposer would act on one at once, and otherwise only once a full batch
// (by count or bytes) or the overload bound is reached.
func TestRequestsWanted(t *testing.T) {
	cfg := testConfig(1)
	cfg.EagerSlots, cfg.Window, cfg.MaxBatch, cfg.MaxBatchBytes, cfg.MaxQueue = 1, 2, 10, 1000, 15
	c := New(cfg, msg.Ballot{}, 0)
	check := func(what string, wantN, wantB int) {
		t.Helper()
		if n, b := c.RequestsWanted(); n != wantN || b != wantB {
			t.Fatalf("%s: wanted (%d, %d), want (%d, %d)", what, n, b, wantN, wantB)
		}
	}
	check("follower without a leader (rejects at once)", 1, 0)
	elect(t, c, nil)
	check("leader with a free eager slot", 1, 0)
	one := &msg.ClientRequest{Cmd: msg.Command{Data: make([]byte, 8)}} // batchSize 40
	stepReqs(c, []*msg.ClientRequest{one})
	check("eager slot in flight, nothing queued", 10, 1000)
	stepReqs(c, []*msg.ClientRequest{one, one, one})
	check("eager slot in flight, 3 queued", 7, 1000-3*40)
	stepReqs(c, slices.Repeat([]*msg.ClientRequest{one}, 7)) // a full batch: the second slot
	check("window full, nothing queued", 15, 0)
	stepReqs(c, slices.Repeat([]*msg.ClientRequest{one}, 15))
	check("window full, queue at MaxQueue (rejects at once)", 1, 0)
}

// Requests taken together are turned away as overloaded no more often than
// the same requests one at a time: full batches leave as they fill. (Queued
// all before the first slot, 25 requests with MaxQueue 12 lost 13.)
func TestStepRequestsOverloadAsOneByOne(t *testing.T) {
	mk := func() *Core {
		cfg := testConfig(1)
		cfg.EagerSlots, cfg.Window, cfg.MaxBatch, cfg.MaxQueue = 1, 4, 10, 12
		c := New(cfg, msg.Ballot{}, 0)
		elect(t, c, nil)
		return c
	}
	rejects := func(out []msg.Out) int { r, _ := find[*msg.Reject](out); return len(r) }
	for _, k := range []int{25, 45} {
		one, together := mk(), mk()
		n1 := 0
		for _, r := range cmds(k) {
			n1 += rejects(step(one, r))
		}
		n2 := rejects(stepReqs(together, cmds(k)))
		if n2 > n1 {
			t.Fatalf("%d requests: %d overloaded taken together, %d one by one", k, n2, n1)
		}
	}
}
