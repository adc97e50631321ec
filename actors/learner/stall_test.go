package learner

import (
	"testing"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

func peerCore(t *testing.T, id msg.NodeID) *Core {
	t.Helper()
	cfg := testConfig()
	cfg.ID = id
	c, err := New(cfg, storage.NewMemory().Chosen(), storage.NewMemory().Snapshots())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Leader 1 proposes v for slot 1 in b1; every acceptor accepts it. Leader 1 is
// re-elected in b2 and re-proposes v for slot 1; every acceptor accepts it in
// b2 too. The b1 votes to learner 1 were delayed and arrive after learner
// 1's own copy moved to b2. Learner 1 sees b1 chosen, lacks a b1 copy,
// goes waiting on b1 and from then on ignores every b2 vote. The peers get
// ChosenRun{b1}, but their copies are in b2 too: nobody delivers slot 1,
// nobody can serve it, forever (sim seed 5390, 5 replicas, FIRST=5001).
func TestWaitingOnAnOldBallotKeepsCounting(t *testing.T) {
	b1, b2 := bal(1, self), bal(2, self)
	v := val("v")
	c, _ := newCore(t)
	p2, p3 := peerCore(t, 2), peerCore(t, 3)

	step(t, c, own(b1, 1, v)) // own vote in b1
	step(t, c, own(b2, 1, v)) // re-proposed in b2: local copy now b2
	for _, p := range []*Core{p2, p3} {
		step(t, p, &msg.Accepted{From: p.cfg.ID, Ballot: b1, Slots: []uint64{1}, Values: []*msg.Value{v}})
		step(t, p, &msg.Accepted{From: p.cfg.ID, Ballot: b2, Slots: []uint64{1}, Values: []*msg.Value{v}})
	}
	// Late b1 vote: quorum in b1, but our copy is b2 -> waiting, tell peers.
	var runs []any
	for _, o := range step(t, c, peerVote(2, b1, 1)) {
		if o.To.Role == msg.RoleLearner && o.To.Node != self {
			runs = append(runs, o.Msg)
		}
	}
	// b2 votes (resent Accepts keep producing them) are ignored.
	for i := 0; i < 5; i++ {
		step(t, c, peerVote(2, b2, 1))
		step(t, c, peerVote(3, b2, 1))
		step(t, c, own(b2, 1, v))
	}
	// Peers told b1: their copies are b2, no delivery.
	for _, p := range []*Core{p2, p3} {
		for _, r := range runs {
			step(t, p, r)
		}
		step(t, p, &msg.Heartbeat{From: 1, Ballot: b2, Commit: 0})
	}
	// Everyone fetches from everyone: nobody has slot 1.
	cores := map[msg.NodeID]*Core{1: c, 2: p2, 3: p3}
	for range 200 {
		var q []msg.Out
		for _, id := range []msg.NodeID{1, 2, 3} {
			q = append(q, tick(t, cores[id])...)
		}
		// The leader's heartbeat: its proposer's commit is its learner's.
		for _, id := range []msg.NodeID{1, 2, 3} {
			q = append(q, msg.Out{To: msg.Target{Node: id, Role: msg.RoleLearner},
				Msg: &msg.Heartbeat{From: 1, Ballot: b2, Commit: c.Delivered()}})
		}
		for len(q) > 0 {
			o := q[0]
			q = q[1:]
			if o.To.Role != msg.RoleLearner {
				continue
			}
			q = append(q, step(t, cores[o.To.Node], o.Msg)...)
		}
	}
	for id, x := range cores {
		if x.Delivered() == 0 {
			t.Errorf("learner %d: slot 1 (chosen with v in b1 and b2) never delivered", id)
		}
	}
}
