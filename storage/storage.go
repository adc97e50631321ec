package storage

import (
	"errors"
	"fmt"
	"io"

	"github.com/rsml-go/rsml/msg"
)

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("storage: closed")

// AcceptorState is what an acceptor restores when it (re)starts.
type AcceptorState struct {
	Promised msg.Ballot
	// Truncated: every slot up to it is chosen, applied and covered by a
	// snapshot, and its entry was dropped. The acceptor reports it in every
	// Promise, so that a new leader never takes a dropped slot for an empty one.
	Truncated uint64
	Entries   []msg.Entry // sorted by slot, one per slot, all above Truncated
}

// AcceptorRecord is one durable step of an acceptor: possibly a new promise and
// any number of acceptances, written and synced as one unit (group commit).
// A zero Promised leaves the promise unchanged; a Truncated above the log's
// drops every entry up to it (entries of the same record above it are kept).
type AcceptorRecord struct {
	Promised  msg.Ballot  `msgpack:"p"`
	Entries   []msg.Entry `msgpack:"e"`
	Truncated uint64      `msgpack:"t,omitempty"`
}

// AcceptorLog is the acceptor's stable storage. Append must be durable when it
// returns: the acceptor replies only afterwards, and a restart must find every
// promise and acceptance it replied to.
//
// Values lets an acceptor keep only ballots in memory: it returns the log's
// entry, value included, for each of slots (ascending, each holding an entry
// above the truncation point), in the same order; a slot without one is an
// error.
type AcceptorLog interface {
	Load() (AcceptorState, error)
	Append(rec AcceptorRecord) error
	Values(slots []uint64) ([]msg.Entry, error)
}

// ChosenLog holds chosen values the learner has delivered, contiguous from
// Base()+1 to Last(), so that the executor can replay them after a restart and
// lagging peers can fetch them. Slots up to Base() are covered by a snapshot
// and no longer kept.
type ChosenLog interface {
	// Append stores the value chosen for slot Last()+1.
	Append(slot uint64, v *msg.Value) error
	// Get returns the value of a stored slot (one above Base()).
	Get(slot uint64) (*msg.Value, bool)
	// Last is the highest delivered slot: the highest stored one, or Base()
	// when none above it is stored (0 for a new log).
	Last() uint64
	// Base is the highest slot no longer kept (0 when nothing was dropped).
	Base() uint64
	// Truncate drops the slots up to through (at most Last()); its space is
	// reclaimed later, at the log's own pace.
	Truncate(through uint64) error
	// Reset drops every slot and makes base the delivered point, for a
	// replica that installed a peer's snapshot of slots up to base.
	Reset(base uint64) error
	// ChangeSlots returns the stored slots above from whose values carry a
	// membership change, in order. Every (re)start of the learner and the
	// proposer rebuilds the membership from the changes since the
	// snapshot: a log that keeps its values on disk answers from an index
	// rather than read every slot.
	ChangeSlots(from uint64) []uint64
}

// Changes calls f, in slot order, with each stored slot in (from, through]
// whose value carries a membership change, and that change. A slot the log
// names but cannot read, or that holds no change, is an error: the
// membership built without it would count quorums wrongly.
func Changes(log ChosenLog, from, through uint64, f func(slot uint64, change []byte)) error {
	for _, s := range log.ChangeSlots(from) {
		if s > through {
			break
		}
		v, ok := log.Get(s)
		if !ok || len(v.Change) == 0 {
			return fmt.Errorf("%w: chosen log slot %d holds a membership change by the log's index, but it cannot be read as one", ErrCorrupt, s)
		}
		f(s, v.Change)
	}
	return nil
}

// Snapshot is the executor's state at an applied slot: the state machine, the
// exactly-once table and the rev counter, encoded by the executor.
type Snapshot struct {
	Slot uint64
	Rev  uint64
	Data []byte
}

// SnapshotStore keeps the executor's latest snapshot; Save replaces it
// atomically.
type SnapshotStore interface {
	Load() (Snapshot, bool, error)
	Save(s Snapshot) error
}

// SnapshotStreamer is a SnapshotStore that saves a snapshot as it is
// written, so that a large one is never whole in memory: write writes
// exactly size bytes, the snapshot's Data. It replaces the latest snapshot
// atomically, as Save does.
type SnapshotStreamer interface {
	SaveStream(slot, rev uint64, size int, write func(io.Writer) error) error
}

// SnapshotHeadLoader is a SnapshotStore that can load the latest snapshot
// with only the first n bytes of its Data in memory (checked whole all the
// same), for readers that need only what the snapshot starts with.
type SnapshotHeadLoader interface {
	LoadHead(n int) (Snapshot, bool, error)
}

// SnapshotOpener is a SnapshotStore that hands out the latest snapshot's
// Data as a stream of size bytes (checked whole before it is handed out),
// so that a restore never holds it all in memory. The caller closes data.
type SnapshotOpener interface {
	OpenLatest() (slot, rev uint64, size int64, data io.ReadCloser, found bool, err error)
}

// LoadHead loads the latest snapshot of s with at least the first n bytes of
// its Data, all of it from a store that is no SnapshotHeadLoader.
func LoadHead(s SnapshotStore, n int) (Snapshot, bool, error) {
	if h, ok := s.(SnapshotHeadLoader); ok {
		return h.LoadHead(n)
	}
	return s.Load()
}

// BallotLog keeps the highest ballot the replica's proposer has used. A
// proposer that restarts must never reuse a ballot: a second incarnation
// proposing a different value in the same (slot, ballot) would break the rule
// that a ballot carries one value per slot, on which choosing depends.
type BallotLog interface {
	LoadBallot() (msg.Ballot, error)
	SaveBallot(b msg.Ballot) error
}

// Store bundles one replica's storage.
type Store interface {
	Proposer() BallotLog
	Acceptor() AcceptorLog
	Chosen() ChosenLog
	Snapshots() SnapshotStore
	Close() error
}
