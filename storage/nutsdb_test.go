package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nutsdb/nutsdb"
	"go.uber.org/goleak"

	"github.com/rsml-go/rsml/internal/nutsfix"
	"github.com/rsml-go/rsml/msg"
)

// nutsLeakCheck verifies, after every other cleanup of the test, that
// nothing but nutsdb's one leftover goroutine per closed DB is still running.
// Call it first in the test.
func nutsLeakCheck(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreTopFunction(NutsLeftoverGoroutine)) })
}

type nutsTestWriter struct{ t *testing.T }

func (w nutsTestWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func nutsTestLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(nutsTestWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func nutsOpen(t *testing.T, dir string, o nutsOptions) *Nuts {
	t.Helper()
	n, err := openNuts(dir, nutsTestLogger(t), o)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	// A test that fails half-way must not leave its DB's goroutines to the
	// leak checks of the tests after it. Close is idempotent.
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// nutsRec is record i of a deterministic test log: promises that go up and
// down, slots written again at higher ballots.
func nutsRec(i uint64) AcceptorRecord {
	rec := AcceptorRecord{}
	if i%3 == 0 {
		rec.Promised = msg.Ballot{Round: i / 2, ID: msg.NodeID(1 + i%3)}
	}
	for k := uint64(0); k < 1+i%4; k++ {
		slot := 1 + (i*7+k*13)%50
		rec.Entries = append(rec.Entries, msg.Entry{
			Slot:   slot,
			Ballot: msg.Ballot{Round: i, ID: 2},
			Value:  &msg.Value{Cmds: []msg.Command{{Client: i, Seq: k + 1, Data: []byte(fmt.Sprintf("rec %d slot %d", i, slot))}}},
		})
	}
	return rec
}

// nutsOracle is the state the in-memory store holds after records 1..n.
func nutsOracle(t *testing.T, n uint64) AcceptorState {
	t.Helper()
	m := NewMemory().Acceptor()
	for i := uint64(1); i <= n; i++ {
		must(t, m.Append(nutsRec(i)))
	}
	st, err := m.Load()
	must(t, err)
	return st
}

func nutsAppendRecs(t *testing.T, a AcceptorLog, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		must(t, a.Append(nutsRec(i)))
	}
}

func nutsCheckState(t *testing.T, a AcceptorLog, n uint64) {
	t.Helper()
	got, err := a.Load()
	must(t, err)
	want := nutsOracle(t, n)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("state after %d records:\n got %+v\nwant %+v", n, got, want)
	}
}

// nutsOffsets returns the offset of every valid entry of a data file, and
// where the last one ends.
func nutsOffsets(t *testing.T, path string) ([]int64, int64) {
	t.Helper()
	offs, end, err := nutsfix.EntryOffsets(path)
	must(t, err)
	return offs, end
}

func nutsGenDir(dir string) string { return filepath.Join(dir, nutsAcceptorDir, nutsFirstGen) }

func nutsDataFile(dir string, id int) string {
	return filepath.Join(nutsGenDir(dir), strconv.Itoa(id)+nutsdb.DataSuffix)
}

func nutsCorruptNaming(t *testing.T, err error, file string) {
	t.Helper()
	if err == nil {
		t.Fatalf("open succeeded; want an ErrCorrupt error naming %s", file)
	}
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), file) {
		t.Fatalf("open: %v; want an ErrCorrupt error naming %s", err, file)
	}
}

func TestNutsAcceptorRoundTripAndReopen(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	n, err := OpenNuts(dir, nutsTestLogger(t))
	must(t, err)
	if st, err := n.Acceptor().Load(); err != nil || !st.Promised.IsZero() || len(st.Entries) != 0 {
		t.Fatalf("new log: %+v, %v", st, err)
	}
	must(t, n.Proposer().SaveBallot(msg.Ballot{Round: 7, ID: 2}))
	nutsAppendRecs(t, n.Acceptor(), 1, 400)
	nutsCheckState(t, n.Acceptor(), 400)
	must(t, n.Close())

	n, err = OpenNuts(dir, nutsTestLogger(t))
	must(t, err)
	nutsCheckState(t, n.Acceptor(), 400)
	if b, err := n.Proposer().LoadBallot(); err != nil || b != (msg.Ballot{Round: 7, ID: 2}) {
		t.Fatalf("ballot after reopen %v, %v", b, err)
	}
	nutsAppendRecs(t, n.Acceptor(), 401, 450)
	must(t, n.Close())

	n, err = OpenNuts(dir, nutsTestLogger(t))
	must(t, err)
	defer n.Close()
	nutsCheckState(t, n.Acceptor(), 450)
}

func TestNutsBallotOnlyGoesUp(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	n := nutsOpen(t, dir, nutsDefaults())
	p := n.Proposer()
	must(t, p.SaveBallot(msg.Ballot{Round: 5, ID: 2}))
	must(t, p.SaveBallot(msg.Ballot{Round: 4, ID: 3}))
	must(t, p.SaveBallot(msg.Ballot{Round: 5, ID: 3}))
	must(t, n.Close())
	n = nutsOpen(t, dir, nutsDefaults())
	defer n.Close()
	if b, err := n.Proposer().LoadBallot(); err != nil || b != (msg.Ballot{Round: 5, ID: 3}) {
		t.Fatalf("ballot %v, %v; want 5.3", b, err)
	}
}

func TestNutsAppendOfManyEntriesIsOnePut(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	n := nutsOpen(t, dir, nutsDefaults())
	defer n.Close()
	nutsAppendRecs(t, n.Acceptor(), 1, 3)
	before, err := nutsfix.CountEntries(nutsGenDir(dir))
	must(t, err)
	rec := AcceptorRecord{Promised: msg.Ballot{Round: 9, ID: 1}}
	for s := uint64(1000); s < 1100; s++ {
		rec.Entries = append(rec.Entries, msg.Entry{Slot: s, Ballot: msg.Ballot{Round: 9, ID: 1}, Value: &msg.Value{Cmds: []msg.Command{{Data: []byte("x")}}}})
	}
	must(t, n.Acceptor().Append(rec))
	after, err := nutsfix.CountEntries(nutsGenDir(dir))
	must(t, err)
	if d := after - before; d != 1 {
		t.Fatalf("one Append of 100 entries wrote %d nutsdb entries, want 1", d)
	}
	st, err := n.Acceptor().Load()
	must(t, err)
	if got := len(st.Entries); got < 100 || st.Entries[len(st.Entries)-1].Slot != 1099 || st.Promised != rec.Promised {
		t.Fatalf("after the group: %d entries, promise %v", got, st.Promised)
	}
}

// What reaches the disk is the record as it was when Append returned: nutsdb
// keeps the slices Put is given, so a caller reusing its buffer afterwards
// must not change the stored bytes. (Loaded values are shared with the live
// state, like messages, and must not be modified.)
func TestNutsCopiesBothWays(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	n := nutsOpen(t, dir, nutsDefaults())
	data := []byte("original")
	rec := AcceptorRecord{Entries: []msg.Entry{{Slot: 1, Ballot: msg.Ballot{Round: 1, ID: 1}, Value: &msg.Value{Cmds: []msg.Command{{Data: data}}}}}}
	must(t, n.Acceptor().Append(rec))
	copy(data, "CHANGED!") // the caller reuses its buffer
	must(t, n.Close())
	n = nutsOpen(t, dir, nutsDefaults())
	defer n.Close()
	st, err := n.Acceptor().Load()
	must(t, err)
	if got := string(st.Entries[0].Value.Cmds[0].Data); got != "original" {
		t.Fatalf("stored value %q, want %q", got, "original")
	}
}

func nutsFlipAt(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	b := []byte{0}
	_, err = f.ReadAt(b, off)
	must(t, err)
	b[0] ^= 0x5a
	_, err = f.WriteAt(b, off)
	must(t, err)
	must(t, f.Close())
}

// Damage that nutsfix's scan refuses reaches storage's callers as
// storage.ErrCorrupt naming the file, from OpenNuts and OpenDir alike; the
// cases themselves are nutsfix's tests (TestDamageBeforeTheTailFails).
func TestNutsDamageIsStoragesErrCorrupt(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	d, err := OpenDir(dir, "demo", 1, nutsTestLogger(t))
	must(t, err)
	nutsAppendRecs(t, d.Acceptor(), 1, 10)
	must(t, d.Close())
	logs := filepath.Join(dir, "logs")
	path := nutsDataFile(logs, 0)
	offs, _ := nutsOffsets(t, path)
	nutsFlipAt(t, path, offs[4]+1) // the crc of record 5
	_, err = OpenDir(dir, "demo", 1, nutsTestLogger(t))
	nutsCorruptNaming(t, err, path)
	_, err = openNuts(logs, nutsTestLogger(t), nutsDefaults())
	nutsCorruptNaming(t, err, path)
}

// nutsdb never syncs bucket.Meta nor its directory: a new DB's bucket.Meta
// and directory are synced. Each Append syncs the segment it wrote to, and
// the one that opened a new segment the directory too, before it returns.
func TestNutsSyncsWhatNutsdbDoesNot(t *testing.T) {
	nutsLeakCheck(t)
	var synced []string
	t.Cleanup(nutsfix.SetSyncForTest(func(p string) error { synced = append(synced, p); return nutsfix.Fsync(p) }))
	dir := t.TempDir()
	gen := nutsGenDir(dir)
	n := nutsOpen(t, dir, nutsOptions{segmentSize: 64 << 10})
	defer n.Close()
	if !slices.Contains(synced, filepath.Join(gen, nutsdb.BucketStoreFileName)) || !slices.Contains(synced, gen) {
		t.Fatalf("a new DB synced %v; want its bucket.Meta and directory", synced)
	}
	for i := uint64(1); ; i++ {
		synced = nil
		rec := AcceptorRecord{Entries: []msg.Entry{{Slot: i, Ballot: msg.Ballot{Round: 1, ID: 1},
			Value: &msg.Value{Cmds: []msg.Command{{Data: bytes.Repeat([]byte{'x'}, 5000)}}}}}}
		must(t, n.Acceptor().Append(rec))
		if _, err := os.Stat(nutsDataFile(dir, 1)); err == nil {
			if !slices.Contains(synced, gen) || !slices.Contains(synced, nutsDataFile(dir, 1)) {
				t.Fatalf("the append that opened segment 1 synced %v; want the directory %s and the segment", synced, gen)
			}
			return
		}
		if want := []string{nutsDataFile(dir, 0)}; !slices.Equal(synced, want) {
			t.Fatalf("append %d within a segment synced %v; want %v", i, synced, want)
		}
	}
}

// When the directory sync after a new segment fails, the record's Append
// fails — and so does every later one, though nutsdb itself could go on: the
// new segment may not survive a power cut, so the acceptor must stop.
func TestNutsWriteFailureIsSticky(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	gen := nutsGenDir(dir)
	n := nutsOpen(t, dir, nutsOptions{segmentSize: 64 << 10})
	defer n.Close()
	restore := nutsfix.SetSyncForTest(func(p string) error {
		if p == gen {
			return errors.New("injected: directory sync failed")
		}
		return nutsfix.Fsync(p)
	})
	t.Cleanup(restore)
	var failed uint64
	for i := uint64(1); i < 100 && failed == 0; i++ {
		rec := AcceptorRecord{Entries: []msg.Entry{{Slot: i, Ballot: msg.Ballot{Round: 1, ID: 1},
			Value: &msg.Value{Cmds: []msg.Command{{Data: bytes.Repeat([]byte{'x'}, 5000)}}}}}}
		if err := n.Acceptor().Append(rec); err != nil {
			if !strings.Contains(err.Error(), "injected") {
				t.Fatalf("append %d: %v", i, err)
			}
			failed = i
		}
	}
	if failed == 0 {
		t.Fatal("no append opened a new segment")
	}
	restore()
	if err := n.Acceptor().Append(nutsRec(failed + 1)); err == nil {
		t.Fatal("an append after a failed one succeeded")
	}
	if _, err := n.Acceptor().Load(); err == nil {
		t.Fatal("Load after a failed write succeeded: what the disk holds is only known after a reopen")
	}
}

func TestNutsRefusesWhatItDoesNotWrite(t *testing.T) {
	nutsLeakCheck(t)
	t.Run("a directory already open in this process", func(t *testing.T) {
		dir := t.TempDir()
		n := nutsOpen(t, dir, nutsDefaults())
		defer n.Close()
		must(t, n.Acceptor().Append(nutsRec(1)))
		if _, err := openNuts(dir, nutsTestLogger(t), nutsDefaults()); !errors.Is(err, ErrLocked) {
			t.Fatalf("second open: %v, want ErrLocked", err)
		}
		must(t, n.Acceptor().Append(nutsRec(2)))
		nutsCheckState(t, n.Acceptor(), 2)
	})
	t.Run("two generations and no CURRENT", func(t *testing.T) {
		dir := t.TempDir()
		n := nutsOpen(t, dir, nutsDefaults())
		must(t, n.Close())
		must(t, os.Remove(filepath.Join(dir, nutsAcceptorDir, nutsCurrentFile)))
		must(t, os.Mkdir(filepath.Join(dir, nutsAcceptorDir, "00000002"), 0o755))
		if _, err := openNuts(dir, nutsTestLogger(t), nutsDefaults()); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "generations") {
			t.Fatalf("open with two generations: %v", err)
		}
	})
	t.Run("CURRENT names a missing generation", func(t *testing.T) {
		dir := t.TempDir()
		n := nutsOpen(t, dir, nutsDefaults())
		must(t, n.Close())
		must(t, os.WriteFile(filepath.Join(dir, nutsAcceptorDir, nutsCurrentFile), []byte("00000007\n"), 0o644))
		if _, err := openNuts(dir, nutsTestLogger(t), nutsDefaults()); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("open: %v", err)
		}
	})
}

func nutsVal(s uint64) *msg.Value {
	return &msg.Value{Cmds: []msg.Command{{Client: s, Seq: 1, Origin: 2, Reply: "w", Data: []byte(fmt.Sprintf("chosen %d", s))}}}
}

func TestNutsChosenLog(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	n := nutsOpen(t, dir, nutsDefaults())
	c := n.Chosen()
	if c.Last() != 0 {
		t.Fatal("empty log has a last slot")
	}
	if _, ok := c.Get(1); ok {
		t.Fatal("Get on an empty log")
	}
	const last = nutsCacheSlots + 500 // so the oldest are read from nutsdb
	for s := uint64(1); s <= last; s++ {
		must(t, c.Append(s, nutsVal(s)))
	}
	if err := c.Append(last+2, nutsVal(last+2)); err == nil {
		t.Fatal("a gap was accepted")
	}
	if err := c.Append(last, nutsVal(last)); err == nil {
		t.Fatal("a repeat was accepted")
	}
	check := func(c ChosenLog) {
		t.Helper()
		if c.Last() != last {
			t.Fatalf("Last %d, want %d", c.Last(), last)
		}
		for _, s := range []uint64{1, 2, 100, last - nutsCacheSlots, last - 1, last} {
			v, ok := c.Get(s)
			if !ok || !reflect.DeepEqual(v, nutsVal(s)) {
				t.Fatalf("Get(%d) = %+v, %v", s, v, ok)
			}
		}
		if _, ok := c.Get(last + 1); ok {
			t.Fatal("Get past the end")
		}
		if _, ok := c.Get(0); ok {
			t.Fatal("Get(0)")
		}
	}
	check(c)
	must(t, n.Close())

	n = nutsOpen(t, dir, nutsDefaults())
	defer n.Close()
	check(n.Chosen())
	must(t, n.Chosen().Append(last+1, nutsVal(last+1)))
	if n.Chosen().Last() != last+1 {
		t.Fatal("append after reopen")
	}
}

// The chosen log is not synced, so damage anywhere is a lost tail: it is cut
// and the log reopens with the slots before it.
func TestNutsChosenDamageIsCut(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	n := nutsOpen(t, dir, nutsDefaults())
	for s := uint64(10); s < 40; s++ {
		must(t, n.Chosen().Append(s, nutsVal(s)))
	}
	must(t, n.Close())
	path := filepath.Join(dir, nutsChosenDir, nutsFirstGen, "0"+nutsdb.DataSuffix)
	offs, _ := nutsOffsets(t, path)
	nutsFlipAt(t, path, offs[16]+20) // slot 25, after the index's mark and slots 10 to 24
	n = nutsOpen(t, dir, nutsDefaults())
	defer n.Close()
	if got := n.Chosen().Last(); got != 24 {
		t.Fatalf("Last %d after damage at slot 25, want 24", got)
	}
	if v, ok := n.Chosen().Get(10); !ok || !reflect.DeepEqual(v, nutsVal(10)) {
		t.Fatalf("Get(10) = %v, %v", v, ok)
	}
	must(t, n.Chosen().Append(25, nutsVal(25)))
}

func TestNutsClosedStoreErrors(t *testing.T) {
	nutsLeakCheck(t)
	n := nutsOpen(t, t.TempDir(), nutsDefaults())
	must(t, n.Chosen().Append(1, nutsVal(1)))
	must(t, n.Close())
	must(t, n.Close()) // twice is harmless
	if err := n.Acceptor().Append(nutsRec(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := n.Acceptor().Load(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close: %v", err)
	}
	if err := n.Proposer().SaveBallot(msg.Ballot{Round: 1, ID: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("SaveBallot after Close: %v", err)
	}
	if _, err := n.Proposer().LoadBallot(); !errors.Is(err, ErrClosed) {
		t.Fatalf("LoadBallot after Close: %v", err)
	}
	if err := n.Chosen().Append(2, nutsVal(2)); !errors.Is(err, ErrClosed) {
		t.Fatalf("chosen Append after Close: %v", err)
	}
	if _, ok := n.Chosen().Get(1); ok {
		t.Fatal("chosen Get after Close")
	}
}

// A write nutsdb cannot do (here: its next segment's name is taken by a
// directory, which fails even for root) is an error from Append, every later
// Append fails too, Close does not panic, and a reopen finds every record
// acknowledged before the failure.
func TestNutsFailingWriteIsAnError(t *testing.T) {
	nutsLeakCheck(t)
	o := nutsOptions{segmentSize: 64 << 10}
	dir := t.TempDir()
	n := nutsOpen(t, dir, o)
	trap := nutsDataFile(dir, 1)
	must(t, os.Mkdir(trap, 0o755))
	rec := func(i uint64) AcceptorRecord {
		return AcceptorRecord{Entries: []msg.Entry{{Slot: i, Ballot: msg.Ballot{Round: 1, ID: 1},
			Value: &msg.Value{Cmds: []msg.Command{{Data: bytes.Repeat([]byte{'x'}, 4000)}}}}}}
	}
	var acked uint64
	var err error
	for i := uint64(1); i <= 100; i++ {
		if err = n.Acceptor().Append(rec(i)); err != nil {
			break
		}
		acked = i
	}
	if err == nil {
		t.Fatal("100 appends into a full segment whose successor cannot be created all succeeded")
	}
	t.Logf("append %d failed: %v", acked+1, err)
	if err2 := n.Acceptor().Append(rec(acked + 1)); err2 == nil {
		t.Fatal("an append after a failed one succeeded")
	}
	if err2 := n.Proposer().SaveBallot(msg.Ballot{Round: 2, ID: 1}); err2 == nil {
		t.Fatal("SaveBallot after a failed write succeeded")
	}
	must(t, n.Close()) // releases everything, though nutsdb lost its active file
	must(t, os.Remove(trap))

	n = nutsOpen(t, dir, o)
	defer n.Close()
	st, err := n.Acceptor().Load()
	must(t, err)
	if uint64(len(st.Entries)) < acked {
		t.Fatalf("reopened with %d records, %d were acknowledged", len(st.Entries), acked)
	}
	must(t, n.Acceptor().Append(rec(acked+1)))
}

// --- process-level crash ---

const (
	nutsHelperEnv = "RSML_NUTS_HELPER_DIR"
)

// nutsKillValue is the value the helper process writes for slot s; some are
// large so that SIGKILL can land in the middle of a write.
func nutsKillValue(s uint64) *msg.Value {
	size := 64 + int(s%200)
	switch {
	case s%5 == 0:
		size = 4 << 20
	case s%5 == 3:
		size = 300 << 10
	}
	d := bytes.Repeat([]byte{byte(s)}, size)
	binary.BigEndian.PutUint64(d, s)
	return &msg.Value{Cmds: []msg.Command{{Client: s, Seq: 1, Data: d}}}
}

// TestHelperProcess is not a test: TestNutsSIGKILL runs the test binary again
// with it, as the process it kills. It appends records in a loop and prints
// "ack N" once Append(N) has returned.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(nutsHelperEnv)
	if dir == "" {
		t.Skip("helper process of TestNutsSIGKILL")
	}
	fail := func(err error) {
		fmt.Printf("error %v\n", err)
		os.Exit(3)
	}
	n, err := OpenNuts(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		fail(err)
	}
	st, err := n.Acceptor().Load()
	if err != nil {
		fail(err)
	}
	next := uint64(1)
	if len(st.Entries) > 0 {
		next = st.Entries[len(st.Entries)-1].Slot + 1
	}
	for s := n.Chosen().Last() + 1; s < next; s++ {
		if err := n.Chosen().Append(s, nutsKillValue(s)); err != nil {
			fail(err)
		}
	}
	fmt.Printf("start %d\n", next)
	for s := next; ; s++ {
		b := msg.Ballot{Round: s, ID: 1}
		rec := AcceptorRecord{Promised: b, Entries: []msg.Entry{{Slot: s, Ballot: b, Value: nutsKillValue(s)}}}
		if err := n.Acceptor().Append(rec); err != nil {
			fail(err)
		}
		if err := n.Chosen().Append(s, nutsKillValue(s)); err != nil {
			fail(err)
		}
		fmt.Printf("ack %d\n", s)
		if s%5 == 0 {
			if err := n.Proposer().SaveBallot(b); err != nil {
				fail(err)
			}
			fmt.Printf("ballot %d\n", s)
		}
	}
}

// Kill a process that appends records, at random moments, five times over
// the same directory: every acknowledged record must be there after each.
func TestNutsSIGKILLKeepsAcknowledgedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	nutsLeakCheck(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	dir := t.TempDir()
	rounds := 5
	if r, err := strconv.Atoi(os.Getenv("RSML_NUTS_KILL_ROUNDS")); err == nil && r > 0 {
		rounds = r // a longer soak
	}
	var acked, ballot uint64
	for round := 1; round <= rounds; round++ {
		killAfter := 1 + rng.IntN(60)
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), nutsHelperEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		must(t, err)
		must(t, cmd.Start())
		sc := bufio.NewScanner(out)
		seen := 0
		for sc.Scan() {
			word, num, _ := strings.Cut(sc.Text(), " ")
			v, _ := strconv.ParseUint(num, 10, 64)
			switch word {
			case "start":
				if v <= acked {
					t.Fatalf("round %d (seed %d): helper restarts at %d, but %d was acknowledged", round, seed, v, acked)
				}
			case "ack":
				if v <= acked {
					t.Fatalf("round %d: ack %d after %d", round, v, acked)
				}
				acked = v
				if seen++; seen == killAfter {
					// A random moment after an acknowledgement: often in
					// the middle of the next (maybe 4 MiB) write. The delay
					// picks the moment; nothing waits on it.
					time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
					must(t, cmd.Process.Kill()) // SIGKILL
				}
			case "ballot":
				ballot = v
			case "error":
				t.Fatalf("round %d (seed %d): helper: %s\n%s", round, seed, sc.Text(), stderr.String())
			}
		}
		err = cmd.Wait()
		if seen < killAfter {
			t.Fatalf("round %d (seed %d): helper ended after %d acks: %v\n%s", round, seed, seen, err, stderr.String())
		}
		t.Logf("round %d: killed after %d acks, %d acknowledged in all", round, killAfter, acked)

		n := nutsOpen(t, dir, nutsDefaults())
		st, err := n.Acceptor().Load()
		must(t, err)
		if st.Promised.Less(msg.Ballot{Round: acked, ID: 1}) {
			t.Fatalf("round %d (seed %d): promise %v, but %d.1 was acknowledged", round, seed, st.Promised, acked)
		}
		if uint64(len(st.Entries)) < acked || uint64(len(st.Entries)) > acked+1 {
			t.Fatalf("round %d (seed %d): %d slots, %d acknowledged", round, seed, len(st.Entries), acked)
		}
		for i, e := range st.Entries {
			s := uint64(i + 1)
			if e.Slot != s || e.Ballot != (msg.Ballot{Round: s, ID: 1}) || !reflect.DeepEqual(e.Value, nutsKillValue(s)) {
				t.Fatalf("round %d (seed %d): slot %d holds %d at %v", round, seed, s, e.Slot, e.Ballot)
			}
		}
		if b, err := n.Proposer().LoadBallot(); err != nil || ballot > 0 && b.Less(msg.Ballot{Round: ballot, ID: 1}) {
			t.Fatalf("round %d (seed %d): ballot %v, %v; %d.1 was acknowledged", round, seed, b, err, ballot)
		}
		c := n.Chosen()
		if c.Last() < acked {
			t.Fatalf("round %d (seed %d): chosen log ends at %d, %d were appended", round, seed, c.Last(), acked)
		}
		for _, s := range []uint64{1, acked / 2, acked} {
			if v, ok := c.Get(s); s > 0 && (!ok || !reflect.DeepEqual(v, nutsKillValue(s))) {
				t.Fatalf("round %d (seed %d): chosen slot %d: %v", round, seed, s, ok)
			}
		}
		must(t, n.Close())
	}
}

// --- benchmarks ---

// BenchmarkAcceptorAppend measures synced appends of one record of 1 or 64
// entries with 128-byte values.
func BenchmarkAcceptorAppend(b *testing.B) {
	for _, per := range []int{1, 64} {
		b.Run(fmt.Sprintf("entries=%d", per), func(b *testing.B) {
			n, err := OpenNuts(b.TempDir(), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			a := n.Acceptor()
			rec := AcceptorRecord{Promised: msg.Ballot{Round: 1, ID: 1}}
			for i := 0; i < per; i++ {
				rec.Entries = append(rec.Entries, msg.Entry{Ballot: msg.Ballot{Round: 1, ID: 1},
					Value: &msg.Value{Cmds: []msg.Command{{Client: 1, Seq: uint64(i), Data: bytes.Repeat([]byte{'v'}, 128)}}}})
			}
			b.ReportAllocs()
			b.ResetTimer()
			slot := uint64(0)
			for i := 0; i < b.N; i++ {
				for j := range rec.Entries {
					slot++
					rec.Entries[j].Slot = slot
				}
				if err := a.Append(rec); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkNutsReopen100k measures OpenNuts (scan, nutsdb's own rescan) plus
// Load of a log of 100,000 records of one 128-byte entry each.
func BenchmarkNutsReopen100k(b *testing.B) {
	const recs = 100_000
	dir := b.TempDir()
	build := nutsDefaults()
	build.noSync = true // the files are the same; only building is faster
	n, err := openNuts(dir, slog.New(slog.DiscardHandler), build)
	if err != nil {
		b.Fatal(err)
	}
	for i := uint64(1); i <= recs; i++ {
		rec := AcceptorRecord{Promised: msg.Ballot{Round: 1, ID: 1}, Entries: []msg.Entry{{Slot: i, Ballot: msg.Ballot{Round: 1, ID: 1},
			Value: &msg.Value{Cmds: []msg.Command{{Data: bytes.Repeat([]byte{'v'}, 128)}}}}}}
		if err := n.Acceptor().Append(rec); err != nil {
			b.Fatal(err)
		}
	}
	if err := n.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n, err := OpenNuts(dir, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		st, err := n.Acceptor().Load()
		if err != nil || len(st.Entries) != recs {
			b.Fatalf("load: %d entries, %v", len(st.Entries), err)
		}
		if err := n.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChosenLog measures the unsynced chosen log: Append, and Get of a
// recent slot (memory) and of an old one (decoded from nutsdb).
func BenchmarkChosenLog(b *testing.B) {
	v := &msg.Value{Cmds: []msg.Command{{Client: 1, Seq: 1, Data: bytes.Repeat([]byte{'v'}, 128)}}}
	open := func(b *testing.B, slots uint64) ChosenLog {
		n, err := OpenNuts(b.TempDir(), slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Close() })
		for s := uint64(1); s <= slots; s++ {
			if err := n.Chosen().Append(s, v); err != nil {
				b.Fatal(err)
			}
		}
		return n.Chosen()
	}
	b.Run("append", func(b *testing.B) {
		c := open(b, 0)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := c.Append(uint64(i+1), v); err != nil {
				b.Fatal(err)
			}
		}
	})
	const slots = 3 * nutsCacheSlots
	for _, tc := range []struct {
		name string
		lo   uint64
	}{{"get-recent", slots - nutsCacheSlots/2}, {"get-old", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			c := open(b, slots)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, ok := c.Get(tc.lo + uint64(i)%(nutsCacheSlots/2)); !ok {
					b.Fatal("missing")
				}
			}
		})
	}
}
