package learner

import (
	"bytes"
	"slices"
	"testing"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// Snapshotted lets the acceptor and the chosen log drop slots up to the
// previous snapshot (kept for lagging peers, in case the newest snapshot is
// damaged, and so that every learner has heard what was chosen).
func TestSnapshottedTruncates(t *testing.T) {
	c, log := newCore(t)
	for i := 0; i < 6; i++ {
		deliverSlots(t, c, bal(1, 2), val("v"))
	}
	// The proposer hears which snapshot the replica holds: the older of
	// the two newest, none after the first.
	toProp := func(snap uint64) msg.Out {
		return msg.Out{To: msg.Target{Node: self, Role: msg.RoleProposer}, Msg: &msg.Committed{Commit: 6, Snapshot: snap}}
	}
	out := step(t, c, &msg.Snapshotted{Slot: 3})
	wantOut(t, "first snapshot: nothing dropped yet", out, []msg.Out{toProp(0)})
	if log.Base() != 0 {
		t.Fatalf("chosen log base %d after the first snapshot, want 0", log.Base())
	}
	out = step(t, c, &msg.Snapshotted{Slot: 5})
	wantOut(t, "second snapshot", out, []msg.Out{{To: msg.Target{Node: self, Role: msg.RoleAcceptor}, Msg: &msg.Truncate{Through: 3}}, toProp(3)})
	if log.Base() != 3 {
		t.Fatalf("chosen log base %d after the second snapshot, want 3 (the previous one)", log.Base())
	}
	if out := step(t, c, &msg.Snapshotted{Slot: 9}); len(out) != 0 {
		t.Fatalf("a snapshot beyond the delivered point was taken: %s", show(out))
	}
	// A peer asking below the base is told to take a snapshot.
	out = step(t, c, &msg.CatchupRequest{From: 3, First: 2, Last: 6})
	wantOut(t, "catch-up below base", out, []msg.Out{{To: msg.Target{Node: 3, Role: msg.RoleLearner},
		Msg: &msg.CatchupReply{From: self, Through: 6, Snapshot: 3}}})
}

// pair is two learners wired to each other; what they send elsewhere is
// collected.
type pair struct {
	t       *testing.T
	a, b    *Core // a (id 2) serves, b (id 1 = self) catches up
	toB     []msg.Out
	corrupt func(*msg.SnapshotChunk)
}

func (p *pair) pump(out []msg.Out) {
	for len(out) > 0 {
		o := out[0]
		out = out[1:]
		switch {
		case o.To.Role == msg.RoleLearner && o.To.Node == 2:
			out = append(out, step(p.t, p.a, o.Msg)...)
		case o.To.Role == msg.RoleLearner && o.To.Node == self:
			if ch, ok := o.Msg.(*msg.SnapshotChunk); ok && p.corrupt != nil {
				cp := *ch
				cp.Data = bytes.Clone(ch.Data)
				p.corrupt(&cp)
				o.Msg = &cp
			}
			out = append(out, step(p.t, p.b, o.Msg)...)
		case o.To.Node == self:
			p.toB = append(p.toB, o)
		}
	}
}

func newPair(t *testing.T, snapSize int) (*pair, storage.Snapshot, *storage.Memory) {
	t.Helper()
	src := storage.NewMemory()
	for s := uint64(1); s <= 10; s++ {
		if err := src.Chosen().Append(s, val("s")); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Chosen().Truncate(8); err != nil {
		t.Fatal(err)
	}
	snap := storage.Snapshot{Slot: 9, Rev: 9, Data: bytes.Repeat([]byte("0123456789"), snapSize/10)}
	if err := src.Snapshots().Save(snap); err != nil {
		t.Fatal(err)
	}
	cfgA := testConfig()
	cfgA.ID = 2
	cfgA.MaxCatchupBytes = 1000
	a, err := New(cfgA, src.Chosen(), src.Snapshots())
	if err != nil {
		t.Fatal(err)
	}
	dst := storage.NewMemory()
	b, err := New(testConfig(), dst.Chosen(), dst.Snapshots())
	if err != nil {
		t.Fatal(err)
	}
	return &pair{t: t, a: a, b: b}, snap, dst
}

// behind makes b learn the log is chosen through 10 and fetch after its stall.
func (p *pair) behind() {
	p.pump(step(p.t, p.b, &msg.Heartbeat{From: 2, Ballot: bal(1, 2), Commit: 10}))
	for i := 0; i <= p.b.cfg.StallTicks; i++ {
		p.pump(tick(p.t, p.b))
	}
}

// A replica behind a peer's truncation point pulls the peer's snapshot in
// chunks, saves it, hands it to its executor, lets its acceptor drop what it
// covers, and then catches up by slots.
func TestSnapshotTransferAndInstall(t *testing.T) {
	p, snap, dst := newPair(t, 4500) // five chunks of at most 1000 bytes
	p.behind()
	if p.b.Delivered() != 10 {
		t.Fatalf("delivered %d after catch-up, want 10", p.b.Delivered())
	}
	got, ok, err := dst.Snapshots().Load()
	if err != nil || !ok || got.Slot != 9 || !bytes.Equal(got.Data, snap.Data) {
		t.Fatalf("saved snapshot slot %d (%v, %v), %d bytes; want slot 9, %d bytes", got.Slot, ok, err, len(got.Data), len(snap.Data))
	}
	if dst.Chosen().Base() != 9 || dst.Chosen().Last() != 10 {
		t.Fatalf("chosen log base %d last %d, want 9 and 10", dst.Chosen().Base(), dst.Chosen().Last())
	}
	var install *msg.Install
	var truncate *msg.Truncate
	var deliver *msg.Deliver
	for _, o := range p.toB {
		switch m := o.Msg.(type) {
		case *msg.Install:
			install = m
		case *msg.Truncate:
			truncate = m
		case *msg.Deliver:
			deliver = m
			if install == nil {
				t.Fatal("a delivery went to the executor before the snapshot")
			}
		}
	}
	if install == nil || install.Slot != 9 || install.Rev != 9 || !bytes.Equal(install.Data, snap.Data) {
		t.Fatalf("install %+v", install)
	}
	if truncate == nil || truncate.Through != 9 {
		t.Fatalf("acceptor truncate %+v, want through 9", truncate)
	}
	if deliver == nil || deliver.First != 10 || len(deliver.Values) != 1 {
		t.Fatalf("delivery after the snapshot %+v, want slot 10", deliver)
	}
	// A restart finds the installed snapshot and resumes after it.
	r, err := New(testConfig(), dst.Chosen(), dst.Snapshots())
	if err != nil || r.Delivered() != 10 {
		t.Fatalf("restart: delivered %d, %v", r.Delivered(), err)
	}
}

// A chunk damaged on the way fails the checksum: nothing is installed, and
// a later transfer succeeds.
func TestDamagedSnapshotIsNotInstalled(t *testing.T) {
	p, _, dst := newPair(t, 3000)
	p.corrupt = func(ch *msg.SnapshotChunk) {
		if ch.Offset == 1000 {
			ch.Data[7] ^= 1
		}
	}
	p.behind()
	if _, ok, _ := dst.Snapshots().Load(); ok || p.b.Delivered() != 0 {
		t.Fatalf("a damaged snapshot was installed (delivered %d)", p.b.Delivered())
	}
	p.corrupt = nil
	for i := 0; i < 3*(p.b.cfg.StallTicks+p.b.cfg.ResendTicks) && p.b.Delivered() < 10; i++ {
		p.pump(tick(p.t, p.b))
	}
	if p.b.Delivered() != 10 {
		t.Fatalf("delivered %d after a clean retry, want 10", p.b.Delivered())
	}
}

// A peer with no snapshot answers so; the transfer ends rather than hangs.
func TestPeerWithoutSnapshotEndsTransfer(t *testing.T) {
	p, _, _ := newPair(t, 100)
	p.a.snaps = storage.NewMemory().Snapshots() // it lost them
	p.behind()
	if p.b.incoming != nil {
		t.Fatal("transfer still running after the peer said it has no snapshot")
	}
	if p.b.Delivered() != 0 {
		t.Fatalf("delivered %d without a snapshot", p.b.Delivered())
	}
}

// A witness's snapshots hold nothing: it never serves one, nor tells a peer
// asking below its base to take one (the peer asks another); slots it still
// keeps it serves as any learner does.
func TestWitnessServesNoSnapshot(t *testing.T) {
	cfg := testConfig()
	cfg.Witness = true
	snaps := storage.NewMemory().Snapshots()
	c, err := New(cfg, storage.NewMemory().Chosen(), snaps)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		deliverSlots(t, c, bal(1, 2), val("v"))
	}
	if err := snaps.Save(storage.Snapshot{Slot: 5, Rev: 5}); err != nil {
		t.Fatal(err)
	}
	step(t, c, &msg.Snapshotted{Slot: 3})
	step(t, c, &msg.Snapshotted{Slot: 5})
	out := step(t, c, &msg.CatchupRequest{From: 3, First: 2, Last: 6})
	wantOut(t, "catch-up below a witness's base", out, []msg.Out{{To: msg.Target{Node: 3, Role: msg.RoleLearner},
		Msg: &msg.CatchupReply{From: self, Through: 6}}})
	out = step(t, c, &msg.SnapshotRequest{From: 3})
	wantOut(t, "snapshot request to a witness", out, []msg.Out{{To: msg.Target{Node: 3, Role: msg.RoleLearner},
		Msg: &msg.SnapshotChunk{From: self}}})
	out = step(t, c, &msg.CatchupRequest{From: 3, First: 4, Last: 5})
	if len(out) != 1 || len(out[0].Msg.(*msg.CatchupReply).Chosen) != 2 {
		t.Fatalf("catch-up of slots the witness keeps: %s", show(out))
	}
}

// A witness's learner hands its acceptor each floor it delivers that holds
// at its slot (every learner of the membership reported a snapshot through
// it), and counts the rest; a full replica's learner never does. Both tell
// their proposer the highest floor that held.
func TestWitnessTakesFloorsThatHold(t *testing.T) {
	ms := []membership.Member{{ID: self, Addr: "a1", Roles: membership.Acceptor},
		{ID: 2, Addr: "a2", Roles: membership.All}, {ID: 3, Addr: "a3", Roles: membership.All}}
	h, err := membership.Bootstrap(4, ms)
	if err != nil {
		t.Fatal(err)
	}
	floor := func(through, snap2 uint64) *msg.Value {
		f := &membership.Floor{Through: through, Holds: []membership.Hold{{ID: 2, Snapshot: snap2}, {ID: 3, Snapshot: 9}}}
		return &msg.Value{Floor: f.Encode()}
	}
	for _, witness := range []bool{true, false} {
		cfg := testConfig()
		cfg.Members, cfg.Witness = h, witness
		c, err := New(cfg, storage.NewMemory().Chosen(), storage.NewMemory().Snapshots())
		if err != nil {
			t.Fatal(err)
		}
		var floors []uint64
		var held uint64 // the floor the last Committed carried
		for _, v := range []*msg.Value{val("a"), val("b"), val("c"), floor(2, 3), floor(3, 2), val("d"), floor(4, 9)} {
			s := c.Delivered() + 1
			b := bal(1, 2)
			step(t, c, own(b, s, v))
			for _, o := range step(t, c, peerVote(2, b, s)) {
				if cm, ok := o.Msg.(*msg.Committed); ok {
					held = cm.Floor
				}
				if tr, ok := o.Msg.(*msg.Truncate); ok {
					if o.To != (msg.Target{Node: self, Role: msg.RoleAcceptor}) || tr.Through != 0 {
						t.Fatalf("%+v to %v", tr, o.To)
					}
					floors = append(floors, tr.Floor)
				}
			}
			if c.Delivered() != s {
				t.Fatalf("slot %d not delivered", s)
			}
		}
		want, stats := []uint64{2, 4}, FloorStats{Taken: 2, Refused: 1}
		if !witness {
			want, stats = nil, FloorStats{}
		}
		if !slices.Equal(floors, want) || c.Floors() != stats {
			t.Fatalf("witness %v: floors %v (%+v), want %v (%+v)", witness, floors, c.Floors(), want, stats)
		}
		if held != 4 {
			t.Fatalf("witness %v: its proposer heard of floor %d held, want 4", witness, held)
		}
	}
}
