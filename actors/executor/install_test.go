package executor

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// Every durable snapshot is reported to the learner, which lets the logs go
// below it.
func TestSnapshotIsReportedToLearner(t *testing.T) {
	c, _ := newCore(t, Config{SnapshotEvery: 2}, storage.NewMemory().Snapshots())
	out := step(t, c, &msg.Deliver{First: 1, Values: []*msg.Value{
		value(put(2, "", "a", "1")), value(put(2, "", "b", "2")), value(put(2, "", "c", "3"))}})
	var got []uint64
	for _, o := range out {
		if s, ok := o.Msg.(*msg.Snapshotted); ok {
			if o.To != (msg.Target{Node: self, Role: msg.RoleLearner}) {
				t.Fatalf("Snapshotted sent to %v", o.To)
			}
			got = append(got, s.Slot)
		}
	}
	if len(got) != 1 || got[0] != 2 {
		t.Fatalf("snapshots reported %v, want [2]", got)
	}
}

// An installed snapshot replaces the state whole: the state machine, the rev
// counter and the sessions, so a retried command is still answered from the
// session table and not applied twice.
func TestInstallReplacesState(t *testing.T) {
	src, _ := newCore(t, Config{}, storage.NewMemory().Snapshots())
	step(t, src, &msg.Deliver{First: 1, Values: []*msg.Value{
		value(put(2, "", "a", "1")), value(tagged(7, 1, 0, "", []byte(nil))), value(put(2, "", "b", "2"))}})
	// (A tagged command need not be a valid KV command: it takes a rev and a
	// session entry all the same.)
	data, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}

	dst, sm := newCore(t, Config{}, storage.NewMemory().Snapshots())
	step(t, dst, &msg.Deliver{First: 1, Values: []*msg.Value{value(put(2, "", "z", "old"))}})
	step(t, dst, &msg.Read{Index: 5, Reply: "r1", Query: nil}) // waits for slot 5
	out := step(t, dst, &msg.Install{Slot: 3, Rev: src.Rev(), Data: data})
	if dst.Applied() != 3 || dst.Rev() != src.Rev() {
		t.Fatalf("after install: applied %d rev %d, want 3 and %d", dst.Applied(), dst.Rev(), src.Rev())
	}
	if len(out) != 0 {
		t.Fatalf("install answered %v before the read's index was applied", out)
	}
	checkKey(t, sm, "a", "1", 1)
	checkKey(t, sm, "b", "2", 3)
	if got, _ := dst.Snapshot(); !bytes.Equal(got, data) {
		t.Fatal("state after install differs from the snapshot's")
	}
	// Slot 2's command retried in slot 4: answered from the session, same rev.
	out = step(t, dst, &msg.Deliver{First: 4, Values: []*msg.Value{value(tagged(7, 1, 0, "w", []byte(nil)))}})
	if r := results(t, out)["w"]; r == nil || r.Slot != 2 || r.Rev != 2 {
		t.Fatalf("retried command after install: %+v, want slot 2 rev 2", r)
	}
	// An older snapshot changes nothing.
	step(t, dst, &msg.Install{Slot: 2, Rev: 1, Data: data})
	if dst.Applied() != 4 {
		t.Fatalf("an older install moved applied to %d", dst.Applied())
	}
}

// A snapshot that does not decode is ErrRestore: the actor restarts from
// storage rather than run on a half-restored state machine.
func TestInstallOfGarbageIsErrRestore(t *testing.T) {
	c, _ := newCore(t, Config{}, storage.NewMemory().Snapshots())
	_, err := drivers[c].sync.Step(&msg.Install{Slot: 5, Rev: 5, Data: []byte{0xc1, 0xc1}})
	if !errors.Is(err, ErrRestore) {
		t.Fatalf("install of garbage: %v, want ErrRestore", err)
	}
}
