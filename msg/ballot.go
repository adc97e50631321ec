package msg

import (
	"fmt"
	"strconv"
	"strings"
)

// NodeID names a replica. IDs are small positive integers; 0 means "none".
type NodeID uint32

// String renders the id as the decimal text the HTTP API and the CLI use.
func (n NodeID) String() string { return strconv.FormatUint(uint64(n), 10) }

// Ballot orders proposals: by Round, then by the proposing replica's ID, so two
// proposers never share a ballot. RSML calls it a view. The zero Ballot is lower
// than every ballot a proposer uses.
type Ballot struct {
	Round uint64 `msgpack:"r"`
	ID    NodeID `msgpack:"i"`
}

// Compare returns -1, 0 or +1 as b is lower than, equal to or higher than o.
func (b Ballot) Compare(o Ballot) int {
	switch {
	case b.Round < o.Round:
		return -1
	case b.Round > o.Round:
		return 1
	case b.ID < o.ID:
		return -1
	case b.ID > o.ID:
		return 1
	}
	return 0
}

// Less reports whether b orders strictly before o.
func (b Ballot) Less(o Ballot) bool { return b.Compare(o) < 0 }

// IsZero reports whether b is the "no ballot" value.
func (b Ballot) IsZero() bool { return b.Round == 0 && b.ID == 0 }

// String renders "round.id", the form the status API reports.
func (b Ballot) String() string { return fmt.Sprintf("%d.%d", b.Round, b.ID) }

// ParseBallot parses the "round.id" form produced by String.
func ParseBallot(s string) (Ballot, error) {
	r, i, ok := strings.Cut(s, ".")
	if !ok {
		return Ballot{}, fmt.Errorf("ballot %q: want round.id", s)
	}
	round, err := strconv.ParseUint(r, 10, 64)
	if err != nil {
		return Ballot{}, fmt.Errorf("ballot %q: round: %w", s, err)
	}
	id, err := strconv.ParseUint(i, 10, 32)
	if err != nil {
		return Ballot{}, fmt.Errorf("ballot %q: id: %w", s, err)
	}
	return Ballot{Round: round, ID: NodeID(id)}, nil
}

// MaxBallot returns the higher of a and b.
func MaxBallot(a, b Ballot) Ballot {
	if a.Less(b) {
		return b
	}
	return a
}
