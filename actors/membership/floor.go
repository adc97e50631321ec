package membership

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rsml-go/rsml/msg"
)

// Floor lets witnesses truncate their acceptor logs through Through. A
// witness holds no state machine, so unlike an ordinary acceptor it cannot
// drop a slot behind a snapshot of its own: it drops it only once every
// replica that holds the state has a durable snapshot through it. Which
// replicas those are changes with the membership, so the floor is decided
// where the membership is: the leader proposes it in a slot of its own
// (msg.Value.Floor holds its encoding), with the snapshot points the
// replicas reported (Holds), and it takes effect, on the witnesses, only if
// it holds at that slot (Holds). Every replica folds the same log, so a
// change chosen before the floor's slot is always counted, and one chosen
// after it joins a cluster whose every state holder already has the slots
// the witnesses dropped.
type Floor struct {
	Through uint64 `msgpack:"t"`
	Holds   []Hold `msgpack:"h"`
}

// Hold is a replica's report that it keeps a durable snapshot through
// Snapshot: the older of its two newest, so that one damaged file does not
// make the report false (as an ordinary acceptor truncates only behind the
// older one). Snapshots only ever advance under one id (an id whose disk
// was lost is never reused: History.Retired), so an old report stays true.
type Hold struct {
	ID       msg.NodeID `msgpack:"i"`
	Snapshot uint64     `msgpack:"s"`
}

// Encode returns the floor as a slot value carries it.
func (f *Floor) Encode() []byte {
	b, err := msgpack.Marshal(f)
	if err != nil {
		panic(fmt.Sprintf("membership: encode a floor: %v", err)) // plain data: cannot fail
	}
	return b
}

// DecodeFloor reads a floor a slot value carries.
func DecodeFloor(b []byte) (*Floor, error) {
	var f Floor
	if err := msgpack.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("membership: decode a floor: %w", err)
	}
	return &f, nil
}

// Holds reports whether floor f, chosen at slot, lets witnesses truncate:
// every learner of the configuration that governs slot, and of every
// configuration pending after it, reported a durable snapshot through
// f.Through. h must be the history as of slot (every slot before it
// applied), as the learner has it when it delivers slot.
//
// Each of those configurations must also have more learners than the
// failures its acceptors tolerate: the witnesses' copies were the other
// copies, and once they are gone the learners' snapshots must survive as
// many lost disks as the log did. A configuration of one full replica and
// two witnesses never lets them truncate.
//
// A replica added later starts empty and fetches the state from those
// learners; one removed later took nothing the others lack. A witness is
// never a learner that counts: it reports no snapshot (its own are of an
// empty state machine), so a configuration that gives one the learner role
// holds back every floor.
func (h *History) Holds(slot uint64, f *Floor) bool {
	if f == nil || f.Through == 0 || f.Through >= slot {
		return false
	}
	for _, c := range h.Span(slot, h.LatestFrom()) {
		learners := c.With(Learner)
		if tolerated := (len(c.With(Acceptor)) - 1) / 2; len(learners) <= tolerated {
			return false
		}
		for _, id := range learners {
			held := false
			for _, hd := range f.Holds {
				if hd.ID == id && hd.Snapshot >= f.Through {
					held = true
					break
				}
			}
			if !held {
				return false
			}
		}
	}
	return true
}
