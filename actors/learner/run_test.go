package learner

import (
	"testing"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// A follower's learner counts no votes: it delivers its own acceptor's copy
// once the leader says a quorum accepted that slot in the copy's ballot,
// whichever of the two arrives first; a copy from another ballot is never
// delivered that way.
func TestChosenRunDeliversOwnCopies(t *testing.T) {
	b := bal(2, 2)
	c, _ := newCore(t)
	v1, v2, v3 := val("1"), val("2"), val("3")
	// Copy first, then the run.
	step(t, c, own(b, 1, v1))
	wantOut(t, "run after copy", step(t, c, &msg.ChosenRun{From: 2, Ballot: b, Run: msg.Run{First: 1, Through: 1}}), delivery(1, v1))
	// Run first (it covers 2 and 3), then the copies.
	if out := step(t, c, &msg.Heartbeat{From: 2, Ballot: b, Commit: 3, Chosen: msg.Run{First: 1, Through: 3}}); len(out) != 0 {
		t.Fatalf("run without copies delivered %s", show(out))
	}
	wantOut(t, "copy 2 after run", step(t, c, own(b, 2, v2)), delivery(2, v2))
	// A copy in an older ballot is not the chosen value.
	if out := step(t, c, own(bal(1, 1), 3, val("stale"))); len(out) != 0 {
		t.Fatalf("copy from another ballot delivered: %s", show(out))
	}
	wantOut(t, "copy 3 in the run's ballot", step(t, c, own(b, 3, v3)), delivery(3, v3))
}

// The leader's learner reports in Committed the delivered slots it saw
// chosen by a quorum in one ballot, for its proposer to pass on.
func TestCommittedCarriesTheChosenRun(t *testing.T) {
	b := bal(1, self)
	c, _ := newCore(t)
	var last *msg.Committed
	for s := uint64(1); s <= 3; s++ {
		step(t, c, own(b, s, val("v")))
		for _, o := range step(t, c, peerVote(2, b, s)) {
			if m, ok := o.Msg.(*msg.Committed); ok {
				last = m
			}
		}
	}
	if last == nil || last.Ballot != b || last.Run != (msg.Run{First: 1, Through: 3}) || last.Commit != 3 {
		t.Fatalf("Committed = %+v, want commit 3 with run 1..3 in %v", last, b)
	}
}

// A learner that hears no leader asks a peer, now and then, for what
// follows its delivered point: nothing else would tell it it is behind,
// and it may need those slots before its acceptor can help elect a leader.
func TestProbeWithoutALeader(t *testing.T) {
	c, _ := newCore(t)
	step(t, c, &msg.Heartbeat{From: 2, Ballot: bal(1, 2), Seq: 1})
	var reqs []*msg.CatchupRequest
	for range 3 * testConfig().ResendTicks * 3 {
		for _, o := range tick(t, c) {
			if r, ok := o.Msg.(*msg.CatchupRequest); ok {
				reqs = append(reqs, r)
			}
		}
	}
	if len(reqs) < 2 || reqs[0].First != 1 {
		t.Fatalf("probes %+v, want some from slot 1 on", reqs)
	}
	// Heartbeats keep it quiet.
	for i := range 20 {
		step(t, c, &msg.Heartbeat{From: 2, Ballot: bal(1, 2), Seq: uint64(i + 2)})
		for _, o := range tick(t, c) {
			if _, ok := o.Msg.(*msg.CatchupRequest); ok {
				t.Fatalf("probed while the leader beats: %v", o)
			}
		}
	}
}

// Probes turn through every peer, whether each answers with nothing (a
// peer as far behind) or not at all (one that is down): the one peer that
// has the slots must be asked in the end. Turning twice per probe had
// skipped every other peer, and with two peers asked the same one forever.
func TestProbeAsksEveryPeer(t *testing.T) {
	for _, answer := range []bool{true, false} {
		h, err := membership.Bootstrap(8, Everyone([]msg.NodeID{1, 2, 3, 4, 5}))
		if err != nil {
			t.Fatal(err)
		}
		cfg := testConfig()
		cfg.Members = h
		c, err := New(cfg, storage.NewMemory().Chosen(), storage.NewMemory().Snapshots())
		if err != nil {
			t.Fatal(err)
		}
		start(t, c)
		step(t, c, &msg.Heartbeat{From: 2, Ballot: bal(1, 2), Seq: 1})
		asked := map[msg.NodeID]int{}
		for range 3 * cfg.ResendTicks * 12 {
			for _, o := range tick(t, c) {
				if _, ok := o.Msg.(*msg.CatchupRequest); ok {
					asked[o.To.Node]++
					if answer {
						step(t, c, &msg.CatchupReply{From: o.To.Node, Through: 0})
					}
				}
			}
		}
		for _, id := range []msg.NodeID{2, 3, 4, 5} {
			if asked[id] == 0 {
				t.Errorf("answered %v: peer %d never asked (asked %v)", answer, id, asked)
			}
		}
	}
}
