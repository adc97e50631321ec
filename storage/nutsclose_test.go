//go:build !race

package storage

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/rsml-go/rsml/msg"
)

// Closing the logs leaves no goroutine behind, nor does any generation they
// retired on the way: each DB is closed with nutsfix.Close, which ends the
// writer that nutsdb v1.1.0 leaves blocked (a DB left open would leave it).
// Race builds keep that goroutine; make test runs this in its non-race pass.
func TestNutsCloseEndsWriterNoRace(t *testing.T) {
	before := goleak.IgnoreCurrent()
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		n := nutsOpen(t, dir, nutsOptions{segmentSize: 1 << 20, compactBytes: 32 << 10})
		for s := uint64(1); s <= 100; s++ {
			rec := AcceptorRecord{Entries: []msg.Entry{bigEntry(s, 1)}}
			if s%10 == 0 {
				rec.Truncated = s - 5
			}
			must(t, n.Acceptor().Append(rec)) // several generation switches
		}
		must(t, n.Close())
	}
	goleak.VerifyNone(t, before)
}
