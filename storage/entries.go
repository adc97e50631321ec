package storage

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/rsml-go/rsml/msg"
)

// wins says whether e replaces cur (ok: there is one) in an acceptor log's
// per-slot state. The highest ballot wins: an acceptor never accepts below
// its promise, so a lower one can only be a stray write (say, a stopped
// incarnation's late flush) and must not replace what was answered since.
func wins(e, cur msg.Entry, ok bool) bool { return !ok || !e.Ballot.Less(cur.Ballot) }

// sortedEntries returns the per-slot state in slot order, as Load promises.
func sortedEntries(latest map[uint64]msg.Entry) []msg.Entry {
	return slices.SortedFunc(maps.Values(latest), func(x, y msg.Entry) int { return cmp.Compare(x.Slot, y.Slot) })
}

// acceptorMirror is the live state of an acceptor log, kept in memory by the
// implementations: the memory store is nothing more; the nutsdb log keeps
// only the ballots, with the record each entry came from (recs), and reads
// the values back from disk.
type acceptorMirror struct {
	promised  msg.Ballot
	truncated uint64
	entries   map[uint64]msg.Entry
	recs      map[uint64]uint64 // nil: entries keep their values
}

func (m *acceptorMirror) init() { m.entries = map[uint64]msg.Entry{} }

// initIndexed makes a mirror that drops values and notes record numbers.
func (m *acceptorMirror) initIndexed() {
	m.init()
	m.recs = map[uint64]uint64{}
}

// apply replays one record, the log's record number recno. Entries at or
// below the truncation point are dropped: they are chosen, applied and in a
// snapshot.
func (m *acceptorMirror) apply(rec AcceptorRecord, recno uint64) {
	m.promised = msg.MaxBallot(m.promised, rec.Promised)
	if rec.Truncated > m.truncated {
		m.truncated = rec.Truncated
		for s := range m.entries {
			if s <= m.truncated {
				delete(m.entries, s)
				delete(m.recs, s)
			}
		}
	}
	for _, e := range rec.Entries {
		if e.Slot <= m.truncated {
			continue
		}
		if cur, ok := m.entries[e.Slot]; wins(e, cur, ok) {
			if m.recs != nil {
				e.Value = nil
				m.recs[e.Slot] = recno
			}
			m.entries[e.Slot] = e
		}
	}
}

func (m *acceptorMirror) state() AcceptorState {
	return AcceptorState{Promised: m.promised, Truncated: m.truncated, Entries: sortedEntries(m.entries)}
}

// values returns the entries of slots, values included, for a mirror that
// keeps them (the memory store's).
func (m *acceptorMirror) values(slots []uint64) ([]msg.Entry, error) {
	out := make([]msg.Entry, 0, len(slots))
	for _, s := range slots {
		e, ok := m.entries[s]
		if !ok {
			return nil, fmt.Errorf("storage: acceptor log holds no entry for slot %d (truncated through %d)", s, m.truncated)
		}
		out = append(out, e)
	}
	return out, nil
}
