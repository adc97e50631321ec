package nutsfix

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/nutsdb/nutsdb"
)

// A crash while nutsdb writes the last entry leaves part of it: at every cut
// the DB reopens with every whole entry, and takes new ones after them.
func TestTornTailIsCut(t *testing.T) {
	leakCheck(t)
	const recs = 20
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		cut  func(t *testing.T, path string, last, end int64)
	}{
		{"truncate 1 byte", truncateBy(1)},
		{"truncate 2 bytes", truncateBy(2)},
		{"truncate 7 bytes", truncateBy(7)},
		{"truncate into the header", func(t *testing.T, path string, last, end int64) { must(t, os.Truncate(path, last+10)) }},
		{"truncate to a header fragment", func(t *testing.T, path string, last, end int64) { must(t, os.Truncate(path, last+3)) }},
		{"zero the last 5 bytes", func(t *testing.T, path string, last, end int64) {
			writeAt(t, path, end-5, make([]byte, 5))
		}},
		{"zero the middle of the last record", func(t *testing.T, path string, last, end int64) {
			writeAt(t, path, last+(end-last)/2, make([]byte, 4))
		}},
		{"garbage over the end of the last record", func(t *testing.T, path string, last, end int64) {
			g := make([]byte, (end-last)/2+1)
			for i := range g {
				g[i] = byte(rng.UintN(255) + 1)
			}
			writeAt(t, path, end-int64(len(g)), g)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := openT(t, syncedSpec(dir))
			putRecs(t, db.DB, 1, recs)
			must(t, db.close())
			path := dataFile(dir, 0)
			offs, end := offsets(t, path)
			if len(offs) != recs {
				// the other bucket is untouched here, so one entry per record
				t.Fatalf("%d entries in %s, want %d", len(offs), path, recs)
			}
			tc.cut(t, path, offs[len(offs)-1], end)

			db = openT(t, syncedSpec(dir))
			checkRecs(t, db.DB, recs-1)
			must(t, putRec(db.DB, recs))
			must(t, db.close())
			db = openT(t, syncedSpec(dir))
			checkRecs(t, db.DB, recs)
		})
	}
}

// Damage before the tail of a synced DB is loss of entries that were
// acknowledged: Open refuses, naming the file.
func TestDamageBeforeTheTailFails(t *testing.T) {
	leakCheck(t)
	for _, tc := range []struct {
		name string
		at   func(offs []int64) int64
	}{
		{"crc of record 5", func(offs []int64) int64 { return offs[4] + 1 }},
		{"value size of record 5", func(offs []int64) int64 { return offs[4] + 4 + 6 + 1 }},
		{"payload of record 5", func(offs []int64) int64 { return (offs[4] + offs[5]) / 2 }},
		{"last byte of record 9 of 10", func(offs []int64) int64 { return offs[9] - 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := openT(t, syncedSpec(dir))
			putRecs(t, db.DB, 1, 10)
			must(t, db.close())
			path := dataFile(dir, 0)
			offs, _ := offsets(t, path)
			flipAt(t, path, tc.at(offs))
			_, err := Open(syncedSpec(dir), testLogger(t))
			corruptNaming(t, err, path)
			_, err = Open(syncedSpec(dir), testLogger(t))
			corruptNaming(t, err, path) // still refused: nothing was cut
		})
	}
}

// Unsynced, damage anywhere is a lost tail: the scan cuts at the first
// damage and the DB reopens with the entries before it.
func TestUnsyncedDamageIsCut(t *testing.T) {
	leakCheck(t)
	spec := func(dir string) Spec {
		return Spec{Dir: dir, Buckets: []string{testBucket, otherBucket}, SegmentSize: 1 << 30}
	}
	dir := t.TempDir()
	db := openT(t, spec(dir))
	putRecs(t, db.DB, 1, 30)
	must(t, db.close())
	path := dataFile(dir, 0)
	offs, _ := offsets(t, path)
	flipAt(t, path, offs[15]+20) // record 16
	db = openT(t, spec(dir))
	checkRecs(t, db.DB, 15)
	must(t, putRec(db.DB, 16))
	checkRecs(t, db.DB, 16)
}

// With small segments the DB spans files: everything reopens, and damage at
// the end of an earlier file (followed by a later file) is refused.
func TestSegments(t *testing.T) {
	leakCheck(t)
	s := func(dir string) Spec { sp := syncedSpec(dir); sp.SegmentSize = 64 << 10; return sp }
	big := func(i uint64) []byte {
		v := make([]byte, 5000)
		for k := range v {
			v[k] = byte(i)
		}
		return v
	}
	dir := t.TempDir()
	db := openT(t, s(dir))
	seen := db.MaxFileID
	for i := uint64(1); i <= 40; i++ {
		must(t, Update(db.DB, func(tx *nutsdb.Tx) error { return tx.Put(testBucket, key(i), big(i), nutsdb.Persistent) }))
		must(t, SyncCommit(db.DB, dir, &seen))
	}
	must(t, db.close())
	if _, err := os.Stat(dataFile(dir, 2)); err != nil {
		t.Fatalf("want at least 3 segments: %v", err)
	}
	db = openT(t, s(dir))
	err := View(db.DB, func(tx *nutsdb.Tx) error {
		keys, err := tx.GetKeys(testBucket)
		if err != nil || len(keys) != 40 {
			t.Fatalf("reopened %d entries, want 40 (%v)", len(keys), err)
		}
		for i := uint64(1); i <= 40; i++ {
			if v, err := tx.Get(testBucket, key(i)); err != nil || string(v) != string(big(i)) {
				t.Fatalf("entry %d after reopen: %v", i, err)
			}
		}
		return nil
	})
	must(t, err)
	must(t, db.close())

	path := dataFile(dir, 0)
	offs, end := offsets(t, path)
	flipAt(t, path, (offs[len(offs)-1]+end)/2) // the last record of the first file
	_, err = Open(s(dir), testLogger(t))
	corruptNaming(t, err, path)
}

// Garbage with huge length fields after the last entry makes nutsdb's Open
// panic; the scan cuts it first.
func TestHugeLengthGarbageIsCut(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	db := openT(t, syncedSpec(dir))
	putRecs(t, db.DB, 1, 5)
	must(t, db.close())
	path := dataFile(dir, 0)
	_, end := offsets(t, path)
	writeAt(t, path, end, hugeGarbage())

	db = openT(t, syncedSpec(dir))
	checkRecs(t, db.DB, 5)
}

// An uncommitted entry at the tail is cut; one followed by another
// transaction (which nutsdb would apply together with it) is refused, and so
// is an entry of a bucket bucket.Meta does not hold (which nutsdb would drop).
func TestUncommittedEntries(t *testing.T) {
	leakCheck(t)
	build := func(t *testing.T) (string, string, int64) {
		dir := t.TempDir()
		db := openT(t, syncedSpec(dir))
		putRecs(t, db.DB, 1, 3)
		must(t, db.close())
		path := dataFile(dir, 0)
		_, end := offsets(t, path)
		return dir, path, end
	}
	t.Run("at the tail", func(t *testing.T) {
		dir, path, end := build(t)
		e := encodeEntry(1, 77, nutsdb.UnCommitted, key(5), []byte("half a transaction"))
		writeAt(t, path, end, e)
		db := openT(t, syncedSpec(dir))
		checkRecs(t, db.DB, 3)
		must(t, putRec(db.DB, 4))
		must(t, db.close())
		// Left in place, the uncommitted entry (record 5) would now be
		// applied together with record 4's transaction.
		db = openT(t, syncedSpec(dir))
		checkRecs(t, db.DB, 4)
	})
	t.Run("followed by another transaction", func(t *testing.T) {
		dir, path, end := build(t)
		e := encodeEntry(1, 77, nutsdb.UnCommitted, key(4), []byte("half a transaction"))
		e = append(e, encodeEntry(1, 78, nutsdb.Committed, key(5), []byte("another"))...)
		writeAt(t, path, end, e)
		_, err := Open(syncedSpec(dir), testLogger(t))
		corruptNaming(t, err, path)
	})
	t.Run("unknown bucket", func(t *testing.T) {
		dir, path, end := build(t)
		writeAt(t, path, end, encodeEntry(99, 79, nutsdb.Committed, key(4), []byte("dropped by nutsdb")))
		_, err := Open(syncedSpec(dir), testLogger(t))
		corruptNaming(t, err, path)
	})
}

// bucket.Meta is written once, at init: a crash during init is started over;
// a bucket.Meta that lost a bucket while data exists is refused.
func TestBucketMeta(t *testing.T) {
	leakCheck(t)
	t.Run("interrupted init", func(t *testing.T) {
		dir := t.TempDir()
		db := openT(t, syncedSpec(dir))
		must(t, db.close())
		meta := filepath.Join(dir, nutsdb.BucketStoreFileName)
		fi, err := os.Stat(meta)
		must(t, err)
		must(t, os.Truncate(meta, fi.Size()-3)) // the second bucket is torn
		db = openT(t, syncedSpec(dir))
		putRecs(t, db.DB, 1, 2)
		must(t, Update(db.DB, func(tx *nutsdb.Tx) error {
			return tx.Put(otherBucket, []byte("max"), []byte("1.1"), nutsdb.Persistent)
		}))
		checkRecs(t, db.DB, 2)
		must(t, View(db.DB, func(tx *nutsdb.Tx) error {
			v, err := tx.Get(otherBucket, []byte("max"))
			if err == nil && string(v) != "1.1" {
				t.Fatalf("other bucket holds %q", v)
			}
			return err
		}))
	})
	t.Run("bucket lost with data present", func(t *testing.T) {
		dir := t.TempDir()
		db := openT(t, syncedSpec(dir))
		putRecs(t, db.DB, 1, 2)
		must(t, db.close())
		meta := filepath.Join(dir, nutsdb.BucketStoreFileName)
		fi, err := os.Stat(meta)
		must(t, err)
		must(t, os.Truncate(meta, fi.Size()-3))
		_, err = Open(syncedSpec(dir), testLogger(t))
		corruptNaming(t, err, meta)
	})
	t.Run("damaged first bucket", func(t *testing.T) {
		dir := t.TempDir()
		db := openT(t, syncedSpec(dir))
		must(t, db.close())
		meta := filepath.Join(dir, nutsdb.BucketStoreFileName)
		flipAt(t, meta, 12)
		_, err := Open(syncedSpec(dir), testLogger(t))
		corruptNaming(t, err, meta)
	})
}

// Merge and hint files make nutsdb act on its own; nothing here writes them,
// so Open refuses a directory that holds one.
func TestRefusesMergeFiles(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	db := openT(t, syncedSpec(dir))
	must(t, db.close())
	must(t, os.WriteFile(filepath.Join(dir, "merge_1.dat"), nil, 0o644))
	_, err := Open(syncedSpec(dir), testLogger(t))
	corruptNaming(t, err, "merge_1.dat")
}
