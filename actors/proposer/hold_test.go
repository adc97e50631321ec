package proposer

import (
	"slices"
	"testing"

	"github.com/rsml-go/rsml/msg"
)

func holdCore(t *testing.T) *Core {
	t.Helper()
	cfg := testConfig(1)
	cfg.EagerSlots, cfg.Window, cfg.MaxBatch, cfg.HoldBatches = 1, 4, 10, true
	c := New(cfg, msg.Ballot{}, 0)
	elect(t, c, nil)
	return c
}

// cmds makes k requests from clients of replica 1 (the leader in these
// tests).
func cmds(k int) []*msg.ClientRequest { return cmdsFrom(1, k) }

func cmdsFrom(origin msg.NodeID, k int) []*msg.ClientRequest {
	var rs []*msg.ClientRequest
	for range k {
		rs = append(rs, &msg.ClientRequest{Cmd: msg.Command{Origin: origin, Reply: "w", Data: []byte("x")}})
	}
	return rs
}

// When the window empties, the next slot waits until as many commands are
// queued as the chosen slot carried plus those that queued meanwhile: the
// clients just answered come back, and all go in one slot.
func TestHoldWaitsForTheAnsweredClients(t *testing.T) {
	c := holdCore(t)
	if got := slotSizes(stepReqs(c, cmds(4))); !slices.Equal(got, []int{4}) {
		t.Fatalf("first slot %v, want one of 4 (nothing to hold for yet)", got)
	}
	stepReqs(c, cmds(2)) // queue behind the slot in flight
	out := step(c, &msg.Committed{Commit: 1, Ballot: c.Ballot(), Run: msg.Run{First: 1, Through: 1}})
	if got := slotSizes(out); len(got) != 0 || !c.Holding() {
		t.Fatalf("after the slot of 4 was chosen with 2 queued: slots %v, holding %v; want a hold", got, c.Holding())
	}
	if runs, _ := find[*msg.ChosenRun](out); len(runs) != 0 {
		t.Fatal("a hold sent the chosen run on its own; the next Accept carries it")
	}
	if n, _ := c.RequestsWanted(); n != 4 {
		t.Fatalf("holding for 6 with 2 queued: wanted %d requests, want 4", n)
	}
	if got := slotSizes(stepReqs(c, cmds(3))); len(got) != 0 {
		t.Fatalf("5 of 6 queued: slots %v, want none", got)
	}
	out = stepReqs(c, cmds(1))
	accepts, _ := find[*msg.Accept](out)
	if got := slotSizes(out); !slices.Equal(got, []int{6}) || c.Holding() {
		t.Fatalf("6 of 6 queued: slots %v, holding %v; want one slot of 6 and no hold", got, c.Holding())
	}
	if accepts[0].Chosen.Through != 1 {
		t.Fatalf("the slot after a hold carries chosen run %+v, want through 1", accepts[0].Chosen)
	}
}

// Release, or the next tick, ends a hold: what is queued goes, and learners
// hear what was chosen even if nothing is queued.
func TestHoldEndsAtReleaseOrTick(t *testing.T) {
	c := holdCore(t)
	stepReqs(c, cmds(5))
	step(c, &msg.Committed{Commit: 1, Ballot: c.Ballot(), Run: msg.Run{First: 1, Through: 1}})
	stepReqs(c, cmds(2))
	if !c.Holding() {
		t.Fatal("no hold after the window emptied")
	}
	if got := slotSizes(step(c, release{})); !slices.Equal(got, []int{2}) || c.Holding() {
		t.Fatalf("Release: slots %v, holding %v; want the 2 queued at once", got, c.Holding())
	}
	// A hold with nothing queued: the tick ends it and tells the learners.
	step(c, &msg.Committed{Commit: 2, Ballot: c.Ballot(), Run: msg.Run{First: 1, Through: 2}})
	if !c.Holding() {
		t.Fatal("no hold after the second slot was chosen")
	}
	out := tick(c)
	runs, to := find[*msg.ChosenRun](out)
	if c.Holding() || len(runs) != 2 || runs[0].Run.Through != 2 || to[0].Role != msg.RoleLearner {
		t.Fatalf("tick during an empty hold: holding %v, chosen runs %+v to %v; want the run through 2 to both other learners", c.Holding(), runs, to)
	}
}

// A leader that loses its leadership drops the hold with the queue, and a
// leader without HoldBatches never holds.
func TestHoldEndsWithLeadershipAndIsOptIn(t *testing.T) {
	c := holdCore(t)
	stepReqs(c, cmds(3))
	step(c, &msg.Committed{Commit: 1, Ballot: c.Ballot(), Run: msg.Run{First: 1, Through: 1}})
	step(c, &msg.Heartbeat{From: 2, Ballot: msg.Ballot{Round: 99, ID: 2}})
	if c.IsLeader() || c.Holding() {
		t.Fatalf("deposed: leader %v holding %v", c.IsLeader(), c.Holding())
	}

	cfg := testConfig(1)
	cfg.EagerSlots, cfg.Window, cfg.MaxBatch = 1, 4, 10
	c = New(cfg, msg.Ballot{}, 0)
	elect(t, c, nil)
	stepReqs(c, cmds(3))
	stepReqs(c, cmds(1))
	if got := slotSizes(step(c, &msg.Committed{Commit: 1})); !slices.Equal(got, []int{1}) || c.Holding() {
		t.Fatalf("without HoldBatches: slots %v, holding %v; want the queued command at once", got, c.Holding())
	}
}

// Commands of other replicas' clients neither count towards a hold (their
// clients hear their answer only after their own learner, then a network hop
// away) nor wait for it to tell their learners: the chosen run goes at once.
func TestHoldCountsOnlyOwnClients(t *testing.T) {
	c := holdCore(t)
	stepReqs(c, cmdsFrom(2, 5))
	out := step(c, &msg.Committed{Commit: 1, Ballot: c.Ballot(), Run: msg.Run{First: 1, Through: 1}})
	if c.Holding() {
		t.Fatal("held for another replica's clients")
	}
	if runs, _ := find[*msg.ChosenRun](out); len(runs) != 2 {
		t.Fatalf("%d chosen runs after a slot of another replica's commands, want one per other learner", len(runs))
	}
	// Mixed: the hold waits for our 2 only, and the other replica's
	// learner hears at once.
	stepReqs(c, append(cmds(2), cmdsFrom(3, 4)...))
	out = step(c, &msg.Committed{Commit: 2, Ballot: c.Ballot(), Run: msg.Run{First: 1, Through: 2}})
	runs, _ := find[*msg.ChosenRun](out)
	if n, _ := c.RequestsWanted(); !c.Holding() || n != 2 || len(runs) != 2 {
		t.Fatalf("mixed slot: holding %v for %d, %d chosen runs; want a hold for our 2 and the run sent", c.Holding(), n, len(runs))
	}
}

// A hold never waits for more than MaxQueue commands: the queue could not
// reach it, and clients would be turned away with the window empty.
func TestHoldStaysWithinMaxQueue(t *testing.T) {
	cfg := testConfig(1)
	cfg.EagerSlots, cfg.Window, cfg.MaxBatch, cfg.MaxQueue, cfg.HoldBatches = 1, 4, 10, 5, true
	c := New(cfg, msg.Ballot{}, 0)
	elect(t, c, nil)
	stepReqs(c, cmds(5))
	stepReqs(c, cmds(5))
	step(c, &msg.Committed{Commit: 1, Ballot: c.Ballot(), Run: msg.Run{First: 1, Through: 1}})
	out := stepReqs(c, cmds(3))
	if rej, _ := find[*msg.Reject](out); len(rej) != 0 || c.Holding() {
		t.Fatalf("hold with MaxQueue 5: %d rejected, holding %v; want the 5 queued to leave", len(rej), c.Holding())
	}
}
