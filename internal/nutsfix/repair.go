package nutsfix

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/nutsdb/nutsdb"
)

// The scan that runs before every nutsdb Open: it checks the files the way
// nutsdb v1.1.0's recovery reads them, cuts a torn tail, and refuses damage
// that would make nutsdb lose or misapply entries silently.
//
// Data file (<id>.dat, read in id order; entry.go Encode, metadata.go,
// recovery_reader.go readEntry, db.go parseDataFiles):
//
//	crc uint32 LE | timestamp | key size | value size | flag | ttl | status | ds | tx id | bucket id | key | value
//
// Every field between crc and key is an unsigned varint (written minimal);
// crc is the IEEE CRC-32 of every byte after it. A transaction's entries are
// written back to back, the last with status Committed; recovery applies an
// entry group when it reads a Committed entry. nutsdb extends each data file
// to the segment size up front, so the bytes after the last entry are zeros
// (a hole). Recovery stops reading a file at an all-zero header or a short
// one, and fails Open on a CRC mismatch — or panics on a header whose varints
// overflow. What it gets wrong, and the scan therefore checks:
//   - a torn tail (a crash during a write) fails Open: cut it;
//   - anything after a zero or damaged stretch is ignored, silently: if a
//     valid entry follows damage in the synced acceptor log, a synced record is
//     lost, so refuse (the error names the file and offsets);
//   - an uncommitted group followed by another transaction is applied with
//     that transaction: refuse (rsml writes one Put per transaction, so this
//     is never ours);
//   - an entry whose bucket id is not in bucket.Meta is dropped: refuse.
//
// bucket.Meta (bucket.go, bucket_manager.go): records of
//
//	crc uint32 LE | op uint16 LE | size uint32 LE | id uint64 LE | ds uint16 LE | name
//
// where size counts id, ds and name, and crc is the IEEE CRC-32 of every byte
// after it. rsml writes it once, at init; a torn one is cut, and one that does
// not hold every bucket while the data files are still empty is an
// interrupted init and is reset.
//
// What the scan cannot tell apart: a complete last entry whose CRC fails was
// torn by a power cut (never acknowledged) or rotted after it was synced. It
// is cut, with a warning; disks checksum their sectors, so the second is rare.

const (
	hdrMax      = nutsdb.MaxEntryHeaderSize // 58
	hdrMin      = nutsdb.MinEntryHeaderSize // 13
	maxKeySize  = 4096
	bucketHdr   = 10 // crc, op, size
	bucketFixed = 10 // id, ds
	maxBucket   = bucketFixed + 4096
	maxMetaFile = 64 << 20
	readBuf     = 1 << 20
	// lseek whence values of Linux (and the BSDs' and macOS's).
	seekData = 3
	seekHole = 4
)

type scanOpts struct {
	// strict: the DB is synced, so damage followed by valid data is loss and
	// an error. Otherwise the scan cuts at the first damage, wherever it is.
	strict bool
	// repair: cut what can be cut. Otherwise any damage is an error.
	repair bool
	// buckets the DB must hold (nil: not checked).
	buckets []string
}

// scanResult is what a scan found.
type scanResult struct {
	dir     string
	files   []fileScan
	entries int // valid entries in the data files
	buckets map[uint64]bucketRec
	meta    metaScan
	repairs []string // what repair cut

	open      bool // a transaction group not yet committed
	openTx    uint64
	openStart filePos
}

type filePos struct {
	file int // index in files
	off  int64
}

type fileScan struct {
	id         int64
	path       string
	size       int64
	validEnd   int64 // end of the last valid entry
	dataEnd    int64 // end of the last non-zero byte
	entries    int
	lastOff    int64 // offset of the last valid entry, -1 if none
	foundAfter int64 // a valid entry past the damage, -1 if none
	scanned    bool
}

func (f *fileScan) damaged() bool { return f.dataEnd > f.validEnd }

type bucketRec struct {
	ds   uint16
	name string
}

type metaScan struct {
	path       string
	exists     bool
	size       int64
	validEnd   int64
	foundAfter int64
}

// scanDir scans the nutsdb files in dir and, with o.repair, cuts what a
// crash can leave behind.
func scanDir(dir string, o scanOpts, logger *slog.Logger) (*scanResult, error) {
	s := &scanResult{dir: dir}
	ids, err := listDataFiles(dir)
	if err != nil {
		return nil, err
	}
	if err := s.scanMeta(filepath.Join(dir, nutsdb.BucketStoreFileName)); err != nil {
		return nil, err
	}
	for _, id := range ids {
		p := filepath.Join(dir, strconv.FormatInt(id, 10)+nutsdb.DataSuffix)
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("storage: %s: %w", p, err)
		}
		s.files = append(s.files, fileScan{id: id, path: p, size: fi.Size(), lastOff: -1, foundAfter: -1})
	}
	for i := range s.files {
		if err := s.scanFile(i); err != nil {
			return nil, err
		}
		if !o.strict && s.files[i].damaged() {
			break // everything from here on is cut
		}
	}

	var cuts []truncation
	m := &s.meta
	if m.foundAfter >= 0 {
		return nil, fmt.Errorf("%w: %s: damaged bucket record at offset %d followed by a valid one at offset %d",
			ErrCorrupt, m.path, m.validEnd, m.foundAfter)
	}
	if missing := s.missingBuckets(o.buckets); len(missing) > 0 {
		if s.entries > 0 {
			return nil, fmt.Errorf("%w: %s lacks buckets %v but the data files hold %d entries",
				ErrCorrupt, m.path, missing, s.entries)
		}
		// An init that did not finish: nothing was ever written. Start over.
		if m.exists && m.size > 0 {
			cuts = append(cuts, truncation{m.path, 0, m.size, "bucket.Meta of an interrupted init"})
		}
		for _, f := range s.files {
			if f.size > 0 {
				cuts = append(cuts, truncation{f.path, 0, f.size, "data file of an interrupted init"})
			}
		}
		return s, s.apply(cuts, o, logger)
	}
	if m.exists && m.validEnd < m.size {
		cuts = append(cuts, truncation{m.path, m.validEnd, m.size, "torn tail of bucket.Meta"})
	}

	cut := filePos{file: -1}
	if o.strict {
		last := -1
		for i := range s.files {
			if s.files[i].dataEnd > 0 {
				last = i
			}
		}
		for i := 0; i < last; i++ {
			if f := s.files[i]; f.damaged() {
				return nil, fmt.Errorf("%w: %s: damaged entry at offset %d, and %s holds later entries: synced records would be lost",
					ErrCorrupt, f.path, f.validEnd, s.files[last].path)
			}
		}
		if last >= 0 && s.files[last].damaged() {
			f := s.files[last]
			if f.foundAfter >= 0 {
				return nil, fmt.Errorf("%w: %s: damaged entry at offset %d followed by a valid entry at offset %d: a synced record would be lost",
					ErrCorrupt, f.path, f.validEnd, f.foundAfter)
			}
			cut = filePos{last, f.validEnd}
		}
	} else {
		for i := range s.files {
			if s.files[i].damaged() {
				cut = filePos{i, s.files[i].validEnd}
				break
			}
		}
	}
	if s.open {
		// The last transaction never committed: nutsdb would skip it, or
		// apply it with the next one. Cut it too.
		cut = s.openStart
	}
	if cut.file >= 0 {
		f := s.files[cut.file]
		cuts = append(cuts, truncation{f.path, cut.off, max(f.dataEnd, cut.off), "torn tail"})
		for _, g := range s.files[cut.file+1:] {
			if g.size > 0 {
				cuts = append(cuts, truncation{g.path, 0, g.size, "data file after a torn tail"})
			}
		}
	}
	return s, s.apply(cuts, o, logger)
}

// truncation cuts path to off; end is where its non-zero bytes ended.
type truncation struct {
	path    string
	off     int64
	end     int64
	because string
}

func (s *scanResult) apply(cuts []truncation, o scanOpts, logger *slog.Logger) error {
	if len(cuts) == 0 {
		return nil
	}
	if !o.repair {
		c := cuts[0]
		return fmt.Errorf("%w: %s: %s at offset %d (%d bytes)", ErrCorrupt, c.path, c.because, c.off, c.end-c.off)
	}
	for _, c := range cuts {
		if err := os.Truncate(c.path, c.off); err != nil {
			return fmt.Errorf("storage: repair %s: %w", c.path, err)
		}
		if err := SyncPath(c.path); err != nil {
			return fmt.Errorf("storage: repair %s: %w", c.path, err)
		}
		logger.Warn("nutsdb: cut what a crash left", "file", c.path, "what", c.because, "offset", c.off, "bytes", c.end-c.off)
		s.repairs = append(s.repairs, fmt.Sprintf("%s: %s at offset %d", c.path, c.because, c.off))
	}
	return nil
}

func (s *scanResult) missingBuckets(want []string) []string {
	var missing []string
	for _, w := range want {
		found := false
		for _, b := range s.buckets {
			if b.ds == nutsdb.DataStructureBTree && b.name == w {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return missing
}

// listDataFiles returns the ids of the data files nutsdb would read, in
// the order it reads them. Merge and hint files make nutsdb act on its own
// (remove data files, skip scans): rsml never writes them, so they are refused.
func listDataFiles(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: nutsdb %s: %w", dir, err)
	}
	var ids []int64
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, "merge_") || strings.HasSuffix(name, nutsdb.HintSuffix) {
			return nil, fmt.Errorf("%w: %s: unexpected nutsdb merge or hint file %s (rsml keeps merge and hint files off)",
				ErrCorrupt, dir, name)
		}
		if e.IsDir() || !strings.HasSuffix(name, nutsdb.DataSuffix) {
			continue
		}
		base := strings.TrimSuffix(name, nutsdb.DataSuffix)
		id, err := strconv.ParseInt(base, 10, 64)
		if err != nil {
			continue // nutsdb skips it too
		}
		if id < 0 || strconv.FormatInt(id, 10) != base {
			return nil, fmt.Errorf("%w: %s: unexpected data file name %s", ErrCorrupt, dir, name)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// --- bucket.Meta ---

func (s *scanResult) scanMeta(path string) error {
	s.buckets = map[uint64]bucketRec{}
	m := &s.meta
	*m = metaScan{path: path, foundAfter: -1}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: %s: %w", path, err)
	}
	if fi.Size() > maxMetaFile {
		return fmt.Errorf("%w: %s: %d bytes, far more than any bucket list", ErrCorrupt, path, fi.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", path, err)
	}
	m.exists, m.size = true, int64(len(b))
	off := 0
	for {
		rec, n, ok := parseBucket(b[off:])
		if !ok {
			break
		}
		switch rec.op {
		case uint16(nutsdb.BucketInsertOperation):
			s.buckets[rec.id] = bucketRec{ds: rec.ds, name: rec.name}
		case uint16(nutsdb.BucketDeleteOperation):
			delete(s.buckets, rec.id)
		}
		off += n
	}
	m.validEnd = int64(off)
	for p := off + 1; p < len(b); p++ {
		if _, _, ok := parseBucket(b[p:]); ok {
			m.foundAfter = int64(p)
			break
		}
	}
	return nil
}

type bucketDisk struct {
	op   uint16
	id   uint64
	ds   uint16
	name string
}

func parseBucket(b []byte) (r bucketDisk, n int, ok bool) {
	if len(b) < bucketHdr {
		return r, 0, false
	}
	crc := binary.LittleEndian.Uint32(b[0:4])
	r.op = binary.LittleEndian.Uint16(b[4:6])
	size := int(binary.LittleEndian.Uint32(b[6:10]))
	if r.op < 1 || r.op > 3 || size < bucketFixed || size > maxBucket || len(b) < bucketHdr+size {
		return r, 0, false
	}
	n = bucketHdr + size
	if crc32.ChecksumIEEE(b[4:n]) != crc {
		return r, 0, false
	}
	p := b[bucketHdr:n]
	r.id = binary.LittleEndian.Uint64(p[0:8])
	r.ds = binary.LittleEndian.Uint16(p[8:10])
	r.name = string(p[10:])
	return r, n, true
}

// --- data files ---

// entryHdr is a parsed entry header.
type entryHdr struct {
	crc                      uint32
	ts, ksz, vsz, flag, ttl  uint64
	status, ds, txID, bucket uint64
	hdr                      int // header length in bytes
}

func (e *entryHdr) size() int64 { return int64(e.hdr) + int64(e.ksz) + int64(e.vsz) }

// zero is nutsdb's end-of-data mark (Entry.IsZero).
func (e *entryHdr) zero() bool { return e.crc == 0 && e.ksz == 0 && e.vsz == 0 && e.ts == 0 }

// parseHeader parses an entry header from b, which holds up to
// hdrMax bytes from the entry's start. It never panics; ok is false for a
// header nutsdb could not have written: short, a varint that is cut, too long,
// not minimal, or out of its field's range.
func parseHeader(b []byte) (e entryHdr, ok bool) {
	if len(b) < hdrMin {
		return e, false
	}
	e.crc = binary.LittleEndian.Uint32(b[0:4])
	fields := [...]*uint64{&e.ts, &e.ksz, &e.vsz, &e.flag, &e.ttl, &e.status, &e.ds, &e.txID, &e.bucket}
	limits := [...]uint64{1<<64 - 1, 1<<32 - 1, 1<<32 - 1, 1<<16 - 1, 1<<32 - 1, 1<<16 - 1, 1<<16 - 1, 1<<64 - 1, 1<<64 - 1}
	i := 4
	for k, p := range fields {
		v, n := binary.Uvarint(b[i:])
		if n <= 0 || n != uvarintLen(v) || v > limits[k] {
			return e, false
		}
		*p = v
		i += n
	}
	e.hdr = i
	return e, true
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// foreign says why a well-formed entry is not one rsml writes ("" if it is).
func (s *scanResult) foreign(e *entryHdr) string {
	switch {
	case e.ds != uint64(nutsdb.DataStructureBTree):
		return fmt.Sprintf("data structure %d", e.ds)
	case e.flag != uint64(nutsdb.DataSetFlag) && e.flag != uint64(nutsdb.DataDeleteFlag):
		return fmt.Sprintf("flag %d", e.flag)
	case e.ttl != uint64(nutsdb.Persistent):
		return fmt.Sprintf("ttl %d", e.ttl)
	case e.status > uint64(nutsdb.Committed):
		return fmt.Sprintf("status %d", e.status)
	case e.ksz == 0 || e.ksz > maxKeySize:
		return fmt.Sprintf("key size %d", e.ksz)
	case e.ts == 0 || e.txID == 0:
		return "zero timestamp or transaction id"
	}
	if _, ok := s.buckets[e.bucket]; !ok {
		return fmt.Sprintf("bucket id %d, not in %s (nutsdb would drop the entry silently)", e.bucket, s.meta.path)
	}
	return ""
}

// scanFile reads file i entry by entry, as nutsdb's recovery does, up to the
// first entry that is not valid; then it measures what lies after it.
func (s *scanResult) scanFile(i int) error {
	fsc := &s.files[i]
	f, err := os.Open(fsc.path)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", fsc.path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("storage: %s: %w", fsc.path, err)
	}
	fsc.size = fi.Size()
	fsc.scanned = true
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, fsc.size), readBuf)
	off := int64(0)
	for {
		b, _ := r.Peek(hdrMax) // shorter at the end of the file
		e, ok := parseHeader(b)
		if !ok || e.zero() || off+e.size() > fsc.size {
			break
		}
		crc := crc32.ChecksumIEEE(b[4:e.hdr])
		if _, err := r.Discard(e.hdr); err != nil {
			return fmt.Errorf("storage: read %s: %w", fsc.path, err)
		}
		for rest := int64(e.ksz + e.vsz); rest > 0; {
			p, err := r.Peek(int(min(rest, readBuf)))
			crc = crc32.Update(crc, crc32.IEEETable, p)
			_, _ = r.Discard(len(p))
			rest -= int64(len(p))
			if err != nil && rest > 0 {
				return fmt.Errorf("storage: read %s at offset %d: %w", fsc.path, off, err)
			}
		}
		if crc != e.crc {
			break
		}
		if why := s.foreign(&e); why != "" {
			return fmt.Errorf("%w: %s: entry at offset %d is not one rsml writes: %s", ErrCorrupt, fsc.path, off, why)
		}
		if s.open && e.txID != s.openTx {
			st := s.files[s.openStart.file]
			return fmt.Errorf("%w: %s: transaction %d, begun at %s offset %d, never committed and another follows at offset %d (nutsdb would apply them together)",
				ErrCorrupt, fsc.path, s.openTx, st.path, s.openStart.off, off)
		}
		if !s.open {
			s.open, s.openTx, s.openStart = true, e.txID, filePos{i, off}
		}
		if e.status == uint64(nutsdb.Committed) {
			s.open = false
		}
		fsc.entries++
		s.entries++
		fsc.lastOff = off
		off += e.size()
	}
	fsc.validEnd = off
	if fsc.dataEnd, err = dataEnd(f, off, fsc.size); err != nil {
		return fmt.Errorf("storage: read %s: %w", fsc.path, err)
	}
	if fsc.damaged() {
		if fsc.foundAfter, err = s.resync(f, off, fsc.dataEnd, fsc.size); err != nil {
			return fmt.Errorf("storage: read %s: %w", fsc.path, err)
		}
	}
	return nil
}

// resync looks for a valid entry starting in (from, to): proof that the
// damage at from is not a torn tail.
func (s *scanResult) resync(f *os.File, from, to, size int64) (int64, error) {
	buf := make([]byte, readBuf+hdrMax)
	for base := from + 1; base < to; base += readBuf {
		n, err := f.ReadAt(buf, base)
		if err != nil && !errors.Is(err, io.EOF) {
			return -1, err
		}
		b := buf[:n]
		for j := 0; j < readBuf && j < len(b) && base+int64(j) < to; j++ {
			// A real entry's timestamp is not 0, so the first byte of its
			// minimal varint is not 0: a cheap filter for zero runs.
			if j+4 < len(b) && b[j+4] == 0 {
				continue
			}
			e, ok := parseHeader(b[j:min(j+hdrMax, len(b))])
			if !ok || e.zero() || s.foreign(&e) != "" {
				continue
			}
			off := base + int64(j)
			if off+e.size() > size {
				continue
			}
			crc, err := crcAt(f, off, e.size())
			if err != nil {
				return -1, err
			}
			if crc == e.crc {
				return off, nil
			}
		}
	}
	return -1, nil
}

// crcAt is the CRC of the entry of the given size at off: every byte
// after its crc field.
func crcAt(f *os.File, off, size int64) (uint32, error) {
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, io.NewSectionReader(f, off+4, size-4)); err != nil {
		return 0, err
	}
	return h.Sum32(), nil
}

// dataEnd returns the offset after the last non-zero byte at or after
// from (from itself if there is none), skipping holes where the file system
// reports them.
func dataEnd(f *os.File, from, size int64) (int64, error) {
	end := from
	buf := make([]byte, readBuf)
	for off := from; off < size; {
		data, hole := off, size
		if d, err := f.Seek(off, seekData); err == nil {
			data = d
			if h, err := f.Seek(d, seekHole); err == nil {
				hole = h
			}
		} else if errors.Is(err, syscall.ENXIO) {
			break // only a hole is left
		}
		// Otherwise SEEK_DATA is not supported: read everything.
		for p := data; p < hole; {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), hole-p)], p)
			for k := n - 1; k >= 0; k-- {
				if buf[k] != 0 {
					end = p + int64(k) + 1
					break
				}
			}
			p += int64(n)
			if err != nil {
				if errors.Is(err, io.EOF) {
					return end, nil
				}
				return end, err
			}
		}
		if hole <= off {
			break
		}
		off = hole
	}
	return end, nil
}
