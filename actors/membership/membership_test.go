package membership

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/rsml-go/rsml/msg"
)

func members(ids ...msg.NodeID) []Member {
	var ms []Member
	for _, id := range ids {
		ms = append(ms, Member{ID: id, Addr: "h:" + id.String(), Roles: All})
	}
	return ms
}

func boot(t *testing.T, alpha uint64, ids ...msg.NodeID) *History {
	t.Helper()
	h, err := Bootstrap(alpha, members(ids...))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func add(base uint64, id msg.NodeID, r Roles) []byte {
	return (&Change{Base: base, Op: Add, Member: Member{ID: id, Addr: "h:" + id.String(), Roles: r}}).Encode()
}

func remove(base uint64, id msg.NodeID) []byte {
	return (&Change{Base: base, Op: Remove, Member: Member{ID: id}}).Encode()
}

func setRoles(base uint64, id msg.NodeID, r Roles) []byte {
	return (&Change{Base: base, Op: SetRoles, Member: Member{ID: id, Roles: r}}).Encode()
}

func TestApplyTakesEffectAlphaSlotsLater(t *testing.T) {
	h := boot(t, 4, 1, 2, 3)
	h2, out := h.Apply(10, add(1, 4, All))
	if out.Err != nil || out.Num != 2 || out.From != 14 {
		t.Fatalf("outcome %+v", out)
	}
	if h.Latest().Num != 1 {
		t.Fatal("Apply changed the history it was called on")
	}
	for s, want := range map[uint64][]msg.NodeID{11: {1, 2, 3}, 13: {1, 2, 3}, 14: {1, 2, 3, 4}, 20: {1, 2, 3, 4}} {
		if got := h2.For(s).With(Acceptor); !slices.Equal(got, want) {
			t.Errorf("For(%d) acceptors %v, want %v", s, got, want)
		}
	}
	if got := h2.Span(11, 14); len(got) != 2 || got[0].Num != 1 || got[1].Num != 2 {
		t.Errorf("Span(11,14) = %v", got)
	}
	if got := h2.Span(11, 13); len(got) != 1 || got[0].Num != 1 {
		t.Errorf("Span(11,13) = %v", got)
	}
	if got := h2.Span(14, 30); len(got) != 1 || got[0].Num != 2 {
		t.Errorf("Span(14,30) = %v", got)
	}
	if q := h2.For(14).Quorum(); q.Size() != 3 {
		t.Errorf("quorum of 4 acceptors: %d, want 3", q.Size())
	}
}

func TestApplyRefuses(t *testing.T) {
	h := boot(t, 4, 1, 2, 3)
	pending, out := h.Apply(10, remove(1, 3)) // config 2 from slot 14
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	witness := boot(t, 4, 1, 2)
	witness, _ = witness.Apply(1, setRoles(1, 2, Acceptor))
	cases := []struct {
		name   string
		h      *History
		slot   uint64
		change []byte
	}{
		{"another change pending", pending, 13, add(2, 4, All)},
		{"stale base", pending, 14, add(1, 4, All)},
		{"base from the future", h, 10, add(2, 4, All)},
		{"add a member", h, 10, (&Change{Base: 1, Op: Add, Member: Member{ID: 2, Addr: "x", Roles: All}}).Encode()},
		{"add a retired id", pending, 20, add(2, 3, All)},
		{"add a used address", h, 10, (&Change{Base: 1, Op: Add, Member: Member{ID: 4, Addr: "h:1", Roles: All}}).Encode()},
		{"add without roles", h, 10, add(1, 4, 0)},
		{"add a proposer that does not learn", h, 10, add(1, 4, Proposer|Acceptor)},
		{"remove a stranger", h, 10, remove(1, 9)},
		{"roles of a stranger", h, 10, setRoles(1, 9, All)},
		{"no acceptor left", boot(t, 4, 1), 10, setRoles(1, 1, Proposer|Learner)},
		{"no proposer left", witness, 10, remove(2, 1)},
		{"remove the last member", boot(t, 4, 1), 10, remove(1, 1)},
		{"unknown op", h, 10, (&Change{Base: 1, Op: 9}).Encode()},
		{"garbage", h, 10, []byte{0xc1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nh, out := tc.h.Apply(tc.slot, tc.change)
			if !errors.Is(out.Err, ErrConflict) || out.Done {
				t.Fatalf("outcome %+v, want a refusal", out)
			}
			if nh != tc.h {
				t.Fatal("a refused change changed the history")
			}
		})
	}
}

func TestApplyRetryIsDone(t *testing.T) {
	h := boot(t, 4, 1, 2, 3)
	h2, out := h.Apply(10, add(1, 4, Learner))
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	// The same request again, while it is pending and after: success, no change.
	for _, slot := range []uint64{11, 30} {
		nh, again := h2.Apply(slot, add(1, 4, Learner))
		if !again.Done || again.Num != 2 || nh != h2 {
			t.Fatalf("slot %d: retry outcome %+v", slot, again)
		}
	}
	h3, out := h2.Apply(30, remove(2, 4))
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	if _, again := h3.Apply(40, remove(2, 4)); !again.Done {
		t.Fatalf("retried removal: %+v", again)
	}
	if _, again := h3.Apply(40, setRoles(3, 1, All)); !again.Done {
		t.Fatalf("roles already so: %+v", again)
	}
}

func TestPrunesEpochsBehind(t *testing.T) {
	h := boot(t, 4, 1, 2, 3)
	slot := uint64(1)
	for i := range 10 {
		var out Outcome
		h, out = h.Apply(slot, add(h.Latest().Num, msg.NodeID(10+i), Learner))
		if out.Err != nil {
			t.Fatal(out.Err)
		}
		if len(h.Epochs) > 2 {
			t.Fatalf("after change %d: %d epochs kept", i, len(h.Epochs))
		}
		slot += 4 // the earliest the next may come
	}
	if h.Latest().Num != 11 || len(h.Latest().Members) != 13 {
		t.Fatalf("latest %+v", h.Latest())
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	h := boot(t, 64, 1, 2, 3)
	h, _ = h.Apply(5, add(1, 4, Learner))
	h, _ = h.Apply(80, remove(2, 2))
	got, err := Decode(h.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Encode(), h.Encode()) || got.For(200).Quorum().Size() != 2 {
		t.Fatalf("round trip: %+v", got)
	}
	if !slices.Equal(got.Retired, []msg.NodeID{2}) {
		t.Fatalf("retired %v", got.Retired)
	}
}

func TestDecodeRefusesDamage(t *testing.T) {
	good := boot(t, 4, 1, 2, 3)
	bad := []*History{
		{Alpha: 0, Epochs: good.Epochs},
		{Alpha: 4},
		{Alpha: 4, Epochs: []Epoch{{From: 1}}},
		{Alpha: 4, Epochs: []Epoch{{From: 1, Config: &Config{Num: 1}}}},
		{Alpha: 4, Epochs: []Epoch{good.Epochs[0], good.Epochs[0]}},
	}
	for i, h := range bad {
		if _, err := Decode(h.Encode()); err == nil {
			t.Errorf("case %d decoded", i)
		}
	}
	if _, err := Decode([]byte("junk")); err == nil {
		t.Error("junk decoded")
	}
}

func TestParseRoles(t *testing.T) {
	r, err := ParseRoles([]string{"learner", "proposer"})
	if err != nil || r != Proposer|Learner || r.String() != "proposer,learner" {
		t.Fatalf("%v %v", r, err)
	}
	for _, bad := range [][]string{nil, {"leader"}, {"learner", "learner"}} {
		if _, err := ParseRoles(bad); err == nil {
			t.Errorf("%v parsed", bad)
		}
	}
}

func FuzzApply(f *testing.F) {
	f.Add(add(1, 4, All), uint64(10))
	f.Add(remove(1, 2), uint64(3))
	f.Add(setRoles(1, 1, Learner), uint64(1))
	f.Fuzz(func(t *testing.T, change []byte, slot uint64) {
		h, _ := Bootstrap(4, members(1, 2, 3))
		nh, out := h.Apply(slot, change)
		if out.Err == nil {
			if err := Validate(nh.Latest()); err != nil {
				t.Fatalf("a valid change made an invalid config: %v", err)
			}
			if nh.LatestFrom() != slot+4 {
				t.Fatalf("from %d", nh.LatestFrom())
			}
		} else if nh != h {
			t.Fatal("a refused change changed the history")
		}
		if _, err := Decode(nh.Encode()); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzDecode(f *testing.F) {
	h, _ := Bootstrap(4, members(1, 2, 3))
	f.Add(h.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := Decode(b); err == nil {
			_ = h.For(1).Quorum().Size()
			_ = h.Latest()
		}
	})
}
