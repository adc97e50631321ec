package storage

import (
	"testing"

	"github.com/rsml-go/rsml/msg"
)

func TestMemoryAcceptorLogKeepsHighestPromiseAndLatestEntries(t *testing.T) {
	m := NewMemory().Acceptor()
	b1, b2 := msg.Ballot{Round: 1, ID: 1}, msg.Ballot{Round: 2, ID: 3}
	v := &msg.Value{Cmds: []msg.Command{{Data: []byte("x")}}}
	must(t, m.Append(AcceptorRecord{Promised: b2}))
	must(t, m.Append(AcceptorRecord{Promised: b1, Entries: []msg.Entry{{Slot: 3, Ballot: b1, Value: v}, {Slot: 1, Ballot: b1, Value: v}}}))
	must(t, m.Append(AcceptorRecord{Entries: []msg.Entry{{Slot: 3, Ballot: b2, Value: v}}}))
	st, err := m.Load()
	must(t, err)
	if st.Promised != b2 {
		t.Fatalf("promise %v, want %v: a lower one must never replace it", st.Promised, b2)
	}
	if len(st.Entries) != 2 || st.Entries[0].Slot != 1 || st.Entries[1].Slot != 3 || st.Entries[1].Ballot != b2 {
		t.Fatalf("entries %+v, want slots 1 and 3 (3 at %v), in slot order", st.Entries, b2)
	}
}

func TestMemoryChosenLogIsContiguous(t *testing.T) {
	c := NewMemory().Chosen()
	v := &msg.Value{}
	if c.Last() != 0 {
		t.Fatal("empty log has a last slot")
	}
	must(t, c.Append(1, v))
	must(t, c.Append(2, v))
	if err := c.Append(4, v); err == nil {
		t.Fatal("a gap was accepted")
	}
	if err := c.Append(2, v); err == nil {
		t.Fatal("a repeat was accepted")
	}
	if got, ok := c.Get(2); !ok || got != v || c.Last() != 2 {
		t.Fatalf("Get(2) = %v %v, Last %d", got, ok, c.Last())
	}
	if _, ok := c.Get(3); ok {
		t.Fatal("Get past the end")
	}
}

func TestMemoryBallotAndSnapshots(t *testing.T) {
	m := NewMemory()
	must(t, m.Proposer().SaveBallot(msg.Ballot{Round: 5, ID: 2}))
	must(t, m.Proposer().SaveBallot(msg.Ballot{Round: 4, ID: 2}))
	if b, _ := m.Proposer().LoadBallot(); b != (msg.Ballot{Round: 5, ID: 2}) {
		t.Fatalf("ballot %v went down", b)
	}
	if _, ok, _ := m.Snapshots().Load(); ok {
		t.Fatal("snapshot before any save")
	}
	must(t, m.Snapshots().Save(Snapshot{Slot: 9, Rev: 7, Data: []byte("s")}))
	if s, ok, _ := m.Snapshots().Load(); !ok || s.Slot != 9 || s.Rev != 7 || string(s.Data) != "s" {
		t.Fatalf("snapshot %+v %v", s, ok)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A stray lower-ballot write for a slot (say, from a stopped incarnation
// whose queued flush ran late) never replaces a higher acceptance.
func TestAcceptorLogsKeepTheHighestBallotPerSlot(t *testing.T) {
	lo, hi := msg.Ballot{Round: 1, ID: 1}, msg.Ballot{Round: 2, ID: 2}
	vlo := &msg.Value{Cmds: []msg.Command{{Data: []byte("lo")}}}
	vhi := &msg.Value{Cmds: []msg.Command{{Data: []byte("hi")}}}
	disk, err := OpenNuts(t.TempDir(), nil)
	must(t, err)
	defer disk.Close()
	for name, l := range map[string]AcceptorLog{"memory": NewMemory().Acceptor(), "nutsdb": disk.Acceptor()} {
		must(t, l.Append(AcceptorRecord{Entries: []msg.Entry{{Slot: 7, Ballot: hi, Value: vhi}}}))
		must(t, l.Append(AcceptorRecord{Entries: []msg.Entry{{Slot: 7, Ballot: lo, Value: vlo}}}))
		st, err := l.Load()
		must(t, err)
		if len(st.Entries) != 1 || st.Entries[0].Ballot != hi || string(st.Entries[0].Value.Cmds[0].Data) != "hi" {
			t.Fatalf("%s: slot 7 = %+v, want the acceptance at %v", name, st.Entries, hi)
		}
	}
}
