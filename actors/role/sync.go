package role

import (
	"github.com/rsml-go/rsml/msg"
)

// Sync drives a core with the Driver and an Env that does everything at once,
// for tests of a core: records are persisted in order as usual, a snapshot
// save runs when asked and its outcome is stepped right after, and timers are
// collected (never fired) for the test to deliver.
type Sync struct {
	d   *Driver
	env *syncEnv
}

type syncEnv struct {
	store  Storage
	out    []msg.Out
	saved  []*msg.SnapshotSaved
	timers []Timer
}

func (e *syncEnv) Send(out []msg.Out) { e.out = append(e.out, out...) }
func (e *syncEnv) Save(job *SnapshotJob) {
	e.saved = append(e.saved, SaveSnapshot(e.store.Snapshots(), job))
}
func (e *syncEnv) After(t Timer) { e.timers = append(e.timers, t) }
func (e *syncEnv) StopTimers()   { e.timers = nil }

// NewSync starts driving core and returns what it sends on start.
func NewSync(core Core, store Storage) (*Sync, []msg.Out, error) {
	e := &syncEnv{store: store}
	s := &Sync{d: NewDriver(core, store, e), env: e}
	err := s.d.Start()
	if err == nil {
		err = s.settle()
	}
	return s, s.take(), err
}

// Core returns the driven core.
func (s *Sync) Core() Core { return s.d.Core() }

// Step feeds m and returns everything the core sent meanwhile, including
// after the outcome of any snapshot save it asked for.
func (s *Sync) Step(m any) ([]msg.Out, error) {
	err := s.d.Step(m)
	if err == nil {
		err = s.settle()
	}
	return s.take(), err
}

// Tick ticks the core, as Step.
func (s *Sync) Tick() ([]msg.Out, error) {
	err := s.d.Tick()
	if err == nil {
		err = s.settle()
	}
	return s.take(), err
}

// Timers returns the timers armed and not stopped, and forgets them.
func (s *Sync) Timers() []Timer {
	t := s.env.timers
	s.env.timers = nil
	return t
}

// settle steps the outcomes of the snapshot saves asked for.
func (s *Sync) settle() error {
	for len(s.env.saved) > 0 {
		m := s.env.saved[0]
		s.env.saved = s.env.saved[1:]
		if err := s.d.Step(m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sync) take() []msg.Out {
	out := s.env.out
	s.env.out = nil
	return out
}
