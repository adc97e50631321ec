package nutsfix

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/nutsdb/nutsdb"
)

// commitBufferSize is the commit buffer each DB keeps: the logs' usual
// transactions (a group-committed acceptor record, one chosen slot) fit.
const commitBufferSize = 256 << 10

// Spec says which DB Open opens and how.
type Spec struct {
	// Dir is the DB's directory, created (and synced into its parent) if
	// missing.
	Dir string
	// Sync makes nutsdb fsync every commit before it returns (SyncEnable).
	// A DB whose writers call SyncCommit needs it off: that syncs instead.
	Sync bool
	// Strict says the DB is synced, so damage followed by valid entries is
	// the loss of entries that were acknowledged: Open refuses it. Otherwise
	// the scan cuts at the first damage, wherever it is.
	Strict bool
	// Buckets are the DB's BTree buckets, created all at once by the first
	// Open. A DB whose bucket.Meta lacks some of them while it holds entries
	// is refused.
	Buckets []string
	// SegmentSize is the size of a data file; nutsdb extends each one to it up
	// front (sparse), so large costs no disk and makes directory syncs
	// (SyncCommit) rare.
	SegmentSize int64

	skipRepair bool // tests: hand nutsdb the files as they are
}

// Open opens (creating if needed) the DB s describes. It first scans the
// data files as nutsdb's recovery reads them and cuts what a crash leaves (a
// torn tail, an uncommitted group at the tail, a half-written bucket.Meta of
// an interrupted init); damage it cannot cut without losing synced entries,
// and files nutsdb would misread, make it fail with an ErrCorrupt error that
// names the file. It then opens nutsdb (merge, hint files and auto-merge off)
// turning a panic into an error, creates missing buckets, and syncs
// bucket.Meta and the directory, which nutsdb never does. A directory this
// process already has open is refused with ErrLocked. The caller must keep
// other processes out.
func Open(s Spec, logger *slog.Logger) (db *nutsdb.DB, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	// Refuse a directory this process has open before the scan touches it: a
	// repair of a live DB could cut a write in flight.
	if !reserve(s.Dir) {
		return nil, fmt.Errorf("%w: nutsdb %s is already open in this process", ErrLocked, s.Dir)
	}
	defer func() {
		if err != nil {
			unreserve(s.Dir)
		}
	}()
	if err := MkdirAll(s.Dir); err != nil {
		return nil, fmt.Errorf("storage: nutsdb %s: %w", s.Dir, err)
	}
	if !s.skipRepair {
		if _, err := scanDir(s.Dir, scanOpts{strict: s.Strict, repair: true, buckets: s.Buckets}, logger); err != nil {
			return nil, err
		}
	}
	opt := nutsdb.DefaultOptions // SyncEnable true; a zero Options has it false
	opt.Dir = s.Dir
	opt.SyncEnable = s.Sync
	opt.EntryIdxMode = nutsdb.HintKeyAndRAMIdxMode // keys in memory, values on disk
	opt.SegmentSize = s.SegmentSize
	// nutsdb allocates a commit buffer of this size per DB up front and
	// keeps it; a larger transaction gets a buffer of its own. The default
	// (4 MiB) was a tenth of a replica's heap.
	opt.CommitBufferSize = commitBufferSize
	opt.MergeInterval = 0 // no auto-merge: it can deadlock Close
	opt.EnableMergeV2 = false
	opt.EnableHintFile = false
	opt.EnableWatch = false

	releaseLeakedLock(s.Dir, logger)
	db, err = guardedOpen(opt)
	if err != nil {
		if errors.Is(err, nutsdb.ErrDirLocked) {
			return nil, fmt.Errorf("%w: nutsdb %s is open elsewhere in this process: %v", ErrLocked, s.Dir, err)
		}
		rememberLeakedLock(s.Dir)
		// Say which file is at fault if a strict look finds it.
		if _, serr := scanDir(s.Dir, scanOpts{strict: true}, logger); serr != nil {
			return nil, fmt.Errorf("storage: nutsdb cannot open %s (%v): %w", s.Dir, err, serr)
		}
		return nil, fmt.Errorf("%w: nutsdb cannot open %s: %v", ErrCorrupt, s.Dir, err)
	}
	awaitWriter(db)
	if err := ensureBuckets(db, s.Dir, s.Buckets, logger); err != nil {
		_ = Close(db, s.Dir)
		return nil, err
	}
	// nutsdb may just have created the data file, bucket.Meta or its lock.
	if err := SyncPath(s.Dir); err != nil {
		_ = Close(db, s.Dir)
		return nil, fmt.Errorf("storage: nutsdb %s: sync directory: %w", s.Dir, err)
	}
	return db, nil
}

// guardedOpen runs nutsdb.Open, turning its panics on damaged files into
// errors.
func guardedOpen(opt nutsdb.Options) (db *nutsdb.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("nutsdb.Open panicked: %v", r)
		}
	}()
	return nutsdb.Open(opt)
}

// ensureBuckets creates the buckets of a new DB, all in one transaction,
// then makes bucket.Meta durable: nutsdb never syncs it.
func ensureBuckets(db *nutsdb.DB, dir string, buckets []string, logger *slog.Logger) error {
	var missing []string
	err := View(db, func(tx *nutsdb.Tx) error {
		for _, b := range buckets {
			if !tx.ExistBucket(nutsdb.DataStructureBTree, b) {
				missing = append(missing, b)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: nutsdb %s: %w", dir, err)
	}
	if len(missing) == 0 {
		return nil
	}
	if len(missing) != len(buckets) {
		// The repair resets a bucket.Meta left half-written by an interrupted
		// init; one that lacks a bucket here was damaged some other way.
		return fmt.Errorf("%w: %s lacks buckets %v", ErrCorrupt, filepath.Join(dir, nutsdb.BucketStoreFileName), missing)
	}
	err = Update(db, func(tx *nutsdb.Tx) error {
		for _, b := range buckets {
			if err := tx.NewKVBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = SyncPath(filepath.Join(dir, nutsdb.BucketStoreFileName))
	}
	if err == nil {
		err = SyncPath(dir)
	}
	if err != nil {
		return fmt.Errorf("storage: nutsdb %s: create buckets: %w", dir, err)
	}
	logger.Debug("created nutsdb", "dir", dir, "buckets", buckets)
	return nil
}

// openDirs lists the nutsdb directories this process has open.
var openDirs = struct {
	sync.Mutex
	dirs map[string]bool
}{dirs: map[string]bool{}}

func reserve(dir string) bool {
	openDirs.Lock()
	defer openDirs.Unlock()
	k := lockKey(dir)
	if openDirs.dirs[k] {
		return false
	}
	openDirs.dirs[k] = true
	return true
}

func unreserve(dir string) {
	openDirs.Lock()
	defer openDirs.Unlock()
	delete(openDirs.dirs, lockKey(dir))
}

// leakedLocks lists directories whose nutsdb lock this process holds
// through a file descriptor nothing will close: a failed Open (nutsdb returns
// without unlocking) or a Close that panicked. The lock is an flock on the
// file nutsdb-flock, so the next open in this process would fail with
// ErrDirLocked until the garbage collector happens to close that descriptor.
// The next open removes the file instead, so nutsdb locks a new one: no live
// DB holds the old lock (its owner never opened or is closed), and the
// caller's own directory lock keeps other processes out.
var leakedLocks = struct {
	sync.Mutex
	dirs map[string]bool
}{dirs: map[string]bool{}}

func lockKey(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return filepath.Clean(dir)
}

func rememberLeakedLock(dir string) {
	leakedLocks.Lock()
	defer leakedLocks.Unlock()
	leakedLocks.dirs[lockKey(dir)] = true
}

func releaseLeakedLock(dir string, logger *slog.Logger) {
	leakedLocks.Lock()
	defer leakedLocks.Unlock()
	k := lockKey(dir)
	if !leakedLocks.dirs[k] {
		return
	}
	delete(leakedLocks.dirs, k)
	p := filepath.Join(dir, nutsdb.FLockName)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		logger.Warn("cannot remove nutsdb's stale lock file", "file", p, "err", err)
		return
	}
	logger.Info("removed the nutsdb lock file a failed open left locked", "file", p)
}
