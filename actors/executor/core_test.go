package executor

import (
	"bytes"

	"errors"
	"fmt"
	"github.com/rsml-go/rsml/actors/role"
	"reflect"
	"slices"
	"testing"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

const self msg.NodeID = 1

// snapStore is the storage of an executor: its snapshots.
type snapStore struct{ snaps storage.SnapshotStore }

func (s snapStore) Proposer() storage.BallotLog      { return nil }
func (s snapStore) Acceptor() storage.AcceptorLog    { return nil }
func (s snapStore) Chosen() storage.ChosenLog        { return nil }
func (s snapStore) Snapshots() storage.SnapshotStore { return s.snaps }

// driven is a core with its driver and what it sent on start.
type driven struct {
	sync  *role.Sync
	start []msg.Out
}

// drivers are the drivers of the tests' cores, which save their snapshots.
var drivers = map[*Core]driven{}

func newCore(t testing.TB, cfg Config, snaps storage.SnapshotStore) (*Core, *kv.Store) {
	t.Helper()
	cfg.ID = self
	sm := kv.New()
	c, err := New(cfg, sm, snaps)
	if err != nil {
		t.Fatal(err)
	}
	drive(t, c, snaps)
	return c, sm
}

// drive starts driving c with snaps as its snapshot store.
func drive(t testing.TB, c *Core, snaps storage.SnapshotStore) {
	t.Helper()
	s, out, err := role.NewSync(c, snapStore{snaps})
	if err != nil {
		t.Fatal(err)
	}
	drivers[c] = driven{sync: s, start: out}
}

// started returns what c sent on start.
func started(c *Core) []msg.Out { return drivers[c].start }

func step(t testing.TB, c *Core, m any) []msg.Out {
	t.Helper()
	out, err := drivers[c].sync.Step(m)
	if err != nil {
		t.Fatalf("Step(%T): %v", m, err)
	}
	return out
}

// put is an untagged command taken by replica origin for waiter reply.
func put(origin msg.NodeID, reply, key, value string) msg.Command {
	return msg.Command{Origin: origin, Reply: reply, Data: kv.Put(key, []byte(value))}
}

// tagged is an exactly-once command of (client, seq) taken by this replica.
func tagged(client, seq, acked uint64, reply string, data []byte) msg.Command {
	return msg.Command{Client: client, Seq: seq, Acked: acked, Origin: self, Reply: reply, Data: data}
}

func value(cmds ...msg.Command) *msg.Value { return &msg.Value{Cmds: cmds} }

func noop() *msg.Value { return &msg.Value{} }

func waiter(ref string) msg.Target { return msg.Target{Node: self, Role: msg.RoleWaiter, Ref: ref} }

// results returns the Results in out by waiter name, failing on anything else.
func results(t *testing.T, out []msg.Out) map[string]*msg.Result {
	t.Helper()
	rs := map[string]*msg.Result{}
	for _, o := range out {
		r, ok := o.Msg.(*msg.Result)
		if !ok || o.To.Node != self || o.To.Role != msg.RoleWaiter {
			t.Fatalf("unexpected %#v to %+v", o.Msg, o.To)
		}
		if _, dup := rs[o.To.Ref]; dup {
			t.Fatalf("two results for waiter %q", o.To.Ref)
		}
		rs[o.To.Ref] = r
	}
	return rs
}

func writeResult(t *testing.T, r *msg.Result) kv.WriteResult {
	t.Helper()
	w, err := kv.DecodeWrite(r.Data)
	if err != nil {
		t.Fatalf("decode result %+v: %v", r, err)
	}
	return w
}

func checkKey(t *testing.T, sm *kv.Store, key, want string, rev uint64) {
	t.Helper()
	got := sm.Get(key)
	if want == "" {
		if got.Found {
			t.Errorf("key %q = %q@%d, want absent", key, got.Value, got.Rev)
		}
		return
	}
	if !got.Found || string(got.Value) != want || got.Rev != rev {
		t.Errorf("key %q = %q@%d found=%v, want %q@%d", key, got.Value, got.Rev, got.Found, want, rev)
	}
}

func resyncTo(from uint64) []msg.Out {
	return []msg.Out{{To: msg.Target{Node: self, Role: msg.RoleLearner}, Msg: &msg.Resync{From: from}}}
}

func TestAppliesInOrderOneRevPerCommand(t *testing.T) {
	c, sm := newCore(t, Config{}, storage.NewMemory().Snapshots())
	out := step(t, c, &msg.Deliver{First: 1, Values: []*msg.Value{
		value(put(self, "w1", "a", "1")),
		noop(),
		value(put(2, "w-other-replica", "b", "2"), put(self, "", "c", "3"), put(self, "w4", "a", "4")),
		noop(),
		value(msg.Command{Origin: self, Reply: "w5", Data: kv.PutIf("b", []byte("x"), kv.IfRev(1))}),
	}})
	if c.Applied() != 5 || c.Rev() != 4+1 {
		t.Fatalf("Applied = %d Rev = %d, want 5 and 5", c.Applied(), c.Rev())
	}
	rs := results(t, out)
	// Only this replica's commands with a waiter are answered.
	var refs []string
	for ref := range rs {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	if !slices.Equal(refs, []string{"w1", "w4", "w5"}) {
		t.Fatalf("answered %v, want [w1 w4 w5]", refs)
	}
	for ref, want := range map[string]struct{ slot, rev uint64 }{"w1": {1, 1}, "w4": {3, 4}, "w5": {5, 5}} {
		r := rs[ref]
		if r.Slot != want.slot || r.Rev != want.rev || r.Code != msg.ErrNone {
			t.Errorf("%s: result %+v, want slot %d rev %d", ref, r, want.slot, want.rev)
		}
		if w := writeResult(t, r); w.Rev != want.rev {
			t.Errorf("%s: state machine saw rev %d, executor reported %d", ref, w.Rev, want.rev)
		}
	}
	// A failed condition still takes its rev and changes nothing.
	if w := writeResult(t, rs["w5"]); w.OK {
		t.Errorf("IfRev(1) on b (rev 2) succeeded")
	}
	checkKey(t, sm, "a", "4", 4)
	checkKey(t, sm, "b", "2", 2)
	checkKey(t, sm, "c", "3", 3)
}

func TestGapAsksForResyncAndAppliesNothing(t *testing.T) {
	c, sm := newCore(t, Config{}, storage.NewMemory().Snapshots())
	if got := started(c); !reflect.DeepEqual(got, resyncTo(1)) {
		t.Fatalf("Start = %#v, want Resync{1}", got)
	}
	step(t, c, &msg.Deliver{First: 1, Values: []*msg.Value{value(put(self, "", "a", "1"))}})
	gap := &msg.Deliver{First: 3, Values: []*msg.Value{value(put(self, "w", "a", "3"))}}
	if got := step(t, c, gap); !reflect.DeepEqual(got, resyncTo(2)) {
		t.Fatalf("gap: out = %#v, want Resync{2}", got)
	}
	if c.Applied() != 1 || c.Rev() != 1 {
		t.Fatalf("gap applied something: Applied %d Rev %d", c.Applied(), c.Rev())
	}
	checkKey(t, sm, "a", "1", 1)
	// One resync per resyncTicks for the same point.
	for range resyncTicks - 1 {
		if got := step(t, c, gap); len(got) != 0 {
			t.Fatalf("another gap before resyncTicks passed: %#v", got)
		}
		c.Tick()
	}
	c.Tick()
	if got := step(t, c, gap); !reflect.DeepEqual(got, resyncTo(2)) {
		t.Fatalf("gap after resyncTicks: out = %#v, want Resync{2}", got)
	}
	// The missing slot arrives with the rest: all apply.
	out := step(t, c, &msg.Deliver{First: 2, Values: []*msg.Value{noop(), value(put(self, "w", "a", "3"))}})
	if rs := results(t, out); rs["w"] == nil || rs["w"].Rev != 2 || rs["w"].Slot != 3 {
		t.Fatalf("after resync: %+v", rs)
	}
	checkKey(t, sm, "a", "3", 2)
}

func TestDuplicateDeliverAppliesOnce(t *testing.T) {
	c, sm := newCore(t, Config{}, storage.NewMemory().Snapshots())
	d := &msg.Deliver{First: 1, Values: []*msg.Value{
		value(put(self, "w1", "k", "1")), value(put(self, "w2", "k", "2")),
	}}
	if rs := results(t, step(t, c, d)); len(rs) != 2 {
		t.Fatalf("first delivery answered %d", len(rs))
	}
	if out := step(t, c, d); len(out) != 0 {
		t.Fatalf("duplicate delivery answered again: %#v", out)
	}
	// An overlapping delivery applies only what is new.
	out := step(t, c, &msg.Deliver{First: 2, Values: []*msg.Value{
		value(put(self, "w2", "k", "2")), value(put(self, "w3", "k", "3")),
	}})
	rs := results(t, out)
	if len(rs) != 1 || rs["w3"] == nil || rs["w3"].Rev != 3 {
		t.Fatalf("overlap: results %+v, want only w3 at rev 3", rs)
	}
	if c.Applied() != 3 || c.Rev() != 3 {
		t.Fatalf("Applied %d Rev %d, want 3 3", c.Applied(), c.Rev())
	}
	checkKey(t, sm, "k", "3", 3)
}

func TestExactlyOnce(t *testing.T) {
	c, sm := newCore(t, Config{}, storage.NewMemory().Snapshots())
	first := results(t, step(t, c, &msg.Deliver{First: 1, Values: []*msg.Value{
		value(tagged(7, 1, 0, "try1", kv.Put("k", []byte("v1")))),
		value(put(self, "", "k", "v2")),
		// The client retried through another path: the same (7, 1) is chosen again.
		value(tagged(7, 1, 0, "try2", kv.Put("k", []byte("v1")))),
	}}))
	a, b := first["try1"], first["try2"]
	if a == nil || b == nil {
		t.Fatalf("results %+v", first)
	}
	if a.Rev != 1 || !reflect.DeepEqual(a, b) {
		t.Fatalf("retry answered %+v, first answer %+v; want the same (rev 1)", b, a)
	}
	if c.Rev() != 2 {
		t.Fatalf("Rev = %d, want 2: the retry must not take a rev", c.Rev())
	}
	checkKey(t, sm, "k", "v2", 2) // applied twice would have put v1 back

	// Seq 2 acknowledges seq 1; a late retry of seq 1 is refused, not applied.
	rs := results(t, step(t, c, &msg.Deliver{First: 4, Values: []*msg.Value{
		value(tagged(7, 2, 1, "seq2", kv.Put("j", []byte("x")))),
		value(tagged(7, 1, 0, "late", kv.Put("k", []byte("v1")))),
		value(tagged(7, 2, 1, "seq2again", kv.Put("j", []byte("x")))),
	}}))
	if r := rs["seq2"]; r == nil || r.Rev != 3 || r.Code != msg.ErrNone {
		t.Fatalf("seq 2: %+v", r)
	}
	if r := rs["late"]; r == nil || r.Code != msg.ErrStaleRequest || r.Rev != 0 || r.Data != nil {
		t.Fatalf("stale seq 1: %+v, want ErrStaleRequest and no rev", r)
	}
	if !reflect.DeepEqual(rs["seq2"], rs["seq2again"]) {
		t.Fatalf("seq 2 retried: %+v vs %+v", rs["seq2again"], rs["seq2"])
	}
	if c.Rev() != 3 || c.Applied() != 6 {
		t.Fatalf("Rev %d Applied %d, want 3 6", c.Rev(), c.Applied())
	}
	checkKey(t, sm, "k", "v2", 2)
	checkKey(t, sm, "j", "x", 3)
}

func TestReadWaitsForIndex(t *testing.T) {
	c, _ := newCore(t, Config{}, storage.NewMemory().Snapshots())
	step(t, c, &msg.Deliver{First: 1, Values: []*msg.Value{value(put(2, "", "a", "1"))}})
	// Index already applied: answered at once.
	out := step(t, c, &msg.Read{Query: kv.Get("a"), Index: 1, Reply: "now"})
	checkRead(t, out, "now", 1, "1", 1)
	// Index ahead: held until a delivery passes it.
	if out := step(t, c, &msg.Read{Query: kv.Get("a"), Index: 3, Reply: "later"}); len(out) != 0 {
		t.Fatalf("read ahead of applied answered: %#v", out)
	}
	if out := step(t, c, &msg.Deliver{First: 2, Values: []*msg.Value{value(put(2, "", "a", "2"))}}); len(out) != 0 {
		t.Fatalf("read answered before its index: %#v", out)
	}
	out = step(t, c, &msg.Deliver{First: 3, Values: []*msg.Value{value(put(2, "", "a", "3")), value(put(2, "", "a", "4"))}})
	checkRead(t, out, "later", 4, "4", 4)
	// An absent key reads as not found.
	out = step(t, c, &msg.Read{Query: kv.Get("zz"), Index: 0, Reply: "none"})
	if len(out) != 1 {
		t.Fatalf("out %#v", out)
	}
	g, err := kv.DecodeGet(out[0].Msg.(*msg.ReadResult).Data)
	if err != nil || g.Found {
		t.Fatalf("absent key: %+v %v", g, err)
	}
}

func checkRead(t *testing.T, out []msg.Out, ref string, applied uint64, want string, rev uint64) {
	t.Helper()
	if len(out) != 1 || out[0].To != waiter(ref) {
		t.Fatalf("out = %#v, want one answer to %q", out, ref)
	}
	r, ok := out[0].Msg.(*msg.ReadResult)
	if !ok || r.Code != msg.ErrNone || r.Applied != applied {
		t.Fatalf("read answer %#v, want Applied %d", out[0].Msg, applied)
	}
	g, err := kv.DecodeGet(r.Data)
	if err != nil || !g.Found || string(g.Value) != want || g.Rev != rev {
		t.Fatalf("read %q: %+v %v, want %q@%d", ref, g, err, want, rev)
	}
}

func TestSnapshotAndRestore(t *testing.T) {
	snaps := storage.NewMemory().Snapshots()
	c, _ := newCore(t, Config{SnapshotEvery: 2}, snaps)
	if s, ok, _ := snaps.Load(); !ok || s.Slot != 0 || s.Rev != 0 {
		t.Fatalf("no initial snapshot: %+v %v", s, ok)
	}
	steps := []struct {
		d            *msg.Deliver
		snapSlot     uint64 // latest snapshot after the step
		snapRev      uint64
		restoredSame bool // the latest snapshot is the whole state
	}{
		{&msg.Deliver{First: 1, Values: []*msg.Value{value(tagged(5, 1, 0, "t", kv.Put("a", []byte("1"))))}}, 0, 0, false},
		{&msg.Deliver{First: 2, Values: []*msg.Value{noop()}}, 0, 0, false},
		{&msg.Deliver{First: 3, Values: []*msg.Value{value(put(self, "", "b", "2"), put(self, "", "c", "3"))}}, 3, 3, true},
		{&msg.Deliver{First: 4, Values: []*msg.Value{value(put(self, "", "d", "4"))}}, 3, 3, false},
		{&msg.Deliver{First: 5, Values: []*msg.Value{noop(), value(tagged(6, 1, 0, "", kv.Delete("a")))}}, 6, 5, true},
		{&msg.Deliver{First: 7, Values: []*msg.Value{noop()}}, 6, 5, false},
	}
	for i, st := range steps {
		step(t, c, st.d)
		s, ok, err := snaps.Load()
		if err != nil || !ok || s.Slot != st.snapSlot || s.Rev != st.snapRev {
			t.Fatalf("step %d: snapshot at slot %d rev %d, want %d %d", i, s.Slot, s.Rev, st.snapSlot, st.snapRev)
		}
		// A restart builds a fresh state machine from the snapshot ...
		r, _ := newCore(t, Config{SnapshotEvery: 2}, snaps)
		if r.Applied() != st.snapSlot || r.Rev() != st.snapRev {
			t.Fatalf("step %d: restored Applied %d Rev %d, want %d %d", i, r.Applied(), r.Rev(), st.snapSlot, st.snapRev)
		}
		if got := started(r); !reflect.DeepEqual(got, resyncTo(st.snapSlot+1)) {
			t.Fatalf("step %d: restored Start = %#v", i, got)
		}
		// ... and replays the log above it (what the learner's resync sends).
		for _, d := range steps[:i+1] {
			step(t, r, d.d)
		}
		want, err := c.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || r.Applied() != c.Applied() || r.Rev() != c.Rev() {
			t.Fatalf("step %d: restored replica differs (applied %d/%d rev %d/%d)", i, r.Applied(), c.Applied(), r.Rev(), c.Rev())
		}
		if st.restoredSame && !bytes.Equal(s.Data, want) {
			t.Fatalf("step %d: snapshot data is not the state at its slot", i)
		}
	}
	// The exactly-once table survived the restore: a retry is answered, not applied.
	r, sm := newCore(t, Config{SnapshotEvery: 2}, snaps)
	out := step(t, r, &msg.Deliver{First: 7, Values: []*msg.Value{noop(), value(tagged(5, 1, 0, "retry", kv.Put("a", []byte("1"))))}})
	rs := results(t, out)
	if res := rs["retry"]; res == nil || res.Rev != 1 || res.Slot != 1 {
		t.Fatalf("retry after restore: %+v, want the rev 1 answer from slot 1", res)
	}
	checkKey(t, sm, "a", "", 0)
	checkKey(t, sm, "d", "4", 4)
	if r.Rev() != 5 {
		t.Fatalf("Rev after retry = %d, want 5", r.Rev())
	}
}

func TestSessionEvictionIsDeterministic(t *testing.T) {
	input := []*msg.Value{
		value(tagged(10, 1, 0, "", kv.Put("k", []byte("10.1")))), // rev 1
		value(tagged(20, 1, 0, "", kv.Put("k", []byte("20.1")))), // rev 2
		value(tagged(10, 2, 0, "", kv.Put("k", []byte("10.2")))), // rev 3: 20 is now idle the longest
		value(tagged(30, 1, 0, "", kv.Put("k", []byte("30.1")))), // rev 4: evicts 20
		value(tagged(40, 0, 0, "", kv.Put("k", []byte("40.0")))), // stale seq 0: a session with no rev, evicts 10
		value(tagged(50, 0, 0, "", kv.Put("k", []byte("50.0")))), // evicts 40 (rev 0) not 30
		value(tagged(60, 0, 0, "", kv.Put("k", []byte("60.0")))), // evicts 50
	}
	run := func() (*Core, []byte) {
		c, _ := newCore(t, Config{MaxSessions: 2}, storage.NewMemory().Snapshots())
		for i, v := range input {
			step(t, c, &msg.Deliver{First: uint64(i + 1), Values: []*msg.Value{v}})
		}
		b, err := c.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		return c, b
	}
	ref, want := run()
	var ids []uint64
	for id := range ref.sessions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []uint64{30, 60}) {
		t.Fatalf("sessions kept %v, want [30 60]", ids)
	}
	for i := 0; i < 20; i++ { // map order varies from run to run
		if _, got := run(); !bytes.Equal(got, want) {
			t.Fatalf("run %d: same input, different state", i)
		}
	}
	// Ties (sessions with no applied command) go to the lowest client id.
	for i := 0; i < 20; i++ {
		c, _ := newCore(t, Config{MaxSessions: 2}, storage.NewMemory().Snapshots())
		step(t, c, &msg.Deliver{First: 1, Values: []*msg.Value{value(
			tagged(42, 0, 0, "", kv.Put("k", nil)),
			tagged(41, 0, 0, "", kv.Put("k", nil)),
			tagged(50, 0, 0, "", kv.Put("k", nil)),
		)}})
		if _, ok := c.sessions[41]; ok || len(c.sessions) != 2 {
			t.Fatalf("run %d: tie evicted the wrong session: kept %v, want 42 and 50", i, c.sessions)
		}
	}
	// What eviction means for clients: the evicted 10's retry is applied
	// again (a new rev), the kept 30's retry is answered from its session.
	rs := results(t, step(t, ref, &msg.Deliver{First: 8, Values: []*msg.Value{
		value(tagged(30, 1, 0, "kept", kv.Put("k", []byte("30.1")))),
		value(tagged(10, 1, 0, "evicted", kv.Put("k", []byte("10.1")))),
	}}))
	if r := rs["kept"]; r == nil || r.Rev != 4 {
		t.Fatalf("kept session retry: %+v, want rev 4", r)
	}
	if r := rs["evicted"]; r == nil || r.Rev != 5 {
		t.Fatalf("evicted session retry: %+v, want a new rev 5", r)
	}
}

func TestNewRejectsCorruptSnapshot(t *testing.T) {
	snaps := storage.NewMemory().Snapshots()
	if err := snaps.Save(storage.Snapshot{Slot: 3, Rev: 2, Data: []byte("not msgpack at all")}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{ID: self}, kv.New(), snaps); err == nil {
		t.Fatal("New accepted a corrupt snapshot")
	}
}

// TestSnapshotBytesAreDeterministic: replicas compare states by snapshot bytes,
// so the exactly-once table (maps keyed by client and seq) must encode in one
// order. msgpack's SetSortMapKeys does not sort uint64-keyed maps.
func TestSnapshotBytesAreDeterministic(t *testing.T) {
	var cmds []msg.Command
	for client := uint64(1); client <= 8; client++ {
		for seq := uint64(1); seq <= 4; seq++ {
			cmds = append(cmds, tagged(client*7, seq, 0, "", kv.Put(fmt.Sprint("k", client, seq), []byte("v"))))
		}
	}
	var want []byte
	for i := 0; i < 10; i++ {
		c, _ := newCore(t, Config{}, storage.NewMemory().Snapshots())
		step(t, c, &msg.Deliver{First: 1, Values: []*msg.Value{value(cmds...)}})
		for j := 0; j < 5; j++ {
			got, err := c.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if want == nil {
				want = got
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("core %d, snapshot %d: bytes differ for the same state", i, j)
			}
		}
	}
}

func TestEvictedSessionWithHistoryIsRefused(t *testing.T) {
	c, sm := newCore(t, Config{ID: self, MaxSessions: 1}, storage.NewMemory().Snapshots())
	step(t, c, &msg.Deliver{First: 1, Values: []*msg.Value{value(tagged(7, 1, 0, "", kv.Put("k", []byte("7.1"))))}})
	step(t, c, &msg.Deliver{First: 2, Values: []*msg.Value{value(tagged(8, 1, 0, "", kv.Put("k", []byte("8.1"))))}}) // evicts 7
	// Client 7 goes on (it has the answer of seq 1): its session is gone, so
	// the executor cannot tell a retry from a new request and must refuse.
	out := step(t, c, &msg.Deliver{First: 3, Values: []*msg.Value{value(tagged(7, 2, 1, "r", kv.Put("k", []byte("7.2"))))}})
	r := results(t, out)["r"]
	if r == nil || r.Code != msg.ErrSessionExpired || r.Rev != 0 {
		t.Fatalf("expired session: %+v, want ErrSessionExpired and no rev", r)
	}
	checkKey(t, sm, "k", "8.1", 2)
}

type failingSnaps struct{ saves int }

func (f *failingSnaps) Load() (storage.Snapshot, bool, error) { return storage.Snapshot{}, false, nil }
func (f *failingSnaps) Save(storage.Snapshot) error {
	f.saves++
	if f.saves == 1 {
		return nil // the initial snapshot
	}
	return errors.New("disk full")
}

// A snapshot that cannot be saved must not stop the executor: it applies the
// rest of the delivery, tells the learner nothing, and tries again after
// another SnapshotEvery commands. (The Env logs the failure.)
func TestFailedSnapshotKeepsApplying(t *testing.T) {
	snaps := &failingSnaps{}
	c, _ := newCore(t, Config{SnapshotEvery: 2}, snaps)
	var vals []*msg.Value
	for i := 0; i < 7; i++ {
		vals = append(vals, value(put(self, "", fmt.Sprintf("k%d", i), "v")))
	}
	// One save at a time: the one asked for after command 2 is still
	// running at command 4 (the driver saves after the step).
	out := step(t, c, &msg.Deliver{First: 1, Values: vals[:5]})
	if c.Applied() != 5 || c.Rev() != 5 {
		t.Fatalf("applied %d rev %d after a failed snapshot, want 5 and 5", c.Applied(), c.Rev())
	}
	if snaps.saves != 2 { // the initial one, then after command 2
		t.Fatalf("%d snapshot attempts, want 2", snaps.saves)
	}
	for _, o := range out {
		if _, ok := o.Msg.(*msg.Snapshotted); ok {
			t.Fatal("the learner heard of a snapshot that was not saved")
		}
	}
	step(t, c, &msg.Deliver{First: 6, Values: vals[5:]})
	if snaps.saves != 3 {
		t.Fatalf("%d snapshot attempts after two more commands, want 3", snaps.saves)
	}
}

// A Deliver that says the learner held back the rest is followed, once
// applied, by a Resync from the next slot; one that ends the answer is not.
func TestDeliverWithMoreAsksForTheRest(t *testing.T) {
	c, _ := newCore(t, Config{}, storage.NewMemory().Snapshots())
	started(c)
	out := step(t, c, &msg.Deliver{First: 1, Values: []*msg.Value{noop(), noop()}, More: true})
	if !reflect.DeepEqual(out, resyncTo(3)) {
		t.Fatalf("after a part with More: %#v, want Resync{3}", out)
	}
	if out := step(t, c, &msg.Deliver{First: 3, Values: []*msg.Value{noop()}}); len(out) != 0 {
		t.Fatalf("after the last part: %#v, want nothing", out)
	}
}
