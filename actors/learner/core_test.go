package learner

import (
	"errors"
	"reflect"
	"testing"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/actors/role"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

const self msg.NodeID = 1

func bal(round uint64, id msg.NodeID) msg.Ballot { return msg.Ballot{Round: round, ID: id} }

func val(data string) *msg.Value { return &msg.Value{Cmds: []msg.Command{{Data: []byte(data)}}} }

func testConfig() Config {
	return Config{ID: self, Acceptors: []msg.NodeID{1, 2, 3}, StallTicks: 3, ResendTicks: 2,
		MaxCatchup: 2, MaxCatchupBytes: 1 << 20}
}

func newCore(t *testing.T) (*Core, storage.ChosenLog) {
	t.Helper()
	log := storage.NewMemory().Chosen()
	c, err := New(testConfig(), log, storage.NewMemory().Snapshots())
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}

// coreStore is the storage a core reads, for the driver that writes it.
type coreStore struct{ c *Core }

func (s coreStore) Proposer() storage.BallotLog      { return nil }
func (s coreStore) Acceptor() storage.AcceptorLog    { return nil }
func (s coreStore) Chosen() storage.ChosenLog        { return s.c.log }
func (s coreStore) Snapshots() storage.SnapshotStore { return s.c.snaps }

// syncs are the drivers of the tests' cores: a core's writes reach its log
// through its driver, as in production.
var syncs = map[*Core]*role.Sync{}

// start begins driving c and returns what it sends on start.
func start(t testing.TB, c *Core) []msg.Out {
	t.Helper()
	s, out, err := role.NewSync(c, coreStore{c})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	syncs[c] = s
	return out
}

func driver(t testing.TB, c *Core) *role.Sync {
	t.Helper()
	if syncs[c] == nil {
		start(t, c)
	}
	return syncs[c]
}

func step(t testing.TB, c *Core, m any) []msg.Out {
	t.Helper()
	out, err := driver(t, c).Step(m)
	if err != nil {
		t.Fatalf("Step(%#v): %v", m, err)
	}
	return out
}

func tick(t testing.TB, c *Core) []msg.Out {
	t.Helper()
	out, err := driver(t, c).Tick()
	if err != nil {
		t.Fatalf("Tick: %v", err)
	}
	return out
}

// peerVote is an Accepted from a peer acceptor (no values).
func peerVote(from msg.NodeID, b msg.Ballot, slots ...uint64) *msg.Accepted {
	return &msg.Accepted{From: from, Ballot: b, Slots: slots}
}

// own is an Accepted from the learner's own acceptor, carrying its values.
func own(b msg.Ballot, slot uint64, v *msg.Value) *msg.Accepted {
	return &msg.Accepted{From: self, Ballot: b, Slots: []uint64{slot}, Values: []*msg.Value{v}}
}

func toExecutor(d *msg.Deliver) msg.Out {
	return msg.Out{To: msg.Target{Node: self, Role: msg.RoleExecutor}, Msg: d}
}

func toProposer(commit uint64) msg.Out {
	return msg.Out{To: msg.Target{Node: self, Role: msg.RoleProposer}, Msg: &msg.Committed{Commit: commit}}
}

// delivery is what the learner sends when it delivers slots first.. : the
// values to the executor, then the commit point to its proposer.
func delivery(first uint64, vals ...*msg.Value) []msg.Out {
	return []msg.Out{toExecutor(&msg.Deliver{First: first, Values: vals}), toProposer(first + uint64(len(vals)) - 1)}
}

func wantOut(t *testing.T, what string, got, want []msg.Out) {
	t.Helper()
	got = withoutRuns(got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: out = %s, want %s", what, show(got), show(want))
	}
}

func show(out []msg.Out) string {
	s := "["
	for i, o := range out {
		if i > 0 {
			s += ", "
		}
		s += o.To.Role.String() + "@" + o.To.Node.String() + ":"
		switch m := o.Msg.(type) {
		case *msg.Deliver:
			s += "Deliver{First:" + itoa(m.First) + " n:" + itoa(uint64(len(m.Values))) + "}"
		case *msg.Committed:
			s += "Committed{" + itoa(m.Commit) + "}"
		case *msg.CatchupRequest:
			s += "CatchupRequest{" + itoa(m.First) + ".." + itoa(m.Last) + "}"
		default:
			s += reflect.TypeOf(m).String()
		}
	}
	return s + "]"
}

func itoa(n uint64) string { return msg.NodeID(n).String() }

// deliverSlots has the learner deliver the next len(vals) slots through quorums of ballot b.
func deliverSlots(t *testing.T, c *Core, b msg.Ballot, vals ...*msg.Value) {
	t.Helper()
	for _, v := range vals {
		s := c.Delivered() + 1
		step(t, c, own(b, s, v))
		wantOut(t, "quorum", step(t, c, peerVote(2, b, s)), delivery(s, v))
	}
}

func TestChosenNeedsQuorumOfOneBallot(t *testing.T) {
	b1, b2 := bal(1, 2), bal(2, 3)
	v := val("v")
	tests := []struct {
		name  string
		steps []*msg.Accepted
		want  bool // slot 1 delivered after the last step
	}{
		{"split across two ballots", []*msg.Accepted{own(b1, 1, v), peerVote(2, b2, 1)}, false},
		{"split, three votes", []*msg.Accepted{own(b1, 1, v), peerVote(2, b2, 1), peerVote(3, bal(3, 1), 1)}, false},
		{"same acceptor twice", []*msg.Accepted{own(b1, 1, v), peerVote(2, b1, 1), peerVote(2, b1, 1)}, true},
		{"duplicate vote is not a quorum", []*msg.Accepted{peerVote(2, b1, 1), peerVote(2, b1, 1)}, false},
		{"quorum in one ballot", []*msg.Accepted{own(b1, 1, v), peerVote(2, b2, 1), peerVote(3, b1, 1)}, true},
		{"quorum of peers, own value in that ballot", []*msg.Accepted{peerVote(2, b2, 1), own(b2, 1, v), peerVote(3, b2, 1)}, true},
		{"non-acceptor votes do not count", []*msg.Accepted{own(b1, 1, v), peerVote(9, b1, 1), peerVote(0, b1, 1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, log := newCore(t)
			var out []msg.Out
			for _, m := range tt.steps {
				out = append(out, step(t, c, m)...)
			}
			if !tt.want {
				wantOut(t, "no quorum", out, nil)
				if c.Delivered() != 0 || log.Last() != 0 {
					t.Fatalf("delivered %d, log last %d without a quorum", c.Delivered(), log.Last())
				}
				return
			}
			wantOut(t, "quorum", out, delivery(1, v))
			if got, ok := log.Get(1); !ok || got != v {
				t.Fatalf("log slot 1 = %v %v, want %v", got, ok, v)
			}
		})
	}
}

func TestOwnCopyFromOtherBallotIsNotDelivered(t *testing.T) {
	old, chosen := bal(1, 1), bal(2, 2)
	stale, right := val("never chosen"), val("chosen")
	c, log := newCore(t)
	// Our acceptor accepted slot 1 in an old ballot; the other two chose it in a later one.
	step(t, c, own(old, 1, stale))
	out := step(t, c, peerVote(2, chosen, 1))
	out = append(out, step(t, c, peerVote(3, chosen, 1))...)
	// Only we counted the votes: the peers hear that slot 1 was chosen in
	// that ballot (they deliver it from their copies, and serve it to us).
	wantOut(t, "chosen in another ballot", out, told(chosen, 1))
	// Waiting: no delivery, and no fetch until the learner has stalled.
	for i := 0; i < testConfig().StallTicks-1; i++ {
		wantOut(t, "stalling", tick(t, c), nil)
	}
	out = tick(t, c)
	want := []msg.Out{{To: msg.Target{Node: 2, Role: msg.RoleLearner},
		Msg: &msg.CatchupRequest{From: self, First: 1, Last: 1}}}
	wantOut(t, "after StallTicks", out, want)
	// Neither a stale vote in the old ballot nor a late copy from our acceptor
	// in a ballot other than the chosen one makes a value deliverable.
	wantOut(t, "vote in the old ballot", step(t, c, peerVote(2, old, 1)), nil)
	wantOut(t, "own copy, other ballot", step(t, c, own(bal(1, 3), 1, stale)), nil)
	wantOut(t, "reply", step(t, c, &msg.CatchupReply{From: 2, Chosen: []msg.Proposal{{Slot: 1, Value: right}}, Through: 1}),
		delivery(1, right))
	if got, _ := log.Get(1); got != right {
		t.Fatalf("log slot 1 = %v, want the chosen value", got)
	}
}

func TestOwnCopyArrivingInChosenBallotDelivers(t *testing.T) {
	b := bal(2, 2)
	v := val("v")
	c, _ := newCore(t)
	step(t, c, own(bal(1, 1), 1, val("old")))
	wantOut(t, "chosen, value missing", append(step(t, c, peerVote(2, b, 1)), step(t, c, peerVote(3, b, 1))...), told(b, 1))
	// Our acceptor now accepts the chosen ballot (a late Accept): its copy is good.
	wantOut(t, "own copy in the chosen ballot", step(t, c, own(b, 1, v)), delivery(1, v))
}

func TestDeliversInOrderWithoutGaps(t *testing.T) {
	b := bal(1, 2)
	v1, v2, v3 := val("one"), val("two"), val("three")
	c, log := newCore(t)
	step(t, c, own(b, 2, v2))
	wantOut(t, "slot 2 chosen first", step(t, c, peerVote(3, b, 2)), nil)
	if c.Delivered() != 0 || log.Last() != 0 {
		t.Fatalf("delivered %d past a gap", c.Delivered())
	}
	step(t, c, own(b, 1, v1))
	wantOut(t, "slot 1 closes the gap", step(t, c, peerVote(2, b, 1)), delivery(1, v1, v2))
	if c.Delivered() != 2 || log.Last() != 2 {
		t.Fatalf("delivered %d, log last %d, want 2", c.Delivered(), log.Last())
	}
	// One Accepted carrying several slots delivers them together.
	step(t, c, &msg.Accepted{From: self, Ballot: b, Slots: []uint64{3, 4}, Values: []*msg.Value{v3, v1}})
	wantOut(t, "batch", step(t, c, peerVote(3, b, 3, 4)), delivery(3, v3, v1))
}

func TestStaleAcceptedChangesNothing(t *testing.T) {
	b := bal(1, 2)
	v1, v2 := val("one"), val("two")
	c, log := newCore(t)
	deliverSlots(t, c, b, v1, v2)
	for _, m := range []*msg.Accepted{
		peerVote(3, b, 1, 2),
		peerVote(2, b, 1),
		own(b, 1, val("other")),
		own(bal(9, 3), 2, val("later ballot")),
		peerVote(2, bal(9, 3), 2), peerVote(3, bal(9, 3), 2),
	} {
		wantOut(t, "stale accepted", withoutCommitted(step(t, c, m)), nil)
	}
	if c.Delivered() != 2 || log.Last() != 2 {
		t.Fatalf("delivered %d, log last %d, want 2", c.Delivered(), log.Last())
	}
	for s, v := range map[uint64]*msg.Value{1: v1, 2: v2} {
		if got, _ := log.Get(s); got != v {
			t.Fatalf("log slot %d changed", s)
		}
	}
	if len(c.votes) != 0 || len(c.local) != 0 || len(c.waiting) != 0 || len(c.ready) != 0 {
		t.Fatalf("stale accepts left state: votes %v local %v waiting %v ready %v", c.votes, c.local, c.waiting, c.ready)
	}
	for i := 0; i < 10; i++ {
		// A leader beats (or the learner would probe a peer).
		wantOut(t, "heartbeat", step(t, c, &msg.Heartbeat{From: 2, Ballot: bal(1, 2), Seq: uint64(i + 1), Commit: 2}), nil)
		wantOut(t, "idle tick", tick(t, c), nil)
	}
}

func TestServeCatchup(t *testing.T) {
	vals := []*msg.Value{val("1"), val("2"), val("3")}
	tests := []struct {
		name        string
		first, last uint64
		maxBytes    int
		want        []uint64
	}{
		{"bounded by MaxCatchup", 1, 5, 1 << 20, []uint64{1, 2}},
		{"inside", 2, 3, 1 << 20, []uint64{2, 3}},
		{"past delivered", 3, 9, 1 << 20, []uint64{3}},
		{"nothing delivered there", 4, 6, 1 << 20, nil},
		{"bounded by bytes, at least one", 1, 3, 1, []uint64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newCore(t)
			c.cfg.MaxCatchupBytes = tt.maxBytes
			deliverSlots(t, c, bal(1, 2), vals...)
			// Chosen but undelivered slots are never served.
			step(t, c, own(bal(1, 2), 5, val("5")))
			step(t, c, peerVote(2, bal(1, 2), 5))
			out := step(t, c, &msg.CatchupRequest{From: 3, First: tt.first, Last: tt.last})
			r := &msg.CatchupReply{From: self, Through: 3}
			for _, s := range tt.want {
				r.Chosen = append(r.Chosen, msg.Proposal{Slot: s, Value: vals[s-1]})
			}
			wantOut(t, "reply", out, []msg.Out{{To: msg.Target{Node: 3, Role: msg.RoleLearner}, Msg: r}})
		})
	}
}

func TestResyncRedeliversFromLog(t *testing.T) {
	vals := []*msg.Value{val("1"), val("2"), val("3")}
	tests := []struct {
		from uint64
		want []msg.Out
	}{
		{0, []msg.Out{toExecutor(&msg.Deliver{First: 1, Values: vals})}},
		{1, []msg.Out{toExecutor(&msg.Deliver{First: 1, Values: vals})}},
		{2, []msg.Out{toExecutor(&msg.Deliver{First: 2, Values: vals[1:]})}},
		{3, []msg.Out{toExecutor(&msg.Deliver{First: 3, Values: vals[2:]})}},
		{4, nil},
	}
	for _, tt := range tests {
		c, _ := newCore(t)
		deliverSlots(t, c, bal(1, 2), vals...)
		wantOut(t, "resync from "+itoa(tt.from), step(t, c, &msg.Resync{From: tt.from}), tt.want)
	}
}

func TestRestartResendsLastDelivery(t *testing.T) {
	vals := []*msg.Value{val("1"), val("2")}
	c, log := newCore(t)
	deliverSlots(t, c, bal(1, 2), vals...)
	r, err := New(testConfig(), log, storage.NewMemory().Snapshots())
	if err != nil {
		t.Fatal(err)
	}
	if r.Delivered() != 2 {
		t.Fatalf("restarted Delivered = %d, want 2", r.Delivered())
	}
	wantOut(t, "start", start(t, r), delivery(2, vals[1]))
	// A quorum for an already delivered slot is stale for the restarted learner too.
	wantOut(t, "stale", withoutCommitted(append(step(t, r, own(bal(1, 2), 2, val("x"))), step(t, r, peerVote(2, bal(1, 2), 2))...)), nil)
}

// withoutCommitted drops the commit-point notices to the own proposer, which
// a learner sends when its acceptor re-accepts delivered slots.
func withoutCommitted(out []msg.Out) []msg.Out {
	var keep []msg.Out
	for _, o := range out {
		if _, ok := o.Msg.(*msg.Committed); !ok {
			keep = append(keep, o)
		}
	}
	return keep
}

func TestReproposedDeliveredSlotsTellTheProposer(t *testing.T) {
	c, _ := newCore(t)
	deliverSlots(t, c, bal(1, 2), val("1"), val("2"))
	// A restarted leader re-proposes slot 1 under a new ballot: our own
	// acceptor's Accepted makes us tell our proposer how far we are.
	out := step(t, c, own(bal(5, 1), 1, val("1")))
	want := []msg.Out{{To: msg.Target{Node: self, Role: msg.RoleProposer}, Msg: &msg.Committed{Commit: 2}}}
	wantOut(t, "re-proposed", out, want)
}

func TestHeartbeatCommitFetchesAfterStall(t *testing.T) {
	b := bal(1, 2)
	tests := []struct {
		name      string
		delivered int // slots delivered before the heartbeat
		idle      int // ticks, not behind, before the heartbeat
	}{
		{"fresh", 0, 0},
		{"after deliveries", 2, 0},
		{"after idle ticks", 2, 10},
		{"fresh after idle ticks", 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newCore(t)
			for i := 0; i < tt.delivered; i++ {
				deliverSlots(t, c, b, val("v"))
			}
			for i := 0; i < tt.idle; i++ {
				// Not behind; the leader's beats keep the learner from
				// probing a peer.
				step(t, c, &msg.Heartbeat{From: 3, Ballot: bal(1, 3), Commit: uint64(tt.delivered)})
				wantOut(t, "idle", tick(t, c), nil)
			}
			d := uint64(tt.delivered)
			wantOut(t, "heartbeat", step(t, c, &msg.Heartbeat{From: 3, Ballot: bal(1, 3), Seq: 1, Commit: d + 5}), nil)
			for i := 0; i < testConfig().StallTicks-1; i++ {
				wantOut(t, "stalling", tick(t, c), nil)
			}
			// The leader (3) is asked first, for at most MaxCatchup slots.
			want := []msg.Out{{To: msg.Target{Node: 3, Role: msg.RoleLearner},
				Msg: &msg.CatchupRequest{From: self, First: d + 1, Last: d + 2}}}
			wantOut(t, "after StallTicks", tick(t, c), want)
			// Unanswered: retried with another peer after ResendTicks.
			for i := 0; i < testConfig().ResendTicks-1; i++ {
				wantOut(t, "waiting for the reply", tick(t, c), nil)
			}
			want = []msg.Out{{To: msg.Target{Node: 2, Role: msg.RoleLearner},
				Msg: &msg.CatchupRequest{From: self, First: d + 1, Last: d + 2}}}
			wantOut(t, "resend", tick(t, c), want)
			// A reply delivers and asks for the rest at once.
			v1, v2 := val("a"), val("b")
			out := step(t, c, &msg.CatchupReply{From: 2, Through: d + 5,
				Chosen: []msg.Proposal{{Slot: d + 1, Value: v1}, {Slot: d + 2, Value: v2}}})
			want = append(delivery(d+1, v1, v2), msg.Out{To: msg.Target{Node: 2, Role: msg.RoleLearner},
				Msg: &msg.CatchupRequest{From: self, First: d + 3, Last: d + 4}})
			wantOut(t, "reply", out, want)
		})
	}
}

func TestCatchupReplyBehindGapIsHeld(t *testing.T) {
	c, _ := newCore(t)
	v1, v2, v3 := val("1"), val("2"), val("3")
	// A reply for slots 2..3 only: held behind the gap at 1.
	out := step(t, c, &msg.CatchupReply{From: 2, Through: 3, Chosen: []msg.Proposal{{Slot: 2, Value: v2}, {Slot: 3, Value: v3}}})
	for _, o := range out {
		if _, ok := o.Msg.(*msg.Deliver); ok {
			t.Fatalf("delivered past a gap: %s", show(out))
		}
	}
	if c.Delivered() != 0 {
		t.Fatalf("Delivered = %d", c.Delivered())
	}
	step(t, c, own(bal(1, 2), 1, v1))
	wantOut(t, "gap closed", step(t, c, peerVote(3, bal(1, 2), 1)), delivery(1, v1, v2, v3))
}

// withoutRuns drops the chosen run and the membership from Committed
// messages: the tests that compare whole outputs check deliveries; chosen
// runs have tests of their own.
func withoutRuns(out []msg.Out) []msg.Out {
	var res []msg.Out
	for _, o := range out {
		if c, ok := o.Msg.(*msg.Committed); ok {
			o.Msg = &msg.Committed{Commit: c.Commit, Snapshot: c.Snapshot, Floor: c.Floor}
		}
		res = append(res, o)
	}
	return res
}

// told is what a learner sends its peers when it counted a quorum for slot s
// in ballot b but lacks the value.
func told(b msg.Ballot, s uint64) []msg.Out {
	run := &msg.ChosenRun{From: self, Ballot: b, Run: msg.Run{First: s, Through: s}}
	return []msg.Out{{To: msg.Target{Node: 2, Role: msg.RoleLearner}, Msg: run}, {To: msg.Target{Node: 3, Role: msg.RoleLearner}, Msg: run}}
}

// An observer has no acceptor whose copies it could deliver: it takes the
// leader's Accepts as its copies, and delivers them once a chosen run in
// their ballot names them, without fetching from a peer.
func TestObserverDeliversFromTheLeadersAccepts(t *testing.T) {
	c, _ := newCore(t)
	start(t, c)
	b := bal(1, 2)
	v1, v2 := val("a"), val("b")
	if out := step(t, c, &msg.Accept{From: 2, Ballot: b, Proposals: []msg.Proposal{{Slot: 1, Value: v1}, {Slot: 2, Value: v2}}}); len(withoutRuns(out)) != 0 {
		t.Fatalf("an Accept alone delivered or sent: %s", show(out))
	}
	// The next Accept carries the chosen run of the first two.
	out := step(t, c, &msg.Accept{From: 2, Ballot: b, Proposals: []msg.Proposal{{Slot: 3, Value: val("c")}},
		Chosen: msg.Run{First: 1, Through: 2}})
	wantOut(t, "Accept carrying the chosen run", out, delivery(1, v1, v2))
}

// A vote counts only within α of the delivered point: beyond it the slot's
// configuration is not known here, and a quorum counted against a guess
// could be the wrong one.
func TestVotesBeyondAlphaDoNotCount(t *testing.T) {
	h, err := membership.Bootstrap(4, Everyone([]msg.NodeID{1, 2, 3}))
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
	b := bal(1, self)
	step(t, c, own(b, 5, val("far")))
	step(t, c, peerVote(2, b, 5))
	if c.ready[5] != nil {
		t.Fatal("slot 5 counted chosen with nothing delivered and α 4")
	}
	step(t, c, own(b, 4, val("near")))
	step(t, c, peerVote(2, b, 4))
	if c.ready[4] == nil {
		t.Fatal("slot 4, within α, not counted chosen")
	}
}

// A Resync over a long log is answered in part, at most four times
// MaxCatchup slots or MaxCatchupBytes, the last message saying there is more.
func TestResyncAnswersInBoundedParts(t *testing.T) {
	var vals []*msg.Value
	for i := range 20 {
		vals = append(vals, val(itoa(uint64(i))))
	}
	c, _ := newCore(t) // MaxCatchup 2: 8 slots per answer
	deliverSlots(t, c, bal(1, 2), vals...)
	out := step(t, c, &msg.Resync{From: 3})
	want := []msg.Out{toExecutor(&msg.Deliver{First: 3, Values: vals[2:10], More: true})}
	wantOut(t, "resync from 3", out, want)
	// The tail fits: no More.
	out = step(t, c, &msg.Resync{From: 15})
	wantOut(t, "resync from 15", out, []msg.Out{toExecutor(&msg.Deliver{First: 15, Values: vals[14:]})})

	// By bytes: each value is about 30 bytes (msg.Value.Size).
	c2, _ := New(Config{ID: self, Acceptors: []msg.NodeID{1, 2, 3}, StallTicks: 3, ResendTicks: 2,
		MaxCatchup: 100, MaxCatchupBytes: 3 * vals[0].Size()}, storage.NewMemory().Chosen(), storage.NewMemory().Snapshots())
	deliverSlots(t, c2, bal(1, 2), vals...)
	out = step(t, c2, &msg.Resync{From: 1})
	wantOut(t, "resync by bytes", out, []msg.Out{toExecutor(&msg.Deliver{First: 1, Values: vals[:3], More: true})})
}

// unreadableChange names slot 1 as holding a membership change, which its
// value does not: an index that disagrees with the log.
type unreadableChange struct{ storage.ChosenLog }

func (unreadableChange) ChangeSlots(from uint64) []uint64 {
	if from < 1 {
		return []uint64{1}
	}
	return nil
}

// A learner does not start with a membership that leaves out a change its
// log names: it fails instead.
func TestNewFailsOnAnUnreadableChange(t *testing.T) {
	log := storage.NewMemory().Chosen()
	if err := log.Append(1, &msg.Value{Cmds: []msg.Command{{Client: 1, Seq: 1, Data: []byte("x")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(testConfig(), unreadableChange{log}, storage.NewMemory().Snapshots()); !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("New: %v, want ErrCorrupt", err)
	}
}
