//go:build race

package storage

import "github.com/nutsdb/nutsdb"

// nutsStopWriter leaves the writer goroutine in race builds: see
// nutsstop.go.
func nutsStopWriter(db *nutsdb.DB) { nutsWaitingWriters.Delete(db) }
