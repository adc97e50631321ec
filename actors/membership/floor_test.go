package membership

import "testing"

// A floor holds at its slot only if every learner of the configuration in
// force there, and of one pending, reported a snapshot through it; a
// witness (acceptor only) needs none.
func TestFloorHolds(t *testing.T) {
	ms := members(1, 2)
	ms = append(ms, Member{ID: 3, Addr: "h:3", Roles: Acceptor})
	h, err := Bootstrap(4, ms)
	if err != nil {
		t.Fatal(err)
	}
	both := &Floor{Through: 10, Holds: []Hold{{ID: 1, Snapshot: 12}, {ID: 2, Snapshot: 10}}}
	for _, tc := range []struct {
		name string
		slot uint64
		f    *Floor
		want bool
	}{
		{"every learner holds", 20, both, true},
		{"one holds less", 20, &Floor{Through: 10, Holds: []Hold{{ID: 1, Snapshot: 12}, {ID: 2, Snapshot: 9}}}, false},
		{"one did not report", 20, &Floor{Through: 10, Holds: []Hold{{ID: 1, Snapshot: 12}}}, false},
		{"only the witness reported", 20, &Floor{Through: 10, Holds: []Hold{{ID: 3, Snapshot: 99}, {ID: 1, Snapshot: 99}}}, false},
		{"not below its slot", 10, both, false},
		{"zero", 20, &Floor{Holds: both.Holds}, false},
		{"nil", 20, nil, false},
	} {
		if got := h.Holds(tc.slot, tc.f); got != tc.want {
			t.Errorf("%s: holds %v, want %v", tc.name, got, tc.want)
		}
	}

	// A learner added at slot 15 (in force from 19) counts for a floor at any
	// later slot, even before it is in force: the floor's proposer may not
	// have known it.
	h2, out := h.Apply(15, add(1, 4, Learner))
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	if h2.Holds(16, both) || h2.Holds(25, both) {
		t.Error("floor held though learner 4, added before its slot, reported nothing")
	}
	with4 := &Floor{Through: 10, Holds: append(both.Holds, Hold{ID: 4, Snapshot: 10})}
	if !h2.Holds(16, with4) {
		t.Error("floor with every learner's report refused")
	}

	// One full replica and two witnesses: the witnesses' copies are the
	// only others, so no floor ever holds.
	lone, err := Bootstrap(4, []Member{{ID: 1, Addr: "h:1", Roles: All}, {ID: 2, Addr: "h:2", Roles: Acceptor}, {ID: 3, Addr: "h:3", Roles: Acceptor}})
	if err != nil {
		t.Fatal(err)
	}
	if lone.Holds(20, &Floor{Through: 10, Holds: []Hold{{ID: 1, Snapshot: 12}}}) {
		t.Error("floor held with one replica holding the state against three acceptors")
	}

	f2, err := DecodeFloor(with4.Encode())
	if err != nil || f2.Through != 10 || len(f2.Holds) != 3 || f2.Holds[2] != (Hold{ID: 4, Snapshot: 10}) {
		t.Fatalf("round trip: %+v, %v", f2, err)
	}
	if _, err := DecodeFloor([]byte{0xc1}); err == nil {
		t.Error("damaged floor decoded")
	}
}
