package nutsfix

import (
	"bytes"
	"os"
	"testing"

	"github.com/nutsdb/nutsdb"
)

// A write nutsdb cannot do because its next segment cannot be created (its
// name is taken by a directory, which fails even for root) leaves nutsdb
// without an active file; Close does not panic and releases everything, and a
// reopen finds every write acknowledged before the failure.
func TestCloseAfterAFailedSegmentWrite(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	s := syncedSpec(dir)
	s.SegmentSize = 64 << 10
	db := openT(t, s)
	trap := dataFile(dir, 1)
	must(t, os.Mkdir(trap, 0o755))
	val := bytes.Repeat([]byte{'x'}, 4000)
	put := func(d *nutsdb.DB, i uint64) error {
		return Update(d, func(tx *nutsdb.Tx) error { return tx.Put(testBucket, key(i), val, nutsdb.Persistent) })
	}
	var acked uint64
	var err error
	for i := uint64(1); i <= 100; i++ {
		if err = put(db.DB, i); err != nil {
			break
		}
		acked = i
	}
	if err == nil {
		t.Fatal("100 writes into a full segment whose successor cannot be created all succeeded")
	}
	t.Logf("write %d failed: %v", acked+1, err)
	must(t, db.close()) // releases everything, though nutsdb lost its active file
	must(t, os.Remove(trap))

	db = openT(t, s)
	must(t, View(db.DB, func(tx *nutsdb.Tx) error {
		for i := uint64(1); i <= acked; i++ {
			if v, err := tx.Get(testBucket, key(i)); err != nil || !bytes.Equal(v, val) {
				t.Fatalf("write %d of %d acknowledged is gone: %v", i, acked, err)
			}
		}
		return nil
	}))
	must(t, put(db.DB, acked+1))
}
