// Package powercut simulates losing power under rsml's data directories, for
// tests: what a SIGKILL cannot show (the page cache survives it), a power cut
// does, since every write not yet fsynced is gone.
//
// Every fsync of a data directory goes through nutsfix.SyncPath. A Recorder
// takes that hook: at each fsync of a file it keeps the file's content, at
// each fsync of a directory its listing, and then it waits as long as a real
// fsync would take (Delay) without touching the disk. Cut freezes the record:
// an fsync still running, or made later, never completed. Restore rebuilds
// the tree as the machine would find it after the cut, by the strict POSIX
// rules:
//   - a file holds exactly what it held at its last completed fsync, and is
//     empty if it was never synced;
//   - a directory holds the entries it held at its last completed fsync
//     (renames and removals included), and nothing if it was never synced;
//     an entry that was never made durable this way is gone, whatever became
//     of its file's content.
//
// Files are told apart by inode number and birth time, so that a file
// renamed after its fsync keeps its content and a reused inode does not
// inherit another file's.
package powercut

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rsml-go/rsml/internal/nutsfix"
)

// fileID names one file (or directory) for as long as it exists.
type fileID struct {
	ino   uint64
	btime int64 // birth time in ns; 0 where the file system does not keep it
}

// image is a regular file's durable content: its data extents (nutsdb
// extends its segments sparsely; the holes stay holes) and its size.
type image struct {
	extents []extent
	size    int64
	seq     uint64
}

type extent struct {
	off  int64
	data []byte
}

// entry is one directory entry at a directory's fsync.
type entry struct {
	id  fileID
	dir bool
}

// dirImage is a directory's durable listing.
type dirImage struct {
	entries map[string]entry
	seq     uint64
}

// Recorder is the power-loss simulator of one directory tree.
type Recorder struct {
	root  string
	delay time.Duration

	mu    sync.Mutex
	cut   bool
	seq   uint64 // orders the captures, which concurrent fsyncs record out of order
	files map[fileID]image
	dirs  map[fileID]dirImage
	syncs int
	after func(path string) bool // set by CutAfter

	restore func()
}

// Install makes every nutsfix.SyncPath of a path under root record what it
// made durable, taking delay instead of the real fsync's time (a longer one
// widens the windows in which a write is acknowledged and not yet durable).
// Paths elsewhere are synced for real. Root must exist and be empty; the
// Recorder counts it as durable. Uninstall ends it; tests only, and not in
// parallel with other tests that sync.
func Install(root string, delay time.Duration) (*Recorder, error) {
	root = filepath.Clean(root)
	r := &Recorder{root: root, delay: delay, files: map[fileID]image{}, dirs: map[fileID]dirImage{}}
	if err := r.baseline(root); err != nil {
		return nil, err
	}
	r.restore = nutsfix.SetSyncForTest(r.sync)
	return r, nil
}

// Uninstall gives SyncPath back its real fsync.
func (r *Recorder) Uninstall() { r.restore() }

// Syncs is the number of fsyncs recorded so far.
func (r *Recorder) Syncs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.syncs
}

func (r *Recorder) under(p string) bool {
	p = filepath.Clean(p)
	return p == r.root || strings.HasPrefix(p, r.root+string(filepath.Separator))
}

func (r *Recorder) sync(p string) error {
	if !r.under(p) {
		return nutsfix.Fsync(p)
	}
	// What the fsync makes durable is what was written before it began:
	// captured under the lock, so that of two fsyncs of one file the later
	// capture is the one kept.
	r.mu.Lock()
	if r.cut {
		// The machine is off: the call still costs its time, and records
		// nothing. It succeeds, as the process cannot tell yet.
		r.mu.Unlock()
		time.Sleep(r.delay)
		return nil
	}
	id, isDir, err := identify(p)
	var img image
	var list dirImage
	if err == nil {
		r.seq++
		if isDir {
			list.entries, err = listing(p)
			list.seq = r.seq
		} else {
			img, err = read(p)
			img.seq = r.seq
		}
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	time.Sleep(r.delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cut {
		return nil // the power went while it ran: it never completed
	}
	r.syncs++
	if isDir {
		if list.seq > r.dirs[id].seq {
			r.dirs[id] = list
		}
	} else if img.seq > r.files[id].seq {
		r.files[id] = img
	}
	if r.after != nil && r.after(p) {
		r.cut = true
	}
	return nil
}

// CutAfter cuts the power as soon as an fsync of a path for which match
// returns true has completed: what follows it, in the same call of the code
// under test, is lost. match runs with the Recorder's lock held.
func (r *Recorder) CutAfter(match func(path string) bool) {
	r.mu.Lock()
	r.after = match
	r.mu.Unlock()
}

// Cut cuts the power now: fsyncs that have not completed never will.
func (r *Recorder) Cut() {
	r.mu.Lock()
	r.cut = true
	r.mu.Unlock()
}

// Restore replaces the tree under root with what the cut left, and counts
// it all as durable: the simulation can go on with another cut. The process
// must have closed every file under root first.
func (r *Recorder) Restore() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.cut {
		return errors.New("powercut: Restore before Cut")
	}
	rootID, _, err := identify(r.root)
	if err != nil {
		return err
	}
	tmp := r.root + ".powercut"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := r.build(tmp, rootID, true); err != nil {
		return err
	}
	if err := os.RemoveAll(r.root); err != nil {
		return err
	}
	if err := os.Rename(tmp, r.root); err != nil {
		return err
	}
	r.files, r.dirs = map[fileID]image{}, map[fileID]dirImage{}
	if err := r.baseline(r.root); err != nil {
		return err
	}
	r.cut = false
	return nil
}

// build writes at path what the cut left of the file or directory id.
func (r *Recorder) build(path string, id fileID, dir bool) error {
	if !dir {
		img := r.files[id]
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		for _, x := range img.extents {
			if _, err := f.WriteAt(x.data, x.off); err != nil {
				f.Close()
				return err
			}
		}
		if err := f.Truncate(img.size); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		return err
	}
	for name, e := range r.dirs[id].entries {
		if err := r.build(filepath.Join(path, name), e.id, e.dir); err != nil {
			return err
		}
	}
	return nil
}

// baseline records the whole tree under p as durable. Called with r.mu held
// or before the Recorder is shared.
func (r *Recorder) baseline(p string) error {
	id, isDir, err := identify(p)
	if err != nil {
		return err
	}
	if !isDir {
		img, err := read(p)
		if err != nil {
			return err
		}
		r.files[id] = img
		return nil
	}
	list, err := listing(p)
	if err != nil {
		return err
	}
	r.dirs[id] = dirImage{entries: list}
	for name := range list {
		if err := r.baseline(filepath.Join(p, name)); err != nil {
			return err
		}
	}
	return nil
}

func identify(p string) (fileID, bool, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_INO|unix.STATX_BTIME|unix.STATX_TYPE, &st); err != nil {
		return fileID{}, false, &fs.PathError{Op: "statx", Path: p, Err: err}
	}
	id := fileID{ino: st.Ino}
	if st.Mask&unix.STATX_BTIME != 0 {
		id.btime = st.Btime.Sec*1e9 + int64(st.Btime.Nsec)
	}
	return id, st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

// listing is a directory's entries as its fsync would make them durable.
// An entry removed while it is read is left out, as if removed before.
func listing(p string) (map[string]entry, error) {
	ents, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	out := make(map[string]entry, len(ents))
	for _, e := range ents {
		id, isDir, err := identify(filepath.Join(p, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !isDir && !e.Type().IsRegular() {
			return nil, fmt.Errorf("powercut: %s is neither a file nor a directory", filepath.Join(p, e.Name()))
		}
		out[e.Name()] = entry{id: id, dir: isDir}
	}
	return out, nil
}

// read returns a regular file's data extents and size.
func read(p string) (image, error) {
	f, err := os.Open(p)
	if err != nil {
		return image{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return image{}, err
	}
	img := image{size: fi.Size()}
	fd := int(f.Fd())
	for off := int64(0); off < img.size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			start = off // no SEEK_DATA here: all of it is data
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			end = img.size
		}
		data := make([]byte, end-start)
		if _, err := io.ReadFull(io.NewSectionReader(f, start, end-start), data); err != nil {
			return image{}, fmt.Errorf("powercut: read %s: %w", p, err)
		}
		img.extents = append(img.extents, extent{off: start, data: data})
		off = end
	}
	return img, nil
}
