package storage

import (
	"fmt"
	"sync"

	"github.com/rsml-go/rsml/msg"
)

// Memory is a Store kept in the process's memory. It survives a role's
// restart, not the process's; tests and dev mode use it.
type Memory struct {
	ballot memBallot
	acc    memAcceptor
	chosen memChosen
	snap   memSnapshots
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	m := &Memory{}
	m.acc.st.init()
	return m
}

// Proposer returns the proposer's ballot log.
func (m *Memory) Proposer() BallotLog { return &m.ballot }

// Acceptor returns the acceptor log.
func (m *Memory) Acceptor() AcceptorLog { return &m.acc }

// Chosen returns the chosen-value log.
func (m *Memory) Chosen() ChosenLog { return &m.chosen }

// Snapshots returns the snapshot store.
func (m *Memory) Snapshots() SnapshotStore { return &m.snap }

// Close does nothing: memory needs no release.
func (m *Memory) Close() error { return nil }

type memAcceptor struct {
	mu sync.Mutex
	st acceptorMirror
}

func (a *memAcceptor) Load() (AcceptorState, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st.state(), nil
}

func (a *memAcceptor) Append(rec AcceptorRecord) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.st.apply(rec, 0)
	return nil
}

func (a *memAcceptor) Values(slots []uint64) ([]msg.Entry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st.values(slots)
}

type memChosen struct {
	mu     sync.RWMutex
	base   uint64       // values[0] is slot base+1
	values []*msg.Value // a slice of off-slice memory is dropped on truncation
}

func (c *memChosen) Append(slot uint64, v *msg.Value) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.base == 0 && len(c.values) == 0 && slot > 1 {
		c.base = slot - 1 // a log may start anywhere
	}
	if want := c.base + uint64(len(c.values)) + 1; slot != want {
		return fmt.Errorf("storage: chosen log append slot %d, want %d", slot, want)
	}
	c.values = append(c.values, v)
	return nil
}

func (c *memChosen) Get(slot uint64) (*msg.Value, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if slot <= c.base || slot > c.base+uint64(len(c.values)) {
		return nil, false
	}
	return c.values[slot-c.base-1], true
}

func (c *memChosen) Last() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.base + uint64(len(c.values))
}

func (c *memChosen) Base() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.base
}

func (c *memChosen) Truncate(through uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	last := c.base + uint64(len(c.values))
	if through > last {
		return fmt.Errorf("storage: chosen log truncate through %d beyond last slot %d", through, last)
	}
	if through <= c.base {
		return nil
	}
	// Copy what is kept: re-slicing would keep the dropped values reachable.
	c.values = append([]*msg.Value(nil), c.values[through-c.base:]...)
	c.base = through
	return nil
}

// ChangeSlots looks at every stored value: they are in memory.
func (c *memChosen) ChangeSlots(from uint64) []uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []uint64
	for i := from - min(from, c.base); i < uint64(len(c.values)); i++ {
		if v := c.values[i]; v != nil && len(v.Change) > 0 {
			out = append(out, c.base+i+1)
		}
	}
	return out
}

func (c *memChosen) Reset(base uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.values = base, nil
	return nil
}

type memSnapshots struct {
	mu   sync.Mutex
	snap Snapshot
	ok   bool
}

func (s *memSnapshots) Load() (Snapshot, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap, s.ok, nil
}

func (s *memSnapshots) Save(snap Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ok && snap.Slot < s.snap.Slot {
		// Like SnapFiles, whose Load returns the highest slot: an executor
		// finishing an older snapshot must not replace one the learner
		// installed from a peer (the chosen log starts after that one).
		return nil
	}
	s.snap, s.ok = snap, true
	return nil
}

type memBallot struct {
	mu sync.Mutex
	b  msg.Ballot
}

func (m *memBallot) LoadBallot() (msg.Ballot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.b, nil
}

func (m *memBallot) SaveBallot(b msg.Ballot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.b = msg.MaxBallot(m.b, b)
	return nil
}
