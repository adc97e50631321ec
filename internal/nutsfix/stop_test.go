//go:build !race

package nutsfix

import (
	"testing"

	"go.uber.org/goleak"
)

// Closing a DB leaves no goroutine behind: Close ends the writer that nutsdb
// v1.1.0 leaves blocked. (Race builds keep it; make test runs this in its
// non-race pass.)
func TestCloseEndsWriterNoRace(t *testing.T) {
	before := goleak.IgnoreCurrent()
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	for round := uint64(0); round < 3; round++ {
		var open []*testDB
		for _, dir := range dirs {
			db := openT(t, syncedSpec(dir))
			putRecs(t, db.DB, 10*round+1, 10*round+10)
			open = append(open, db)
		}
		for _, db := range open {
			must(t, db.close())
		}
	}
	goleak.VerifyNone(t, before)
}
