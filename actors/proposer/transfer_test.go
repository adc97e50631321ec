package proposer

import (
	"testing"

	"github.com/rsml-go/rsml/msg"
)

// ackAll makes c, a leader, hear a heartbeat ack from every replica, so that
// each counts as live.
func ackAll(c *Core) {
	for _, id := range c.cfg.Replicas {
		step(c, &msg.HeartbeatAck{From: id, Ballot: c.ballot, Seq: c.hbSeq, Promised: c.ballot})
	}
}

// A target that has not answered the leader lately cannot take over: the
// leader says so at once instead of pausing its writes for an election
// timeout. (A leader younger than an election timeout has not had the time
// to hear from everyone: it takes the transfer.)
func TestTransferToAReplicaNotHeardIsRefused(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	elect(t, c, nil)
	for range c.cfg.ElectionTicks {
		tick(c)
		for _, id := range []msg.NodeID{1, 2} {
			step(c, &msg.HeartbeatAck{From: id, Ballot: c.ballot, Seq: c.hbSeq, Promised: c.ballot})
		}
	}
	out := step(c, &msg.TransferLeader{Target: 3, Origin: 2, Reply: "w"})
	if rej, _ := find[*msg.Reject](out); len(rej) != 1 || rej[0].Reason != msg.RejectCannotLead {
		t.Fatalf("transfer to a replica never heard: %v, want one Reject (cannot lead)", out)
	}
	if c.transferTo != 0 {
		t.Fatalf("the leader pauses for a target it cannot hand over to")
	}
	ackAll(c)
	out = step(c, &msg.TransferLeader{Target: 3, Origin: 2, Reply: "w"})
	if st, _ := find[*msg.TransferStarted](out); len(st) != 1 || st[0].Target != 3 || st[0].Ballot != c.ballot {
		t.Fatalf("transfer to a live replica: %v, want TransferStarted to 3 from %s", out, c.ballot)
	}
	if tn, to := find[*msg.TimeoutNow](out); len(tn) != 1 || to[0].Node != 3 {
		t.Fatalf("nothing in flight, yet no TimeoutNow to 3: %v", out)
	}
}

// Asked to keep the lead while a handover is under way: called off if the
// target was not told yet; refused (ask again later) once it was, since the
// answer "it leads" would then be false a moment later.
func TestTransferToTheLeaderDuringAHandover(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	elect(t, c, nil)
	ackAll(c)
	step(c, &msg.ClientRequest{Cmd: msg.Command{Origin: 1, Reply: "a"}}) // a slot in flight
	out := step(c, &msg.TransferLeader{Target: 2})
	if tn, _ := find[*msg.TimeoutNow](out); len(tn) != 0 || c.Status().Transferring != 2 {
		t.Fatalf("handover sent TimeoutNow with a slot in flight, or did not start: %v", out)
	}
	out = step(c, &msg.TransferLeader{Target: 1, Origin: 3, Reply: "w"})
	if st, _ := find[*msg.TransferStarted](out); len(st) != 1 || st[0].Target != 1 || c.Status().Transferring != 0 {
		t.Fatalf("keep the lead before TimeoutNow: %v (handing over to %d), want it called off", out, c.transferTo)
	}
	step(c, &msg.TransferLeader{Target: 2})
	step(c, &msg.Committed{Commit: 1}) // the slot is chosen: TimeoutNow goes out
	if c.transferSentAt == 0 {
		t.Fatal("no TimeoutNow once nothing was in flight")
	}
	out = step(c, &msg.TransferLeader{Target: 1, Origin: 3, Reply: "w"})
	if rej, _ := find[*msg.Reject](out); len(rej) != 1 {
		t.Fatalf("keep the lead after TimeoutNow: %v, want a Reject", out)
	}
}

// The target of a handover: it campaigns above the sender's ballot even if it
// never heard it, keeps the writes forwarded to it while it campaigns, and
// gives the takeover up when a newer leader shows up.
func TestTakeOver(t *testing.T) {
	old := msg.Ballot{Round: 7, ID: 1}
	c := New(testConfig(2), msg.Ballot{}, 0)
	out := step(c, &msg.TimeoutNow{From: 1, Ballot: old})
	preps, _ := find[*msg.Prepare](out)
	if len(preps) != 3 || preps[0].Probe || preps[0].Handover != old || !old.Less(preps[0].Ballot) {
		t.Fatalf("TimeoutNow from %s: %v, want Prepares (no probe) above it naming it", old, out)
	}
	b := preps[0].Ballot
	out = step(c, &msg.ClientRequest{Cmd: msg.Command{Origin: 3, Reply: "x"}, Hops: 1, Attempt: 1})
	if rej, _ := find[*msg.Reject](out); len(rej) != 0 {
		t.Fatalf("a write forwarded to the campaigning target was rejected: %v", out)
	}
	step(c, &msg.Promise{From: 1, Ballot: b})
	out = step(c, &msg.Promise{From: 2, Ballot: b})
	if acc, _ := find[*msg.Accept](out); len(acc) != 3 || len(acc[0].Proposals) != 1 || len(acc[0].Proposals[0].Value.Cmds) != 1 {
		t.Fatalf("new leader did not propose the forwarded write: %v", out)
	}

	// A newer leader cancels a pending takeover: no late campaign.
	c = New(testConfig(2), msg.Ballot{}, 5)
	step(c, &msg.TimeoutNow{From: 1, Ballot: old, Commit: 9}) // our learner is behind: we wait
	step(c, &msg.Heartbeat{From: 3, Ballot: msg.Ballot{Round: 8, ID: 3}, Seq: 1, Commit: 5})
	for range c.cfg.ElectionTicks / 2 {
		if preps, _ := find[*msg.Prepare](tick(c)); len(preps) > 0 && !preps[0].Handover.IsZero() {
			t.Fatalf("campaigned for a handover a newer leader made moot: %v", preps[0])
		}
	}
}

// A leader just elected has not heard from its followers yet: it neither
// refuses a target nor pauses for one it knows nothing about, but asks the
// caller to try again shortly.
func TestYoungLeaderAsksToTryAgain(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	elect(t, c, nil)
	for _, target := range []msg.NodeID{0, 3} {
		out := step(c, &msg.TransferLeader{Target: target, Origin: 2, Reply: "w"})
		if rej, _ := find[*msg.Reject](out); len(rej) != 1 || rej[0].Reason != msg.RejectNoLeader || rej[0].Leader != 1 {
			t.Fatalf("transfer to %d from a leader just elected: %v, want a Reject to ask again", target, out)
		}
		if c.transferTo != 0 {
			t.Fatal("the leader pauses for a target it has not heard from")
		}
	}
}
