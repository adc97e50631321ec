package acceptor

import (
	"errors"
	"reflect"
	"testing"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// failingValues is an acceptor log whose values cannot be read back.
type failingValues struct{ storage.AcceptorLog }

func (failingValues) Values([]uint64) ([]msg.Entry, error) {
	return nil, errors.New("disk read failed")
}

// acceptDurably runs an Accept through the flush, persists its record in log
// as the driver does, and advances.
func acceptDurably(t *testing.T, c *Core, log storage.AcceptorLog, acc *msg.Accept) []msg.Out {
	t.Helper()
	mustStepQuiet(t, c, acc)
	rec, persist, out := flushed(t, c)
	if persist {
		if err := log.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance()
	return out
}

// A core loaded from its log keeps a value in memory only until the record
// holding it is durable; a Promise reads it back, and a duplicate Accept
// still hands our learner the value.
func TestDurableValuesLeaveMemory(t *testing.T) {
	log := storage.NewMemory().Acceptor()
	c, err := Load(testConfig(), log)
	if err != nil {
		t.Fatal(err)
	}
	b := bal(2, 3)
	v1, v2 := val("one"), val("two")
	acc := &msg.Accept{From: 3, Ballot: b, Proposals: []msg.Proposal{{Slot: 1, Value: v1}, {Slot: 2, Value: v2}}}
	acceptDurably(t, c, log, acc)
	for _, s := range []uint64{1, 2} {
		if e, ok := c.Accepted(s); !ok || e.Ballot != b || e.Value != nil {
			t.Fatalf("slot %d after a durable accept: %+v, %v; want ballot %s without its value", s, e, ok, b)
		}
	}
	out := acceptDurably(t, c, log, acc) // a duplicate: no new record
	checkAccepted(t, out, b, []uint64{1, 2}, []*msg.Value{v1, v2})

	expireLease(c)
	nb := bal(3, 2)
	mustStepQuiet(t, c, &msg.Prepare{From: 2, Ballot: nb, FromSlot: 2})
	_, _, out = flushed(t, c)
	var p *msg.Promise
	for _, o := range out {
		if m, ok := o.Msg.(*msg.Promise); ok {
			p = m
		}
	}
	want := []msg.Entry{{Slot: 2, Ballot: b, Value: v2}}
	if p == nil || !reflect.DeepEqual(p.Entries, want) {
		t.Fatalf("promise %+v, want entries %+v", p, want)
	}

	// Restarted: everything loaded is durable, so nothing stays in memory.
	c, err = Load(testConfig(), log)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := c.Accepted(2); !ok || e.Value != nil {
		t.Fatalf("slot 2 after a restart: %+v, %v; want its ballot only", e, ok)
	}
}

// An acceptor that cannot read a value back must not promise without it (a
// leader would take the slot for empty): it fails, to be restarted.
func TestPromiseWithoutItsValuesFails(t *testing.T) {
	mem := storage.NewMemory().Acceptor()
	log := failingValues{mem}
	c, err := Load(testConfig(), log)
	if err != nil {
		t.Fatal(err)
	}
	b := bal(2, 3)
	acceptDurably(t, c, log, &msg.Accept{From: 3, Ballot: b, Proposals: []msg.Proposal{{Slot: 1, Value: val("one")}}})
	expireLease(c)
	c.Step(&msg.Prepare{From: 2, Ballot: bal(3, 2), FromSlot: 1})
	rd := c.Ready()
	if rd.Fail == nil {
		t.Fatalf("Ready %+v after a prepare whose values cannot be read; want Fail", rd)
	}
	for _, o := range rd.Messages {
		if _, ok := o.Msg.(*msg.Promise); ok {
			t.Fatalf("a promise went out without its values: %+v", o.Msg)
		}
	}
}
