package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/nutsdb/nutsdb"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/rsml-go/rsml/msg"
)

// The durable logs of one replica, on nutsdb v1.1.0, under the directory
// given to OpenNuts:
//
//	acceptor/00000001/  generation 1 of the acceptor log: one nutsdb, every
//	                    write synced. Bucket "records": big-endian record
//	                    number (from 1) -> msgpack AcceptorRecord, append-only,
//	                    replayed in order by Load. Bucket "ballot": the
//	                    proposer's highest ballot.
//	chosen/             the learner's chosen values: one nutsdb, not synced
//	                    (a lost tail is learned again from peers). Bucket
//	                    "chosen": big-endian slot -> msgpack msg.Value.
//
// Truncation is planned as generations: new records go to a fresh generation
// directory that starts with the current promise and ballot, and an old one
// whose slots are all below the snapshot point is closed and removed. This
// version writes and reads exactly one generation and refuses more.
//
// Each guard below answers a measured nutsdb v1.1.0 fact (DESIGN.md, "nutsdb
// facts that shape storage"):
//   - SyncEnable comes from nutsdb.DefaultOptions (a zero Options has it off);
//     merge (v1 and v2), hint files and auto-merge stay off.
//   - Every durable step is ONE Put in one transaction: a crash in a
//     multi-entry transaction can leave entries that recovery merges into the
//     next transaction.
//   - nutsdb never syncs bucket.Meta nor the directory: buckets are created
//     once, at init, in one transaction, then bucket.Meta and the directory are
//     synced; the directory is synced again after nutsdb opens a new segment.
//   - Before every Open the data files are scanned and a torn tail is cut
//     (nutsdb_repair.go); nutsdb's Open is run under recover, since garbage
//     makes it panic.
//   - A failed Open leaves nutsdb's directory lock held by a file nothing
//     will close; the next open of that directory in this process removes the
//     stale lock file first (see nutsLeakedLocks). A write that failed while
//     opening a new segment makes nutsdb's Close panic before it releases
//     anything: nutsCloseDB gives it an inert active file first.
//   - Transaction functions never panic into nutsdb (a panic there leaves the
//     DB locked forever); keys and values handed to Put are fresh slices never
//     touched again, and values read back are decoded (copied) before the
//     transaction ends.
//   - No iterators are used (an unreleased one hangs the next write): reads go
//     through Get, GetMaxKey, GetKeys and RangeScanEntries.
//   - Close leaves one goroutine per DB behind, blocked in
//     nutsdb.(*DB).doWrites (its request channel is never closed). Each Open
//     also leaves descriptors that only the garbage collector closes: the
//     bucket.Meta file's, and one per data file (recovery stops at the zeros
//     after the last entry without closing its reader). So open each
//     directory once per process where possible. Tests ignore that goroutine
//     by name (NutsLeftoverGoroutine).

// NutsLeftoverGoroutine is the function in which every nutsdb DB that was
// opened leaves one goroutine blocked after Close (nutsdb v1.1.0 never closes
// the channel it reads). goleak users ignore it with
// goleak.IgnoreTopFunction(storage.NutsLeftoverGoroutine).
const NutsLeftoverGoroutine = "github.com/nutsdb/nutsdb.(*DB).doWrites"

const (
	nutsAcceptorDir  = "acceptor"
	nutsChosenDir    = "chosen"
	nutsFirstGen     = "00000001"
	nutsRecords      = "records"
	nutsBallot       = "ballot"
	nutsChosenBucket = "chosen"

	// nutsSegmentSize is the size of a nutsdb data file. nutsdb extends each
	// file to this size up front (a sparse file), so it costs no disk; large
	// means a new segment, and its directory sync, is rare.
	nutsSegmentSize = 1 << 30
	// nutsLoadWindow is how many records Load decodes per read transaction.
	nutsLoadWindow = 4096
	// The chosen log keeps its most recent values decoded, within both bounds.
	nutsCacheSlots = 4096
	nutsCacheBytes = 32 << 20
)

var (
	nutsBallotKey = []byte("max")
	nutsGenName   = regexp.MustCompile(`^[0-9]{8}$`)
)

// Nuts is the durable implementation of BallotLog, AcceptorLog and ChosenLog
// on nutsdb.
type Nuts struct {
	dir    string
	acc    *nutsAcceptor
	chosen *nutsChosen

	mu     sync.Mutex
	closed bool
}

// nutsOptions are knobs for tests and benchmarks; OpenNuts uses the defaults.
type nutsOptions struct {
	segmentSize int64
	noSync      bool // benchmarks that only build a log to reopen it
	skipRepair  bool // tests: hand nutsdb the files as they are
}

func nutsDefaults() nutsOptions { return nutsOptions{segmentSize: nutsSegmentSize} }

// OpenNuts opens (creating if needed) the durable logs of one replica under
// dir. It first scans the data files: a torn tail left by a crash is cut, and
// damage before the tail of the acceptor log — which would lose a synced
// record — makes it fail with an ErrCorrupt error that names the file. The
// caller must keep any other opener of dir out (a directory lock); within this
// process, open a directory at most once at a time.
func OpenNuts(dir string, logger *slog.Logger) (*Nuts, error) {
	return openNuts(dir, logger, nutsDefaults())
}

func openNuts(dir string, logger *slog.Logger, o nutsOptions) (*Nuts, error) {
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("store", "nutsdb")
	if err := nutsMkdirAll(dir); err != nil {
		return nil, fmt.Errorf("storage: nutsdb logs %s: %w", dir, err)
	}
	gen, err := nutsGeneration(filepath.Join(dir, nutsAcceptorDir))
	if err != nil {
		return nil, err
	}
	acc, err := openNutsAcceptor(gen, logger, o)
	if err != nil {
		return nil, err
	}
	ch, err := openNutsChosen(filepath.Join(dir, nutsChosenDir), logger, o)
	if err != nil {
		_ = acc.close()
		return nil, err
	}
	return &Nuts{dir: dir, acc: acc, chosen: ch}, nil
}

// nutsGeneration returns the acceptor generation directory to use.
func nutsGeneration(parent string) (string, error) {
	if err := nutsMkdirAll(parent); err != nil {
		return "", fmt.Errorf("storage: acceptor log %s: %w", parent, err)
	}
	ents, err := os.ReadDir(parent)
	if err != nil {
		return "", fmt.Errorf("storage: acceptor log %s: %w", parent, err)
	}
	var gens []string
	for _, e := range ents {
		if e.IsDir() && nutsGenName.MatchString(e.Name()) {
			gens = append(gens, e.Name())
		}
	}
	switch len(gens) {
	case 0:
		return filepath.Join(parent, nutsFirstGen), nil
	case 1:
		return filepath.Join(parent, gens[0]), nil
	}
	return "", fmt.Errorf("storage: acceptor log %s holds %d generations (%s); this version reads exactly one",
		parent, len(gens), strings.Join(gens, ", "))
}

// Proposer returns the ballot log: the highest ballot the proposer used,
// synced before SaveBallot returns.
func (n *Nuts) Proposer() BallotLog { return nutsBallots{n.acc} }

// Acceptor returns the acceptor log. Append is durable (synced) when it
// returns, and writes the whole record as one nutsdb Put.
func (n *Nuts) Acceptor() AcceptorLog { return n.acc }

// Chosen returns the chosen-value log. It is not synced: after a machine
// crash its tail may be gone (Last goes back), never its middle.
func (n *Nuts) Chosen() ChosenLog { return n.chosen }

// Close closes both logs. A second Close does nothing. After Close the logs
// return ErrClosed.
func (n *Nuts) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	return errors.Join(n.acc.close(), n.chosen.close())
}

// --- acceptor log and ballot ---

type nutsAcceptor struct {
	dir    string
	logger *slog.Logger

	mu        sync.Mutex // serialises writes; guards the fields below
	db        *nutsdb.DB
	maxFileID int64  // the segment nutsdb writes to; a change means a new file
	next      uint64 // number of the next record
	ballot    msg.Ballot
	closed    bool
	err       error // sticky: after a failed write nothing more is written
}

func openNutsAcceptor(dir string, logger *slog.Logger, o nutsOptions) (*nutsAcceptor, error) {
	db, err := nutsOpenDB(nutsDBSpec{
		dir: dir, sync: !o.noSync, strict: true, buckets: []string{nutsRecords, nutsBallot}, opts: o,
	}, logger)
	if err != nil {
		return nil, err
	}
	a := &nutsAcceptor{dir: dir, logger: logger.With("log", "acceptor"), db: db, maxFileID: db.MaxFileID}
	err = nutsView(db, func(tx *nutsdb.Tx) error {
		k, err := tx.GetMaxKey(nutsRecords)
		switch {
		case errors.Is(err, nutsdb.ErrKeyNotFound):
			a.next = 1
		case err != nil:
			return err
		case len(k) != 8:
			return fmt.Errorf("%w: acceptor log %s: record key %x is not 8 bytes", ErrCorrupt, dir, k)
		default:
			a.next = binary.BigEndian.Uint64(k) + 1
		}
		v, err := tx.Get(nutsBallot, nutsBallotKey)
		switch {
		case errors.Is(err, nutsdb.ErrKeyNotFound):
			return nil
		case err != nil:
			return err
		}
		if err := msgpack.Unmarshal(v, &a.ballot); err != nil {
			return fmt.Errorf("%w: acceptor log %s: ballot: %v", ErrCorrupt, dir, err)
		}
		return nil
	})
	if err != nil {
		_ = nutsCloseDB(db, dir)
		return nil, fmt.Errorf("storage: acceptor log %s: %w", dir, err)
	}
	return a, nil
}

// Load replays every record in order: the highest promise, and per slot the
// entry of the last record that wrote it, sorted by slot.
func (a *nutsAcceptor) Load() (AcceptorState, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return AcceptorState{}, ErrClosed
	}
	if a.err != nil {
		// What the disk holds after a failed write is unknown until the
		// files are scanned again: reopen.
		return AcceptorState{}, a.err
	}
	var st AcceptorState
	latest := make(map[uint64]msg.Entry)
	for lo := uint64(1); lo < a.next; lo += nutsLoadWindow {
		hi := min(lo+nutsLoadWindow-1, a.next-1)
		err := nutsView(a.db, func(tx *nutsdb.Tx) error {
			keys, vals, err := tx.RangeScanEntries(nutsRecords, nutsKey(lo), nutsKey(hi), true, true)
			if err != nil && !errors.Is(err, nutsdb.ErrRangeScan) {
				return err
			}
			for i := uint64(0); i <= hi-lo; i++ {
				if i >= uint64(len(keys)) || len(keys[i]) != 8 || binary.BigEndian.Uint64(keys[i]) != lo+i || int(i) >= len(vals) {
					return fmt.Errorf("%w: acceptor log %s: record %d of 1..%d is missing", ErrCorrupt, a.dir, lo+i, a.next-1)
				}
				var rec AcceptorRecord
				if err := msgpack.Unmarshal(vals[i], &rec); err != nil {
					return fmt.Errorf("%w: acceptor log %s: record %d: %v", ErrCorrupt, a.dir, lo+i, err)
				}
				st.Promised = msg.MaxBallot(st.Promised, rec.Promised)
				applyEntries(latest, rec.Entries)
			}
			return nil
		})
		if err != nil {
			return AcceptorState{}, fmt.Errorf("storage: acceptor log %s: load: %w", a.dir, err)
		}
	}
	st.Entries = sortedEntries(latest)
	return st, nil
}

// Append writes rec as one Put in one transaction, synced before it returns.
// After a failed write every later Append fails too: the acceptor must stop
// and the store be reopened, whose scan settles what the disk holds.
func (a *nutsAcceptor) Append(rec AcceptorRecord) error {
	val, err := msgpack.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("storage: acceptor log %s: encode record: %w", a.dir, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.writable(); err != nil {
		return err
	}
	if err := a.put(nutsRecords, nutsKey(a.next), val); err != nil {
		return err
	}
	a.next++
	return nil
}

func (a *nutsAcceptor) writable() error {
	if a.closed {
		return ErrClosed
	}
	return a.err
}

// put writes one key in one synced transaction. key and val must be fresh:
// nutsdb keeps them.
func (a *nutsAcceptor) put(bucket string, key, val []byte) error {
	err := nutsUpdate(a.db, func(tx *nutsdb.Tx) error {
		return tx.Put(bucket, key, val, nutsdb.Persistent)
	})
	if err == nil && a.db.MaxFileID != a.maxFileID {
		// nutsdb created a new segment: its directory entry is not durable
		// until the directory is synced.
		a.maxFileID = a.db.MaxFileID
		if serr := nutsSyncPath(a.dir); serr != nil {
			err = fmt.Errorf("sync directory after new segment: %w", serr)
		}
	}
	if err != nil {
		a.err = fmt.Errorf("storage: acceptor log %s: write failed, the log refuses writes until reopened: %w", a.dir, err)
		a.logger.Error("acceptor log write failed", "dir", a.dir, "err", err)
		return a.err
	}
	return nil
}

func (a *nutsAcceptor) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	return nutsCloseDB(a.db, a.dir)
}

// nutsBallots is the proposer's view of the acceptor's DB.
type nutsBallots struct{ a *nutsAcceptor }

func (b nutsBallots) LoadBallot() (msg.Ballot, error) {
	b.a.mu.Lock()
	defer b.a.mu.Unlock()
	if b.a.closed {
		return msg.Ballot{}, ErrClosed
	}
	return b.a.ballot, nil
}

// SaveBallot records bal if it is higher than the saved one, synced before
// it returns.
func (b nutsBallots) SaveBallot(bal msg.Ballot) error {
	a := b.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.writable(); err != nil {
		return err
	}
	if !a.ballot.Less(bal) {
		return nil
	}
	val, err := msgpack.Marshal(bal)
	if err != nil {
		return fmt.Errorf("storage: ballot log %s: encode: %w", a.dir, err)
	}
	if err := a.put(nutsBallot, slices.Clone(nutsBallotKey), val); err != nil {
		return err
	}
	a.ballot = bal
	return nil
}

// --- chosen log ---

type nutsChosen struct {
	dir    string
	logger *slog.Logger

	mu          sync.RWMutex
	db          *nutsdb.DB
	first, last uint64 // 0, 0 when empty
	cache       nutsValueCache
	closed      bool
	err         error // sticky, as for the acceptor log
}

func openNutsChosen(dir string, logger *slog.Logger, o nutsOptions) (*nutsChosen, error) {
	// The chosen log is not synced: the repair cuts at the first damage
	// wherever it is, since anything after it may be missing anyway.
	db, err := nutsOpenDB(nutsDBSpec{dir: dir, sync: false, strict: false, buckets: []string{nutsChosenBucket}, opts: o}, logger)
	if err != nil {
		return nil, err
	}
	c := &nutsChosen{dir: dir, logger: logger.With("log", "chosen"), db: db}
	err = nutsView(db, func(tx *nutsdb.Tx) error {
		keys, err := tx.GetKeys(nutsChosenBucket) // sorted; empty for an empty bucket
		if err != nil {
			return err
		}
		for i, k := range keys {
			if len(k) != 8 {
				return fmt.Errorf("%w: chosen log %s: key %x is not 8 bytes", ErrCorrupt, dir, k)
			}
			s := binary.BigEndian.Uint64(k)
			if i == 0 {
				c.first = s
			}
			if s != c.first+uint64(i) {
				// Writes go in slot order and a repair cuts at the first
				// damage, so this is not expected; keep the contiguous prefix
				// (a slot's chosen value never changes, so what lies beyond is
				// either rewritten identically or never read).
				c.logger.Warn("chosen log has a gap; keeping the slots before it", "dir", dir, "last", c.last, "next_stored", s)
				break
			}
			c.last = s
		}
		return nil
	})
	if err != nil {
		_ = nutsCloseDB(db, dir)
		return nil, fmt.Errorf("storage: chosen log %s: %w", dir, err)
	}
	c.cache.init()
	return c, nil
}

// Append stores v as the value chosen for slot, which must be Last()+1 (any
// slot when the log is empty). It is not synced.
func (c *nutsChosen) Append(slot uint64, v *msg.Value) error {
	val, err := msgpack.Marshal(v)
	if err != nil {
		return fmt.Errorf("storage: chosen log %s: encode slot %d: %w", c.dir, slot, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return ErrClosed
	case c.err != nil:
		return c.err
	case slot == 0:
		return fmt.Errorf("storage: chosen log append slot 0")
	case c.last != 0 && slot != c.last+1:
		return fmt.Errorf("storage: chosen log append slot %d, want %d", slot, c.last+1)
	}
	err = nutsUpdate(c.db, func(tx *nutsdb.Tx) error {
		return tx.Put(nutsChosenBucket, nutsKey(slot), val, nutsdb.Persistent)
	})
	if err != nil {
		c.err = fmt.Errorf("storage: chosen log %s: write failed, the log refuses writes until reopened: %w", c.dir, err)
		c.logger.Error("chosen log write failed", "dir", c.dir, "err", err)
		return c.err
	}
	if c.first == 0 {
		c.first = slot
	}
	c.last = slot
	c.cache.add(slot, v)
	return nil
}

// Get returns the value chosen for a stored slot: recent ones from memory,
// older ones decoded from nutsdb. Values are shared, like messages: callers
// must not modify them.
func (c *nutsChosen) Get(slot uint64) (*msg.Value, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed || c.first == 0 || slot < c.first || slot > c.last {
		return nil, false
	}
	if v, ok := c.cache.get(slot); ok {
		return v, true
	}
	var v msg.Value
	err := nutsView(c.db, func(tx *nutsdb.Tx) error {
		b, err := tx.Get(nutsChosenBucket, nutsKey(slot))
		if err != nil {
			return err
		}
		return msgpack.Unmarshal(b, &v) // copies out of nutsdb's buffer
	})
	if err != nil {
		c.logger.Error("chosen log read failed", "dir", c.dir, "slot", slot, "err", err)
		return nil, false
	}
	return &v, true
}

// Last is the highest stored slot, 0 when the log is empty.
func (c *nutsChosen) Last() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.last
}

func (c *nutsChosen) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	// Not needed across a process restart (the page cache keeps the data),
	// but a clean shutdown should leave the log whole even across a power
	// cut that follows it.
	serr := nutsSyncDataFiles(c.dir)
	return errors.Join(serr, nutsCloseDB(c.db, c.dir))
}

// nutsValueCache keeps the most recent chosen values, contiguous slots
// lo..hi, in a ring bounded by count and bytes.
type nutsValueCache struct {
	ring   []nutsCached
	lo, hi uint64 // hi == 0: empty
	bytes  int
}

type nutsCached struct {
	slot uint64
	v    *msg.Value
	size int
}

func (c *nutsValueCache) init() { c.ring = make([]nutsCached, nutsCacheSlots) }

func (c *nutsValueCache) add(slot uint64, v *msg.Value) {
	size := v.Size()
	if c.hi == 0 || slot != c.hi+1 || size > nutsCacheBytes {
		clear(c.ring)
		c.lo, c.hi, c.bytes = 0, 0, 0
		if size > nutsCacheBytes {
			return
		}
	}
	if c.hi == 0 {
		c.lo = slot
	}
	for c.hi != 0 && c.lo <= c.hi && (slot-c.lo+1 > uint64(len(c.ring)) || c.bytes+size > nutsCacheBytes) {
		e := &c.ring[c.lo%uint64(len(c.ring))]
		c.bytes -= e.size
		*e = nutsCached{}
		c.lo++
	}
	c.ring[slot%uint64(len(c.ring))] = nutsCached{slot: slot, v: v, size: size}
	c.bytes += size
	c.hi = slot
}

func (c *nutsValueCache) get(slot uint64) (*msg.Value, bool) {
	if c.hi == 0 || slot < c.lo || slot > c.hi {
		return nil, false
	}
	e := c.ring[slot%uint64(len(c.ring))]
	if e.slot != slot || e.v == nil {
		return nil, false
	}
	return e.v, true
}

// --- opening a nutsdb DB with its guards ---

type nutsDBSpec struct {
	dir     string
	sync    bool
	strict  bool // synced: damage before the tail is an error
	buckets []string
	opts    nutsOptions
}

func nutsOpenDB(s nutsDBSpec, logger *slog.Logger) (db *nutsdb.DB, err error) {
	// Refuse a directory this process has open before the scan touches it: a
	// repair of a live DB could cut a write in flight.
	if !nutsReserve(s.dir) {
		return nil, fmt.Errorf("%w: nutsdb %s is already open in this process", ErrLocked, s.dir)
	}
	defer func() {
		if err != nil {
			nutsUnreserve(s.dir)
		}
	}()
	if err := nutsMkdirAll(s.dir); err != nil {
		return nil, fmt.Errorf("storage: nutsdb %s: %w", s.dir, err)
	}
	if !s.opts.skipRepair {
		if _, err := nutsScanDir(s.dir, nutsScanOpts{strict: s.strict, repair: true, buckets: s.buckets}, logger); err != nil {
			return nil, err
		}
	}
	opt := nutsdb.DefaultOptions // SyncEnable true; a zero Options has it false
	opt.Dir = s.dir
	opt.SyncEnable = s.sync
	opt.EntryIdxMode = nutsdb.HintKeyAndRAMIdxMode // keys in memory, values on disk
	opt.SegmentSize = s.opts.segmentSize
	opt.MergeInterval = 0 // no auto-merge: it can deadlock Close
	opt.EnableMergeV2 = false
	opt.EnableHintFile = false
	opt.EnableWatch = false

	nutsReleaseLeakedLock(s.dir, logger)
	db, err = nutsGuardedOpen(opt)
	if err != nil {
		if errors.Is(err, nutsdb.ErrDirLocked) {
			return nil, fmt.Errorf("%w: nutsdb %s is open elsewhere in this process: %v", ErrLocked, s.dir, err)
		}
		nutsRememberLeakedLock(s.dir)
		// Say which file is at fault if a strict look finds it.
		if _, serr := nutsScanDir(s.dir, nutsScanOpts{strict: true}, logger); serr != nil {
			return nil, fmt.Errorf("storage: nutsdb cannot open %s (%v): %w", s.dir, err, serr)
		}
		return nil, fmt.Errorf("%w: nutsdb cannot open %s: %v", ErrCorrupt, s.dir, err)
	}
	if err := nutsEnsureBuckets(db, s.dir, s.buckets, logger); err != nil {
		_ = nutsCloseDB(db, s.dir)
		return nil, err
	}
	// nutsdb may just have created the data file, bucket.Meta or its lock.
	if err := nutsSyncPath(s.dir); err != nil {
		_ = nutsCloseDB(db, s.dir)
		return nil, fmt.Errorf("storage: nutsdb %s: sync directory: %w", s.dir, err)
	}
	return db, nil
}

// nutsGuardedOpen runs nutsdb.Open, turning its panics on damaged files into
// errors.
func nutsGuardedOpen(opt nutsdb.Options) (db *nutsdb.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("nutsdb.Open panicked: %v", r)
		}
	}()
	return nutsdb.Open(opt)
}

// nutsEnsureBuckets creates the buckets of a new DB, all in one transaction,
// then makes bucket.Meta durable: nutsdb never syncs it.
func nutsEnsureBuckets(db *nutsdb.DB, dir string, buckets []string, logger *slog.Logger) error {
	var missing []string
	err := nutsView(db, func(tx *nutsdb.Tx) error {
		for _, b := range buckets {
			if !tx.ExistBucket(nutsdb.DataStructureBTree, b) {
				missing = append(missing, b)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: nutsdb %s: %w", dir, err)
	}
	if len(missing) == 0 {
		return nil
	}
	if len(missing) != len(buckets) {
		// The repair resets a bucket.Meta left half-written by an interrupted
		// init; one that lacks a bucket here was damaged some other way.
		return fmt.Errorf("%w: %s lacks buckets %v", ErrCorrupt, filepath.Join(dir, nutsdb.BucketStoreFileName), missing)
	}
	err = nutsUpdate(db, func(tx *nutsdb.Tx) error {
		for _, b := range buckets {
			if err := tx.NewKVBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = nutsSyncPath(filepath.Join(dir, nutsdb.BucketStoreFileName))
	}
	if err == nil {
		err = nutsSyncPath(dir)
	}
	if err != nil {
		return fmt.Errorf("storage: nutsdb %s: create buckets: %w", dir, err)
	}
	logger.Debug("created nutsdb", "dir", dir, "buckets", buckets)
	return nil
}

// nutsUpdate runs fn in a read-write transaction. A panic in fn would leave
// nutsdb's lock held forever; it becomes an error and the transaction is
// rolled back.
func nutsUpdate(db *nutsdb.DB, fn func(*nutsdb.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("nutsdb update panicked: %v", r)
		}
	}()
	return db.Update(nutsNoPanic(fn))
}

// nutsView runs fn in a read-only transaction, with the same guard.
func nutsView(db *nutsdb.DB, fn func(*nutsdb.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("nutsdb view panicked: %v", r)
		}
	}()
	return db.View(nutsNoPanic(fn))
}

func nutsNoPanic(fn func(*nutsdb.Tx) error) func(*nutsdb.Tx) error {
	return func(tx *nutsdb.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic in transaction: %v", r)
			}
		}()
		return fn(tx)
	}
}

// nutsCloseDB closes db. A write that failed while nutsdb opened a new
// segment leaves db.ActiveFile nil, and Close then panics before it releases
// anything (files, goroutines, the directory lock): give it an inert active
// file first. The caller must exclude writers. Any other panic is recovered;
// the lock it leaks is then handled by the next open.
func nutsCloseDB(db *nutsdb.DB, dir string) (err error) {
	defer nutsUnreserve(dir)
	defer func() {
		if r := recover(); r != nil {
			nutsRememberLeakedLock(dir)
			err = fmt.Errorf("storage: nutsdb %s: close panicked: %v", dir, r)
		}
	}()
	if db.ActiveFile == nil {
		db.ActiveFile = nutsdb.NewDataFile("", nutsInertFile{})
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("storage: nutsdb %s: close: %w", dir, err)
	}
	return nil
}

// nutsInertFile stands in for the active data file nutsdb lost: Close only
// releases it.
type nutsInertFile struct{}

func (nutsInertFile) WriteAt([]byte, int64) (int, error) { return 0, errors.New("no active data file") }
func (nutsInertFile) ReadAt([]byte, int64) (int, error)  { return 0, errors.New("no active data file") }
func (nutsInertFile) Sync() error                        { return nil }
func (nutsInertFile) Release() error                     { return nil }
func (nutsInertFile) Size() int64                        { return 0 }
func (nutsInertFile) Close() error                       { return nil }

// nutsOpenDirs lists the nutsdb directories this process has open.
var nutsOpenDirs = struct {
	sync.Mutex
	dirs map[string]bool
}{dirs: map[string]bool{}}

func nutsReserve(dir string) bool {
	nutsOpenDirs.Lock()
	defer nutsOpenDirs.Unlock()
	k := nutsLockKey(dir)
	if nutsOpenDirs.dirs[k] {
		return false
	}
	nutsOpenDirs.dirs[k] = true
	return true
}

func nutsUnreserve(dir string) {
	nutsOpenDirs.Lock()
	defer nutsOpenDirs.Unlock()
	delete(nutsOpenDirs.dirs, nutsLockKey(dir))
}

// nutsLeakedLocks lists directories whose nutsdb lock this process holds
// through a file descriptor nothing will close: a failed Open (nutsdb returns
// without unlocking) or a Close that panicked. The lock is an flock on the
// file nutsdb-flock, so the next open in this process would fail with
// ErrDirLocked until the garbage collector happens to close that descriptor.
// The next open removes the file instead, so nutsdb locks a new one: no live
// DB holds the old lock (its owner never opened or is closed), and the
// caller's own directory lock keeps other processes out.
var nutsLeakedLocks = struct {
	sync.Mutex
	dirs map[string]bool
}{dirs: map[string]bool{}}

func nutsLockKey(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return filepath.Clean(dir)
}

func nutsRememberLeakedLock(dir string) {
	nutsLeakedLocks.Lock()
	defer nutsLeakedLocks.Unlock()
	nutsLeakedLocks.dirs[nutsLockKey(dir)] = true
}

func nutsReleaseLeakedLock(dir string, logger *slog.Logger) {
	nutsLeakedLocks.Lock()
	defer nutsLeakedLocks.Unlock()
	k := nutsLockKey(dir)
	if !nutsLeakedLocks.dirs[k] {
		return
	}
	delete(nutsLeakedLocks.dirs, k)
	p := filepath.Join(dir, nutsdb.FLockName)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		logger.Warn("cannot remove nutsdb's stale lock file", "file", p, "err", err)
		return
	}
	logger.Info("removed the nutsdb lock file a failed open left locked", "file", p)
}

// --- small helpers ---

func nutsKey(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}

// nutsSyncPath fsyncs a file or directory. Tests swap it to see what is
// synced when.
var nutsSyncPath = nutsFsync

func nutsFsync(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// nutsMkdirAll creates dir and any missing parent, syncing the parent of
// each directory it creates.
func nutsMkdirAll(dir string) error {
	dir = filepath.Clean(dir)
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("%s is not a directory", dir)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := nutsMkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nutsSyncPath(parent)
}

// nutsSyncDataFiles fsyncs every nutsdb data file in dir.
func nutsSyncDataFiles(dir string) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+nutsdb.DataSuffix))
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := nutsSyncPath(p); err != nil {
			errs = append(errs, fmt.Errorf("storage: sync %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
