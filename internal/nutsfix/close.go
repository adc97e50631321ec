package nutsfix

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/nutsdb/nutsdb"
)

// LeftoverGoroutine is the function in which nutsdb v1.1.0 leaves one
// goroutine blocked after Close. Close ends it (see stopWriter); the name
// is for goleak users in race builds, where it stays, and for a nutsdb whose
// fields no longer match, where the goroutine is left as it was.
const LeftoverGoroutine = "github.com/nutsdb/nutsdb.(*DB).doWrites"

// Close closes db, which Open opened from dir, and lets dir be opened again.
// A write that failed while nutsdb opened a new segment leaves db.ActiveFile
// nil, and nutsdb's Close then panics before it releases anything (files,
// goroutines, the directory lock): Close gives it an inert active file first.
// Any other panic is recovered; the lock it leaks is then handled by the next
// Open. Close also ends the writer goroutine nutsdb leaves behind, which a
// log that moves to a new DB every so often would otherwise pile up. The
// caller must exclude writers, and close each DB once.
func Close(db *nutsdb.DB, dir string) (err error) {
	defer unreserve(dir)
	defer func() {
		if r := recover(); r != nil {
			rememberLeakedLock(dir)
			err = fmt.Errorf("storage: nutsdb %s: close panicked: %v", dir, r)
		}
	}()
	if db.ActiveFile == nil {
		db.ActiveFile = nutsdb.NewDataFile("", inertFile{})
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("storage: nutsdb %s: close: %w", dir, err)
	}
	stopWriter(db)
	return nil
}

// waitingWriters holds the open DBs whose writer goroutine was seen
// waiting for requests.
var waitingWriters sync.Map

// awaitWriter waits (briefly) until db's doWrites goroutine is blocked
// on its channel, as the goroutine dump shows it, and records that the DB's
// writer may be stopped at close. A DB is opened once per start and per log
// generation, so the dump's cost does not matter.
func awaitWriter(db *nutsdb.DB) {
	want := []byte(fmt.Sprintf("nutsdb.(*DB).doWrites(%p", db))
	buf := make([]byte, 1<<16)
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		n := runtime.Stack(buf, true)
		if n == len(buf) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		for _, g := range bytes.Split(buf[:n], []byte("\n\n")) {
			if bytes.Contains(g, want) && bytes.Contains(g, []byte("[chan receive")) {
				waitingWriters.Store(db, true)
				return
			}
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// inertFile stands in for the active data file nutsdb lost: Close only
// releases it.
type inertFile struct{}

func (inertFile) WriteAt([]byte, int64) (int, error) { return 0, errors.New("no active data file") }
func (inertFile) ReadAt([]byte, int64) (int, error)  { return 0, errors.New("no active data file") }
func (inertFile) Sync() error                        { return nil }
func (inertFile) Release() error                     { return nil }
func (inertFile) Size() int64                        { return 0 }
func (inertFile) Close() error                       { return nil }
