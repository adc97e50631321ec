package nutsfix

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nutsdb/nutsdb"
)

// syncPath is what SyncPath runs; tests swap it (SetSyncForTest).
var syncPath = Fsync

// SyncPath fsyncs a file or directory. Every sync this package does goes
// through it, so a test can see what is synced when, or make a sync fail.
func SyncPath(p string) error { return syncPath(p) }

// Fsync fsyncs a file or directory: what SyncPath does unless a test
// replaced it.
func Fsync(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SetSyncForTest makes SyncPath run f until restore is called (restore may
// be called more than once). Tests only: nothing else may run SyncPath
// meanwhile.
func SetSyncForTest(f func(path string) error) (restore func()) {
	old := syncPath
	syncPath = f
	return func() { syncPath = old }
}

// MkdirAll creates dir and any missing parent, syncing the parent of each
// directory it creates: a directory that vanishes in a power cut would take
// synced files with it.
func MkdirAll(dir string) error {
	dir = filepath.Clean(dir)
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("%s is not a directory", dir)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return SyncPath(parent)
}

// SyncDataFiles fsyncs every nutsdb data file in dir: for a DB opened
// without Sync, whose data must now survive a power cut.
func SyncDataFiles(dir string) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+nutsdb.DataSuffix))
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := SyncPath(p); err != nil {
			errs = append(errs, fmt.Errorf("storage: sync %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// SyncCommit makes db's commits so far durable, for a DB opened without
// Sync: it fsyncs the data file nutsdb writes to and, if nutsdb has started a
// new one since *seen (the db.MaxFileID last seen; updated), the file it left
// and the directory, whose new entry nutsdb never syncs. Call it after each
// write that must be durable, before acknowledging it.
//
// The fsyncs are made here rather than by nutsdb (Spec.Sync) so that they go
// through SyncPath: a power-loss test sees what was durable when.
func SyncCommit(db *nutsdb.DB, dir string, seen *int64) error {
	id := db.MaxFileID
	if id != *seen {
		if err := SyncPath(dataPath(dir, *seen)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sync the previous segment: %w", err)
		}
		if err := SyncPath(dir); err != nil {
			return fmt.Errorf("sync directory after new segment: %w", err)
		}
		*seen = id
	}
	if err := SyncPath(dataPath(dir, id)); err != nil {
		return fmt.Errorf("sync segment: %w", err)
	}
	return nil
}

// dataPath is where nutsdb keeps data file id of the DB in dir.
func dataPath(dir string, id int64) string {
	return filepath.Join(dir, strconv.FormatInt(id, 10)+nutsdb.DataSuffix)
}
