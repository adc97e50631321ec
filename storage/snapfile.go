package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/rsml-go/rsml/internal/nutsfix"
)

// ErrCorrupt marks a file whose contents fail their checks; the message
// names the file. It is nutsfix's, so that damage its scan finds in the logs
// is an ErrCorrupt to storage's callers too.
var ErrCorrupt = nutsfix.ErrCorrupt

const (
	snapMagic   = "RSMLSNP1"
	snapPrefix  = "snap-"
	snapSuffix  = ".bin"
	snapKeep    = 2 // the newest and one older, in case the newest is damaged
	snapHdrSize = len(snapMagic) + 8 + 8 + 8
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// SnapFiles keeps executor snapshots as files: each is written to a
// temporary file, synced, renamed into place and the directory synced, so a
// crash leaves either the old snapshot or the new one, never half of one.
type SnapFiles struct {
	dir    string
	logger *slog.Logger
	mu     sync.Mutex
	closed bool
}

// OpenSnapFiles uses (creating it if needed) dir for snapshots.
func OpenSnapFiles(dir string, logger *slog.Logger) (*SnapFiles, error) {
	if err := nutsfix.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("storage: snapshots: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	// Leftovers of a crash during Save.
	tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	for _, t := range tmps {
		_ = os.Remove(t)
	}
	return &SnapFiles{dir: dir, logger: logger}, nil
}

func snapName(slot uint64) string { return fmt.Sprintf("%s%020d%s", snapPrefix, slot, snapSuffix) }

// list returns the snapshot files, newest (highest slot) first.
func (s *SnapFiles) list() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("storage: snapshots: %w", err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, snapPrefix) && strings.HasSuffix(n, snapSuffix) {
			if _, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, snapPrefix), snapSuffix), 10, 64); err == nil {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	slices.Reverse(names)
	return names, nil
}

// Load returns the newest snapshot that passes its checksum. A damaged newest
// snapshot is skipped for the one before it (the chosen log and the peers
// hold what follows); if every snapshot is damaged, Load fails naming them.
func (s *SnapFiles) Load() (Snapshot, bool, error) { return s.load(-1) }

// LoadHead is Load with at most the first n bytes of the snapshot's Data
// (all of them for n < 0): the whole file is read and checked, but never
// held in memory.
func (s *SnapFiles) LoadHead(n int) (Snapshot, bool, error) { return s.load(n) }

// OpenLatest hands out the data of the latest snapshot that checks out
// whole (older ones if the newest are damaged, as Load), read from its file.
func (s *SnapFiles) OpenLatest() (slot, rev uint64, size int64, data io.ReadCloser, found bool, err error) {
	snap, found, err := s.load(0)
	if err != nil || !found {
		return 0, 0, 0, nil, found, err
	}
	path := filepath.Join(s.dir, snapName(snap.Slot))
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, nil, false, fmt.Errorf("storage: snapshot %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err == nil {
		size = fi.Size() - int64(snapHdrSize) - 4
		_, err = f.Seek(int64(snapHdrSize), io.SeekStart)
	}
	if err != nil {
		f.Close()
		return 0, 0, 0, nil, false, fmt.Errorf("storage: snapshot %s: %w", path, err)
	}
	return snap.Slot, snap.Rev, size, struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, size), f}, true, nil
}

func (s *SnapFiles) load(head int) (Snapshot, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := s.list()
	if err != nil || len(names) == 0 {
		return Snapshot{}, false, err
	}
	var bad []string
	for _, n := range names {
		p := filepath.Join(s.dir, n)
		read := readSnap
		if head >= 0 {
			read = func(p string) (Snapshot, error) { return readSnapHead(p, head) }
		}
		snap, err := read(p)
		if err == nil {
			if len(bad) > 0 {
				s.logger.Warn("skipped damaged snapshots; using an older one", "damaged", bad, "using", p)
			}
			return snap, true, nil
		}
		bad = append(bad, err.Error())
	}
	return Snapshot{}, false, fmt.Errorf("%w: no usable snapshot in %s: %s", ErrCorrupt, s.dir, strings.Join(bad, "; "))
}

// readSnapHead checks the snapshot file at path as readSnap does, reading it
// through, and returns at most the first n bytes of its data.
func readSnapHead(path string, n int) (Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return Snapshot{}, fmt.Errorf("storage: snapshot %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Snapshot{}, fmt.Errorf("storage: snapshot %s: %w", path, err)
	}
	size := fi.Size()
	var hdr [snapHdrSize]byte
	if size < int64(snapHdrSize+4) {
		return Snapshot{}, fmt.Errorf("%w: snapshot %s: bad header", ErrCorrupt, path)
	}
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return Snapshot{}, fmt.Errorf("storage: snapshot %s: %w", path, err)
	}
	if string(hdr[:len(snapMagic)]) != snapMagic {
		return Snapshot{}, fmt.Errorf("%w: snapshot %s: bad header", ErrCorrupt, path)
	}
	h := hdr[len(snapMagic):]
	slot, rev, dlen := binary.BigEndian.Uint64(h), binary.BigEndian.Uint64(h[8:]), binary.BigEndian.Uint64(h[16:])
	if got := uint64(size) - uint64(snapHdrSize) - 4; got != dlen {
		return Snapshot{}, fmt.Errorf("%w: snapshot %s: length %d, header says %d", ErrCorrupt, path, got, dlen)
	}
	crc := crc32.New(crcTable)
	crc.Write(hdr[:])
	data := make([]byte, min(uint64(n), dlen))
	if _, err := io.ReadFull(f, data); err != nil {
		return Snapshot{}, fmt.Errorf("storage: snapshot %s: %w", path, err)
	}
	crc.Write(data)
	if _, err := io.Copy(crc, io.LimitReader(f, int64(dlen)-int64(len(data)))); err != nil {
		return Snapshot{}, fmt.Errorf("storage: snapshot %s: %w", path, err)
	}
	var tail [4]byte
	if _, err := io.ReadFull(f, tail[:]); err != nil {
		return Snapshot{}, fmt.Errorf("storage: snapshot %s: %w", path, err)
	}
	if crc.Sum32() != binary.BigEndian.Uint32(tail[:]) {
		return Snapshot{}, fmt.Errorf("%w: snapshot %s: checksum mismatch", ErrCorrupt, path)
	}
	return Snapshot{Slot: slot, Rev: rev, Data: data}, nil
}

func readSnap(path string) (Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Snapshot{}, fmt.Errorf("storage: snapshot %s: %w", path, err)
	}
	if len(b) < snapHdrSize+4 || string(b[:len(snapMagic)]) != snapMagic {
		return Snapshot{}, fmt.Errorf("%w: snapshot %s: bad header", ErrCorrupt, path)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return Snapshot{}, fmt.Errorf("%w: snapshot %s: checksum mismatch", ErrCorrupt, path)
	}
	h := body[len(snapMagic):]
	slot, rev, n := binary.BigEndian.Uint64(h), binary.BigEndian.Uint64(h[8:]), binary.BigEndian.Uint64(h[16:])
	data := body[snapHdrSize:]
	if uint64(len(data)) != n {
		return Snapshot{}, fmt.Errorf("%w: snapshot %s: length %d, header says %d", ErrCorrupt, path, len(data), n)
	}
	return Snapshot{Slot: slot, Rev: rev, Data: data}, nil // b is ours: no copy
}

// close makes every later Save fail: the directory may belong to another
// process once the lock is released.
func (s *SnapFiles) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// Save writes snap durably and removes all but the newest snapKeep.
func (s *SnapFiles) Save(snap Snapshot) error {
	return s.SaveStream(snap.Slot, snap.Rev, len(snap.Data), func(w io.Writer) error {
		_, err := w.Write(snap.Data)
		return err
	})
}

// SaveStream writes the snapshot write writes (size bytes) as it comes,
// durably, and removes all but the newest snapKeep.
func (s *SnapFiles) SaveStream(slot, rev uint64, size int, write func(io.Writer) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var hdr [snapHdrSize]byte
	copy(hdr[:], snapMagic)
	binary.BigEndian.PutUint64(hdr[len(snapMagic):], slot)
	binary.BigEndian.PutUint64(hdr[len(snapMagic)+8:], rev)
	binary.BigEndian.PutUint64(hdr[len(snapMagic)+16:], uint64(size))
	final := filepath.Join(s.dir, snapName(slot))
	err := writeStreamSync(final, func(w io.Writer) error {
		crc := crc32.New(crcTable)
		bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 256<<10)
		bw.Write(hdr[:]) // a bufio.Writer's error comes back at Flush
		cw := &countingWriter{w: bw}
		if err := write(cw); err != nil {
			return err
		}
		if cw.n != int64(size) {
			return fmt.Errorf("wrote %d bytes, announced %d", cw.n, size)
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		var tail [4]byte
		binary.BigEndian.PutUint32(tail[:], crc.Sum32())
		_, err := w.Write(tail[:])
		return err
	})
	if err != nil {
		return fmt.Errorf("storage: save snapshot at slot %d: %w", slot, err)
	}
	names, err := s.list()
	if err != nil {
		return err
	}
	for i, n := range names {
		if i >= snapKeep {
			_ = os.Remove(filepath.Join(s.dir, n))
		}
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeFileSync writes parts to path atomically and durably (see
// writeStreamSync).
func writeFileSync(path string, parts ...[]byte) error {
	return writeStreamSync(path, func(w io.Writer) error {
		for _, p := range parts {
			if _, err := w.Write(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeStreamSync writes what write writes to path atomically and durably:
// a temporary file, fsync, rename, fsync of the directory.
func writeStreamSync(path string, write func(w io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	// Synced by path, through nutsfix like every sync of a data directory,
	// so that a power-loss test sees it.
	if err := nutsfix.SyncPath(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	if err := nutsfix.SyncPath(dir); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
