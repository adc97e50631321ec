package nutsfix

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/nutsdb/nutsdb"
)

// Without the scan, nutsdb panics on the garbage: the panic becomes an error
// naming the file. nutsdb returns from the failed Open with its directory lock
// still held by a descriptor only the garbage collector may close (so the
// next nutsdb Open in this process would get ErrDirLocked, or not, by luck);
// Open then repairs and opens the directory all the same.
func TestOpenPanicIsAnErrorAndTheLockIsRecovered(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	db := openT(t, syncedSpec(dir))
	putRecs(t, db.DB, 1, 5)
	must(t, db.close())
	path := dataFile(dir, 0)
	_, end := offsets(t, path)
	writeAt(t, path, end, hugeGarbage())

	raw := syncedSpec(dir)
	raw.skipRepair = true
	_, err := Open(raw, testLogger(t))
	corruptNaming(t, err, path)
	if !strings.Contains(err.Error(), "panic") {
		t.Fatalf("error %v does not say nutsdb panicked", err)
	}
	leakedLocks.Lock()
	leaked := leakedLocks.dirs[lockKey(dir)]
	leakedLocks.Unlock()
	if !leaked {
		t.Fatal("the failed open did not record the lock it leaked")
	}

	// Hold the lock the way the leaked descriptor does, but deterministically
	// (the leaked one may be closed by the garbage collector at any moment):
	// a fresh lock file, locked by a descriptor the test keeps open.
	lockPath := filepath.Join(dir, nutsdb.FLockName)
	must(t, os.Remove(lockPath))
	stale, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	must(t, err)
	defer stale.Close()
	must(t, syscall.Flock(int(stale.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
	opt := nutsdb.DefaultOptions
	opt.Dir = dir
	if db, err := guardedOpen(opt); !errors.Is(err, nutsdb.ErrDirLocked) {
		if db != nil {
			_ = db.Close()
		}
		t.Fatalf("nutsdb with its lock held: %v, want ErrDirLocked", err)
	}
	db = openT(t, syncedSpec(dir))
	checkRecs(t, db.DB, 5)
}

// A directory this process has open is refused before the scan touches it,
// and the open DB goes on; once closed, it opens again.
func TestOpenRefusesADirectoryOpenInThisProcess(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	db := openT(t, syncedSpec(dir))
	putRecs(t, db.DB, 1, 1)
	if _, err := Open(syncedSpec(dir), testLogger(t)); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "already open in this process") {
		t.Fatalf("second open: %v, want ErrLocked before nutsdb is reached", err)
	}
	putRecs(t, db.DB, 2, 2)
	checkRecs(t, db.DB, 2)
	must(t, db.close())
	db = openT(t, syncedSpec(dir))
	checkRecs(t, db.DB, 2)
}

// nutsdb never syncs bucket.Meta nor its directory: Open syncs a new DB's
// bucket.Meta and directory. SyncCommit syncs the segment written to after
// each write and, after the write that opened a new segment, the old segment
// and the directory too.
func TestSyncsWhatNutsdbDoesNot(t *testing.T) {
	leakCheck(t)
	var synced []string
	restore := SetSyncForTest(func(p string) error { synced = append(synced, p); return Fsync(p) })
	t.Cleanup(restore)
	dir := t.TempDir()
	s := syncedSpec(dir)
	s.Sync = false
	s.SegmentSize = 64 << 10
	db := openT(t, s)
	if !slices.Contains(synced, filepath.Join(dir, nutsdb.BucketStoreFileName)) || !slices.Contains(synced, dir) {
		t.Fatalf("a new DB synced %v; want its bucket.Meta and directory", synced)
	}
	seen := db.MaxFileID
	for i := uint64(1); ; i++ {
		synced = nil
		must(t, Update(db.DB, func(tx *nutsdb.Tx) error {
			return tx.Put(testBucket, key(i), bytes.Repeat([]byte{'x'}, 5000), nutsdb.Persistent)
		}))
		must(t, SyncCommit(db.DB, dir, &seen))
		if _, err := os.Stat(dataFile(dir, 1)); err == nil {
			if want := []string{dataFile(dir, 0), dir, dataFile(dir, 1)}; !slices.Equal(synced, want) {
				t.Fatalf("the write that opened segment 1 synced %v; want %v", synced, want)
			}
			return
		}
		if want := []string{dataFile(dir, 0)}; !slices.Equal(synced, want) {
			t.Fatalf("write %d within a segment synced %v; want %v", i, synced, want)
		}
	}
}

// A failed directory sync after a new segment is SyncCommit's error.
func TestSyncCommitDirectoryFailure(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	s := syncedSpec(dir)
	s.SegmentSize = 64 << 10
	db := openT(t, s)
	restore := SetSyncForTest(func(p string) error {
		if p == dir {
			return errors.New("injected: directory sync failed")
		}
		return Fsync(p)
	})
	t.Cleanup(restore)
	seen := db.MaxFileID
	for i := uint64(1); i < 100; i++ {
		must(t, Update(db.DB, func(tx *nutsdb.Tx) error {
			return tx.Put(testBucket, key(i), bytes.Repeat([]byte{'x'}, 5000), nutsdb.Persistent)
		}))
		if err := SyncCommit(db.DB, dir, &seen); err != nil {
			if !strings.Contains(err.Error(), "injected") {
				t.Fatalf("write %d: %v", i, err)
			}
			if _, serr := os.Stat(dataFile(dir, 1)); serr != nil {
				t.Fatalf("SyncCommit failed before a new segment: %v", err)
			}
			return
		}
	}
	t.Fatal("no write opened a new segment")
}
