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
	m.acc.entries = map[uint64]msg.Entry{}
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
	mu       sync.Mutex
	promised msg.Ballot
	entries  map[uint64]msg.Entry
}

func (a *memAcceptor) Load() (AcceptorState, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return AcceptorState{Promised: a.promised, Entries: sortedEntries(a.entries)}, nil
}

func (a *memAcceptor) Append(rec AcceptorRecord) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.promised.Less(rec.Promised) {
		a.promised = rec.Promised
	}
	applyEntries(a.entries, rec.Entries)
	return nil
}

type memChosen struct {
	mu     sync.RWMutex
	first  uint64 // slot of vals[0]
	values []*msg.Value
}

func (c *memChosen) Append(slot uint64, v *msg.Value) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first == 0 {
		c.first = slot
	}
	if want := c.first + uint64(len(c.values)); slot != want {
		return fmt.Errorf("storage: chosen log append slot %d, want %d", slot, want)
	}
	c.values = append(c.values, v)
	return nil
}

func (c *memChosen) Get(slot uint64) (*msg.Value, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.first == 0 || slot < c.first || slot >= c.first+uint64(len(c.values)) {
		return nil, false
	}
	return c.values[slot-c.first], true
}

func (c *memChosen) Last() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.first == 0 {
		return 0
	}
	return c.first + uint64(len(c.values)) - 1
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
