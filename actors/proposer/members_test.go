package proposer

import (
	"slices"
	"testing"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/msg"
)

func alphaConfig(t *testing.T, alpha uint64) Config {
	t.Helper()
	var ms []membership.Member
	for _, id := range []msg.NodeID{1, 2, 3} {
		ms = append(ms, membership.Member{ID: id, Addr: "a" + id.String(), Roles: membership.All})
	}
	h, err := membership.Bootstrap(alpha, ms)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(1)
	cfg.Members, cfg.Window, cfg.EagerSlots, cfg.MaxBatch = h, 16, 16, 1
	return cfg
}

// proposedSlots lists the slots the Accepts in out propose, each once.
func proposedSlots(out []msg.Out) []uint64 {
	var slots []uint64
	accepts, _ := find[*msg.Accept](out)
	for _, a := range accepts {
		for _, p := range a.Proposals {
			if !slices.Contains(slots, p.Slot) {
				slots = append(slots, p.Slot)
			}
		}
	}
	slices.Sort(slots)
	return slots
}

// The leader proposes at a slot only within α of its commit point, window
// or not: past it, a change it has not delivered may govern the slot.
func TestGateHoldsSlotsBeyondAlpha(t *testing.T) {
	c := New(alphaConfig(t, 4), msg.Ballot{}, 0)
	elect(t, c, nil)
	var reqs []*msg.ClientRequest
	for i := range 10 {
		reqs = append(reqs, &msg.ClientRequest{Cmd: msg.Command{Seq: uint64(i + 1), Data: []byte("x")}})
	}
	if got := proposedSlots(stepReqs(c, reqs)); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("proposed slots %v, want 1..4 (α = 4)", got)
	}
	if got := proposedSlots(step(c, &msg.Committed{Commit: 2})); !slices.Equal(got, []uint64{5, 6}) {
		t.Fatalf("after commit 2: proposed %v, want 5 and 6", got)
	}
}

// A configuration that comes within reach needs its own acceptors'
// promises before the leader proposes at its slots, and its slots' Accepts
// go to its acceptors.
func TestNewConfigNeedsItsOwnPromises(t *testing.T) {
	cfg := alphaConfig(t, 4)
	c := New(cfg, msg.Ballot{}, 0)
	elect(t, c, nil) // promises from 1 and 2
	b := c.Ballot()
	add := (&membership.Change{Base: 1, Op: membership.Add,
		Member: membership.Member{ID: 4, Addr: "a4", Roles: membership.All}}).Encode()
	h, out := cfg.Members.Apply(1, add)
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	// Slot 1 (the change) is chosen and delivered: config 2 governs from 5.
	stepReqs(c, []*msg.ClientRequest{{Cmd: msg.Command{Seq: 1, Data: []byte("x")}}})
	outs := step(c, &msg.Committed{Commit: 1, Members: h})
	preps, to := find[*msg.Prepare](outs)
	if len(preps) != 2 || preps[0].Ballot != b || preps[0].Probe {
		t.Fatalf("prepares %v to %v, want our ballot to acceptors 3 and 4", preps, to)
	}
	// Nothing queued: the slots before config 2 fill with no-ops at once.
	if got := proposedSlots(outs); !slices.Equal(got, []uint64{2, 3, 4}) {
		t.Fatalf("filled %v, want no-ops at 2..4", got)
	}
	var reqs []*msg.ClientRequest
	for i := range 8 {
		reqs = append(reqs, &msg.ClientRequest{Cmd: msg.Command{Seq: uint64(i + 2), Data: []byte("x")}})
	}
	if got := proposedSlots(stepReqs(c, reqs)); len(got) != 0 {
		t.Fatalf("proposed %v before 4 promised, want nothing past slot 4", got)
	}
	outs = step(c, &msg.Promise{From: 4, Ballot: b})
	accepts, to := find[*msg.Accept](outs)
	if len(accepts) == 0 || accepts[0].Proposals[0].Slot != 5 {
		t.Fatalf("after 4 promised: accepts %v, want slot 5 next", accepts)
	}
	var sentTo []msg.NodeID
	for i, a := range accepts {
		if a.Proposals[0].Slot == 5 {
			sentTo = append(sentTo, to[i].Node)
		}
	}
	slices.Sort(sentTo)
	if !slices.Equal(sentTo, []msg.NodeID{1, 2, 3, 4}) {
		t.Fatalf("slot 5 went to %v, want the acceptors of config 2", sentTo)
	}
}

// A leader whose promisers' truncation points run more than α past its
// commit point does not know the configurations of those slots: a read
// must wait until its learner has delivered them, or a quorum of the wrong
// acceptors could confirm it.
func TestReadsWaitForSlotsKnownOnlyByTruncation(t *testing.T) {
	c := New(alphaConfig(t, 4), msg.Ballot{}, 0)
	out := step(c, &Campaign{})
	probes, _ := find[*msg.Prepare](out)
	b := probes[0].Ballot
	step(c, &msg.Promise{From: 1, Ballot: b, Probe: true})
	step(c, &msg.Promise{From: 2, Ballot: b, Probe: true})
	step(c, &msg.Promise{From: 1, Ballot: b, Truncated: 20})
	step(c, &msg.Promise{From: 2, Ballot: b, Truncated: 20})
	if !c.IsLeader() {
		t.Fatal("not leader")
	}
	read := func() []msg.Out {
		out := step(c, &msg.ReadRequest{Origin: 1, Reply: "r"})
		for range 3 { // every heartbeat the read makes the leader send is answered
			seq := c.hbSeq
			for _, id := range []msg.NodeID{1, 2, 3} {
				out = append(out, step(c, &msg.HeartbeatAck{From: id, Ballot: b, Seq: seq, Promised: b})...)
			}
		}
		return out
	}
	if idx, _ := find[*msg.ReadIndex](read()); len(idx) != 0 {
		t.Fatalf("read served at %v with slots up to 20 known only through truncation", idx)
	}
	out = step(c, &msg.Committed{Commit: 20})
	out = append(out, read()...)
	if idx, _ := find[*msg.ReadIndex](out); len(idx) == 0 || idx[0].Index < 20 {
		t.Fatalf("after delivering 20: read index %v, want one at 20 or more", idx)
	}
}

// readServed steps a read and answers every heartbeat it makes the leader
// send with acks from acks, and reports whether the read was answered.
func readServed(c *Core, acks ...msg.NodeID) bool {
	out := step(c, &msg.ReadRequest{Origin: 1, Reply: "r"})
	for range 3 {
		seq := c.hbSeq
		for _, id := range acks {
			out = append(out, step(c, &msg.HeartbeatAck{From: id, Ballot: c.ballot, Seq: seq, Promised: c.ballot})...)
		}
	}
	idx, _ := find[*msg.ReadIndex](out)
	return len(idx) > 0
}

// A read needs a quorum of every configuration the leader knows, the one
// chosen and not yet in force included.
func TestReadsNeedAQuorumOfEveryConfiguration(t *testing.T) {
	cfg := alphaConfig(t, 4)
	c := New(cfg, msg.Ballot{}, 0)
	elect(t, c, nil)
	stepReqs(c, []*msg.ClientRequest{{Cmd: msg.Command{Seq: 1, Data: []byte("x")}}})
	add := (&membership.Change{Base: 1, Op: membership.Add,
		Member: membership.Member{ID: 4, Addr: "a4", Roles: membership.All}}).Encode()
	h, _ := cfg.Members.Apply(1, add) // config 2, {1,2,3,4}, from slot 5
	step(c, &msg.Committed{Commit: 1, Members: h})
	if readServed(c, 1, 2) {
		t.Fatal("read confirmed by 1 and 2: a majority of config 1, not of config 2")
	}
	if !readServed(c, 1, 2, 4) {
		t.Fatal("read not confirmed by 1, 2 and 4: a majority of both")
	}
}

// While a membership change is in flight, reads wait: whether it is chosen
// decides which quorums they need.
func TestReadsWaitForAChangeInFlight(t *testing.T) {
	c := New(alphaConfig(t, 4), msg.Ballot{}, 0)
	elect(t, c, nil)
	ch := (&membership.Change{Base: 1, Op: membership.Add, Member: membership.Member{ID: 4, Addr: "a4", Roles: membership.Learner}}).Encode()
	step(c, &msg.ChangeRequest{Change: ch, Origin: 1, Reply: "c"})
	if readServed(c, 1, 2, 3) {
		t.Fatal("read served while a change was in flight")
	}
	step(c, &msg.Committed{Commit: 1})
	if !readServed(c, 1, 2, 3) {
		t.Fatal("read not served once the change was delivered")
	}
}

// A learner becomes an acceptor only once it has reported, lately, a
// delivered point within catchUpSlack of the leader's commit point: a replica still
// catching up never counts in a quorum. A new id, which hears no
// heartbeats, is never added as an acceptor at once.
func TestPromotionWaitsForTheLearnerToCatchUp(t *testing.T) {
	cfg := alphaConfig(t, 4)
	c := New(cfg, msg.Ballot{}, 0)
	elect(t, c, nil)
	add := (&membership.Change{Base: 1, Op: membership.Add,
		Member: membership.Member{ID: 4, Addr: "a4", Roles: membership.Learner}}).Encode()
	h, out := cfg.Members.Apply(1, add)
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	step(c, &msg.ChangeRequest{Change: add, Origin: 1, Reply: "c"}) // slot 1
	step(c, &msg.Committed{Commit: 1, Members: h})                  // no-ops fill 2 to 4
	step(c, &msg.Committed{Commit: 4, Members: h})                  // config 2 in force
	promote := (&membership.Change{Base: 2, Op: membership.SetRoles,
		Member: membership.Member{ID: 4, Addr: "a4", Roles: membership.All}}).Encode()
	rejected := func(change []byte) bool {
		t.Helper()
		out := step(c, &msg.ChangeRequest{Change: change, Origin: 1, Reply: "c"})
		rej, _ := find[*msg.Reject](out)
		if len(rej) > 0 && rej[0].Reason != msg.RejectNotCaughtUp {
			t.Fatalf("rejected as %v", rej[0].Reason)
		}
		return len(rej) > 0
	}
	if !rejected(promote) {
		t.Fatal("promoted a learner that never reported its progress")
	}
	step(c, &msg.Progress{From: 4, Ballot: c.Ballot(), Delivered: 1, Commit: 2 + catchUpSlack})
	if !rejected(promote) {
		t.Fatal("promoted a learner catchUpSlack+1 slots behind")
	}
	step(c, &msg.Progress{From: 4, Ballot: msg.Ballot{Round: 99, ID: 2}, Delivered: 4, Commit: 4})
	if !rejected(promote) {
		t.Fatal("took the progress reported to another leader")
	}
	newID := (&membership.Change{Base: 2, Op: membership.Add,
		Member: membership.Member{ID: 5, Addr: "a5", Roles: membership.All}}).Encode()
	if !rejected(newID) {
		t.Fatal("added a new id as an acceptor at once")
	}
	step(c, &msg.Progress{From: 4, Ballot: c.Ballot(), Delivered: 4, Commit: 4 + catchUpSlack})
	for range cfg.ElectionTicks + 1 { // the acceptors answer; 4 is silent
		hbs, _ := find[*msg.Heartbeat](tick(c))
		for _, hb := range hbs {
			for _, id := range []msg.NodeID{2, 3} {
				step(c, &msg.HeartbeatAck{From: id, Ballot: hb.Ballot, Seq: hb.Seq, Promised: hb.Ballot})
			}
		}
	}
	if !rejected(promote) {
		t.Fatal("promoted on a report older than an election timeout")
	}
	step(c, &msg.Progress{From: 4, Ballot: c.Ballot(), Delivered: 4, Commit: 4 + catchUpSlack})
	if rejected(promote) {
		t.Fatal("refused to promote a learner within catchUpSlack of the log")
	}
}

// Every follower answers the leader's heartbeats with its learner's
// progress: a learner's decides whether it may be promoted, a full
// acceptor's whether another may be let go.
func TestFollowersReportProgress(t *testing.T) {
	var ms []membership.Member
	for _, id := range []msg.NodeID{1, 2, 3} {
		ms = append(ms, membership.Member{ID: id, Addr: "a" + id.String(), Roles: membership.All})
	}
	ms = append(ms, membership.Member{ID: 4, Addr: "a4", Roles: membership.Learner})
	h, err := membership.Bootstrap(4, ms)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []msg.NodeID{2, 4} {
		cfg := testConfig(id)
		cfg.Members = h
		c := New(cfg, msg.Ballot{}, 7)
		b := msg.Ballot{Round: 3, ID: 1}
		got, to := find[*msg.Progress](step(c, &msg.Heartbeat{From: 1, Ballot: b, Seq: 1, Commit: 9}))
		if len(got) != 1 || *got[0] != (msg.Progress{From: id, Ballot: b, Delivered: 7, Commit: 9}) ||
			to[0] != (msg.Target{Node: 1, Role: msg.RoleProposer}) {
			t.Fatalf("replica %d reported %v to %v, want delivered 7 of 9 to the leader's proposer", id, got, to)
		}
	}
}

// leadWith returns replica 1 leading members at commit 100 (slots up to
// it delivered), elected by voters.
func leadWith(t *testing.T, ms []membership.Member, voters ...msg.NodeID) (*Core, Config) {
	t.Helper()
	h, err := membership.Bootstrap(8, ms)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(1)
	cfg.Members = h
	c := New(cfg, msg.Ballot{}, 100)
	out := step(c, &Campaign{})
	probes, _ := find[*msg.Prepare](out)
	for _, id := range voters {
		out = append(out, step(c, &msg.Promise{From: id, Ballot: probes[0].Ballot, Probe: true})...)
	}
	preps, _ := find[*msg.Prepare](out)
	for _, id := range voters {
		step(c, &msg.Promise{From: id, Ballot: preps[len(preps)-1].Ballot})
	}
	if !c.IsLeader() {
		t.Fatal("not elected")
	}
	return c, cfg
}

// nextFloor ticks c until it heartbeats and returns the floor it sent.
func nextFloor(t *testing.T, c *Core, cfg Config) uint64 {
	t.Helper()
	for range cfg.HeartbeatTicks + 1 {
		if hbs, _ := find[*msg.Heartbeat](tick(c)); len(hbs) > 0 {
			return hbs[0].Floor
		}
	}
	t.Fatal("no heartbeat")
	return 0
}

func members(roles ...membership.Roles) []membership.Member {
	var ms []membership.Member
	for i, r := range roles {
		id := msg.NodeID(i + 1)
		ms = append(ms, membership.Member{ID: id, Addr: "a" + id.String(), Roles: r})
	}
	return ms
}

// The floor a leader's heartbeats carry is the lowest truncation point of
// the full acceptors (acceptors that are learners), 0 until each has
// reported; a witness and an observer do not count.
func TestHeartbeatFloor(t *testing.T) {
	c, cfg := leadWith(t, members(membership.All, membership.All, membership.Acceptor, membership.Learner), 1, 3)
	b := c.Ballot()
	ack := func(id msg.NodeID, truncated uint64) {
		step(c, &msg.HeartbeatAck{From: id, Ballot: b, Seq: 1, Promised: b, Truncated: truncated})
	}
	ack(1, 40)
	ack(3, 0) // the witness, which truncates behind the floor: does not count
	if f := nextFloor(t, c, cfg); f != 0 {
		t.Fatalf("floor %d before replica 2 reported, want 0", f)
	}
	ack(2, 30)
	if f := nextFloor(t, c, cfg); f != 30 {
		t.Fatalf("floor %d, want 30 (the lower of 1's 40 and 2's 30)", f)
	}
	ack(2, 50)
	if f := nextFloor(t, c, cfg); f != 40 {
		t.Fatalf("floor %d, want 40", f)
	}
}

// No floor where too few acceptors are full to outlive the loss of a
// minority (one full replica and two witnesses: losing it would lose what
// they dropped), nor where there is no witness to tell; and a witness's
// acceptor is no full one whatever its roles say.
func TestFloorNeedsEnoughFullAcceptors(t *testing.T) {
	c, cfg := leadWith(t, members(membership.All, membership.Acceptor, membership.Acceptor), 1, 2)
	b := c.Ballot()
	for _, id := range []msg.NodeID{1, 2, 3} {
		step(c, &msg.HeartbeatAck{From: id, Ballot: b, Seq: 1, Promised: b, Truncated: 40})
	}
	if f := nextFloor(t, c, cfg); f != 0 {
		t.Fatalf("floor %d with one full acceptor of three, want 0", f)
	}
	c, cfg = leadWith(t, members(membership.All, membership.All), 1, 2)
	b = c.Ballot()
	for _, id := range []msg.NodeID{1, 2} {
		step(c, &msg.HeartbeatAck{From: id, Ballot: b, Seq: 1, Promised: b, Truncated: 40})
	}
	if f := nextFloor(t, c, cfg); f != 0 {
		t.Fatalf("floor %d with no witness, want 0", f)
	}
	c, cfg = leadWith(t, members(membership.All, membership.All, membership.All), 1, 2)
	b = c.Ballot()
	step(c, &msg.HeartbeatAck{From: 1, Ballot: b, Seq: 1, Promised: b, Truncated: 40})
	step(c, &msg.HeartbeatAck{From: 2, Ballot: b, Seq: 1, Promised: b, Truncated: 50})
	step(c, &msg.HeartbeatAck{From: 3, Ballot: b, Seq: 1, Promised: b, Witness: true})
	if f := nextFloor(t, c, cfg); f != 40 {
		t.Fatalf("floor %d, want 40: replica 3's acks say it is a witness", f)
	}
}

// changeRejected steps a change request and reports whether it was
// refused, failing on a refusal other than want.
func changeRejected(t *testing.T, c *Core, change []byte, want msg.RejectReason) bool {
	t.Helper()
	out := step(c, &msg.ChangeRequest{Change: change, Origin: 1, Reply: "c"})
	rej, _ := find[*msg.Reject](out)
	if len(rej) > 0 && rej[0].Reason != want {
		t.Fatalf("rejected as %v, want %v", rej[0].Reason, want)
	}
	return len(rej) > 0
}

// A full acceptor is let go (removed, or demoted) only once enough of the
// full acceptors that stay hold every slot a witness may drop, and every
// witness has promised the leader's ballot, so that no older leader's
// floor reaches it any more.
func TestLettingAFullAcceptorGo(t *testing.T) {
	c, cfg := leadWith(t, members(membership.All, membership.All, membership.All, membership.Acceptor), 1, 2, 4)
	b := c.Ballot()
	for _, id := range []msg.NodeID{1, 2, 3} {
		step(c, &msg.HeartbeatAck{From: id, Ballot: b, Seq: 1, Promised: b, Truncated: 40})
	}
	older := msg.Ballot{Round: b.Round - 1, ID: 2}
	step(c, &msg.HeartbeatAck{From: 4, Ballot: b, Seq: 1, Promised: older, Truncated: 35, Witness: true, Floor: 38})
	if f := nextFloor(t, c, cfg); f != 40 {
		t.Fatalf("floor %d, want 40", f)
	}
	step(c, &msg.Progress{From: 3, Ballot: b, Delivered: 100, Commit: 100})
	remove2 := (&membership.Change{Base: 1, Op: membership.Remove, Member: membership.Member{ID: 2}}).Encode()
	out := step(c, &msg.ChangeRequest{Change: remove2, Origin: 1, Reply: "c"})
	if rej, _ := find[*msg.Reject](out); len(rej) == 0 {
		t.Fatal("let 2 go while the witness had not promised our ballot")
	}
	if preps, to := find[*msg.Prepare](out); len(preps) != 1 || preps[0].Ballot != b || to[0].Node != 4 {
		t.Fatalf("prepares %v to %v, want our ballot to the witness", preps, to)
	}
	step(c, &msg.HeartbeatAck{From: 4, Ballot: b, Seq: 2, Promised: b, Truncated: 35, Witness: true, Floor: 40})
	// 3 (and 1) must hold up to 40: {1, 3, witness 4} can lose one.
	step(c, &msg.Progress{From: 3, Ballot: b, Delivered: 39, Commit: 100})
	if !changeRejected(t, c, remove2, msg.RejectNotCaughtUp) {
		t.Fatal("let 2 go while 3 holds only up to 39 and floor 40 was sent")
	}
	step(c, &msg.Progress{From: 3, Ballot: b, Delivered: 100, Commit: 100})
	if changeRejected(t, c, remove2, msg.RejectNotCaughtUp) {
		t.Fatal("refused to let 2 go once 3 holds everything and the witness promised our ballot")
	}
}

// Adding an acceptor grows what the configuration can lose: a learner is
// promoted only while enough full acceptors, counting it if it holds them,
// hold what the witnesses dropped. A replica that reports itself a witness
// is never made a full acceptor.
func TestPromotingWhereWitnessesDropped(t *testing.T) {
	c, cfg := leadWith(t, members(membership.All, membership.All, membership.Acceptor, membership.Acceptor, membership.Learner), 1, 2, 3)
	b := c.Ballot()
	for _, id := range []msg.NodeID{1, 2} {
		step(c, &msg.HeartbeatAck{From: id, Ballot: b, Seq: 1, Promised: b, Truncated: 40})
	}
	for _, id := range []msg.NodeID{3, 4} {
		step(c, &msg.HeartbeatAck{From: id, Ballot: b, Seq: 1, Promised: b, Truncated: 40, Witness: true, Floor: 40})
	}
	if f := nextFloor(t, c, cfg); f != 40 {
		t.Fatalf("floor %d, want 40 (2 full of 4 acceptors)", f)
	}
	step(c, &msg.Progress{From: 2, Ballot: b, Delivered: 100, Commit: 100})
	promote5 := (&membership.Change{Base: 1, Op: membership.SetRoles, Member: membership.Member{ID: 5, Addr: "a5", Roles: membership.All}}).Encode()
	// 5 is within the slack of the log, but holds only up to 30: with it
	// {1, 2, 3, 4, 5} can lose two, and only 1 and 2 hold slots 31 to 40.
	step(c, &msg.Progress{From: 5, Ballot: b, Delivered: 30, Commit: 90})
	if !changeRejected(t, c, promote5, msg.RejectNotCaughtUp) {
		t.Fatal("promoted 5 while it lacks slots the witnesses dropped and only two full acceptors hold them")
	}
	step(c, &msg.Progress{From: 5, Ballot: b, Delivered: 100, Commit: 100})
	if changeRejected(t, c, promote5, msg.RejectNotCaughtUp) {
		t.Fatal("refused to promote 5 once it holds everything")
	}

	c, _ = leadWith(t, members(membership.All, membership.All, membership.All, membership.Learner), 1, 2)
	b = c.Ballot()
	step(c, &msg.Progress{From: 4, Ballot: b, Delivered: 100, Commit: 100, Witness: true})
	full4 := (&membership.Change{Base: 1, Op: membership.SetRoles, Member: membership.Member{ID: 4, Addr: "a4", Roles: membership.All}}).Encode()
	if !changeRejected(t, c, full4, msg.RejectWitnessRoles) {
		t.Fatal("made a witness a full acceptor")
	}
	witness4 := (&membership.Change{Base: 1, Op: membership.SetRoles, Member: membership.Member{ID: 4, Addr: "a4", Roles: membership.Acceptor}}).Encode()
	if changeRejected(t, c, witness4, msg.RejectWitnessRoles) {
		t.Fatal("refused to give a witness the acceptor role alone")
	}
}

// No floor while phase 1 told the leader of slots its learner has not
// delivered: a change among them may have added a full acceptor it does
// not count yet.
func TestNoFloorBeforeTheRecoveredSlotsAreDelivered(t *testing.T) {
	c, cfg := leadWith(t, members(membership.All, membership.All, membership.All, membership.Acceptor), 1, 2, 4)
	b := c.Ballot()
	// A late promise tells of slot 105, accepted under an older ballot.
	step(c, &msg.Promise{From: 3, Ballot: b, Entries: []msg.Entry{{Slot: 105, Ballot: msg.Ballot{Round: b.Round - 1, ID: 3}, Value: &msg.Value{}}}})
	for _, id := range []msg.NodeID{1, 2, 3} {
		step(c, &msg.HeartbeatAck{From: id, Ballot: b, Seq: 1, Promised: b, Truncated: 40})
	}
	if f := nextFloor(t, c, cfg); f != 0 {
		t.Fatalf("floor %d with recovered slots up to 105 undelivered (commit 100), want 0", f)
	}
	step(c, &msg.Committed{Commit: 105})
	if f := nextFloor(t, c, cfg); f != 40 {
		t.Fatalf("floor %d once they are delivered, want 40", f)
	}
}
