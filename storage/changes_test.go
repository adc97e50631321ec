package storage

import (
	"bytes"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/nutsdb/nutsdb"

	"github.com/rsml-go/rsml/internal/nutsfix"
	"github.com/rsml-go/rsml/msg"
)

// changeVal is slot s's value in the index tests: a membership change at the
// slots of changeAt, a command elsewhere.
func changeVal(s uint64, changeAt map[uint64]bool) *msg.Value {
	if changeAt[s] {
		return &msg.Value{Change: []byte{byte(s), 1}}
	}
	return nutsVal(s)
}

func wantChanges(t *testing.T, c ChosenLog, from uint64, want ...uint64) {
	t.Helper()
	got := c.ChangeSlots(from)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ChangeSlots(%d) = %v, want %v", from, got, want)
	}
	var seen []uint64
	err := Changes(c, from, c.Last(), func(s uint64, change []byte) {
		if !bytes.Equal(change, []byte{byte(s), 1}) {
			t.Fatalf("Changes: slot %d has change %x", s, change)
		}
		seen = append(seen, s)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("Changes from %d = %v, want %v", from, seen, want)
	}
	if len(want) > 0 {
		// through bounds the slots.
		seen = nil
		if err := Changes(c, from, want[len(want)-1]-1, func(s uint64, _ []byte) { seen = append(seen, s) }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seen, want[:len(want)-1]) {
			t.Fatalf("Changes from %d through %d = %v, want %v", from, want[len(want)-1]-1, seen, want[:len(want)-1])
		}
	}
}

// wantIndexed checks that the nutsdb chosen log's current generation holds
// a whole index, so that the next open reads no value.
func wantIndexed(t *testing.T, n *Nuts) {
	t.Helper()
	err := nutsfix.View(n.chosen.db, func(tx *nutsdb.Tx) error {
		_, err := tx.Get(nutsChosenMeta, nutsIndexedKey)
		return err
	})
	if err != nil {
		t.Fatalf("generation %s has no whole index: %v", n.chosen.dir, err)
	}
}

// Both chosen logs say which slots hold a membership change; the nutsdb log
// answers from an index that survives reopening, truncation, a new
// generation and a reset.
func TestChosenLogChangeSlots(t *testing.T) {
	changeAt := map[uint64]bool{5: true, 40: true, 300: true, 599: true}
	t.Run("memory", func(t *testing.T) {
		c := NewMemory().Chosen()
		for s := uint64(1); s <= 600; s++ {
			must(t, c.Append(s, changeVal(s, changeAt)))
		}
		wantChanges(t, c, 0, 5, 40, 300, 599)
		wantChanges(t, c, 4, 5, 40, 300, 599)
		wantChanges(t, c, 5, 40, 300, 599)
		wantChanges(t, c, 40, 300, 599)
		must(t, c.Truncate(100))
		wantChanges(t, c, 0, 300, 599)
		wantChanges(t, c, 299, 300, 599)
		must(t, c.Reset(700))
		wantChanges(t, c, 0)
	})
	t.Run("nutsdb", func(t *testing.T) {
		nutsLeakCheck(t)
		dir := t.TempDir()
		// Small generations, so that the truncation below starts a new one.
		o := nutsOptions{segmentSize: 1 << 20, compactBytes: 16 << 10}
		n := nutsOpen(t, dir, o)
		for s := uint64(1); s <= 600; s++ {
			must(t, n.Chosen().Append(s, changeVal(s, changeAt)))
		}
		wantChanges(t, n.Chosen(), 0, 5, 40, 300, 599)
		wantChanges(t, n.Chosen(), 4, 5, 40, 300, 599)
		wantChanges(t, n.Chosen(), 5, 40, 300, 599)
		wantChanges(t, n.Chosen(), 40, 300, 599)
		must(t, n.Close())

		n = nutsOpen(t, dir, o)
		wantChanges(t, n.Chosen(), 0, 5, 40, 300, 599)
		gen := n.chosen.dir
		must(t, n.Chosen().Truncate(100))
		if n.chosen.dir == gen {
			t.Fatal("the truncation started no new generation")
		}
		wantChanges(t, n.Chosen(), 0, 300, 599)
		wantIndexed(t, n)
		must(t, n.Close())

		n = nutsOpen(t, dir, o)
		wantChanges(t, n.Chosen(), 0, 300, 599)
		must(t, n.Chosen().Append(601, &msg.Value{Change: []byte{byte(601 & 0xff), 1}}))
		wantChanges(t, n.Chosen(), 0, 300, 599, 601)
		must(t, n.Chosen().Reset(700))
		wantChanges(t, n.Chosen(), 0)
		wantIndexed(t, n)
		must(t, n.Close())

		n = nutsOpen(t, dir, o)
		defer n.Close()
		wantChanges(t, n.Chosen(), 0)
		must(t, n.Chosen().Append(701, &msg.Value{Change: []byte{byte(701 & 0xff), 1}}))
		wantChanges(t, n.Chosen(), 0, 701)
	})
}

// A generation written before the index existed is indexed at open, by
// reading its slots once; the index is then on disk.
func TestNutsChosenIndexesAnUnindexedGeneration(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	changeAt := map[uint64]bool{7: true, 120: true}
	n := nutsOpen(t, dir, nutsDefaults())
	for s := uint64(1); s <= 200; s++ {
		must(t, n.Chosen().Append(s, changeVal(s, changeAt)))
	}
	gen := n.chosen.dir
	must(t, n.Close())

	// Strip the index, as a generation from before it was.
	db, err := nutsfix.Open(nutsfix.Spec{Dir: gen, Buckets: []string{nutsChosenBucket, nutsChosenMeta}, SegmentSize: nutsSegmentSize}, nutsTestLogger(t))
	must(t, err)
	must(t, nutsfix.Update(db, func(tx *nutsdb.Tx) error {
		keys, err := tx.GetKeys(nutsChosenMeta)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if !bytes.Equal(k, nutsBaseKey) {
				if err := tx.Delete(nutsChosenMeta, k); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	must(t, nutsfix.Close(db, gen))

	n = nutsOpen(t, dir, nutsDefaults())
	if n.chosen.dir != gen {
		t.Fatal("the open started a new generation; this test needs the old one")
	}
	wantChanges(t, n.Chosen(), 0, 7, 120)
	must(t, n.Close())
	n = nutsOpen(t, dir, nutsDefaults())
	defer n.Close()
	wantIndexed(t, n)
	wantChanges(t, n.Chosen(), 0, 7, 120)
}

// A crash that loses slots keeps no index entry for them. The repair cuts
// an entry with its slot (one transaction); an entry left without its slot
// all the same is ignored, and the slot, chosen again, is indexed once.
func TestNutsChosenIndexAfterALostTail(t *testing.T) {
	nutsLeakCheck(t)
	dir := t.TempDir()
	changeAt := map[uint64]bool{12: true, 30: true, 45: true}
	n := nutsOpen(t, dir, nutsDefaults())
	for s := uint64(10); s < 40; s++ {
		must(t, n.Chosen().Append(s, changeVal(s, changeAt)))
	}
	gen := n.chosen.dir
	must(t, n.Close())
	path := filepath.Join(gen, "0"+nutsdb.DataSuffix)
	offs, _ := nutsOffsets(t, path)
	// Entries are in write order: the index's mark, written at the first
	// open, slots 10 and 11, the index entry of 12, slots 12 to 29, the
	// index entry of 30, then slot 30, the 24th: damage it.
	nutsFlipAt(t, path, offs[23]+20)
	// And an entry whose slot was never written.
	db, err := nutsfix.Open(nutsfix.Spec{Dir: gen, Buckets: []string{nutsChosenBucket, nutsChosenMeta}, SegmentSize: nutsSegmentSize}, nutsTestLogger(t))
	must(t, err)
	must(t, nutsfix.Update(db, func(tx *nutsdb.Tx) error {
		return tx.Put(nutsChosenMeta, changeKey(45), []byte{1}, nutsdb.Persistent)
	}))
	must(t, nutsfix.Close(db, gen))

	n = nutsOpen(t, dir, nutsDefaults())
	defer n.Close()
	if got := n.Chosen().Last(); got != 29 {
		t.Fatalf("Last %d after damage at slot 30, want 29", got)
	}
	wantChanges(t, n.Chosen(), 0, 12)
	for s := uint64(30); s <= 50; s++ {
		must(t, n.Chosen().Append(s, changeVal(s, changeAt)))
	}
	wantChanges(t, n.Chosen(), 0, 12, 30, 45)
}
