//go:build race

package nutsfix

import "github.com/nutsdb/nutsdb"

// stopWriter leaves the writer goroutine in race builds: see
// stop.go.
func stopWriter(db *nutsdb.DB) { waitingWriters.Delete(db) }
