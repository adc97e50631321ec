package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nutsdb/nutsdb"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/rsml-go/rsml/internal/nutsfix"
	"github.com/rsml-go/rsml/msg"
)

// The durable logs of one replica, on nutsdb v1.1.0, under the directory
// given to OpenNuts:
//
//	acceptor/CURRENT    names the acceptor log's current generation.
//	acceptor/NNNNNNNN/  a generation of the acceptor log: one nutsdb, every
//	                    write synced. Bucket "records": big-endian record
//	                    number (from 1) -> msgpack AcceptorRecord, append-only,
//	                    replayed in order at open. Bucket "ballot": the
//	                    proposer's highest ballot.
//	chosen/CURRENT      names the chosen log's current generation.
//	chosen/NNNNNNNN/    the learner's chosen values: one nutsdb, not synced
//	                    (a lost tail is learned again from peers). Bucket
//	                    "chosen": big-endian slot -> msgpack msg.Value; bucket
//	                    "meta": the base (slots up to it were dropped).
//
// A log shrinks by generations (nutsgen.go): once a generation has taken in
// enough and the truncation point has moved, the live part is written to a
// new generation, CURRENT is switched to it, and the old one is removed.
//
// Every nutsdb DB is opened, used and closed through internal/nutsfix, which
// guards against nutsdb v1.1.0's pitfalls (DESIGN.md, "nutsdb facts that
// shape storage"): the scan and repair before Open, the syncs nutsdb leaves
// out, panics in Open and in transactions, and what Close leaves behind. What
// nutsfix cannot guard is done here:
//   - Every durable step is ONE Put in one transaction: a crash in a
//     multi-entry transaction can leave entries that recovery merges into the
//     next transaction.
//   - The acceptor log fsyncs each write itself (nutsfix.SyncCommit: the
//     segment, and the directory after nutsdb opens a new one) before an
//     Append or SaveBallot returns; nutsdb's own fsync is off, out of sight
//     of the power-loss tests.
//   - Keys and values handed to Put are fresh slices never touched again, and
//     values read back are decoded (copied) before the transaction ends.
//   - No iterators are used (an unreleased one hangs the next write): reads go
//     through Get, GetMaxKey, GetKeys and RangeScanEntries.
//   - Space comes back by generations, never by nutsdb's merge.

// NutsLeftoverGoroutine is the function in which nutsdb v1.1.0 leaves one
// goroutine blocked after Close (nutsfix.LeftoverGoroutine). The logs end it
// when they close a DB, except in race builds; the name is for goleak users
// that ignore it.
const NutsLeftoverGoroutine = nutsfix.LeftoverGoroutine

const (
	nutsAcceptorDir  = "acceptor"
	nutsChosenDir    = "chosen"
	nutsFirstGen     = "00000001"
	nutsRecords      = "records"
	nutsBallot       = "ballot"
	nutsChosenBucket = "chosen"
	nutsChosenMeta   = "meta"

	// nutsSegmentSize is the size of a nutsdb data file. nutsdb extends each
	// file to this size up front (a sparse file), so it costs no disk; large
	// means a new segment, and its directory sync, is rare.
	nutsSegmentSize = 1 << 30
	// nutsReadBytes is about how much a scan of a log (the acceptor's replay,
	// a chosen log's copy to a new generation) reads per transaction:
	// RangeScanEntries returns the whole window at once, and at a restart
	// with 1M keys windows of a fixed count of records read the whole log
	// at once (hundreds of megabytes of heap for 70 MB on disk).
	nutsReadBytes = 4 << 20
	// nutsMaxWindow bounds a scan's window when records are small.
	nutsMaxWindow = 4096
	// The chosen log keeps its most recent values decoded, within both
	// bounds, for peers a little behind; the rest is read from disk.
	nutsCacheSlots     = 1024
	nutsCacheBytes     = 4 << 20
	nutsGenRecordBytes = 1 << 20
	// nutsWritebackBytes: the chosen log, which needs no sync, is synced
	// every so many bytes all the same. Left to the kernel, its pages were
	// written back every 30 s in one burst of hundreds of megabytes (three
	// replicas on one disk), during which every acceptor's fsync waited
	// longer than an election timeout and the leader stepped down.
	nutsWritebackBytes = 1 << 20
	// nutsRewriteAtOpen: a log generation holding more on disk is copied to
	// a new one as soon as it is opened. nutsdb v1.1.0's recovery indexes
	// each entry it reads by a key that is a slice of the entry's whole
	// payload, so an opened generation keeps everything it ever held in
	// memory (a quarter of a gigabyte after a restart with 1M keys); a
	// generation written since holds only fresh 8-byte keys.
	nutsRewriteAtOpen = 4 << 20
	// nutsTailRecords: a new generation's builder copies the records that
	// came in while it wrote the frozen state if there are at least this
	// many, rather than leave them to the switch, which holds the acceptor.
	nutsTailRecords = 64
)

var (
	nutsBallotKey = []byte("max")
	nutsBaseKey   = []byte("base")
	// The chosen log's meta bucket indexes the slots that hold a membership
	// change under nutsChangePrefix and the slot; nutsIndexedKey says a
	// generation's index is whole (generations written before it existed
	// have none).
	nutsChangePrefix = []byte("chg")
	nutsIndexedKey   = []byte("indexed")
	nutsGenName      = regexp.MustCompile(`^[0-9]{8}$`)
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
	segmentSize  int64
	compactBytes int64              // 0: nutsCompactBytes
	recordBytes  int                // 0: nutsGenRecordBytes
	rewriteBytes int64              // 0: nutsRewriteAtOpen
	noSync       bool               // benchmarks that only build a log to reopen it
	genHook      func(stage string) // called by a new generation's builder: "written" (the frozen state), "done" (tests)
}

func nutsDefaults() nutsOptions { return nutsOptions{segmentSize: nutsSegmentSize} }

// compactThreshold is how much a log generation takes in before the log
// considers a new one.
func (o nutsOptions) compactThreshold() int64 {
	if o.compactBytes > 0 {
		return o.compactBytes
	}
	return nutsCompactBytes
}

// rewriteAtOpen is how much a generation may hold on disk before it is
// copied to a new one at open (see nutsRewriteAtOpen).
func (o nutsOptions) rewriteAtOpen() int64 {
	if o.rewriteBytes > 0 {
		return o.rewriteBytes
	}
	return nutsRewriteAtOpen
}

// genRecordBytes is about how much of the live state one record of a new
// acceptor log generation holds.
func (o nutsOptions) genRecordBytes() int {
	if o.recordBytes > 0 {
		return o.recordBytes
	}
	return nutsGenRecordBytes
}

// nextCompaction is how much the next generation takes in: the threshold
// plus up to half of it at random. Every replica logs the same records and
// truncates at the same slots, so with one fixed threshold all acceptors
// started a new generation at the same moment; each switch holds its
// acceptor for a few hundred milliseconds (the live state is written and
// synced), and with all of them held at once the leader lost its quorum and
// stepped down (seen in 30 s benchmarks on nutsdb, at every switch). Spread
// apart, a switch holds one acceptor and a quorum goes on.
func (o nutsOptions) nextCompaction() int64 {
	t := o.compactThreshold()
	return t + rand.Int64N(t/2+1)
}

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
	if err := nutsfix.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("storage: nutsdb logs %s: %w", dir, err)
	}
	acc, err := openNutsAcceptor(filepath.Join(dir, nutsAcceptorDir), logger, o)
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
	parent string
	logger *slog.Logger
	opts   nutsOptions

	mu          sync.Mutex // serialises writes; guards the fields below
	gens        *nutsGens
	dir         string // the current generation
	db          *nutsdb.DB
	maxFileID   int64  // the segment nutsdb writes to; a change means a new file
	next        uint64 // number of the next record
	ballot      msg.Ballot
	live        acceptorMirror // what Load returns and a new generation starts from
	written     int64          // record bytes in this generation
	genTrunc    uint64         // the truncation point this generation started from
	compactAt   int64          // compact once written passes it
	closed      bool
	err         error          // sticky: after a failed write nothing more is written
	retiring    sync.WaitGroup // old generations being closed and removed
	job         *genJob        // a new generation being built, or nil
	recordReads atomic.Int64   // records read back for values (tests count them)
	durable     atomic.Uint64  // a.next as of the last Append, for a generation's builder
}

func openNutsAcceptor(parent string, logger *slog.Logger, o nutsOptions) (*nutsAcceptor, error) {
	gens, err := openNutsGens(parent, logger)
	if err != nil {
		return nil, err
	}
	a := &nutsAcceptor{parent: parent, logger: logger.With("log", "acceptor"), opts: o, gens: gens}
	a.live.initIndexed()
	db, err := a.openGen(gens.dir())
	if err != nil {
		return nil, err
	}
	a.db, a.dir, a.maxFileID = db, gens.dir(), db.MaxFileID
	if err := a.replay(); err != nil {
		_ = nutsfix.Close(db, a.dir)
		return nil, fmt.Errorf("storage: acceptor log %s: %w", a.dir, err)
	}
	a.genTrunc = a.live.truncated
	a.durable.Store(a.next)
	a.compactAt = a.opts.nextCompaction()
	if recoveredBytes(a.dir) >= a.opts.rewriteAtOpen() {
		a.compact() // see nutsRewriteAtOpen; a failure keeps this generation
	}
	return a, nil
}

// recoveredBytes is how much a generation's data files hold on disk: what
// nutsdb read, and keeps, to open it.
func recoveredBytes(dir string) int64 {
	var n int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".dat") {
			if fi, err := e.Info(); err == nil {
				n += diskUsage(fi)
			}
		}
	}
	return n
}

func (a *nutsAcceptor) openGen(dir string) (*nutsdb.DB, error) {
	return nutsfix.Open(nutsfix.Spec{
		Dir: dir, Sync: false, Strict: true, Buckets: []string{nutsRecords, nutsBallot}, SegmentSize: a.opts.segmentSize,
	}, a.logger)
}

// replay reads the generation's ballot and every record, in order, into the
// live state: the highest promise, the truncation point, and per slot the
// entry of the last record that wrote it.
func (a *nutsAcceptor) replay() error {
	err := nutsfix.View(a.db, func(tx *nutsdb.Tx) error {
		k, err := tx.GetMaxKey(nutsRecords)
		switch {
		case errors.Is(err, nutsdb.ErrKeyNotFound):
			a.next = 1
		case err != nil:
			return err
		case len(k) != 8:
			return fmt.Errorf("%w: acceptor log %s: record key %x is not 8 bytes", ErrCorrupt, a.dir, k)
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
			return fmt.Errorf("%w: acceptor log %s: ballot: %v", ErrCorrupt, a.dir, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return scanWindows(1, a.next-1, func(lo, hi uint64) (int, error) {
		read := 0
		err := nutsfix.View(a.db, func(tx *nutsdb.Tx) error {
			keys, vals, err := tx.RangeScanEntries(nutsRecords, nutsKey(lo), nutsKey(hi), true, true)
			if err != nil && !errors.Is(err, nutsdb.ErrRangeScan) {
				return err
			}
			for i := uint64(0); i <= hi-lo; i++ {
				if i >= uint64(len(keys)) || len(keys[i]) != 8 || binary.BigEndian.Uint64(keys[i]) != lo+i || int(i) >= len(vals) {
					return fmt.Errorf("%w: acceptor log %s: record %d of 1..%d is missing", ErrCorrupt, a.dir, lo+i, a.next-1)
				}
				var head recordHead
				if err := msgpack.Unmarshal(vals[i], &head); err != nil {
					return fmt.Errorf("%w: acceptor log %s: record %d: %v", ErrCorrupt, a.dir, lo+i, err)
				}
				a.live.apply(head.record(), lo+i)
				a.written += int64(len(vals[i]))
				read += len(vals[i])
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("load: %w", err)
		}
		return read, nil
	})
}

// recordHead is an AcceptorRecord without its values, which the replay
// leaves on disk: decoding them would allocate every command of the log.
type recordHead struct {
	Promised msg.Ballot `msgpack:"p"`
	Entries  []struct {
		Slot   uint64     `msgpack:"s"`
		Ballot msg.Ballot `msgpack:"b"`
	} `msgpack:"e"`
	Truncated uint64 `msgpack:"t,omitempty"`
}

func (h *recordHead) record() AcceptorRecord {
	rec := AcceptorRecord{Promised: h.Promised, Truncated: h.Truncated, Entries: make([]msg.Entry, len(h.Entries))}
	for i, e := range h.Entries {
		rec.Entries[i] = msg.Entry{Slot: e.Slot, Ballot: e.Ballot}
	}
	return rec
}

// scanWindows calls read with consecutive windows lo..hi that cover
// first..last, each sized by the values read so far to about
// nutsReadBytes; read returns how many value bytes it read.
func scanWindows(first, last uint64, read func(lo, hi uint64) (int, error)) error {
	w := uint64(8)
	for lo := first; lo <= last && lo != 0; {
		hi := min(lo+w-1, last)
		n, err := read(lo, hi)
		if err != nil {
			return err
		}
		avg := uint64(n)/(hi-lo+1) + 1
		w = min(max(nutsReadBytes/avg, 1), nutsMaxWindow)
		lo = hi + 1
	}
	return nil
}

// Load returns the live state: the highest promise, the truncation point and
// per slot the entry of the last record that wrote it, sorted by slot, values
// read back from disk.
func (a *nutsAcceptor) Load() (AcceptorState, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.readable(); err != nil {
		return AcceptorState{}, err
	}
	st := a.live.state()
	slots := make([]uint64, len(st.Entries))
	for i, e := range st.Entries {
		slots[i] = e.Slot
	}
	full, err := a.readEntries(slots)
	if err != nil {
		return AcceptorState{}, err
	}
	st.Entries = full
	return st, nil
}

// Values returns the entries of slots with their values, read from disk:
// memory holds only their ballots and record numbers.
func (a *nutsAcceptor) Values(slots []uint64) ([]msg.Entry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.readable(); err != nil {
		return nil, err
	}
	return a.readEntries(slots)
}

func (a *nutsAcceptor) readable() error {
	if a.closed {
		return ErrClosed
	}
	// What the disk holds after a failed write is unknown until the files
	// are scanned again: reopen.
	return a.err
}

// readEntries reads the live entries of slots from the current generation,
// each record once. Callers hold a.mu.
func (a *nutsAcceptor) readEntries(slots []uint64) ([]msg.Entry, error) {
	return a.readFrom(a.db, a.dir, a.live.entries, a.live.recs, a.live.truncated, slots)
}

// readFrom reads the entries of slots, as entries (ballots) and recs (record
// numbers) describe them, from db, each record once. It touches no field of
// a but counters, so a generation built in the background uses it on a
// frozen copy of the mirror.
func (a *nutsAcceptor) readFrom(db *nutsdb.DB, dir string, entries map[uint64]msg.Entry, recs map[uint64]uint64,
	truncated uint64, slots []uint64) ([]msg.Entry, error) {
	out := make([]msg.Entry, len(slots))
	byRec := map[uint64][]int{}
	for i, s := range slots {
		if _, ok := entries[s]; !ok {
			return nil, fmt.Errorf("storage: acceptor log %s holds no entry for slot %d (truncated through %d)", dir, s, truncated)
		}
		r := recs[s]
		byRec[r] = append(byRec[r], i)
	}
	for _, r := range slices.Sorted(maps.Keys(byRec)) {
		var rec AcceptorRecord
		a.recordReads.Add(1)
		err := nutsfix.View(db, func(tx *nutsdb.Tx) error {
			b, err := tx.Get(nutsRecords, nutsKey(r))
			if err != nil {
				return err
			}
			return msgpack.Unmarshal(b, &rec) // copies out of nutsdb's buffer
		})
		if err != nil {
			return nil, fmt.Errorf("%w: acceptor log %s: read record %d: %v", ErrCorrupt, dir, r, err)
		}
		found := make(map[uint64]msg.Entry, len(rec.Entries))
		for _, e := range rec.Entries {
			if cur, ok := found[e.Slot]; wins(e, cur, ok) {
				found[e.Slot] = e
			}
		}
		for _, i := range byRec[r] {
			e, ok := found[slots[i]]
			if want := entries[slots[i]]; !ok || e.Ballot != want.Ballot || e.Value == nil {
				return nil, fmt.Errorf("%w: acceptor log %s: record %d lacks slot %d in ballot %s", ErrCorrupt, dir, r, slots[i], want.Ballot)
			}
			out[i] = e
		}
	}
	return out, nil
}

// Append writes rec as one Put in one transaction, synced before it returns.
// After a failed write every later Append fails too: the acceptor must stop
// and the store be reopened, whose scan settles what the disk holds. Once the
// generation has taken in enough and the truncation point has moved, the live
// state moves to a new generation and the old one is removed.
func (a *nutsAcceptor) Append(rec AcceptorRecord) error {
	val, err := encodeRecord(&rec)
	if err != nil {
		return fmt.Errorf("storage: acceptor log %s: encode record: %w", a.parent, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.writable(); err != nil {
		return err
	}
	recno := a.next
	if err := a.put(nutsRecords, nutsKey(recno), val); err != nil {
		return err
	}
	a.next++
	a.durable.Store(a.next)
	a.written += int64(len(val))
	a.live.apply(rec, recno)
	if a.job != nil {
		select {
		case <-a.job.done:
			a.finishGen()
		default:
		}
	} else if a.written >= a.compactAt && a.live.truncated > a.genTrunc {
		a.startGen()
	}
	return nil
}

// A new generation is built in the background, so that the acceptor does not
// stop while the live state (up to two snapshot intervals of values, read
// back from disk) is copied and synced: that took 300-800 ms, long enough for
// a leader to lose its quorum.
//
// startGen freezes the mirror at record F (a.next): its entries, their
// record numbers, the promise, the truncation point and the ballot. A
// goroutine writes that state to the next generation's directory, reading
// values from the current generation (which only grows: records are never
// rewritten, so what the frozen numbers point to stays), and syncs it. The
// acceptor meanwhile appends to the current generation as ever: records F and
// on, each synced before it is acknowledged.
//
// finishGen, on the first Append after the goroutine is done, copies records
// F..next-1 to the new generation as they are (renumbered after the frozen
// state's), writes the ballot again if it rose meanwhile, syncs, and only
// then switches CURRENT. Why this is safe: replaying the new generation is
// replaying the frozen state and then the very records that followed it, so
// it yields the mirror the old generation yields; until CURRENT names the new
// generation the old one is complete and is what a crash reopens, and after,
// the new one is complete and synced. A failure before the switch abandons the
// new generation (nothing lost: the old one holds everything); a failure of
// the switch itself stops writes, as any failed write does.
type genJob struct {
	from    uint64     // the first record of the current generation not in the frozen state
	ballot  msg.Ballot // the ballot written to the new generation
	trunc   uint64     // the frozen truncation point
	started time.Time
	done    chan struct{} // closed when the goroutine has returned

	// Set by the goroutine, read after done.
	dir       string
	db        *nutsdb.DB
	size      int
	recs      map[uint64]uint64
	nextRec   uint64
	copied    uint64 // the tail's records up to here are in the new generation
	tailBytes int64  // their size
	err       error
}

// startGen starts building a new generation from the live state. Callers
// hold a.mu, and a.job is nil.
func (a *nutsAcceptor) startGen() {
	j := &genJob{from: a.next, ballot: a.ballot, trunc: a.live.truncated, started: time.Now(), done: make(chan struct{})}
	state := acceptorMirror{promised: a.live.promised, truncated: a.live.truncated,
		entries: maps.Clone(a.live.entries), recs: maps.Clone(a.live.recs)}
	src, srcDir := a.db, a.dir
	a.job = j
	go func() {
		defer close(j.done)
		j.dir, j.err = a.gens.prepareNext()
		if j.err == nil {
			j.db, j.err = a.openGen(j.dir)
		}
		if j.err == nil {
			j.size, j.recs, j.nextRec, j.err = a.writeGen(j.db, j.dir, j.ballot, &state, src, srcDir)
		}
		if a.opts.genHook != nil {
			a.opts.genHook("written")
		}
		// The frozen state is synced here, and the tail that came in
		// meanwhile copied and synced (twice at most: it shrinks each
		// time), so that finishGen has little left to copy and sync.
		j.copied = j.from
		for round := 0; j.err == nil && round < 3; round++ {
			if round > 0 {
				upTo := a.durable.Load()
				if upTo-j.copied < nutsTailRecords {
					break
				}
				j.err = a.copyRecords(j, src, j.copied, upTo)
			}
			if j.err == nil && !a.opts.noSync {
				j.err = syncGenDir(j.dir)
			}
		}
		if a.opts.genHook != nil {
			a.opts.genHook("done")
		}
	}()
}

// compact builds a new generation and switches to it before it returns: at
// open, when nothing else runs, and in tests. Callers hold a.mu.
func (a *nutsAcceptor) compact() {
	if a.job == nil {
		a.startGen()
	}
	<-a.job.done
	a.finishGen()
}

// finishGen completes the generation a.job built (see genJob). Callers hold
// a.mu, and a.job is done.
func (a *nutsAcceptor) finishGen() {
	j, start := a.job, a.written
	a.job = nil
	tFinish := time.Now()
	recs, err := j.recs, j.err
	tail := a.next - j.from
	if err == nil {
		recs, err = a.copyTail(j)
	}
	if err == nil && !a.opts.noSync {
		err = syncGenDir(j.dir)
	}
	var oldGen uint64
	if err == nil {
		if oldGen, err = a.gens.switchNext(); err != nil {
			// CURRENT may already name the new generation (a failed
			// directory sync after the rename): both stay on disk, complete,
			// and the next open keeps whichever CURRENT names. Writing on to
			// the old one could leave acknowledged records where that open
			// would not look: stop, as after any failed write.
			_ = nutsfix.Close(j.db, j.dir)
			a.err = fmt.Errorf("storage: acceptor log %s: switching to a new generation failed, the log refuses writes until reopened: %w", a.dir, err)
			a.logger.Error("acceptor log: generation switch failed", "err", err)
			return
		}
	}
	if err != nil {
		if j.db != nil {
			_ = nutsfix.Close(j.db, j.dir)
		}
		if j.dir != "" {
			a.gens.abandonNext()
		}
		a.compactAt = a.written + a.opts.nextCompaction()
		a.logger.Warn("acceptor log: cannot start a new generation; the current one stays in use", "err", err)
		return
	}
	retireGen(&a.retiring, a.gens, oldGen, a.db, a.dir, a.logger)
	a.db, a.dir, a.maxFileID = j.db, j.dir, j.db.MaxFileID
	a.next, a.genTrunc, a.live.recs = j.nextRec+tail, j.trunc, recs
	a.durable.Store(a.next)
	a.written = int64(j.size) + j.tailBytes
	a.compactAt = a.written + a.opts.nextCompaction()
	a.logger.Debug("acceptor log: new generation", "dir", a.dir, "truncated", a.live.truncated,
		"live_entries", len(a.live.entries), "reclaimed_bytes", start, "tail_records", tail,
		"build", tFinish.Sub(j.started), "finish", time.Since(tFinish))
}

// retireGen closes the DB of a generation that is no longer current and
// removes its directory, in the background: together they took 50-80 ms, for
// which the log's owner (an acceptor, a learner) would otherwise stop. Its
// contents are no longer needed (a crash before the removal leaves it for the
// next open to remove). wg lets the log's close wait for it.
func retireGen(wg *sync.WaitGroup, g *nutsGens, gen uint64, db *nutsdb.DB, dir string, logger *slog.Logger) {
	wg.Go(func() {
		if err := nutsfix.Close(db, dir); err != nil {
			logger.Warn("closing an old log generation", "dir", dir, "err", err)
		}
		g.remove(gen)
	})
}

// copyTail copies the records appended since j froze the state to j's
// generation that its builder has not copied, renumbered after the frozen
// state's, writes the ballot again if it rose meanwhile, and returns the
// record of every live slot in the new generation. Callers hold a.mu.
func (a *nutsAcceptor) copyTail(j *genJob) (map[uint64]uint64, error) {
	if err := a.copyRecords(j, a.db, j.copied, a.next); err != nil {
		return nil, err
	}
	if a.ballot != j.ballot {
		b, err := msgpack.Marshal(a.ballot)
		if err != nil {
			return nil, err
		}
		if err := nutsfix.Update(j.db, func(tx *nutsdb.Tx) error {
			return tx.Put(nutsBallot, slices.Clone(nutsBallotKey), b, nutsdb.Persistent)
		}); err != nil {
			return nil, err
		}
	}
	// A live slot's entry is in a tail record, or it was live when the state
	// was frozen (truncation only rises) and is in the frozen state.
	recs := make(map[uint64]uint64, len(a.live.entries))
	for s := range a.live.entries {
		r := a.live.recs[s]
		if r >= j.from {
			recs[s] = j.nextRec + r - j.from
		} else if nr, ok := j.recs[s]; ok {
			recs[s] = nr
		} else {
			return nil, fmt.Errorf("slot %d (record %d) is in neither the frozen state nor the tail", s, r)
		}
	}
	return recs, nil
}

// copyRecords copies records from..upTo-1 of src, the current generation, to
// j's, numbered after the frozen state's, and advances j.copied. Records are
// never rewritten, and a.durable counts only records already written.
func (a *nutsAcceptor) copyRecords(j *genJob, src *nutsdb.DB, from, upTo uint64) error {
	for r := from; r < upTo; r++ {
		var val []byte
		err := nutsfix.View(src, func(tx *nutsdb.Tx) error {
			b, err := tx.Get(nutsRecords, nutsKey(r))
			val = slices.Clone(b)
			return err
		})
		if err != nil {
			return fmt.Errorf("copy record %d: %w", r, err)
		}
		if err := nutsfix.Update(j.db, func(tx *nutsdb.Tx) error {
			return tx.Put(nutsRecords, nutsKey(j.nextRec+r-j.from), val, nutsdb.Persistent)
		}); err != nil {
			return fmt.Errorf("copy record %d: %w", r, err)
		}
		j.tailBytes += int64(len(val))
		j.copied = r + 1
	}
	return nil
}

// syncGenDir makes a new generation's data files and their directory entries
// durable, however many segments it spans.
func syncGenDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), nutsdb.DataSuffix) {
			if err := nutsfix.SyncPath(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nutsfix.SyncPath(dir)
}

// writeGen writes a new generation's content into db: the ballot, then the
// frozen state in records from 1 on, each of about nutsGenRecordBytes (values
// read back from src, the current generation, one of its records at a time,
// so that the whole state is never in memory at once), each in one Put. It
// returns their total size, the record of each slot and the number of the
// next record. It runs without a.mu: it reads only its arguments and src.
// finishGen syncs what it wrote.
func (a *nutsAcceptor) writeGen(db *nutsdb.DB, dir string, ballot msg.Ballot, state *acceptorMirror, src *nutsdb.DB, srcDir string) (int, map[uint64]uint64, uint64, error) {
	if !ballot.IsZero() {
		b, err := msgpack.Marshal(ballot)
		if err != nil {
			return 0, nil, 0, err
		}
		if err := nutsfix.Update(db, func(tx *nutsdb.Tx) error {
			return tx.Put(nutsBallot, slices.Clone(nutsBallotKey), b, nutsdb.Persistent)
		}); err != nil {
			return 0, nil, 0, err
		}
	}
	slots := slices.Sorted(maps.Keys(state.entries))
	recs := make(map[uint64]uint64, len(slots))
	recno, size := uint64(1), 0
	rec := AcceptorRecord{Promised: state.promised, Truncated: state.truncated}
	bytes := 0
	flush := func() error {
		v, err := encodeRecord(&rec)
		if err != nil {
			return err
		}
		if err := nutsfix.Update(db, func(tx *nutsdb.Tx) error {
			return tx.Put(nutsRecords, nutsKey(recno), v, nutsdb.Persistent)
		}); err != nil {
			return err
		}
		for _, e := range rec.Entries {
			recs[e.Slot] = recno
		}
		size += len(v)
		recno++
		rec.Entries, bytes = nil, 0
		return nil
	}
	// Values are read back one source record at a time, each record once:
	// a record of a generation written here holds about genRecordBytes of
	// values, and reading a few slots at a time decoded it once per few
	// slots (750 MB read at the open of a 1M-key replica's log).
	byRec := map[uint64][]uint64{}
	for _, s := range slots {
		r := state.recs[s]
		byRec[r] = append(byRec[r], s)
	}
	for _, r := range slices.Sorted(maps.Keys(byRec)) {
		es, err := a.readFrom(src, srcDir, state.entries, state.recs, state.truncated, byRec[r])
		if err != nil {
			return 0, nil, 0, err
		}
		for _, e := range es {
			rec.Entries = append(rec.Entries, e)
			if bytes += e.Value.Size(); bytes >= a.opts.genRecordBytes() {
				if err := flush(); err != nil {
					return 0, nil, 0, err
				}
			}
		}
	}
	// The last record, or the only one (which may hold no entry: it still
	// carries the promise and the truncation point).
	if len(rec.Entries) > 0 || recno == 1 {
		if err := flush(); err != nil {
			return 0, nil, 0, err
		}
	}
	return size, recs, recno, nil
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
	err := nutsfix.Update(a.db, func(tx *nutsdb.Tx) error {
		return tx.Put(bucket, key, val, nutsdb.Persistent)
	})
	if err == nil && !a.opts.noSync {
		err = nutsfix.SyncCommit(a.db, a.dir, &a.maxFileID)
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
	if j := a.job; j != nil {
		// The new generation is not named by CURRENT: drop it.
		<-j.done
		a.job = nil
		if j.db != nil {
			_ = nutsfix.Close(j.db, j.dir)
		}
		if j.dir != "" {
			a.gens.abandonNext()
		}
	}
	a.retiring.Wait()
	return nutsfix.Close(a.db, a.dir)
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
	parent string
	logger *slog.Logger
	opts   nutsOptions

	mu        sync.RWMutex
	gens      *nutsGens
	dir       string // the current generation
	db        *nutsdb.DB
	base      uint64 // slots up to base are dropped
	last      uint64 // the highest delivered slot (base when none is stored above it)
	written   int64  // value bytes in this generation
	genBase   uint64 // base when this generation started
	compactAt int64
	cache     nutsValueCache
	unsynced  int // bytes appended since the last writeback sync
	// changes are the stored slots above base whose values carry a
	// membership change, in order: every (re)start of the learner and the
	// proposer rebuilds the membership from them, which would otherwise
	// read every slot since the snapshot.
	changes  []uint64
	closed   bool
	err      error          // sticky, as for the acceptor log
	retiring sync.WaitGroup // old generations being closed and removed
}

func openNutsChosen(parent string, logger *slog.Logger, o nutsOptions) (*nutsChosen, error) {
	gens, err := openNutsGens(parent, logger)
	if err != nil {
		return nil, err
	}
	c := &nutsChosen{parent: parent, logger: logger.With("log", "chosen"), opts: o, gens: gens, dir: gens.dir()}
	c.db, err = c.openGen(c.dir)
	if err != nil {
		return nil, err
	}
	indexed, err := c.scan()
	if err == nil && !indexed {
		err = c.buildIndex()
	}
	if err != nil {
		_ = nutsfix.Close(c.db, c.dir)
		return nil, fmt.Errorf("storage: chosen log %s: %w", c.dir, err)
	}
	c.genBase = c.base
	c.compactAt = c.opts.nextCompaction()
	c.cache.init()
	if recoveredBytes(c.dir) >= c.opts.rewriteAtOpen() {
		_ = c.compact(false) // see nutsRewriteAtOpen; a failure is logged and keeps this generation
	}
	return c, nil
}

func (c *nutsChosen) openGen(dir string) (*nutsdb.DB, error) {
	// The chosen log is not synced: the repair cuts at the first damage
	// wherever it is, since anything after it may be missing anyway.
	return nutsfix.Open(nutsfix.Spec{Dir: dir, Sync: false, Strict: false,
		Buckets: []string{nutsChosenBucket, nutsChosenMeta}, SegmentSize: c.opts.segmentSize}, c.logger)
}

// scan finds the base (from the meta key, or below the first stored slot),
// the contiguous run of stored slots above it and, when the generation has
// a whole index (indexed), the slots among them that hold a change.
func (c *nutsChosen) scan() (indexed bool, err error) {
	err = nutsfix.View(c.db, func(tx *nutsdb.Tx) error {
		var metaBase uint64
		v, err := tx.Get(nutsChosenMeta, nutsBaseKey)
		switch {
		case errors.Is(err, nutsdb.ErrKeyNotFound):
		case err != nil:
			return err
		case len(v) != 8:
			return fmt.Errorf("%w: chosen log %s: base %x is not 8 bytes", ErrCorrupt, c.dir, v)
		default:
			metaBase = binary.BigEndian.Uint64(v)
		}
		keys, err := tx.GetKeys(nutsChosenBucket) // sorted; empty for an empty bucket
		if err != nil {
			return err
		}
		c.base, c.last, c.changes = metaBase, metaBase, nil
		started := false
		for _, k := range keys {
			if len(k) != 8 {
				return fmt.Errorf("%w: chosen log %s: key %x is not 8 bytes", ErrCorrupt, c.dir, k)
			}
			s := binary.BigEndian.Uint64(k)
			c.written += 64 // an estimate: reading every value to size it would slow the open
			if s <= metaBase {
				continue
			}
			if !started && metaBase == 0 {
				// A log that never dropped anything may start anywhere.
				c.base, c.last = s-1, s-1
			}
			started = true
			if s != c.last+1 {
				// Writes go in slot order and a repair cuts at the first
				// damage, so this is not expected; keep the contiguous prefix
				// (a slot's chosen value never changes, so what lies beyond is
				// either rewritten identically or never read).
				c.logger.Warn("chosen log has a gap; keeping the slots before it", "dir", c.dir, "last", c.last, "next_stored", s)
				break
			}
			c.last = s
		}
		switch _, err := tx.Get(nutsChosenMeta, nutsIndexedKey); {
		case errors.Is(err, nutsdb.ErrKeyNotFound):
			return nil
		case err != nil:
			return err
		}
		indexed = true
		metaKeys, err := tx.GetKeys(nutsChosenMeta) // sorted, so the slots are in order
		if err != nil {
			return err
		}
		for _, k := range metaKeys {
			if len(k) != len(nutsChangePrefix)+8 || !bytes.HasPrefix(k, nutsChangePrefix) {
				continue
			}
			// An entry is written before its slot, in the same transaction,
			// so one above last is of a slot a crash lost (which, chosen
			// again, holds the same change and is indexed again).
			if s := binary.BigEndian.Uint64(k[len(nutsChangePrefix):]); s > c.base && s <= c.last {
				c.changes = append(c.changes, s)
			}
		}
		return nil
	})
	return indexed, err
}

// buildIndex indexes a generation written without one: it reads every
// stored slot once, then writes the index so that later opens need not.
func (c *nutsChosen) buildIndex() error {
	err := scanWindows(c.base+1, c.last, func(lo, hi uint64) (int, error) {
		read := 0
		err := nutsfix.View(c.db, func(tx *nutsdb.Tx) error {
			ks, vs, err := tx.RangeScanEntries(nutsChosenBucket, nutsKey(lo), nutsKey(hi), true, true)
			if err != nil {
				return err
			}
			for i := range ks {
				read += len(vs[i])
				var v msg.Value // once per legacy generation: no lighter decoding
				if err := msgpack.Unmarshal(vs[i], &v); err != nil {
					return fmt.Errorf("%w: chosen log %s: slot %x: %v", ErrCorrupt, c.dir, ks[i], err)
				}
				if len(v.Change) > 0 {
					c.changes = append(c.changes, binary.BigEndian.Uint64(ks[i]))
				}
			}
			return nil
		})
		return read, err
	})
	if err != nil {
		return err
	}
	return nutsfix.Update(c.db, c.putIndex)
}

// putIndex writes the index of c.changes, then the mark that it is whole,
// in that order: a crash that keeps the mark keeps the entries before it.
func (c *nutsChosen) putIndex(tx *nutsdb.Tx) error {
	for _, s := range c.changes {
		if err := tx.Put(nutsChosenMeta, changeKey(s), []byte{1}, nutsdb.Persistent); err != nil {
			return err
		}
	}
	return tx.Put(nutsChosenMeta, slices.Clone(nutsIndexedKey), []byte{1}, nutsdb.Persistent)
}

func changeKey(slot uint64) []byte {
	return binary.BigEndian.AppendUint64(slices.Clone(nutsChangePrefix), slot)
}

// ChangeSlots answers from the index, which is in memory.
func (c *nutsChosen) ChangeSlots(from uint64) []uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i, _ := slices.BinarySearch(c.changes, from+1)
	return slices.Clone(c.changes[i:])
}

// Append stores v as the value chosen for slot, which must be Last()+1 (any
// slot when the log is new). It is not synced.
func (c *nutsChosen) Append(slot uint64, v *msg.Value) error {
	val, err := encodeValue(v)
	if err != nil {
		return fmt.Errorf("storage: chosen log %s: encode slot %d: %w", c.dir, slot, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	switch {
	case slot == 0:
		return fmt.Errorf("storage: chosen log append slot 0")
	case c.last != 0 && slot != c.last+1:
		return fmt.Errorf("storage: chosen log append slot %d, want %d", slot, c.last+1)
	}
	err = nutsfix.Update(c.db, func(tx *nutsdb.Tx) error {
		if len(v.Change) > 0 {
			// Before the slot: see scan.
			if err := tx.Put(nutsChosenMeta, changeKey(slot), []byte{1}, nutsdb.Persistent); err != nil {
				return err
			}
		}
		return tx.Put(nutsChosenBucket, nutsKey(slot), val, nutsdb.Persistent)
	})
	if err != nil {
		c.err = fmt.Errorf("storage: chosen log %s: write failed, the log refuses writes until reopened: %w", c.dir, err)
		c.logger.Error("chosen log write failed", "dir", c.dir, "err", err)
		return c.err
	}
	if c.last == 0 {
		c.base = slot - 1
	}
	c.last = slot
	c.written += int64(len(val))
	c.cache.add(slot, v)
	if len(v.Change) > 0 {
		c.changes = append(c.changes, slot)
	}
	if c.unsynced += len(val); c.unsynced >= nutsWritebackBytes {
		// Not for durability (the chosen log need not be synced): see
		// nutsWritebackBytes.
		c.unsynced = 0
		if err := nutsfix.SyncDataFiles(c.dir); err != nil {
			c.logger.Warn("chosen log: sync for writeback failed", "dir", c.dir, "err", err)
		}
	}
	return nil
}

// Get returns the value chosen for a stored slot: recent ones from memory,
// older ones decoded from nutsdb. Values are shared, like messages: callers
// must not modify them.
func (c *nutsChosen) Get(slot uint64) (*msg.Value, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed || slot <= c.base || slot > c.last {
		return nil, false
	}
	return c.get(slot)
}

func (c *nutsChosen) get(slot uint64) (*msg.Value, bool) {
	if v, ok := c.cache.get(slot); ok {
		return v, true
	}
	var v msg.Value
	err := nutsfix.View(c.db, func(tx *nutsdb.Tx) error {
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

// Last is the highest delivered slot, 0 for a new log.
func (c *nutsChosen) Last() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.last
}

// writable says why the log takes no writes (closed, or a write failed and
// only a reopen settles what the disk holds), or nil. Callers hold c.mu.
func (c *nutsChosen) writable() error {
	if c.closed {
		return ErrClosed
	}
	return c.err
}

// Base is the highest slot dropped.
func (c *nutsChosen) Base() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.base
}

// Truncate drops the slots up to through. Their space comes back when the
// generation has taken in enough to be worth rewriting.
func (c *nutsChosen) Truncate(through uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	switch {
	case through > c.last:
		return fmt.Errorf("storage: chosen log truncate through %d beyond last slot %d", through, c.last)
	case through <= c.base:
		return nil
	}
	c.base = through
	i, _ := slices.BinarySearch(c.changes, through+1)
	c.changes = slices.Delete(c.changes, 0, i)
	if c.written >= c.compactAt {
		return c.compact(false)
	}
	return nil
}

// Reset drops every slot and makes base the delivered point; it is on disk
// (though not synced) when Reset returns.
func (c *nutsChosen) Reset(base uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	c.base, c.last = base, base
	c.cache.init()
	c.changes = nil
	return c.compact(true)
}

// compact moves the kept slots to a new generation. must says the caller
// needs the new generation (a Reset): failing it fails the log.
func (c *nutsChosen) compact(must bool) error {
	var oldGen uint64
	next, err := c.gens.prepareNext()
	var db *nutsdb.DB
	if err == nil {
		db, err = c.openGen(next)
	}
	written := int64(0)
	if err == nil {
		written, err = c.copyTo(db)
		if err == nil {
			// Synced so that a power cut after the switch finds the slots
			// the old generation held.
			err = nutsfix.SyncDataFiles(next)
		}
		if err == nil {
			if oldGen, err = c.gens.switchNext(); err != nil {
				// CURRENT may already name the new generation: keep both
				// and stop, as for the acceptor log.
				_ = nutsfix.Close(db, next)
				c.err = fmt.Errorf("storage: chosen log %s: switching to a new generation failed, the log refuses writes until reopened: %w", c.dir, err)
				c.logger.Error("chosen log: generation switch failed", "err", err)
				return c.err
			}
		}
		if err != nil {
			_ = nutsfix.Close(db, next)
		}
	}
	if err != nil {
		c.gens.abandonNext()
		c.compactAt = c.written + c.opts.nextCompaction()
		if must {
			c.err = fmt.Errorf("storage: chosen log %s: cannot start a new generation, the log refuses writes until reopened: %w", c.dir, err)
			return c.err
		}
		c.logger.Warn("chosen log: cannot start a new generation; the current one stays in use", "err", err)
		return nil
	}
	retireGen(&c.retiring, c.gens, oldGen, c.db, c.dir, c.logger)
	c.db, c.dir = db, next
	c.written, c.genBase = written, c.base
	c.compactAt = written + c.opts.nextCompaction()
	return nil
}

// copyTo writes the base, the index and every kept slot into db, many slots per
// transaction: a crash before the switch discards the new generation whole,
// so a half-applied transaction there cannot matter.
func (c *nutsChosen) copyTo(db *nutsdb.DB) (int64, error) {
	if err := nutsfix.Update(db, func(tx *nutsdb.Tx) error {
		if err := tx.Put(nutsChosenMeta, slices.Clone(nutsBaseKey), nutsKey(c.base), nutsdb.Persistent); err != nil {
			return err
		}
		return c.putIndex(tx)
	}); err != nil {
		return 0, err
	}
	var written int64
	err := scanWindows(c.base+1, c.last, func(lo, hi uint64) (int, error) {
		var keys, vals [][]byte
		err := nutsfix.View(c.db, func(tx *nutsdb.Tx) error {
			ks, vs, err := tx.RangeScanEntries(nutsChosenBucket, nutsKey(lo), nutsKey(hi), true, true)
			if err != nil {
				return err
			}
			if uint64(len(ks)) != hi-lo+1 || len(vs) != len(ks) {
				return fmt.Errorf("slots %d..%d: %d stored", lo, hi, len(ks))
			}
			for i := range ks {
				keys = append(keys, slices.Clone(ks[i]))
				vals = append(vals, slices.Clone(vs[i]))
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("copy: %w", err)
		}
		if err := nutsfix.Update(db, func(tx *nutsdb.Tx) error {
			for i := range keys {
				if err := tx.Put(nutsChosenBucket, keys[i], vals[i], nutsdb.Persistent); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return 0, err
		}
		read := 0
		for _, v := range vals {
			read += len(v)
		}
		written += int64(read)
		return read, nil
	})
	return written, err
}

func (c *nutsChosen) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.retiring.Wait()
	// Not needed across a process restart (the page cache keeps the data),
	// but a clean shutdown should leave the log whole even across a power
	// cut that follows it.
	serr := nutsfix.SyncDataFiles(c.dir)
	return errors.Join(serr, nutsfix.Close(c.db, c.dir))
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

// --- small helpers ---

func nutsKey(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}
