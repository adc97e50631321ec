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
