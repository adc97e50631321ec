// Package role is the contract every role core keeps and the one driver that
// carries it out, for the role actors and for the simulator alike (the etcd
// raft lesson: a pure core, I/O at the edge, and one ordering rule).
//
// A core is fed messages (Step) and ticks (Tick) and never touches storage,
// the network or the clock. After each input the driver asks it for a Ready:
// records to make durable, a snapshot to save, timers to arm and messages to
// send. The driver persists the records, in order, before anything else of
// that Ready happens; then it hands the snapshot to be saved off the role's
// path (the outcome comes back as a *msg.SnapshotSaved); then it arms the
// timers and sends the messages; then it calls Advance. If a record cannot be
// persisted nothing of that Ready is sent and the role stops: an answer that
// reveals state the disk does not hold could break a promise.
//
// Where the role runs is the Env: the actors send through the address book,
// save snapshots on a goroutine and arm real timers; the simulator schedules
// all three on its seeded clock. Everything between the core and the Env is
// this package's Driver, so both run the same code.
package role

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// Core is a role's protocol logic.
type Core interface {
	// Step handles one message.
	Step(m any)
	// Tick advances the logical clock by one tick.
	Tick()
	// Ready returns what the core wants done now, and forgets it: the
	// driver must carry it out before the next Step or Tick.
	Ready() Ready
	// Advance tells the core that the last Ready was carried out: its
	// records are durable and its messages sent.
	Advance()
}

// Ready is what a core hands out after an input. The driver carries it out
// in the order of the fields.
type Ready struct {
	// Fail, when set, says that the core cannot go on: its state may be
	// damaged, and only a restart from storage is safe. Nothing else of the
	// Ready is carried out.
	Fail error

	// Records, persisted in this order before anything below happens.

	// Ballot is a ballot the proposer is about to use (zero: none). No
	// message carrying it may leave before it is durable, so that a
	// restarted proposer never uses it again.
	Ballot msg.Ballot
	// Accepted is the acceptor's record: a promise and acceptances, synced
	// as one unit (group commit).
	Accepted *storage.AcceptorRecord
	// Chosen are the learner's writes to its chosen log.
	Chosen ChosenWrites

	// Snapshot, if set, is saved off the role's path; the role learns how it
	// went from a *msg.SnapshotSaved.
	Snapshot *SnapshotJob
	// StopTimers stops every timer the role armed that has not fired yet;
	// then Timers are armed.
	StopTimers bool
	// Timers deliver a message to the role itself after a while.
	Timers []Timer
	// Messages are sent once the records are durable.
	Messages []msg.Out
}

// ChosenWrites are writes to the chosen log, applied in this order: Reset
// (when ResetTo is set), the appends, then Truncate.
type ChosenWrites struct {
	// Reset drops every stored slot and makes ResetTo the delivered point
	// (a replica that installed a snapshot of slots up to it).
	Reset   bool
	ResetTo uint64
	// First is the slot of Values[0]; the values follow it one slot each.
	First  uint64
	Values []*msg.Value
	// Truncate drops the slots up to it (0: none).
	Truncate uint64
}

// Empty reports whether w writes nothing.
func (w ChosenWrites) Empty() bool { return !w.Reset && len(w.Values) == 0 && w.Truncate == 0 }

// SnapshotJob is a snapshot to save. Encode runs off the role's path, while
// the role goes on: it may read only what was captured for it.
type SnapshotJob struct {
	Slot, Rev uint64
	Encode    func() ([]byte, error)
	// Stream, if set, gives the snapshot's size and a function that writes
	// the bytes Encode returns, for stores that save as they are written
	// (storage.SnapshotStreamer): a large state is then never whole in
	// memory.
	Stream func() (size int, write func(io.Writer) error, err error)
}

// Timer delivers Msg to the role after After (of the Env's clock).
type Timer struct {
	After time.Duration
	Msg   any
}

// Env is where a role runs.
type Env interface {
	// Send sends messages, in order.
	Send(out []msg.Out)
	// Save runs SaveSnapshot for job off the role's path, and delivers the
	// message it returns to the role.
	Save(job *SnapshotJob)
	// After delivers t.Msg to the role after t.After, unless the role
	// stopped or StopTimers was called meanwhile.
	After(t Timer)
	// StopTimers stops every timer armed by After that has not fired yet.
	StopTimers()
}

// Storage is the part of a replica's storage the roles write.
type Storage interface {
	Proposer() storage.BallotLog
	Acceptor() storage.AcceptorLog
	Chosen() storage.ChosenLog
	Snapshots() storage.SnapshotStore
}

// ErrStopped is returned by a Driver whose role stopped after a failure.
var ErrStopped = errors.New("role: stopped after a failure")

// FailError is returned when the core asked to be restarted from storage
// (Ready.Fail).
type FailError struct{ Err error }

func (e *FailError) Error() string { return "role: core failed: " + e.Err.Error() }

func (e *FailError) Unwrap() error { return e.Err }

// Driver feeds a core and carries out its Readys. It is not safe for
// concurrent use: one role, one goroutine (or one simulated step) at a time.
type Driver struct {
	core  Core
	store Storage
	env   Env
	err   error
}

// NewDriver returns the driver of core.
func NewDriver(core Core, store Storage, env Env) *Driver {
	return &Driver{core: core, store: store, env: env}
}

// Core returns the driven core.
func (d *Driver) Core() Core { return d.core }

// Start carries out what a new core has to do before its first input
// (what it sends on start, a log reset, a first snapshot).
func (d *Driver) Start() error { return d.carry() }

// Step feeds m to the core and carries out its Ready. An error means the
// role must stop (a record could not be persisted: every later call returns
// ErrStopped) or be restarted from storage (*FailError).
func (d *Driver) Step(m any) error {
	if d.err != nil {
		return ErrStopped
	}
	d.core.Step(m)
	return d.carry()
}

// Tick ticks the core and carries out its Ready.
func (d *Driver) Tick() error {
	if d.err != nil {
		return ErrStopped
	}
	d.core.Tick()
	return d.carry()
}

func (d *Driver) carry() error {
	rd := d.core.Ready()
	if rd.Fail != nil {
		d.err = &FailError{Err: rd.Fail}
		return d.err
	}
	if err := persist(d.store, rd); err != nil {
		d.err = err
		return err
	}
	if rd.Snapshot != nil {
		d.env.Save(rd.Snapshot)
	}
	if rd.StopTimers {
		d.env.StopTimers()
	}
	for _, t := range rd.Timers {
		d.env.After(t)
	}
	if len(rd.Messages) > 0 {
		d.env.Send(rd.Messages)
	}
	d.core.Advance()
	return nil
}

// persist writes a Ready's records in order.
func persist(st Storage, rd Ready) error {
	if !rd.Ballot.IsZero() {
		if err := st.Proposer().SaveBallot(rd.Ballot); err != nil {
			return fmt.Errorf("save ballot %s: %w", rd.Ballot, err)
		}
	}
	if rd.Accepted != nil {
		if err := st.Acceptor().Append(*rd.Accepted); err != nil {
			return fmt.Errorf("append to the acceptor log: %w", err)
		}
	}
	if w := rd.Chosen; !w.Empty() {
		log := st.Chosen()
		if w.Reset {
			if err := log.Reset(w.ResetTo); err != nil {
				return fmt.Errorf("reset the chosen log to slot %d: %w", w.ResetTo, err)
			}
		}
		for i, v := range w.Values {
			if err := log.Append(w.First+uint64(i), v); err != nil {
				return fmt.Errorf("append slot %d to the chosen log: %w", w.First+uint64(i), err)
			}
		}
		if w.Truncate > log.Base() {
			if err := log.Truncate(w.Truncate); err != nil {
				return fmt.Errorf("truncate the chosen log through %d: %w", w.Truncate, err)
			}
		}
	}
	return nil
}

// SaveSnapshot encodes job's snapshot and saves it in snaps, and returns the
// message that tells the role how it went. Envs call it off the role's path.
func SaveSnapshot(snaps storage.SnapshotStore, job *SnapshotJob) *msg.SnapshotSaved {
	var size int
	var err error
	if st, ok := snaps.(storage.SnapshotStreamer); ok && job.Stream != nil {
		var write func(io.Writer) error
		if size, write, err = job.Stream(); err == nil {
			err = st.SaveStream(job.Slot, job.Rev, size, write)
		}
	} else {
		var data []byte
		if data, err = job.Encode(); err == nil {
			size = len(data)
			err = snaps.Save(storage.Snapshot{Slot: job.Slot, Rev: job.Rev, Data: data})
		}
	}
	if err != nil {
		err = fmt.Errorf("save snapshot at slot %d: %w", job.Slot, err)
	}
	return &msg.SnapshotSaved{Slot: job.Slot, Err: err, Size: size}
}
