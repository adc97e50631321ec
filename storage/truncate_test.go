package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rsml-go/rsml/internal/nutsfix"
	"github.com/rsml-go/rsml/internal/powercut"
	"github.com/rsml-go/rsml/msg"
)

// dirBytes is the disk space the files under dir take (blocks, not apparent
// size: nutsdb's segments are sparse). Old generations are removed in the
// background, so a file or directory may vanish under the walk: it then
// takes no space.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		total += diskUsage(fi)
		return nil
	})
	must(t, err)
	return total
}

func bigEntry(slot uint64, round uint64) msg.Entry {
	return msg.Entry{Slot: slot, Ballot: msg.Ballot{Round: round, ID: 1},
		Value: &msg.Value{Cmds: []msg.Command{{Client: slot, Data: bytes.Repeat([]byte{byte(slot)}, 2000)}}}}
}

// Both acceptor logs drop every entry up to a truncation point, keep the
// entries above it (even from the same record), and report the point.
func TestAcceptorLogTruncation(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) AcceptorLog{
		"memory": func(t *testing.T) AcceptorLog { return NewMemory().Acceptor() },
		"nutsdb": func(t *testing.T) AcceptorLog {
			n := nutsOpen(t, t.TempDir(), nutsDefaults())
			t.Cleanup(func() { n.Close() })
			return n.Acceptor()
		},
	} {
		t.Run(name, func(t *testing.T) {
			a := open(t)
			for s := uint64(1); s <= 10; s++ {
				must(t, a.Append(AcceptorRecord{Entries: []msg.Entry{bigEntry(s, 1)}}))
			}
			must(t, a.Append(AcceptorRecord{Promised: msg.Ballot{Round: 2, ID: 2}, Truncated: 6,
				Entries: []msg.Entry{bigEntry(5, 2), bigEntry(11, 2)}}))
			// A later, lower truncation point changes nothing.
			must(t, a.Append(AcceptorRecord{Truncated: 3}))
			st, err := a.Load()
			must(t, err)
			if st.Truncated != 6 || st.Promised != (msg.Ballot{Round: 2, ID: 2}) {
				t.Fatalf("truncated %d promised %v, want 6 and 2.2", st.Truncated, st.Promised)
			}
			var slots []uint64
			for _, e := range st.Entries {
				slots = append(slots, e.Slot)
			}
			if want := []uint64{7, 8, 9, 10, 11}; !reflect.DeepEqual(slots, want) {
				t.Fatalf("slots %v, want %v", slots, want)
			}
		})
	}
}

// Values reads back what the acceptor log holds for each live slot, the
// highest ballot's value, through new generations (written as many records)
// and a reopen; the nutsdb log keeps no value in memory.
func TestAcceptorLogValues(t *testing.T) {
	o := nutsOptions{segmentSize: 1 << 20, compactBytes: 64 << 10, recordBytes: 5000}
	for name, open := range map[string]func(t *testing.T, dir string) (AcceptorLog, func()){
		"memory": func(t *testing.T, _ string) (AcceptorLog, func()) { return NewMemory().Acceptor(), func() {} },
		"nutsdb": func(t *testing.T, dir string) (AcceptorLog, func()) {
			n := nutsOpen(t, dir, o)
			return n.Acceptor(), func() { must(t, n.Close()) }
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			a, closeLog := open(t, dir)
			model := map[uint64]msg.Entry{}
			var truncated uint64
			check := func(a AcceptorLog) {
				t.Helper()
				var slots []uint64
				for s := truncated + 1; s <= truncated+200; s++ {
					if _, ok := model[s]; ok {
						slots = append(slots, s)
					}
				}
				got, err := a.Values(slots)
				must(t, err)
				for i, s := range slots {
					if !reflect.DeepEqual(got[i], model[s]) {
						t.Fatalf("slot %d: read back ballot %s, want %s (or another value)", s, got[i].Ballot, model[s].Ballot)
					}
				}
				if _, err := a.Values([]uint64{truncated}); truncated > 0 && err == nil {
					t.Fatalf("slot %d, truncated, read back", truncated)
				}
				if n, ok := a.(*nutsAcceptor); ok {
					for s, e := range n.live.entries {
						if e.Value != nil {
							t.Fatalf("slot %d: the nutsdb log keeps its value in memory", s)
						}
					}
				}
			}
			for s := uint64(1); s <= 600; s++ {
				rec := AcceptorRecord{Entries: []msg.Entry{bigEntry(s, 1)}}
				if s > 3 {
					// A higher ballot replaces a slot's entry; a stray lower one does not.
					e := bigEntry(s-3, 2)
					e.Value.Cmds[0].Client = s
					rec.Entries = append(rec.Entries, e, bigEntry(s-2, 0))
					model[s-3] = e
				}
				if s%40 == 0 {
					rec.Truncated = s - 30
				}
				model[s] = rec.Entries[0]
				must(t, a.Append(rec))
				if rec.Truncated > truncated {
					truncated = rec.Truncated
					for k := range model {
						if k <= truncated {
							delete(model, k)
						}
					}
				}
				if s%25 == 0 {
					check(a)
				}
			}
			if n, ok := a.(*nutsAcceptor); ok && n.gens.cur < 3 {
				t.Fatalf("generation %d: the test meant to cross several", n.gens.cur)
			}
			closeLog()
			if name == "nutsdb" {
				a, closeLog = open(t, dir)
				defer closeLog()
				check(a)
				st, err := a.Load()
				must(t, err)
				if len(st.Entries) != len(model) {
					t.Fatalf("Load after reopen: %d entries, want %d", len(st.Entries), len(model))
				}
				for _, e := range st.Entries {
					if !reflect.DeepEqual(e, model[e.Slot]) {
						t.Fatalf("Load after reopen: slot %d differs", e.Slot)
					}
				}
			}
		})
	}
}

// A log whose generation holds much on disk is copied to a new generation
// when it is opened (nutsdb keeps all it recovers in memory), with the same
// content; a small one is left as it is.
func TestNutsRewriteAtOpen(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	o := nutsOptions{segmentSize: 1 << 20, rewriteBytes: 200 << 10}
	n := nutsOpen(t, dir, o)
	for s := uint64(1); s <= 150; s++ {
		must(t, n.Acceptor().Append(AcceptorRecord{Entries: []msg.Entry{bigEntry(s, 1)}}))
		must(t, n.Chosen().Append(s, bigEntry(s, 1).Value))
	}
	before, err := n.Acceptor().Load()
	must(t, err)
	accGen, chGen := n.acc.gens.cur, n.chosen.gens.cur
	must(t, n.Close())

	n = nutsOpen(t, dir, o)
	defer n.Close()
	if n.acc.gens.cur != accGen+1 || n.chosen.gens.cur != chGen+1 {
		t.Fatalf("generations %d and %d after reopening 300 KiB, want %d and %d (rewritten)",
			n.acc.gens.cur, n.chosen.gens.cur, accGen+1, chGen+1)
	}
	after, err := n.Acceptor().Load()
	must(t, err)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("acceptor log differs after the rewrite at open")
	}
	for s := uint64(1); s <= 150; s++ {
		if v, ok := n.Chosen().Get(s); !ok || !reflect.DeepEqual(v, bigEntry(s, 1).Value) {
			t.Fatalf("chosen slot %d lost in the rewrite at open", s)
		}
	}
	// Now small: the next open keeps the generations.
	accGen, chGen = n.acc.gens.cur, n.chosen.gens.cur
	must(t, n.Close())
	n = nutsOpen(t, dir, nutsOptions{segmentSize: 1 << 20, rewriteBytes: 4 << 20})
	defer n.Close()
	if n.acc.gens.cur != accGen || n.chosen.gens.cur != chGen {
		t.Fatalf("a small log was rewritten at open")
	}
}

// The nutsdb acceptor log moves to a new generation once it has taken in
// enough and the truncation point moved; the state survives the move and a
// reopen, and the disk use stays bounded however much is written.
func TestNutsAcceptorGenerationsBoundDisk(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	o := nutsOptions{segmentSize: 1 << 20, compactBytes: 256 << 10}
	n := nutsOpen(t, dir, o)
	accDir := filepath.Join(dir, nutsAcceptorDir)
	var peak int64
	const total = 3000
	for s := uint64(1); s <= total; s++ {
		rec := AcceptorRecord{Entries: []msg.Entry{bigEntry(s, 1)}}
		if s%50 == 0 {
			rec.Truncated = s - 20 // the executor keeps up, 20 slots behind
		}
		must(t, n.Acceptor().Append(rec))
		if s%100 == 0 {
			peak = max(peak, dirBytes(t, accDir))
		}
	}
	written := int64(total * 2000)
	t.Logf("wrote %d KiB of entries; acceptor log peak %d KiB on disk, generation %08d",
		written>>10, peak>>10, n.acc.gens.cur)
	if n.acc.gens.cur < 5 {
		t.Fatalf("generation %d after %d KiB with a 256 KiB threshold", n.acc.gens.cur, written>>10)
	}
	// Bounded: a generation's threshold plus a segment, not what was written.
	if peak > 4<<20 {
		t.Fatalf("acceptor log peaked at %d KiB on disk after writing %d KiB", peak>>10, written>>10)
	}
	finishGen(n.acc)      // a generation may be in the making
	n.acc.retiring.Wait() // old generations are removed in the background
	ents, err := os.ReadDir(accDir)
	must(t, err)
	if len(ents) != 2 { // CURRENT and one generation
		t.Fatalf("acceptor log dir holds %d entries, want CURRENT and one generation", len(ents))
	}
	before, err := n.Acceptor().Load()
	must(t, err)
	must(t, n.Proposer().SaveBallot(msg.Ballot{Round: 9, ID: 1}))
	must(t, n.Close())

	n = nutsOpen(t, dir, o)
	defer n.Close()
	after, err := n.Acceptor().Load()
	must(t, err)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("after reopen: truncated %d, %d entries; before: truncated %d, %d entries",
			after.Truncated, len(after.Entries), before.Truncated, len(before.Entries))
	}
	if after.Truncated != total-20 || len(after.Entries) != 20 {
		t.Fatalf("truncated %d with %d entries, want %d and 20", after.Truncated, len(after.Entries), total-20)
	}
	if b, err := n.Proposer().LoadBallot(); err != nil || b != (msg.Ballot{Round: 9, ID: 1}) {
		t.Fatalf("ballot %v, %v after generations", b, err)
	}
}

// A crash while a new generation is built leaves it unnamed by CURRENT: the
// next open removes it and keeps the old one. A crash after the switch leaves
// the old directory, which the next open removes.
func TestNutsGenerationCrashPoints(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	n := nutsOpen(t, dir, nutsDefaults())
	for s := uint64(1); s <= 5; s++ {
		must(t, n.Acceptor().Append(AcceptorRecord{Entries: []msg.Entry{bigEntry(s, 1)}}))
	}
	must(t, n.Close())
	accDir := filepath.Join(dir, nutsAcceptorDir)

	// Half-built generation 2, CURRENT still names 1.
	must(t, os.MkdirAll(filepath.Join(accDir, "00000002"), 0o755))
	must(t, os.WriteFile(filepath.Join(accDir, "00000002", "0.dat"), []byte("half"), 0o644))
	n = nutsOpen(t, dir, nutsDefaults())
	st, err := n.Acceptor().Load()
	must(t, err)
	if len(st.Entries) != 5 {
		t.Fatalf("%d entries after a crash mid-build, want 5", len(st.Entries))
	}
	if _, err := os.Stat(filepath.Join(accDir, "00000002")); !os.IsNotExist(err) {
		t.Fatalf("the half-built generation is still there: %v", err)
	}
	// A real switch, then the old directory put back as if its removal was
	// cut short.
	must(t, n.Acceptor().Append(AcceptorRecord{Truncated: 3}))
	n.acc.mu.Lock()
	n.acc.compact()
	n.acc.mu.Unlock()
	if n.acc.gens.cur != 2 {
		t.Fatalf("generation %d after compact, want 2", n.acc.gens.cur)
	}
	must(t, n.Close())
	must(t, os.MkdirAll(filepath.Join(accDir, nutsFirstGen), 0o755))
	n = nutsOpen(t, dir, nutsDefaults())
	defer n.Close()
	st, err = n.Acceptor().Load()
	must(t, err)
	if st.Truncated != 3 || len(st.Entries) != 2 {
		t.Fatalf("truncated %d, %d entries after the switch, want 3 and 2", st.Truncated, len(st.Entries))
	}
	if _, err := os.Stat(filepath.Join(accDir, nutsFirstGen)); !os.IsNotExist(err) {
		t.Fatalf("the old generation is still there: %v", err)
	}
}

// Both chosen logs drop slots on Truncate, start over at a base on Reset, and
// keep both across a reopen (nutsdb).
func TestChosenLogTruncateAndReset(t *testing.T) {
	check := func(t *testing.T, c ChosenLog, base, last uint64) {
		t.Helper()
		if c.Base() != base || c.Last() != last {
			t.Fatalf("base %d last %d, want %d and %d", c.Base(), c.Last(), base, last)
		}
		if _, ok := c.Get(base); ok && base > 0 {
			t.Fatalf("slot %d readable at base %d", base, base)
		}
		for s := base + 1; s <= last; s++ {
			if v, ok := c.Get(s); !ok || v.Cmds[0].Client != s {
				t.Fatalf("Get(%d) = %v, %v", s, v, ok)
			}
		}
	}
	val := func(s uint64) *msg.Value {
		return &msg.Value{Cmds: []msg.Command{{Client: s, Data: make([]byte, 1000)}}}
	}
	exercise := func(t *testing.T, c ChosenLog, reopen func() ChosenLog) {
		for s := uint64(1); s <= 300; s++ {
			must(t, c.Append(s, val(s)))
		}
		must(t, c.Truncate(100))
		check(t, c, 100, 300)
		if err := c.Truncate(301); err == nil {
			t.Fatal("truncate beyond the last slot succeeded")
		}
		must(t, c.Truncate(50)) // lower: nothing changes
		check(t, c, 100, 300)
		must(t, c.Truncate(290))
		c = reopen()
		if c.Base() > 290 || c.Last() != 300 {
			t.Fatalf("after reopen base %d last %d", c.Base(), c.Last())
		}
		must(t, c.Reset(1000))
		check(t, c, 1000, 1000)
		if err := c.Append(1002, val(1002)); err == nil {
			t.Fatal("append past a gap after Reset succeeded")
		}
		must(t, c.Append(1001, val(1001)))
		c = reopen()
		check(t, c, 1000, 1001)
	}
	t.Run("memory", func(t *testing.T) {
		c := NewMemory().Chosen()
		exercise(t, c, func() ChosenLog { return c })
	})
	t.Run("nutsdb", func(t *testing.T) {
		nutsLeakCheck(t)
		dir := t.TempDir()
		o := nutsOptions{segmentSize: 1 << 20, compactBytes: 64 << 10}
		n := nutsOpen(t, dir, o)
		t.Cleanup(func() { n.Close() })
		exercise(t, n.Chosen(), func() ChosenLog {
			must(t, n.Close())
			n = nutsOpen(t, dir, o)
			return n.Chosen()
		})
		if n.chosen.gens.cur < 2 {
			t.Fatalf("chosen log never moved to a new generation (at %d)", n.chosen.gens.cur)
		}
	})
}

// A generation switch that fails stops the log (CURRENT may or may not name
// the new generation, so neither may be removed or written past), and a
// reopen finds every acknowledged record in whichever generation CURRENT
// names.
func TestNutsFailedGenerationSwitchStopsTheLog(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	o := nutsOptions{segmentSize: 1 << 20, compactBytes: 64 << 10}
	n := nutsOpen(t, dir, o)
	// CURRENT cannot be rewritten: its temporary file's name is taken.
	must(t, os.Mkdir(filepath.Join(dir, nutsAcceptorDir, nutsCurrentFile+".tmp"), 0o755))
	var acked uint64
	var err error
	for s := uint64(1); s <= 200; s++ {
		rec := AcceptorRecord{Entries: []msg.Entry{bigEntry(s, 1)}}
		if s%10 == 0 {
			rec.Truncated = s - 5
		}
		if err = n.Acceptor().Append(rec); err != nil {
			break
		}
		acked = s
	}
	if err == nil {
		t.Fatal("200 appends past the generation threshold succeeded with CURRENT unwritable")
	}
	if n.acc.gens.cur != 1 {
		t.Fatalf("generation %d, want still 1", n.acc.gens.cur)
	}
	must(t, n.Close())
	must(t, os.Remove(filepath.Join(dir, nutsAcceptorDir, nutsCurrentFile+".tmp")))
	n = nutsOpen(t, dir, o)
	defer n.Close()
	st, err := n.Acceptor().Load()
	must(t, err)
	if len(st.Entries) == 0 || st.Entries[len(st.Entries)-1].Slot != acked {
		t.Fatalf("after reopen the last entry is not the last acknowledged slot %d", acked)
	}
}

// The memory store keeps the highest snapshot, like SnapFiles: an executor
// finishing an older snapshot after the learner installed a newer one from
// a peer must not replace it.
func TestMemorySnapshotsKeepTheHighest(t *testing.T) {
	s := NewMemory().Snapshots()
	must(t, s.Save(Snapshot{Slot: 8, Data: []byte("installed")}))
	must(t, s.Save(Snapshot{Slot: 2, Data: []byte("older")}))
	if got, ok, _ := s.Load(); !ok || got.Slot != 8 {
		t.Fatalf("Load = slot %d, want 8", got.Slot)
	}
}

// The chosen log, which needs no sync, is synced every nutsWritebackBytes
// all the same, so that the kernel never has much of it to write back at
// once.
func TestNutsChosenWritebackSyncs(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	n := nutsOpen(t, dir, nutsDefaults())
	defer n.Close()
	chosenDir := filepath.Join(dir, nutsChosenDir)
	var mu sync.Mutex
	syncs := 0
	restore := nutsfix.SetSyncForTest(func(p string) error {
		if strings.HasPrefix(p, chosenDir) {
			mu.Lock()
			syncs++
			mu.Unlock()
		}
		return nutsfix.Fsync(p)
	})
	defer restore()
	const total = 3*nutsWritebackBytes + nutsWritebackBytes/2
	for s := uint64(1); s <= total/2000; s++ {
		must(t, n.Chosen().Append(s, bigEntry(s, 1).Value))
	}
	mu.Lock()
	defer mu.Unlock()
	if syncs < 3 {
		t.Fatalf("%d syncs of the chosen log after %d KiB appended, want at least 3 (one per %d KiB)",
			syncs, total>>10, nutsWritebackBytes>>10)
	}
}

// A new generation reads each record of the current one once, however many
// live slots the record holds, and the values it copies read back intact.
func TestAcceptorNewGenerationReadsEachRecordOnce(t *testing.T) {
	n := nutsOpen(t, t.TempDir(), nutsOptions{segmentSize: 1 << 20, compactBytes: 1 << 30, recordBytes: 50000})
	a := n.Acceptor().(*nutsAcceptor)
	var slots []uint64
	for s := uint64(1); s <= 400; s++ {
		must(t, a.Append(AcceptorRecord{Entries: []msg.Entry{bigEntry(s, 1)}}))
		slots = append(slots, s)
	}
	compact := func() int {
		a.mu.Lock()
		defer a.mu.Unlock()
		before, gen := a.recordReads.Load(), a.gens.cur
		a.compact()
		if a.gens.cur == gen {
			t.Fatal("no new generation")
		}
		return int(a.recordReads.Load() - before)
	}
	compact() // 400 one-entry records become about 16 big ones
	recs := int(a.next - 1)
	if recs > 20 {
		t.Fatalf("the new generation has %d records; the test needs big ones", recs)
	}
	if got := compact(); got != recs {
		t.Fatalf("the next generation read %d records of the %d in the current one", got, recs)
	}
	got, err := a.Values(slots)
	must(t, err)
	for i, s := range slots {
		if !reflect.DeepEqual(got[i], bigEntry(s, 1)) {
			t.Fatalf("slot %d read back wrong", s)
		}
	}
}

// finishGen waits for the generation a is building, if any, and switches to
// it, as the next Append would.
func finishGen(a *nutsAcceptor) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.job != nil {
		<-a.job.done
		a.finishGen()
	}
}

// A new generation is built while the acceptor goes on appending: what it
// takes in meanwhile (new slots, a frozen slot accepted again at a higher
// ballot, a higher promise, a truncation) and a higher proposer ballot are
// all in the new generation after the switch, and after a reopen; and it is
// read back correctly throughout.
func TestAcceptorGenerationBuiltInTheBackground(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	built, release := make(chan struct{}), make(chan struct{})
	var once sync.Once // the first generation is held after writing its frozen state
	copied, release2 := make(chan struct{}), make(chan struct{})
	var once2 sync.Once // and again when it is done, before the switch
	var freed1, freed2 sync.Once
	free := func() { freed1.Do(func() { close(release) }) }
	free2 := func() { freed2.Do(func() { close(release2) }) }
	// Deferred calls run before the Cleanup that closes the log: a failed
	// check must not leave the builder held while Close waits for it.
	defer free()
	defer free2()
	n := nutsOpen(t, dir, nutsOptions{segmentSize: 1 << 20, compactBytes: 64 << 10, recordBytes: 20000, genHook: func(stage string) {
		switch stage {
		case "written":
			once.Do(func() { close(built); <-release })
		case "done":
			once2.Do(func() { close(copied); <-release2 })
		}
	}})
	a := n.acc
	model := map[uint64]msg.Entry{}
	var truncated uint64
	var promised msg.Ballot
	add := func(rec AcceptorRecord) {
		t.Helper()
		must(t, a.Append(rec))
		promised = msg.MaxBallot(promised, rec.Promised)
		if rec.Truncated > truncated {
			truncated = rec.Truncated
			for s := range model {
				if s <= truncated {
					delete(model, s)
				}
			}
		}
		for _, e := range rec.Entries {
			if cur, ok := model[e.Slot]; e.Slot > truncated && wins(e, cur, ok) {
				model[e.Slot] = e
			}
		}
	}
	check := func(what string, a *nutsAcceptor) {
		t.Helper()
		st, err := a.Load()
		must(t, err)
		if st.Truncated != truncated || st.Promised != promised || len(st.Entries) != len(model) {
			t.Fatalf("%s: truncated %d promised %s with %d entries, want %d %s %d", what,
				st.Truncated, st.Promised, len(st.Entries), truncated, promised, len(model))
		}
		for _, e := range st.Entries {
			if !reflect.DeepEqual(e, model[e.Slot]) {
				t.Fatalf("%s: slot %d read back ballot %s, want %s", what, e.Slot, e.Ballot, model[e.Slot].Ballot)
			}
		}
	}
	s := uint64(0)
	for a.job == nil { // Append starts the build; only this goroutine appends
		if s++; s > 1000 {
			t.Fatal("no new generation was started")
		}
		rec := AcceptorRecord{Entries: []msg.Entry{bigEntry(s, 1)}}
		if s == 20 {
			rec.Truncated = 5
		}
		add(rec)
	}
	<-built // the frozen state is written; the builder waits for release
	gen, frozen := a.gens.cur, s
	add(AcceptorRecord{Entries: []msg.Entry{bigEntry(s+1, 1), bigEntry(s+2, 1)}})
	again := bigEntry(frozen, 3)
	again.Value.Cmds[0].Client = 77
	add(AcceptorRecord{Promised: msg.Ballot{Round: 3, ID: 2}, Entries: []msg.Entry{again}})
	add(AcceptorRecord{Truncated: 10})
	must(t, n.Proposer().SaveBallot(msg.Ballot{Round: 9, ID: 1}))
	for i := range uint64(nutsTailRecords + 6) { // enough for the builder to copy them
		add(AcceptorRecord{Entries: []msg.Entry{bigEntry(s+10+i, 1)}})
	}
	s += 10 + nutsTailRecords + 6
	check("while the generation is built", a)
	if a.job == nil || a.gens.cur != gen {
		t.Fatal("the switch happened before the builder was done")
	}
	free()
	<-copied
	if j := a.job; j.err != nil || j.copied < j.from+nutsTailRecords {
		t.Fatalf("the builder copied records %d..%d (%v), want the %d that came in while it wrote", j.from, j.copied, j.err, nutsTailRecords+9)
	}
	add(AcceptorRecord{Entries: []msg.Entry{bigEntry(s+1, 1)}}) // after the builder's copy: left to the switch
	s++
	free2()
	<-a.job.done
	// The switch syncs the new generation (its frozen state and the tail
	// it copies) before CURRENT names it.
	newGen := nutsGenPath(filepath.Join(dir, nutsAcceptorDir), gen+1)
	var synced []string
	restore := nutsfix.SetSyncForTest(func(p string) error {
		if strings.HasPrefix(p, newGen) {
			synced = append(synced, strings.TrimPrefix(p, newGen))
		}
		return nutsfix.Fsync(p)
	})
	add(AcceptorRecord{Entries: []msg.Entry{bigEntry(s+3, 1)}}) // the first Append after: the switch
	a.retiring.Wait()                                           // the old generation's removal syncs too
	restore()
	if !slices.Contains(synced, "") || !slices.ContainsFunc(synced, func(p string) bool { return strings.HasSuffix(p, ".dat") }) {
		t.Fatalf("the switch synced %q of the new generation, want its data file and its directory", synced)
	}
	if a.job != nil || a.gens.cur != gen+1 {
		t.Fatalf("generation %d (job %v) after the builder was done, want %d", a.gens.cur, a.job != nil, gen+1)
	}
	check("after the switch", a)
	must(t, n.Close())

	n = nutsOpen(t, dir, nutsOptions{segmentSize: 1 << 20})
	defer n.Close()
	check("after a reopen", n.acc)
	if b, err := n.Proposer().LoadBallot(); err != nil || b != (msg.Ballot{Round: 9, ID: 1}) {
		t.Fatalf("ballot %v, %v after the switch and a reopen, want 9.1", b, err)
	}
}

// A power cut at any point of building and switching to new generations in
// the background loses no acknowledged record: the reopened log holds the
// state of every Append that returned before the cut. Each run cuts after a
// given number of Appends, right after the Append that switched to a new
// generation, while one is being built, or in the middle of a switch, as
// soon as CURRENT names the new generation durably.
func TestAcceptorGenerationsSurvivePowerCuts(t *testing.T) {
	nutsLeakCheck(t)
	for run := range 40 {
		mode := []string{"anywhere", "after a switch", "while building", "as CURRENT changes"}[run%4]
		root := filepath.Join(t.TempDir(), "data")
		must(t, os.Mkdir(root, 0o755))
		rec, err := powercut.Install(root, 0)
		must(t, err)
		n := nutsOpen(t, root, nutsOptions{segmentSize: 1 << 20, compactBytes: 16 << 10, recordBytes: 6000})
		a := n.acc
		model := map[uint64]msg.Entry{}
		var truncated uint64
		minAppends := 5 + 3*run
		accDir := filepath.Join(root, nutsAcceptorDir)
		armed := false
		for s := uint64(1); ; s++ {
			if s > uint64(minAppends)+200 {
				t.Fatalf("run %d (%s): no cut point after %d appends", run, mode, s)
			}
			r := AcceptorRecord{Entries: []msg.Entry{bigEntry(s, 1)}}
			if s%5 == 0 {
				r.Truncated = s - 4
			}
			if s > 2 {
				r.Entries = append(r.Entries, bigEntry(s-2, 2)) // accepted again at a higher ballot
			}
			gen := a.gens.cur
			if mode == "as CURRENT changes" && s >= uint64(minAppends) && !armed {
				armed = true
				rec.CutAfter(func(p string) bool {
					b, _ := os.ReadFile(filepath.Join(accDir, nutsCurrentFile))
					return p == accDir && strings.TrimSpace(string(b)) > fmt.Sprintf("%08d", gen)
				})
			}
			must(t, a.Append(r)) // only this goroutine appends: a.job and a.gens.cur are its to read
			truncated = max(truncated, r.Truncated)
			for _, e := range r.Entries {
				if cur, ok := model[e.Slot]; wins(e, cur, ok) {
					model[e.Slot] = e
				}
			}
			if s >= uint64(minAppends) && (mode == "anywhere" ||
				mode == "after a switch" && a.gens.cur != gen ||
				mode == "while building" && a.job != nil) {
				break
			}
			if armed && a.gens.cur != gen {
				break // the cut came during this Append, after CURRENT's sync
			}
		}
		rec.Cut()
		_ = n.Close()
		must(t, rec.Restore())
		rec.Uninstall()
		n = nutsOpen(t, root, nutsOptions{segmentSize: 1 << 20})
		st, err := n.Acceptor().Load()
		must(t, err)
		for s := range model {
			if s <= truncated {
				delete(model, s)
			}
		}
		if st.Truncated != truncated || len(st.Entries) != len(model) {
			t.Fatalf("run %d, cut %s: truncated %d with %d entries, want %d and %d",
				run, mode, st.Truncated, len(st.Entries), truncated, len(model))
		}
		for _, e := range st.Entries {
			if !reflect.DeepEqual(e, model[e.Slot]) {
				t.Fatalf("run %d, cut %s: slot %d has ballot %s, want %s", run, mode, e.Slot, e.Ballot, model[e.Slot].Ballot)
			}
		}
		must(t, n.Close())
	}
}

// The promise and the proposer ballot set before a new generation is built
// reach it through the frozen state alone (nothing after them repeats
// them), and survive the switch and a reopen.
func TestAcceptorGenerationKeepsPromiseAndBallot(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	o := nutsOptions{segmentSize: 1 << 20, compactBytes: 16 << 10}
	n := nutsOpen(t, dir, o)
	promise, ballot := msg.Ballot{Round: 7, ID: 3}, msg.Ballot{Round: 5, ID: 1}
	must(t, n.Proposer().SaveBallot(ballot))
	must(t, n.Acceptor().Append(AcceptorRecord{Promised: promise, Entries: []msg.Entry{bigEntry(1, 7)}}))
	for s := uint64(2); n.acc.gens.cur < 3; s++ { // two switches: the second starts from the first's frozen state
		if s > 500 {
			t.Fatal("no new generation")
		}
		r := AcceptorRecord{Entries: []msg.Entry{bigEntry(s, 7)}}
		if s%4 == 0 {
			r.Truncated = s - 2
		}
		must(t, n.Acceptor().Append(r))
	}
	must(t, n.Close())
	n = nutsOpen(t, dir, o)
	defer n.Close()
	st, err := n.Acceptor().Load()
	must(t, err)
	if st.Promised != promise {
		t.Errorf("promise %s after new generations and a reopen, want %s", st.Promised, promise)
	}
	if b, err := n.Proposer().LoadBallot(); err != nil || b != ballot {
		t.Errorf("ballot %s, %v after new generations and a reopen, want %s", b, err, ballot)
	}
}
