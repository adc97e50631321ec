package proposer

import (
	"testing"

	"github.com/rsml-go/rsml/msg"
)

// A forwarded request duplicated on the way must not be both proposed and
// rejected: the client takes a Reject of its attempt for proof that the
// command was never proposed (a 503, safe to retry as a new command), but
// the copy the leader proposed may be chosen by the next leader. Here the
// first copy reaches the leader and is proposed, the leader is deposed
// without learning a successor, and the second copy arrives.
func TestDuplicatedForwardIsNotRejectedAfterItWasProposed(t *testing.T) {
	l := New(testConfig(1), msg.Ballot{}, 0)
	elect(t, l, nil)
	fwd := &msg.ClientRequest{Cmd: msg.Command{Origin: 2, Reply: "w", Client: 9, Seq: 1, Data: []byte("x")}, Hops: 1, Attempt: 1}
	dup := *fwd
	if accepts, _ := find[*msg.Accept](step(l, fwd)); len(accepts) == 0 {
		t.Fatal("the first copy was not proposed")
	}
	step(l, &msg.Nack{From: 2, Ballot: l.Ballot(), Promised: msg.Ballot{Round: 9, ID: 3}})
	if l.IsLeader() {
		t.Fatal("still leading after a higher promise")
	}
	if rejects, _ := find[*msg.Reject](step(l, &dup)); len(rejects) != 0 {
		t.Fatalf("the duplicate of a proposed request was rejected (%+v): its client would hear 'certainly not proposed'", rejects[0])
	}
	// A follower that forwarded the first copy forwards no second one.
	f := New(testConfig(2), msg.Ballot{}, 0)
	step(f, &msg.Heartbeat{From: 1, Ballot: msg.Ballot{Round: 1, ID: 1}})
	again := &msg.ClientRequest{Cmd: msg.Command{Origin: 3, Reply: "v", Client: 8, Seq: 1}, Hops: 1, Attempt: 2}
	if fw, _ := find[*msg.ClientRequest](step(f, again)); len(fw) != 1 {
		t.Fatalf("the first copy was forwarded %d times, want once", len(fw))
	}
	copy2 := *again
	if out := step(f, &copy2); len(out) != 0 {
		t.Fatalf("the duplicate went on: %+v", out)
	}
	// A new attempt of the same command is not a duplicate.
	next := *again
	next.Attempt = 3
	if fw, _ := find[*msg.ClientRequest](step(f, &next)); len(fw) != 1 {
		t.Fatal("a new attempt was taken for a duplicate")
	}
}
