package proposer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/rsml-go/rsml/msg"
)

// step feeds m to c and returns what it sends.
func step(c *Core, m any) []msg.Out {
	c.Step(m)
	return ready(c)
}

// stepReqs feeds c client requests that arrived together (from the intake).
func stepReqs(c *Core, reqs []*msg.ClientRequest) []msg.Out { return step(c, requests(reqs)) }

// tick ticks c and returns what it sends.
func tick(c *Core) []msg.Out {
	c.Tick()
	return ready(c)
}

// ready takes c's Ready as if its ballot were saved at once.
func ready(c *Core) []msg.Out {
	rd := c.Ready()
	c.Advance()
	return rd.Messages
}

func testConfig(id msg.NodeID) Config {
	return Config{ID: id, Replicas: []msg.NodeID{1, 2, 3}, HeartbeatTicks: 5, ElectionTicks: 15, ResendTicks: 10,
		Window: 2, EagerSlots: 2, MaxBatch: 3, MaxBatchBytes: 1 << 20, MaxQueue: 100, MaxHops: 3,
		Rand: rand.New(rand.NewPCG(1, 2))}
}

// slotSizes lists the command count of each slot the Accepts in out open,
// counting the Accept to acceptor 1 only (every slot goes to all three).
func slotSizes(out []msg.Out) (cmds []int) {
	accepts, to := find[*msg.Accept](out)
	for i, a := range accepts {
		if to[i].Node == 1 {
			cmds = append(cmds, len(a.Proposals[0].Value.Cmds))
		}
	}
	return cmds
}

// find returns the messages of type T in out, with their targets.
func find[T any](out []msg.Out) (ms []T, to []msg.Target) {
	for _, o := range out {
		if m, ok := o.Msg.(T); ok {
			ms = append(ms, m)
			to = append(to, o.To)
		}
	}
	return ms, to
}

// elect drives c through pre-vote and phase 1 with promises carrying entries.
func elect(t *testing.T, c *Core, entries map[msg.NodeID][]msg.Entry) []msg.Out {
	t.Helper()
	out := step(c, &Campaign{})
	probes, _ := find[*msg.Prepare](out)
	if len(probes) != 3 || !probes[0].Probe {
		t.Fatalf("campaign sent %d prepares (probe=%v), want 3 probes", len(probes), len(probes) > 0 && probes[0].Probe)
	}
	b := probes[0].Ballot
	out = step(c, &msg.Promise{From: 1, Ballot: b, Probe: true})
	out = append(out, step(c, &msg.Promise{From: 2, Ballot: b, Probe: true})...)
	preps, _ := find[*msg.Prepare](out)
	if len(preps) != 3 || preps[0].Probe {
		t.Fatalf("after a quorum of probes: %d prepares, want 3 real ones", len(preps))
	}
	var last []msg.Out
	for _, id := range []msg.NodeID{1, 2} {
		last = step(c, &msg.Promise{From: id, Ballot: b, Entries: entries[id]})
	}
	if !c.IsLeader() {
		t.Fatal("not leader after a quorum of promises")
	}
	return last
}

func TestBallotOrder(t *testing.T) {
	tests := []struct {
		a, b msg.Ballot
		want int
	}{
		{msg.Ballot{Round: 1, ID: 2}, msg.Ballot{Round: 2, ID: 1}, -1},
		{msg.Ballot{Round: 2, ID: 1}, msg.Ballot{Round: 2, ID: 3}, -1},
		{msg.Ballot{Round: 3, ID: 1}, msg.Ballot{Round: 2, ID: 3}, 1},
		{msg.Ballot{Round: 2, ID: 2}, msg.Ballot{Round: 2, ID: 2}, 0},
		{msg.Ballot{}, msg.Ballot{Round: 1, ID: 1}, -1},
	}
	for _, tt := range tests {
		if got := tt.a.Compare(tt.b); got != tt.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	if b, err := msg.ParseBallot("7.2"); err != nil || b != (msg.Ballot{Round: 7, ID: 2}) || b.String() != "7.2" {
		t.Errorf("ParseBallot(7.2) = %v, %v", b, err)
	}
}

func TestPhase1RecoversHighestBallotValueAndFillsHoles(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	old := &msg.Value{Cmds: []msg.Command{{Data: []byte("old")}}}
	newer := &msg.Value{Cmds: []msg.Command{{Data: []byte("newer")}}}
	other := &msg.Value{Cmds: []msg.Command{{Data: []byte("s4")}}}
	out := elect(t, c, map[msg.NodeID][]msg.Entry{
		1: {{Slot: 1, Ballot: msg.Ballot{Round: 1, ID: 2}, Value: old}},
		2: {{Slot: 1, Ballot: msg.Ballot{Round: 1, ID: 3}, Value: newer}, {Slot: 4, Ballot: msg.Ballot{Round: 1, ID: 2}, Value: other}},
	})
	accepts, to := find[*msg.Accept](out)
	if len(accepts) != 3 {
		t.Fatalf("leader sent %d Accepts, want one to each of 3 acceptors", len(accepts))
	}
	for _, tg := range to {
		if tg.Role != msg.RoleAcceptor {
			t.Fatalf("Accept sent to %v", tg)
		}
	}
	got := map[uint64]*msg.Value{}
	for _, p := range accepts[0].Proposals {
		got[p.Slot] = p.Value
	}
	if len(got) != 4 {
		t.Fatalf("recovered slots %v, want 1..4", got)
	}
	if got[1] != newer {
		t.Errorf("slot 1 re-proposed %v, want the value of the highest ballot", got[1])
	}
	if !got[2].IsNoop() || !got[3].IsNoop() {
		t.Errorf("holes 2 and 3 are not no-ops: %v %v", got[2], got[3])
	}
	if got[4] != other {
		t.Errorf("slot 4 = %v, want %v", got[4], other)
	}
	// New commands go after the recovered slots, once the window has room.
	out = step(c, &msg.ClientRequest{Cmd: msg.Command{Data: []byte("x")}})
	if a, _ := find[*msg.Accept](out); len(a) != 0 {
		t.Fatalf("proposed %v while 4 recovered slots fill a window of 2", a)
	}
	out = step(c, &msg.Committed{Commit: 4})
	accepts, _ = find[*msg.Accept](out)
	if len(accepts) == 0 || accepts[0].Proposals[0].Slot != 5 {
		t.Fatalf("new command proposed in %v, want slot 5", accepts)
	}
}

func TestPromisesOfOtherBallotsAreIgnored(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	out := step(c, &Campaign{})
	probes, _ := find[*msg.Prepare](out)
	b := probes[0].Ballot
	stale := msg.Ballot{Round: b.Round - 1, ID: 1}
	step(c, &msg.Promise{From: 2, Ballot: stale, Probe: true})
	step(c, &msg.Promise{From: 3, Ballot: stale, Probe: true})
	if c.probing == false {
		t.Fatal("stale probe answers counted toward the quorum")
	}
	// A real promise while still probing does not count either.
	step(c, &msg.Promise{From: 2, Ballot: b})
	step(c, &msg.Promise{From: 3, Ballot: b})
	if c.IsLeader() || !c.probing {
		t.Fatal("promises answered to a probe phase made a leader")
	}
}

func TestNackWithHigherPromiseEndsCandidacyAndRaisesBallot(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	out := step(c, &Campaign{})
	probes, _ := find[*msg.Prepare](out)
	b := probes[0].Ballot
	step(c, &msg.Nack{From: 2, Ballot: b, Promised: msg.Ballot{Round: 9, ID: 3}})
	if c.role != follower {
		t.Fatalf("role %v after a higher Nack, want follower", c.role)
	}
	out = step(c, &Campaign{})
	probes, _ = find[*msg.Prepare](out)
	if got := probes[0].Ballot; !(msg.Ballot{Round: 9, ID: 3}).Less(got) {
		t.Fatalf("next ballot %v is not above the promise it was told of", got)
	}
}

func TestLeaderBatchesWithinWindow(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	elect(t, c, nil)
	var accepts []*msg.Accept
	for i := 0; i < 8; i++ {
		a, _ := find[*msg.Accept](step(c, &msg.ClientRequest{Cmd: msg.Command{Data: []byte{byte(i)}}}))
		accepts = append(accepts, a...)
	}
	// Window 2: two slots go out at once (3 acceptors each); the rest queue.
	if len(accepts) != 6 {
		t.Fatalf("%d Accepts with a window of 2, want 6", len(accepts))
	}
	if c.Status().Queued != 6 {
		t.Fatalf("queued %d, want 6", c.Status().Queued)
	}
	// Slot 1 chosen: one slot frees, and it takes a batch of MaxBatch (3).
	accepts, _ = find[*msg.Accept](step(c, &msg.Committed{Commit: 1}))
	if len(accepts) != 3 || len(accepts[0].Proposals[0].Value.Cmds) != 3 || accepts[0].Proposals[0].Slot != 3 {
		t.Fatalf("after commit: %d accepts, want a batch of 3 commands in slot 3", len(accepts))
	}
}

func TestResendsUnchosenAccepts(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	elect(t, c, nil)
	step(c, &msg.ClientRequest{Cmd: msg.Command{Data: []byte("a")}})
	var resent []*msg.Accept
	for i := 0; i < 10 && len(resent) == 0; i++ {
		// Keep the quorum alive so the leader does not step down.
		for _, id := range []msg.NodeID{1, 2} {
			step(c, &msg.HeartbeatAck{From: id, Ballot: c.ballot, Seq: c.hbSeq, Promised: c.ballot})
		}
		resent, _ = find[*msg.Accept](tick(c))
	}
	if len(resent) != 3 || resent[0].Proposals[0].Slot != 1 {
		t.Fatalf("no resend of slot 1 after ResendTicks: %v", resent)
	}
}

func TestReadIndexNeedsQuorumAfterArrival(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	elect(t, c, nil)
	step(c, &msg.ClientRequest{Cmd: msg.Command{Data: []byte("w")}}) // slot 1
	seqBefore := c.hbSeq
	out := step(c, &msg.ReadRequest{Origin: 2, Reply: "w1"})
	if idx, _ := find[*msg.ReadIndex](out); len(idx) != 0 {
		t.Fatal("read index granted without confirmation")
	}
	// Acks of the heartbeat sent before the read arrived do not confirm it.
	for _, id := range []msg.NodeID{1, 2} {
		out = step(c, &msg.HeartbeatAck{From: id, Ballot: c.ballot, Seq: seqBefore, Promised: c.ballot})
	}
	if idx, _ := find[*msg.ReadIndex](out); len(idx) != 0 {
		t.Fatal("read index granted on acks of an earlier heartbeat")
	}
	hbs, _ := find[*msg.Heartbeat](out)
	if len(hbs) == 0 {
		t.Fatal("no confirmation heartbeat sent for the waiting read")
	}
	seq := hbs[0].Seq
	// One ack reporting a higher promise does not count.
	step(c, &msg.HeartbeatAck{From: 2, Ballot: c.ballot, Seq: seq, Promised: c.ballot})
	out = step(c, &msg.HeartbeatAck{From: 1, Ballot: c.ballot, Seq: seq, Promised: c.ballot})
	idx, to := find[*msg.ReadIndex](out)
	if len(idx) != 1 || idx[0].Index != 1 || to[0] != (msg.Target{Node: 2, Role: msg.RoleWaiter, Ref: "w1"}) {
		t.Fatalf("read index %v to %v, want index 1 to waiter w1 on 2", idx, to)
	}
}

func TestHigherPromiseInAckDeposesLeader(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	elect(t, c, nil)
	step(c, &msg.ClientRequest{Cmd: msg.Command{Reply: "a", Origin: 1}})
	out := step(c, &msg.ReadRequest{Origin: 1, Reply: "r"})
	step(c, &msg.HeartbeatAck{From: 2, Ballot: c.ballot, Seq: c.hbSeq, Promised: msg.Ballot{Round: 50, ID: 2}})
	if c.IsLeader() {
		t.Fatal("still leader after an acceptor reported a higher promise")
	}
	_ = out
}

func TestFollowerForwardsOrRejects(t *testing.T) {
	c := New(testConfig(2), msg.Ballot{}, 0)
	// No leader known: rejected at once as not proposed.
	out := step(c, &msg.ClientRequest{Cmd: msg.Command{Origin: 2, Reply: "w", Data: []byte("a")}, Attempt: 4})
	rej, to := find[*msg.Reject](out)
	if len(rej) != 1 || rej[0].Reason != msg.RejectNoLeader || rej[0].Attempt != 4 || to[0] != (msg.Target{Node: 2, Role: msg.RoleWaiter, Ref: "w"}) {
		t.Fatalf("request without a leader: %v, want a reject to its waiter", out)
	}
	// A heartbeat names the leader: requests go there.
	step(c, &msg.Heartbeat{From: 3, Ballot: msg.Ballot{Round: 1, ID: 3}, Seq: 1})
	out = step(c, &msg.ClientRequest{Cmd: msg.Command{Origin: 2, Reply: "w", Data: []byte("a")}, Attempt: 5})
	fw, to := find[*msg.ClientRequest](out)
	if len(fw) != 1 || to[0] != (msg.Target{Node: 3, Role: msg.RoleProposer}) || fw[0].Hops != 1 || fw[0].Attempt != 5 {
		t.Fatalf("request forwarded as %v to %v", fw, to)
	}
	// Forwarding loops are cut.
	out = step(c, &msg.ClientRequest{Cmd: msg.Command{Origin: 1, Reply: "x"}, Hops: 3})
	rej, _ = find[*msg.Reject](out)
	if len(rej) != 1 || rej[0].Reason != msg.RejectNoLeader {
		t.Fatalf("over-forwarded request: %v, want a reject", out)
	}
}

// By default one slot is opened for any queued command; a second waits for a
// full batch, by count (MaxBatch) or by bytes (MaxBatchBytes).
func TestOneEagerSlotThenFullBatches(t *testing.T) {
	cfg := testConfig(1)
	cfg.EagerSlots, cfg.Window, cfg.MaxBatch, cfg.MaxBatchBytes = 0, 4, 3, 100
	c := New(cfg, msg.Ballot{}, 0)
	elect(t, c, nil)
	small := func() *msg.ClientRequest { return &msg.ClientRequest{Cmd: msg.Command{Data: []byte("x")}} }
	if got := slotSizes(step(c, small())); !slices.Equal(got, []int{1}) {
		t.Fatalf("first command: slots %v, want one slot of 1", got)
	}
	// Two more queue behind the slot in flight; the third makes a full batch.
	for i := 0; i < 2; i++ {
		if got := slotSizes(step(c, small())); len(got) != 0 {
			t.Fatalf("command %d opened slots %v with one in flight and no full batch", i+2, got)
		}
	}
	if got := slotSizes(step(c, small())); !slices.Equal(got, []int{3}) {
		t.Fatalf("a full batch by count: slots %v, want one slot of 3", got)
	}
	// A command of MaxBatchBytes is a full batch by itself.
	big := &msg.ClientRequest{Cmd: msg.Command{Data: make([]byte, 80)}}
	if got := slotSizes(step(c, big)); !slices.Equal(got, []int{1}) {
		t.Fatalf("a full batch by bytes: slots %v, want one slot of 1", got)
	}
	// A command that is no full batch waits while any slot is in flight,
	// and goes out once none is.
	step(c, small())
	if got := slotSizes(step(c, &msg.Committed{Commit: 2})); len(got) != 0 {
		t.Fatalf("with a slot still in flight: slots %v, want none", got)
	}
	if got := slotSizes(step(c, &msg.Committed{Commit: 3})); !slices.Equal(got, []int{1}) {
		t.Fatalf("after every slot was chosen: slots %v, want the queued command", got)
	}
	if st := c.Status(); st.Queued != 0 || st.InFlight != 1 {
		t.Fatalf("status %+v, want 1 in flight and nothing queued", st)
	}
}

func TestDeposedLeaderRejectsQueuedCommands(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	elect(t, c, nil)
	for i := 0; i < 5; i++ { // window 2: three stay queued
		step(c, &msg.ClientRequest{Cmd: msg.Command{Origin: 3, Reply: fmt.Sprint(i)}, Attempt: uint32(10 + i)})
	}
	out := step(c, &msg.Heartbeat{From: 2, Ballot: msg.Ballot{Round: 99, ID: 2}})
	rej, to := find[*msg.Reject](out)
	if len(rej) != 3 {
		t.Fatalf("deposed leader rejected %d queued commands, want 3 (the two in flight may still be chosen)", len(rej))
	}
	// Each reject names the attempt it turns away, so that the client can
	// tell which of its sends were not proposed.
	for i := range rej {
		if want := uint32(10 + atoi(to[i].Ref)); rej[i].Attempt != want {
			t.Fatalf("reject to %q names attempt %d, want %d", to[i].Ref, rej[i].Attempt, want)
		}
	}
}

func TestCheckQuorumStepsDown(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	elect(t, c, nil)
	for i := 0; i < 3*c.cfg.ElectionTicks && c.IsLeader(); i++ {
		for _, o := range tick(c) {
			// Only our own acceptor answers: no quorum.
			if hb, ok := o.Msg.(*msg.Heartbeat); ok && o.To.Node == 1 && o.To.Role == msg.RoleAcceptor {
				step(c, &msg.HeartbeatAck{From: 1, Ballot: hb.Ballot, Seq: hb.Seq, Promised: hb.Ballot})
			}
		}
	}
	if c.IsLeader() {
		t.Fatal("leader without a quorum did not step down")
	}
	if got, want := c.Status().StepDown, "quorum: 1 of 3 acceptors answered heartbeats within"; !strings.HasPrefix(got, want) {
		t.Fatalf("step-down reason %q, want %q...", got, want)
	}
}

// A leader that meets a higher ballot says so when it steps down.
func TestStepDownForAHigherBallotSaysWhy(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	elect(t, c, nil)
	step(c, &msg.Heartbeat{From: 2, Ballot: msg.Ballot{Round: c.Ballot().Round + 1, ID: 2}})
	if st := c.Status(); st.Role != "follower" || !strings.HasPrefix(st.StepDown, StepDownBallot+": replica 2 leads") {
		t.Fatalf("status %+v, want a follower that stepped down for replica 2's ballot", st)
	}
}

func TestCandidateStandsDownForLiveLeader(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{Round: 4, ID: 1}, 0)
	step(c, &Campaign{}) // ballot 5.1
	// A beacon from a lower ballot (a leader that may be deposed) does not
	// stop the campaign.
	step(c, &msg.Heartbeat{From: 3, Ballot: msg.Ballot{Round: 2, ID: 3}})
	if st := c.Status(); st.Role != "candidate" {
		t.Fatalf("status %+v after a lower ballot's heartbeat, want still candidate", st)
	}
	// One at our ballot or above does.
	step(c, &msg.Heartbeat{From: 2, Ballot: msg.Ballot{Round: 5, ID: 2}})
	if st := c.Status(); st.Role != "follower" || st.Leader != 2 {
		t.Fatalf("status %+v, want follower of 2", st)
	}
}

func TestElectionTimeoutStartsProbe(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	var probes []*msg.Prepare
	for i := 0; i < 2*c.cfg.ElectionTicks && len(probes) == 0; i++ {
		probes, _ = find[*msg.Prepare](tick(c))
	}
	if len(probes) != 3 || !probes[0].Probe || probes[0].FromSlot != 1 {
		t.Fatalf("election timeout sent %v, want 3 probes from slot 1", probes)
	}
}

func TestRestartedProposerNeverReusesABallot(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	step(c, &Campaign{})
	used := c.Ballot()
	// A restart rebuilds the core from the saved ballot.
	c2 := New(testConfig(1), used, 0)
	probes, _ := find[*msg.Prepare](step(c2, &Campaign{}))
	if !used.Less(probes[0].Ballot) {
		t.Fatalf("restarted proposer campaigns with %v, not above the %v it used before", probes[0].Ballot, used)
	}
}

func TestRestartedProposerRecoversFromItsCommitPoint(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 300)
	probes, _ := find[*msg.Prepare](step(c, &Campaign{}))
	if probes[0].FromSlot != 301 {
		t.Fatalf("campaign from slot %d, want 301 (after the learner's commit point)", probes[0].FromSlot)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// Past the eager slots a new slot waits for a full batch: under load fewer,
// fuller slots, while a lone request is proposed at once.
func TestSlotsBeyondEagerWaitForFullBatch(t *testing.T) {
	cfg := testConfig(1)
	cfg.Window, cfg.MaxBatch, cfg.EagerSlots, cfg.FullBatch = 16, 100, 2, 4
	c := New(cfg, msg.Ballot{}, 0)
	elect(t, c, nil)
	req := func() []msg.Out { return step(c, &msg.ClientRequest{Cmd: msg.Command{Data: []byte("x")}}) }
	if got := slotSizes(req()); len(got) != 1 || got[0] != 1 {
		t.Fatalf("first request: slots %v, want one slot of 1", got)
	}
	if got := slotSizes(req()); len(got) != 1 || got[0] != 1 {
		t.Fatalf("second request: slots %v, want one slot of 1", got)
	}
	for i := 0; i < 3; i++ {
		if got := slotSizes(req()); len(got) != 0 {
			t.Fatalf("request %d past the eager slots opened %v", i+3, got)
		}
	}
	if got := slotSizes(req()); len(got) != 1 || got[0] != 4 {
		t.Fatalf("fourth queued request: slots %v, want one slot of 4", got)
	}
}

// The leader passes on what its learner saw chosen in its ballot: in the
// next Accept when there is one, else at once in a ChosenRun to the other
// learners (they deliver from their own acceptors' copies).
func TestLeaderPassesOnTheChosenRun(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	elect(t, c, nil)
	out := step(c, &msg.ClientRequest{Cmd: msg.Command{Data: []byte("a")}})
	accepts, _ := find[*msg.Accept](out)
	if len(accepts) == 0 || !accepts[0].Chosen.Empty() {
		t.Fatalf("first accept %+v, want one with no chosen run yet", accepts)
	}
	// Slot 1 chosen in our ballot, nothing queued: a ChosenRun goes out.
	out = step(c, &msg.Committed{Commit: 1, Ballot: c.Ballot(), Run: msg.Run{First: 1, Through: 1}})
	runs, to := find[*msg.ChosenRun](out)
	if len(runs) != 2 || runs[0].Run != (msg.Run{First: 1, Through: 1}) || to[0].Role != msg.RoleLearner {
		t.Fatalf("after commit with nothing to propose: %+v to %v, want a run 1..1 to the two other learners", runs, to)
	}
	// Slot 2 chosen while a command waits: the Accept carries the run and
	// no ChosenRun is needed.
	step(c, &msg.ClientRequest{Cmd: msg.Command{Data: []byte("b")}})
	step(c, &msg.ClientRequest{Cmd: msg.Command{Data: []byte("c")}})
	step(c, &msg.ClientRequest{Cmd: msg.Command{Data: []byte("d")}}) // queued: window of 2
	out = step(c, &msg.Committed{Commit: 2, Ballot: c.Ballot(), Run: msg.Run{First: 1, Through: 2}})
	accepts, _ = find[*msg.Accept](out)
	if len(accepts) == 0 || accepts[0].Chosen != (msg.Run{First: 1, Through: 2}) {
		t.Fatalf("accepts %+v, want the queued command with run 1..2", accepts)
	}
	if runs, _ := find[*msg.ChosenRun](out); len(runs) != 0 {
		t.Fatalf("a ChosenRun went out although an Accept carried the run")
	}
	// A run of another ballot is not ours to pass on.
	out = step(c, &msg.Committed{Commit: 3, Ballot: msg.Ballot{Round: 1, ID: 3}, Run: msg.Run{First: 3, Through: 3}})
	if runs, _ := find[*msg.ChosenRun](out); len(runs) != 0 {
		t.Fatalf("passed on another ballot's run: %+v", runs)
	}
}
