//go:build unix

package storage

import (
	"io/fs"
	"syscall"
)

// diskUsage is the space a file takes on disk: its blocks, which for
// nutsdb's sparse segments is far less than the apparent size.
func diskUsage(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}
