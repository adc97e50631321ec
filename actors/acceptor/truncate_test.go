package acceptor

import (
	"testing"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// After a Truncate the acceptor forgets the entries up to the point, records
// the point, reports it in promises, and accepts nothing at or below it.
func TestTruncateDropsEntriesAndIsReported(t *testing.T) {
	c := newCore(t)
	mustStepQuiet(t, c, &msg.Accept{From: 2, Ballot: bal(1, 2), Proposals: []msg.Proposal{
		{Slot: 1, Value: val("a")}, {Slot: 2, Value: val("b")}, {Slot: 3, Value: val("c")}}})
	flushed(t, c)

	mustStepQuiet(t, c, &msg.Truncate{Through: 2})
	rec, persist, out := flushed(t, c)
	if !persist || rec.Truncated != 2 || len(out) != 0 {
		t.Fatalf("truncate flush: persist %v record %+v out %v", persist, rec, out)
	}
	if _, ok := c.Accepted(2); ok {
		t.Fatal("slot 2 still accepted after truncation through 2")
	}
	if _, ok := c.Accepted(3); !ok {
		t.Fatal("slot 3 lost by truncation through 2")
	}
	mustStepQuiet(t, c, &msg.Truncate{Through: 1}) // lower: nothing to do
	if c.flushing {
		t.Fatal("a lower truncation point made a record")
	}

	expireLease(c)
	mustStepQuiet(t, c, &msg.Prepare{From: 3, Ballot: bal(2, 3), FromSlot: 1})
	_, _, out = flushed(t, c)
	p := out[0].Msg.(*msg.Promise)
	if p.Truncated != 2 || len(p.Entries) != 1 || p.Entries[0].Slot != 3 {
		t.Fatalf("promise %+v, want truncated 2 and only slot 3", p)
	}

	// A leader behind the point proposes slot 2 again (with the chosen
	// value, as Paxos guarantees); the acceptor neither stores nor votes.
	mustStepQuiet(t, c, &msg.Accept{From: 3, Ballot: bal(2, 3), Proposals: []msg.Proposal{
		{Slot: 2, Value: val("b")}, {Slot: 4, Value: val("d")}}})
	rec, _, out = flushed(t, c)
	if len(rec.Entries) != 1 || rec.Entries[0].Slot != 4 {
		t.Fatalf("record %+v, want only slot 4", rec)
	}
	for _, o := range out {
		if a := o.Msg.(*msg.Accepted); len(a.Slots) != 1 || a.Slots[0] != 4 {
			t.Fatalf("vote %+v, want only slot 4", a)
		}
	}
	// Only slots at or below the point: no vote at all.
	mustStepQuiet(t, c, &msg.Accept{From: 3, Ballot: bal(2, 3), Proposals: []msg.Proposal{{Slot: 1, Value: val("a")}}})
	if _, _, out = drain(c); len(out) != 0 {
		t.Fatalf("accept below the point answered %v", out)
	}
}

// A restart from a truncated log reports the point and never the dropped
// slots.
func TestRestartKeepsTruncationPoint(t *testing.T) {
	log := storage.NewMemory().Acceptor()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(log.Append(storage.AcceptorRecord{Entries: []msg.Entry{{Slot: 5, Ballot: bal(1, 2), Value: val("x")}, {Slot: 9, Ballot: bal(1, 2), Value: val("y")}}}))
	must(log.Append(storage.AcceptorRecord{Truncated: 7}))
	st, err := log.Load()
	must(err)
	c := New(testConfig(), st)
	if c.Truncated() != 7 {
		t.Fatalf("truncated %d after restart, want 7", c.Truncated())
	}
	mustStepQuiet(t, c, &msg.Prepare{From: 3, Ballot: bal(2, 3), FromSlot: 1})
	_, _, out := flushed(t, c)
	p := out[0].Msg.(*msg.Promise)
	if p.Truncated != 7 || len(p.Entries) != 1 || p.Entries[0].Slot != 9 {
		t.Fatalf("promise %+v after restart", p)
	}
}

// A witness truncates only as far as the floor its learner delivered
// allows, whatever its own learner's snapshots ask, and catches up with the
// request when a higher floor comes; a lower floor changes nothing, and an
// ordinary acceptor pays floors no heed. Its acks say it is a witness.
func TestWitnessTruncatesAtTheFloor(t *testing.T) {
	cfg := testConfig()
	cfg.Witness = true
	c := New(cfg, storage.AcceptorState{})
	var props []msg.Proposal
	for s := uint64(1); s <= 6; s++ {
		props = append(props, msg.Proposal{Slot: s, Value: val("v")})
	}
	mustStepQuiet(t, c, &msg.Accept{From: 2, Ballot: bal(1, 2), Proposals: props})
	flushed(t, c)
	mustStepQuiet(t, c, &msg.Truncate{Through: 5})
	if c.Truncated() != 0 || c.flushing {
		t.Fatalf("truncated to %d with no floor delivered", c.Truncated())
	}
	step(c, &msg.Truncate{Floor: 3})
	if rec, persist, _ := flushed(t, c); !persist || rec.Truncated != 3 || c.Truncated() != 3 {
		t.Fatalf("after floor 3: truncated %d, record %+v", c.Truncated(), rec)
	}
	if _, ok := c.Accepted(4); !ok {
		t.Fatal("slot 4, above the floor, dropped")
	}
	step(c, &msg.Truncate{Floor: 2})
	step(c, &msg.Truncate{Floor: 9})
	if c.Truncated() != 5 {
		t.Fatalf("after floor 9 and a request to 5: truncated %d, want 5", c.Truncated())
	}
	if a := step(c, &msg.Heartbeat{From: 2, Ballot: bal(1, 2), Seq: 1})[0].Msg.(*msg.HeartbeatAck); !a.Witness || a.Truncated != 5 {
		t.Fatalf("witness's ack %+v", a)
	}

	plain := newCore(t)
	step(plain, &msg.Truncate{Floor: 2})
	step(plain, &msg.Truncate{Through: 4})
	if plain.Truncated() != 4 {
		t.Fatalf("an ordinary acceptor truncated to %d, want 4 as its learner asked", plain.Truncated())
	}
	if a := step(plain, &msg.Heartbeat{From: 2, Ballot: bal(1, 2), Seq: 1})[0].Msg.(*msg.HeartbeatAck); a.Witness {
		t.Fatalf("an ordinary acceptor's ack %+v", a)
	}
}
