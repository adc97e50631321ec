package nutsfix

import (
	"log/slog"
	"os"
)

// What tests (and tools) need to see in a DB's files, read as Open's scan
// reads them.

// EntryOffsets returns the offset of every valid entry of the data file at
// path, up to the first that is not, and where the last one ends: tests damage
// a chosen entry with it.
func EntryOffsets(path string) (offs []int64, end int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	last, err := dataEnd(f, 0, fi.Size()) // skip the sparse rest of the segment
	if err != nil {
		return nil, 0, err
	}
	b := make([]byte, last)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, 0, err
	}
	off := int64(0)
	for {
		e, ok := parseHeader(b[off:min(off+hdrMax, int64(len(b)))])
		if !ok || e.zero() || off+e.size() > int64(len(b)) {
			return offs, off, nil
		}
		offs = append(offs, off)
		off += e.size()
	}
}

// CountEntries returns how many entries the data files in dir hold. It
// changes nothing: any damage, even a torn tail, is an ErrCorrupt error.
func CountEntries(dir string) (int, error) {
	s, err := scanDir(dir, scanOpts{strict: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	return s.entries, nil
}
