package acceptor

import (
	"reflect"
	"slices"
	"testing"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

const self msg.NodeID = 1

func bal(round uint64, id msg.NodeID) msg.Ballot { return msg.Ballot{Round: round, ID: id} }

func testConfig() Config {
	return Config{ID: self, LeaseTicks: 3}
}

func newCore(t *testing.T) *Core {
	t.Helper()
	return New(testConfig(), storage.AcceptorState{})
}

func val(data string) *msg.Value { return &msg.Value{Cmds: []msg.Command{{Data: []byte(data)}}} }

func proposer(id msg.NodeID) msg.Target { return msg.Target{Node: id, Role: msg.RoleProposer} }

// step feeds m to c and returns what goes at once, without the flush the
// core queues for itself.
func step(c *Core, m any) []msg.Out {
	c.Step(m)
	var out []msg.Out
	for _, o := range c.Ready().Messages {
		if _, ok := o.Msg.(flush); !ok {
			out = append(out, o)
		}
	}
	return out
}

// drain delivers the flush: it returns the record to persist and the answers
// that wait for it.
func drain(c *Core) (rec storage.AcceptorRecord, persist bool, out []msg.Out) {
	c.Step(flush{})
	rd := c.Ready()
	if rd.Accepted != nil {
		rec, persist = *rd.Accepted, true
	}
	return rec, persist, rd.Messages
}

// mustStepQuiet steps m and fails if it produced an immediate message.
func mustStepQuiet(t *testing.T, c *Core, m any) {
	t.Helper()
	if out := step(c, m); len(out) != 0 {
		t.Fatalf("Step(%#v) sent at once %v; want nothing before the record is durable", m, out)
	}
}

// flushed drains Ready and fails if nothing was ready.
func flushed(t *testing.T, c *Core) (storage.AcceptorRecord, bool, []msg.Out) {
	t.Helper()
	if !c.flushing {
		t.Fatalf("HasReady = false, want a flush due")
	}
	rec, persist, out := drain(c)
	if c.flushing {
		t.Fatalf("a flush is still queued right after one was delivered")
	}
	return rec, persist, out
}

// expireLease ticks until the leader last heard no longer blocks challengers.
func expireLease(c *Core) {
	for i := 0; i < c.cfg.LeaseTicks; i++ {
		c.Tick()
	}
}

func sortedEntries(es []msg.Entry) []msg.Entry {
	es = slices.Clone(es)
	slices.SortFunc(es, func(a, b msg.Entry) int {
		switch {
		case a.Slot < b.Slot:
			return -1
		case a.Slot > b.Slot:
			return 1
		}
		return 0
	})
	return es
}

// promiseTo runs a real prepare of b through Ready, so the core holds promise b.
func promiseTo(t *testing.T, c *Core, b msg.Ballot) {
	t.Helper()
	mustStepQuiet(t, c, &msg.Prepare{From: b.ID, Ballot: b, FromSlot: 1})
	drain(c)
	if c.Promised() != b {
		t.Fatalf("Promised = %v after prepare, want %v", c.Promised(), b)
	}
}

func TestBallotCompare(t *testing.T) {
	tests := []struct {
		a, b msg.Ballot
		want int
	}{
		{bal(1, 1), bal(1, 1), 0},
		{bal(1, 1), bal(1, 2), -1},
		{bal(1, 3), bal(1, 2), 1},
		{bal(1, 9), bal(2, 1), -1}, // round first, id only breaks ties
		{bal(3, 1), bal(2, 9), 1},
		{msg.Ballot{}, bal(0, 1), -1},
		{msg.Ballot{}, msg.Ballot{}, 0},
	}
	for _, tt := range tests {
		if got := tt.a.Compare(tt.b); got != tt.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := tt.b.Compare(tt.a); got != -tt.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
		if got := tt.a.Less(tt.b); got != (tt.want < 0) {
			t.Errorf("%v.Less(%v) = %v", tt.a, tt.b, got)
		}
	}
}

func TestPrepareHigherIsHeldUntilDurable(t *testing.T) {
	tests := []struct {
		name  string
		start msg.Ballot // promised before
		b     msg.Ballot
	}{
		{"from zero", msg.Ballot{}, bal(1, 2)},
		{"higher round", bal(1, 3), bal(2, 2)},
		{"same round higher id", bal(4, 2), bal(4, 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(testConfig(), storage.AcceptorState{Promised: tt.start})
			if c.flushing {
				t.Fatal("fresh core has something ready")
			}
			mustStepQuiet(t, c, &msg.Prepare{From: tt.b.ID, Ballot: tt.b, FromSlot: 1})
			if c.Promised() != tt.b {
				t.Errorf("Promised = %v, want %v", c.Promised(), tt.b)
			}
			rec, persist, out := flushed(t, c)
			if !persist || rec.Promised != tt.b || len(rec.Entries) != 0 {
				t.Fatalf("Ready record = %+v persist=%v, want the promise %v to persist", rec, persist, tt.b)
			}
			want := []msg.Out{{To: proposer(tt.b.ID), Msg: &msg.Promise{From: self, Ballot: tt.b}}}
			if !reflect.DeepEqual(out, want) {
				t.Fatalf("Ready msgs = %#v, want %#v", out, want)
			}
		})
	}
}

func TestLowerPrepareIsNacked(t *testing.T) {
	promised := bal(5, 2)
	tests := []struct {
		name string
		b    msg.Ballot
	}{
		{"lower round", bal(4, 3)},
		{"same round lower id", bal(5, 1)},
		{"zero", msg.Ballot{}},
	}
	for _, tt := range tests {
		for _, probe := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				c := New(testConfig(), storage.AcceptorState{Promised: promised,
					Entries: []msg.Entry{{Slot: 1, Ballot: bal(3, 2), Value: val("x")}}})
				out := step(c, &msg.Prepare{From: 3, Ballot: tt.b, FromSlot: 1, Probe: probe})
				want := []msg.Out{{To: proposer(3), Msg: &msg.Nack{From: self, Ballot: tt.b, Promised: promised}}}
				if !reflect.DeepEqual(out, want) {
					t.Fatalf("out = %#v, want %#v", out, want)
				}
				if c.flushing {
					t.Fatalf("a refused prepare made something ready: %+v", c.pending)
				}
				if c.Promised() != promised {
					t.Fatalf("Promised = %v, want %v unchanged", c.Promised(), promised)
				}
			})
		}
	}
}

func TestLowerAcceptIsNackedAndNotStored(t *testing.T) {
	c := newCore(t)
	promiseTo(t, c, bal(5, 2))
	low := bal(4, 3)
	out := step(c, &msg.Accept{From: 3, Ballot: low, Proposals: []msg.Proposal{{Slot: 7, Value: val("a")}}})
	want := []msg.Out{{To: proposer(3), Msg: &msg.Nack{From: self, Ballot: low, Promised: bal(5, 2)}}}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("out = %#v, want %#v", out, want)
	}
	if _, ok := c.Accepted(7); ok {
		t.Fatal("a lower accept was stored")
	}
	if c.flushing {
		t.Fatal("a lower accept made something ready")
	}
}

func TestAcceptStoresAndAnswersOwnAndLeadersLearner(t *testing.T) {
	tests := []struct {
		name        string
		promised    msg.Ballot
		b           msg.Ballot
		wantPromise msg.Ballot // in the record; zero leaves it unchanged
	}{
		{"at promised", bal(3, 2), bal(3, 2), msg.Ballot{}},
		{"above promised", bal(3, 2), bal(4, 1), bal(4, 1)},
		{"fresh acceptor", msg.Ballot{}, bal(1, 2), bal(1, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(testConfig(), storage.AcceptorState{Promised: tt.promised})
			v1, v2 := val("one"), val("two")
			mustStepQuiet(t, c, &msg.Accept{From: tt.b.ID, Ballot: tt.b,
				Proposals: []msg.Proposal{{Slot: 4, Value: v1}, {Slot: 5, Value: v2}}})
			if c.Promised() != tt.b {
				t.Errorf("Promised = %v, want %v", c.Promised(), tt.b)
			}
			for slot, v := range map[uint64]*msg.Value{4: v1, 5: v2} {
				if e, ok := c.Accepted(slot); !ok || e != (msg.Entry{Slot: slot, Ballot: tt.b, Value: v}) {
					t.Errorf("Accepted(%d) = %+v, %v", slot, e, ok)
				}
			}
			rec, persist, out := flushed(t, c)
			wantRec := storage.AcceptorRecord{Promised: tt.wantPromise, Entries: []msg.Entry{
				{Slot: 4, Ballot: tt.b, Value: v1}, {Slot: 5, Ballot: tt.b, Value: v2}}}
			if !persist || !reflect.DeepEqual(rec, wantRec) {
				t.Fatalf("record = %+v persist=%v, want %+v", rec, persist, wantRec)
			}
			checkAccepted(t, out, tt.b, []uint64{4, 5}, []*msg.Value{v1, v2})
		})
	}
}

// checkAccepted checks that out is one Accepted to the acceptor's own learner
// (with the values) and one to the ballot's leader's learner (without).
func checkAccepted(t *testing.T, out []msg.Out, b msg.Ballot, slots []uint64, values []*msg.Value) {
	t.Helper()
	var learners []msg.NodeID
	for _, o := range out {
		a, ok := o.Msg.(*msg.Accepted)
		if !ok || o.To.Role != msg.RoleLearner {
			t.Fatalf("unexpected message %#v to %+v", o.Msg, o.To)
		}
		learners = append(learners, o.To.Node)
		if a.From != self || a.Ballot != b || !slices.Equal(a.Slots, slots) {
			t.Errorf("Accepted to %d = %+v, want ballot %v slots %v", o.To.Node, a, b, slots)
		}
		if o.To.Node == self {
			if !reflect.DeepEqual(a.Values, values) {
				t.Errorf("own learner's Values = %v, want %v", a.Values, values)
			}
		} else if a.Values != nil {
			t.Errorf("learner %d got Values %v; values go to the own learner only", o.To.Node, a.Values)
		}
	}
	want := []msg.NodeID{self}
	if b.ID != self {
		want = append(want, b.ID)
	}
	slices.Sort(learners)
	slices.Sort(want)
	if !slices.Equal(learners, want) {
		t.Errorf("Accepted went to %v, want own and leader's learners %v", learners, want)
	}
}

func TestDuplicateAcceptReanswersWithoutNewEntry(t *testing.T) {
	c := newCore(t)
	b := bal(2, 3)
	v := val("v")
	acc := &msg.Accept{From: 3, Ballot: b, Proposals: []msg.Proposal{{Slot: 1, Value: v}}}
	mustStepQuiet(t, c, acc)
	if rec, persist, _ := flushed(t, c); !persist || len(rec.Entries) != 1 {
		t.Fatalf("first accept: record %+v persist=%v", rec, persist)
	}
	mustStepQuiet(t, c, acc)
	rec, persist, out := flushed(t, c)
	if persist || len(rec.Entries) != 0 || !rec.Promised.IsZero() {
		t.Fatalf("duplicate accept persisted %+v (persist=%v); want nothing new", rec, persist)
	}
	checkAccepted(t, out, b, []uint64{1}, []*msg.Value{v})
}

func TestDuplicatePrepareReanswersPromise(t *testing.T) {
	c := newCore(t)
	b := bal(2, 3)
	v := val("v")
	promiseTo(t, c, b)
	mustStepQuiet(t, c, &msg.Accept{From: 3, Ballot: b, Proposals: []msg.Proposal{{Slot: 2, Value: v}}})
	drain(c)
	mustStepQuiet(t, c, &msg.Prepare{From: 3, Ballot: b, FromSlot: 1})
	rec, persist, out := flushed(t, c)
	if persist || !rec.Promised.IsZero() || len(rec.Entries) != 0 {
		t.Fatalf("duplicate prepare persisted %+v (persist=%v)", rec, persist)
	}
	want := []msg.Out{{To: proposer(3), Msg: &msg.Promise{From: self, Ballot: b,
		Entries: []msg.Entry{{Slot: 2, Ballot: b, Value: v}}}}}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("out = %#v, want %#v", out, want)
	}
}

func TestPromiseReportsEntriesFromSlot(t *testing.T) {
	tests := []struct {
		from uint64
		want []uint64
	}{
		{0, []uint64{1, 2, 3, 5, 8}},
		{1, []uint64{1, 2, 3, 5, 8}},
		{3, []uint64{3, 5, 8}},
		{4, []uint64{5, 8}},
		{8, []uint64{8}},
		{9, nil},
	}
	for _, tt := range tests {
		c := newCore(t)
		b1 := bal(1, 2)
		var ps []msg.Proposal
		for _, s := range []uint64{1, 2, 3, 5, 8} {
			ps = append(ps, msg.Proposal{Slot: s, Value: val("s")})
		}
		mustStepQuiet(t, c, &msg.Accept{From: 2, Ballot: b1, Proposals: ps})
		drain(c)
		expireLease(c)
		b2 := bal(2, 3)
		mustStepQuiet(t, c, &msg.Prepare{From: 3, Ballot: b2, FromSlot: tt.from})
		_, _, out := flushed(t, c)
		if len(out) != 1 {
			t.Fatalf("FromSlot %d: %d messages, want one Promise", tt.from, len(out))
		}
		p, ok := out[0].Msg.(*msg.Promise)
		if !ok || p.Ballot != b2 {
			t.Fatalf("FromSlot %d: got %#v, want Promise for %v", tt.from, out[0].Msg, b2)
		}
		var got []uint64
		for _, e := range sortedEntries(p.Entries) {
			if e.Ballot != b1 {
				t.Errorf("FromSlot %d: entry %+v has ballot %v, want %v", tt.from, e, e.Ballot, b1)
			}
			got = append(got, e.Slot)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("FromSlot %d: promise reports slots %v, want %v", tt.from, got, tt.want)
		}
	}
}

func TestLeaseRefusesChallengerUntilExpiry(t *testing.T) {
	leader := bal(3, 2)
	challenger := bal(4, 3)
	tests := []struct {
		name string
		hear any // message from the leader that starts the lease
	}{
		{"heartbeat", &msg.Heartbeat{From: 2, Ballot: leader, Seq: 1, Commit: 0}},
		{"accept", &msg.Accept{From: 2, Ballot: leader, Proposals: []msg.Proposal{{Slot: 1, Value: val("a")}}}},
	}
	for _, tt := range tests {
		for _, probe := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				c := newCore(t)
				promiseTo(t, c, leader)
				step(c, tt.hear)
				drain(c)
				lease := testConfig().LeaseTicks
				prep := &msg.Prepare{From: 3, Ballot: challenger, FromSlot: 1, Probe: probe}
				for tick := 0; tick < lease; tick++ {
					out := step(c, prep)
					want := []msg.Out{{To: proposer(3), Msg: &msg.Nack{From: self, Ballot: challenger,
						Promised: leader, LeaderAlive: true}}}
					if !reflect.DeepEqual(out, want) {
						t.Fatalf("tick %d of lease %d: out = %#v, want %#v", tick, lease, out, want)
					}
					if c.flushing || c.Promised() != leader {
						t.Fatalf("tick %d: refused prepare changed state (promised %v)", tick, c.Promised())
					}
					c.Tick()
				}
				// The lease has run out: the challenger is promised.
				out := step(c, prep)
				if probe {
					want := []msg.Out{{To: proposer(3), Msg: &msg.Promise{From: self, Ballot: challenger, Probe: true}}}
					if !reflect.DeepEqual(out, want) {
						t.Fatalf("after lease: out = %#v, want %#v", out, want)
					}
					return
				}
				if len(out) != 0 {
					t.Fatalf("after lease: sent at once %#v", out)
				}
				rec, persist, msgs := flushed(t, c)
				if !persist || rec.Promised != challenger {
					t.Fatalf("after lease: record %+v persist=%v, want promise %v", rec, persist, challenger)
				}
				if len(msgs) != 1 {
					t.Fatalf("after lease: msgs %#v", msgs)
				}
				if p, ok := msgs[0].Msg.(*msg.Promise); !ok || p.Ballot != challenger || p.Probe {
					t.Fatalf("after lease: got %#v, want Promise for %v", msgs[0].Msg, challenger)
				}
			})
		}
	}
}

// A Prepare that names the leader the acceptor last heard as handing over
// (leadership transfer) is promised within the lease; one naming any other
// ballot, an older leader's, is refused like any challenger: a stale
// handover must not unseat a newer leader.
func TestLeaseYieldsOnlyToTheLeadersHandover(t *testing.T) {
	old, leader, challenger := bal(2, 1), bal(3, 2), bal(4, 3)
	for _, tt := range []struct {
		name     string
		handover msg.Ballot
		promise  bool
	}{
		{"handover from the leader heard", leader, true},
		{"handover from an older leader", old, false},
		{"no handover", msg.Ballot{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCore(t)
			promiseTo(t, c, leader)
			step(c, &msg.Heartbeat{From: 2, Ballot: leader, Seq: 1})
			drain(c)
			out := step(c, &msg.Prepare{From: 3, Ballot: challenger, FromSlot: 1, Handover: tt.handover})
			if !tt.promise {
				want := []msg.Out{{To: proposer(3), Msg: &msg.Nack{From: self, Ballot: challenger, Promised: leader, LeaderAlive: true}}}
				if !reflect.DeepEqual(out, want) {
					t.Fatalf("out = %#v, want %#v", out, want)
				}
				return
			}
			rec, persist, msgs := flushed(t, c)
			if len(out) != 0 || !persist || rec.Promised != challenger || len(msgs) != 1 {
				t.Fatalf("out %#v, record %+v persist=%v msgs %#v: want the promise of %v made durable, then sent", out, rec, persist, msgs, challenger)
			}
			if p, ok := msgs[0].Msg.(*msg.Promise); !ok || p.Ballot != challenger {
				t.Fatalf("got %#v, want Promise for %v", msgs[0].Msg, challenger)
			}
		})
	}
}

func TestLeaseDoesNotBlockLeaderOrStaleHeartbeat(t *testing.T) {
	t.Run("leader's own higher ballot", func(t *testing.T) {
		c := newCore(t)
		promiseTo(t, c, bal(3, 2))
		step(c, &msg.Heartbeat{From: 2, Ballot: bal(3, 2), Seq: 1})
		mustStepQuiet(t, c, &msg.Prepare{From: 2, Ballot: bal(5, 2), FromSlot: 1})
		if rec, persist, _ := flushed(t, c); !persist || rec.Promised != bal(5, 2) {
			t.Fatalf("record %+v persist=%v", rec, persist)
		}
	})
	t.Run("heartbeat below promise grants no lease", func(t *testing.T) {
		c := newCore(t)
		promiseTo(t, c, bal(3, 3))
		out := step(c, &msg.Heartbeat{From: 2, Ballot: bal(2, 2), Seq: 7})
		want := []msg.Out{{To: proposer(2), Msg: &msg.HeartbeatAck{From: self, Ballot: bal(2, 2), Seq: 7, Promised: bal(3, 3)}}}
		if !reflect.DeepEqual(out, want) {
			t.Fatalf("ack = %#v, want %#v", out, want)
		}
		mustStepQuiet(t, c, &msg.Prepare{From: 3, Ballot: bal(4, 3), FromSlot: 1})
		if rec, persist, _ := flushed(t, c); !persist || rec.Promised != bal(4, 3) {
			t.Fatalf("prepare after a stale heartbeat: record %+v persist=%v, want promised", rec, persist)
		}
	})
}

func TestProbeChangesNothing(t *testing.T) {
	c := newCore(t)
	b := bal(2, 2)
	v := val("v")
	promiseTo(t, c, b)
	mustStepQuiet(t, c, &msg.Accept{From: 2, Ballot: b, Proposals: []msg.Proposal{{Slot: 1, Value: v}}})
	drain(c)
	expireLease(c)
	probe := bal(5, 3)
	out := step(c, &msg.Prepare{From: 3, Ballot: probe, FromSlot: 1, Probe: true})
	want := []msg.Out{{To: proposer(3), Msg: &msg.Promise{From: self, Ballot: probe, Probe: true}}}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("out = %#v, want %#v", out, want)
	}
	if c.flushing {
		rec, persist, msgs := drain(c)
		t.Fatalf("probe made something ready: %+v %v %#v", rec, persist, msgs)
	}
	if c.Promised() != b {
		t.Fatalf("probe raised the promise to %v", c.Promised())
	}
	// The probed ballot was not promised: an accept in the old ballot still works.
	mustStepQuiet(t, c, &msg.Accept{From: 2, Ballot: b, Proposals: []msg.Proposal{{Slot: 2, Value: v}}})
	if rec, persist, _ := flushed(t, c); !persist || len(rec.Entries) != 1 {
		t.Fatalf("accept after probe: record %+v persist=%v", rec, persist)
	}
}

func TestRestartKeepsPromiseAndAcceptances(t *testing.T) {
	store := storage.NewMemory().Acceptor()
	c := newCore(t)
	persist := func() {
		t.Helper()
		rec, ok, _ := drain(c)
		if ok {
			if err := store.Append(rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	b1, b2, b3 := bal(1, 2), bal(2, 3), bal(4, 2)
	v1, v2, v3 := val("one"), val("two"), val("three")
	step(c, &msg.Accept{From: 2, Ballot: b1, Proposals: []msg.Proposal{{Slot: 1, Value: v1}, {Slot: 2, Value: v1}}})
	persist()
	step(c, &msg.Accept{From: 3, Ballot: b2, Proposals: []msg.Proposal{{Slot: 2, Value: v2}, {Slot: 3, Value: v3}}})
	persist()
	expireLease(c)
	step(c, &msg.Prepare{From: 2, Ballot: b3, FromSlot: 1})
	persist()

	st, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	r := New(testConfig(), st)
	if r.Promised() != b3 {
		t.Fatalf("restarted Promised = %v, want %v", r.Promised(), b3)
	}
	want := map[uint64]msg.Entry{
		1: {Slot: 1, Ballot: b1, Value: v1},
		2: {Slot: 2, Ballot: b2, Value: v2},
		3: {Slot: 3, Ballot: b2, Value: v3},
	}
	for s, e := range want {
		if got, ok := r.Accepted(s); !ok || !reflect.DeepEqual(got, e) {
			t.Errorf("restarted Accepted(%d) = %+v %v, want %+v", s, got, ok, e)
		}
	}
	// The promise still refuses a ballot between the last accept and it.
	out := step(r, &msg.Accept{From: 3, Ballot: b2, Proposals: []msg.Proposal{{Slot: 4, Value: v1}}})
	if len(out) != 1 {
		t.Fatalf("accept below restored promise: %#v", out)
	}
	if n, ok := out[0].Msg.(*msg.Nack); !ok || n.Promised != b3 {
		t.Fatalf("accept below restored promise: got %#v, want Nack with Promised %v", out[0].Msg, b3)
	}
	// A higher prepare learns every restored acceptance.
	b4 := bal(5, 3)
	mustStepQuiet(t, r, &msg.Prepare{From: 3, Ballot: b4, FromSlot: 1})
	_, _, msgs := flushed(t, r)
	p, ok := msgs[0].Msg.(*msg.Promise)
	if !ok {
		t.Fatalf("got %#v, want Promise", msgs[0].Msg)
	}
	if got := sortedEntries(p.Entries); !reflect.DeepEqual(got, []msg.Entry{want[1], want[2], want[3]}) {
		t.Fatalf("restarted promise entries = %+v", got)
	}
}
