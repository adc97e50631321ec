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

// floorsSent returns the witness floors proposed in out, one per slot, and
// their slots.
func floorsSent(t *testing.T, out []msg.Out) (fs []*membership.Floor, slots []uint64) {
	t.Helper()
	accs, _ := find[*msg.Accept](out)
	for _, a := range accs {
		for _, p := range a.Proposals {
			if p.Value == nil || len(p.Value.Floor) == 0 {
				continue
			}
			if slices.Contains(slots, p.Slot) {
				continue // a resend
			}
			f, err := membership.DecodeFloor(p.Value.Floor)
			if err != nil {
				t.Fatal(err)
			}
			fs, slots = append(fs, f), append(slots, p.Slot)
		}
	}
	return fs, slots
}

// ticks ticks c n times and returns everything it sent.
func ticks(c *Core, n int) []msg.Out {
	var out []msg.Out
	for range n {
		out = append(out, tick(c)...)
	}
	return out
}

func members(roles ...membership.Roles) []membership.Member {
	var ms []membership.Member
	for i, r := range roles {
		id := msg.NodeID(i + 1)
		ms = append(ms, membership.Member{ID: id, Addr: "a" + id.String(), Roles: r})
	}
	return ms
}

// A leader of a cluster with a witness proposes a floor: the lowest durable
// snapshot of the replicas with state, their reports as evidence. It
// proposes none without a witness, while a replica with state has not
// reported, while a witness is a learner, nor again at the same point.
func TestLeaderProposesWitnessFloor(t *testing.T) {
	setup := func(t *testing.T) (*Core, msg.Ballot) {
		c, _ := leadWith(t, members(membership.All, membership.All, membership.Acceptor), 1, 3)
		b := c.Ballot()
		step(c, &msg.Committed{Commit: 100, Snapshot: 60})
		return c, b
	}
	t.Run("proposed", func(t *testing.T) {
		c, b := setup(t)
		step(c, &msg.HeartbeatAck{From: 3, Ballot: b, Seq: 1, Promised: b, Witness: true})
		step(c, &msg.Progress{From: 2, Ballot: b, Delivered: 100, Commit: 100, Snapshot: 40})
		fs, slots := floorsSent(t, ticks(c, 2))
		if len(fs) != 1 || fs[0].Through != 40 ||
			!slices.Equal(fs[0].Holds, []membership.Hold{{ID: 1, Snapshot: 60}, {ID: 2, Snapshot: 40}}) {
			t.Fatalf("floors %+v, want one through 40 held by 1 at 60 and 2 at 40", fs)
		}
		if fs, _ := floorsSent(t, ticks(c, 3)); len(fs) != 0 {
			t.Fatalf("proposed %+v while one is in flight", fs)
		}
		step(c, &msg.Committed{Commit: slots[0], Snapshot: 60, Floor: 40})
		if fs, _ := floorsSent(t, ticks(c, 3)); len(fs) != 0 {
			t.Fatalf("proposed %+v at the point that held", fs)
		}
		step(c, &msg.Progress{From: 2, Ballot: b, Delivered: 100, Commit: 100, Snapshot: 70})
		if fs, _ := floorsSent(t, ticks(c, 2)); len(fs) != 1 || fs[0].Through != 60 {
			t.Fatalf("floors %+v after new snapshots, want one through 60", fs)
		}
	})
	t.Run("no witness", func(t *testing.T) {
		c, b := setup(t)
		step(c, &msg.HeartbeatAck{From: 3, Ballot: b, Seq: 1, Promised: b})
		step(c, &msg.Progress{From: 2, Ballot: b, Delivered: 100, Commit: 100, Snapshot: 40})
		if fs, _ := floorsSent(t, ticks(c, 5)); len(fs) != 0 {
			t.Fatalf("floors %+v in a cluster without a witness", fs)
		}
	})
	t.Run("no report", func(t *testing.T) {
		c, b := setup(t)
		step(c, &msg.HeartbeatAck{From: 3, Ballot: b, Seq: 1, Promised: b, Witness: true})
		if fs, _ := floorsSent(t, ticks(c, 5)); len(fs) != 0 {
			t.Fatalf("floors %+v with replica 2's snapshot unknown", fs)
		}
	})
	t.Run("one learner", func(t *testing.T) {
		// Two witnesses and one full replica: the witnesses' copies are
		// the only others, so they never truncate.
		c, _ := leadWith(t, members(membership.All, membership.Acceptor, membership.Acceptor), 1, 2)
		b := c.Ballot()
		step(c, &msg.Committed{Commit: 100, Snapshot: 60})
		step(c, &msg.HeartbeatAck{From: 2, Ballot: b, Seq: 1, Promised: b, Witness: true})
		step(c, &msg.HeartbeatAck{From: 3, Ballot: b, Seq: 1, Promised: b, Witness: true})
		if fs, _ := floorsSent(t, ticks(c, 5)); len(fs) != 0 {
			t.Fatalf("floors %+v with one replica holding the state", fs)
		}
	})
	t.Run("a snapshot of 0", func(t *testing.T) {
		c, b := setup(t)
		step(c, &msg.Committed{Commit: 100})
		step(c, &msg.HeartbeatAck{From: 3, Ballot: b, Seq: 1, Promised: b, Witness: true})
		step(c, &msg.Progress{From: 2, Ballot: b, Delivered: 100, Commit: 100, Snapshot: 40})
		if fs, _ := floorsSent(t, ticks(c, 5)); len(fs) != 0 {
			t.Fatalf("floors %+v while the leader holds no snapshot", fs)
		}
	})
	t.Run("witness learner", func(t *testing.T) {
		c, b := setup(t)
		step(c, &msg.HeartbeatAck{From: 3, Ballot: b, Seq: 1, Promised: b, Witness: true})
		step(c, &msg.Progress{From: 2, Ballot: b, Delivered: 100, Commit: 100, Snapshot: 40, Witness: true})
		if fs, _ := floorsSent(t, ticks(c, 5)); len(fs) != 0 {
			t.Fatalf("floors %+v counting a witness's snapshot", fs)
		}
	})
}

// A follower reports its durable snapshot, unless it is a witness (whose
// snapshots hold nothing).
func TestProgressCarriesTheSnapshot(t *testing.T) {
	for _, witness := range []bool{false, true} {
		cfg := testConfig(2)
		cfg.Witness = witness
		c := New(cfg, msg.Ballot{}, 7)
		step(c, &msg.Committed{Commit: 7, Snapshot: 5})
		b := msg.Ballot{Round: 3, ID: 1}
		got, _ := find[*msg.Progress](step(c, &msg.Heartbeat{From: 1, Ballot: b, Seq: 1, Commit: 9}))
		want := uint64(5)
		if witness {
			want = 0
		}
		if len(got) != 1 || got[0].Snapshot != want || got[0].Witness != witness {
			t.Fatalf("witness %v: reported %+v, want snapshot %d", witness, got, want)
		}
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

// A replica that reports itself a witness, in its Progress or in its
// acceptor's acks, is never made both an acceptor and a learner; the
// acceptor role alone it may have.
func TestWitnessIsNeverFull(t *testing.T) {
	c, _ := leadWith(t, members(membership.All, membership.All, membership.All, membership.Learner), 1, 2)
	b := c.Ballot()
	step(c, &msg.Progress{From: 4, Ballot: b, Delivered: 100, Commit: 100, Witness: true})
	full4 := (&membership.Change{Base: 1, Op: membership.SetRoles, Member: membership.Member{ID: 4, Addr: "a4", Roles: membership.All}}).Encode()
	if !changeRejected(t, c, full4, msg.RejectWitnessRoles) {
		t.Fatal("made a witness a full acceptor")
	}
	witness4 := (&membership.Change{Base: 1, Op: membership.SetRoles, Member: membership.Member{ID: 4, Addr: "a4", Roles: membership.Acceptor}}).Encode()
	if changeRejected(t, c, witness4, msg.RejectWitnessRoles) {
		t.Fatal("refused to give a witness the acceptor role alone")
	}

	// Its acks alone say so too (its Progress lost).
	c, _ = leadWith(t, members(membership.All, membership.All, membership.Acceptor), 1, 3)
	b = c.Ballot()
	step(c, &msg.HeartbeatAck{From: 3, Ballot: b, Seq: 1, Promised: b, Witness: true})
	full3 := (&membership.Change{Base: 1, Op: membership.SetRoles, Member: membership.Member{ID: 3, Addr: "a3", Roles: membership.All}}).Encode()
	if !changeRejected(t, c, full3, msg.RejectWitnessRoles) {
		t.Fatal("made a witness, known by its acks, a full acceptor")
	}
}
