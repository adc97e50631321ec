package roles

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// countingChosen counts the values read from a chosen log; it cannot read
// slot lost, and names slot extra as holding a change.
type countingChosen struct {
	storage.ChosenLog
	gets        *int
	lost, extra uint64
}

func (c countingChosen) Get(slot uint64) (*msg.Value, bool) {
	*c.gets++
	if slot == c.lost {
		return nil, false
	}
	return c.ChosenLog.Get(slot)
}

func (c countingChosen) ChangeSlots(from uint64) []uint64 {
	out := c.ChosenLog.ChangeSlots(from)
	if c.extra > from {
		out = append(out, c.extra)
		slices.Sort(out)
	}
	return out
}

type countingStore struct {
	storage.Store
	chosen countingChosen
}

func (s countingStore) Chosen() storage.ChosenLog { return s.chosen }

// Members applies the changes the log holds above the snapshot and reads
// only their slots: a restart with a long log since the snapshot must not
// decode every value of it (three times: the replica, its learner and its
// proposer each rebuild the membership).
func TestMembersReadsOnlyTheChangeSlots(t *testing.T) {
	var members []membership.Member
	for id := msg.NodeID(1); id <= 3; id++ {
		members = append(members, membership.Member{ID: id, Addr: fmt.Sprintf("127.0.0.1:%d", 7000+id), Roles: membership.All})
	}
	first, err := membership.Bootstrap(membership.DefaultAlpha, members)
	if err != nil {
		t.Fatal(err)
	}
	joiner := membership.Member{ID: 4, Addr: "127.0.0.1:7004", Roles: membership.Learner}
	changes := map[uint64][]byte{
		100: (&membership.Change{Base: 1, Op: membership.Add, Member: joiner}).Encode(),
		300: (&membership.Change{Base: 2, Op: membership.SetRoles, Member: membership.Member{ID: 4, Roles: membership.All}}).Encode(),
	}
	mem := storage.NewMemory()
	for s := uint64(1); s <= 500; s++ {
		v := &msg.Value{Cmds: []msg.Command{{Client: 1, Seq: s, Data: []byte("x")}}}
		if ch, ok := changes[s]; ok {
			v = &msg.Value{Change: ch}
		}
		if err := mem.Chosen().Append(s, v); err != nil {
			t.Fatal(err)
		}
	}
	gets := 0
	st := countingStore{Store: mem, chosen: countingChosen{ChosenLog: mem.Chosen(), gets: &gets}}
	h, err := Members(first, st)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Latest(); got.Num != 3 {
		t.Fatalf("latest configuration %d, want 3", got.Num)
	}
	if m, ok := h.Latest().Member(4); !ok || m.Roles != membership.All {
		t.Fatalf("member 4: %+v, %v; want an acceptor", m, ok)
	}
	if gets != len(changes) {
		t.Fatalf("Members read %d slots, want the %d that hold a change", gets, len(changes))
	}

	// A change the log names but cannot read, or a slot it names that holds
	// none, fails the membership rather than leave the change out.
	for _, c := range []countingChosen{{ChosenLog: mem.Chosen(), gets: &gets, lost: 300}, {ChosenLog: mem.Chosen(), gets: &gets, extra: 200}} {
		if h, err := Members(first, countingStore{Store: mem, chosen: c}); !errors.Is(err, storage.ErrCorrupt) {
			t.Fatalf("lost %d, extra %d: membership %v, %v; want ErrCorrupt", c.lost, c.extra, h, err)
		}
	}
}
