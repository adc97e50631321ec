// Package quorum is majority arithmetic over a set of voters, in one place
// (etcd raft's quorum package is the model): how many votes decide, whether a
// set of votes does, and the highest point a majority has reached. The
// proposer counts promises and heartbeat acks with it, the learner counts
// acceptances.
package quorum

import (
	"math/bits"
	"slices"

	"github.com/rsml-go/rsml/msg"
)

// MaxVoters bounds a Majority: votes are bits of a uint64.
const MaxVoters = 64

// Majority is a majority quorum over a fixed set of voters. The zero value
// has no voters and is never reached.
type Majority struct {
	voters []msg.NodeID
	bit    map[msg.NodeID]uint
}

// New returns the majority quorum of voters (at most MaxVoters, each once).
func New(voters []msg.NodeID) Majority {
	q := Majority{voters: slices.Clone(voters), bit: make(map[msg.NodeID]uint, len(voters))}
	for i, id := range voters {
		q.bit[id] = uint(i)
	}
	return q
}

// Voters returns the voters, in the order New was given them.
func (q Majority) Voters() []msg.NodeID { return q.voters }

// Size is how many votes make a majority.
func (q Majority) Size() int { return len(q.voters)/2 + 1 }

// Bit returns id's bit in a vote mask; ok is false for a non-voter.
func (q Majority) Bit(id msg.NodeID) (mask uint64, ok bool) {
	i, ok := q.bit[id]
	if !ok {
		return 0, false
	}
	return 1 << i, true
}

// Reached reports whether the votes in mask make a majority.
func (q Majority) Reached(mask uint64) bool {
	return len(q.voters) > 0 && bits.OnesCount64(mask) >= q.Size()
}

// Count reports whether n distinct voters make a majority.
func (q Majority) Count(n int) bool { return len(q.voters) > 0 && n >= q.Size() }

// Committed returns the highest value that a majority of the voters have
// reached, each voter's value given by acked (0 for one not heard from).
func (q Majority) Committed(acked func(id msg.NodeID) uint64) uint64 {
	if len(q.voters) == 0 {
		return 0
	}
	vals := make([]uint64, len(q.voters))
	for i, id := range q.voters {
		vals[i] = acked(id)
	}
	slices.Sort(vals)
	return vals[len(vals)-q.Size()]
}
