package storage

import (
	"cmp"
	"maps"
	"slices"

	"github.com/rsml-go/rsml/msg"
)

// applyEntries merges the entries of one record into the per-slot state of
// an acceptor log. The highest ballot wins: an acceptor never accepts below
// its promise, so a lower one can only be a stray write (say, a stopped
// incarnation's late flush) and must not replace what was answered since.
func applyEntries(latest map[uint64]msg.Entry, entries []msg.Entry) {
	for _, e := range entries {
		if cur, ok := latest[e.Slot]; !ok || !e.Ballot.Less(cur.Ballot) {
			latest[e.Slot] = e
		}
	}
}

// sortedEntries returns the per-slot state in slot order, as Load promises.
func sortedEntries(latest map[uint64]msg.Entry) []msg.Entry {
	return slices.SortedFunc(maps.Values(latest), func(x, y msg.Entry) int { return cmp.Compare(x.Slot, y.Slot) })
}

// acceptorMirror is the live state of an acceptor log, kept in memory by the
// implementations: the memory store is nothing more, and the nutsdb log
// writes it out as the first record of a new generation when it compacts.
type acceptorMirror struct {
	promised  msg.Ballot
	truncated uint64
	entries   map[uint64]msg.Entry
}

func (m *acceptorMirror) init() { m.entries = map[uint64]msg.Entry{} }

// apply replays one record. Entries at or below the truncation point are
// dropped: they are chosen, applied and in a snapshot.
func (m *acceptorMirror) apply(rec AcceptorRecord) {
	m.promised = msg.MaxBallot(m.promised, rec.Promised)
	if rec.Truncated > m.truncated {
		m.truncated = rec.Truncated
		for s := range m.entries {
			if s <= m.truncated {
				delete(m.entries, s)
			}
		}
	}
	for _, e := range rec.Entries {
		if e.Slot > m.truncated {
			applyEntries(m.entries, []msg.Entry{e})
		}
	}
}

func (m *acceptorMirror) state() AcceptorState {
	return AcceptorState{Promised: m.promised, Truncated: m.truncated, Entries: sortedEntries(m.entries)}
}

// record is the whole live state as one record: the first of a new
// generation.
func (m *acceptorMirror) record() AcceptorRecord {
	return AcceptorRecord{Promised: m.promised, Truncated: m.truncated, Entries: sortedEntries(m.entries)}
}
