package remote

import (
	"github.com/rsml-go/rsml/internal/mpenc"
	"github.com/rsml-go/rsml/msg"
)

// A hand-written msgpack encoder for the wire types. It writes exactly the
// bytes msgpack's reflective encoder writes with UseCompactInts(true) (field
// order, keys from the msgpack tags, omitempty, nil for nil pointers and
// slices; TestEncoderMatchesMsgpack checks it), so Decode, which is
// msgpack's, reads it like any other msgpack. It exists for speed: msgpack's
// reflective omitempty check allocates per field, about 100 allocations for
// an Accept of 16 commands, where this allocates nothing.
//
// A new wire type needs a case here and in typeIndex, and a sample in
// wireSamples.

func (e *encoder) message(m any) {
	e.b = e.append(e.b, m)
}

// append appends the encoding of m to b. The helpers pass the buffer by value
// rather than through e.b: a pointer field written per append would cost a
// GC write barrier each time.
func (e *encoder) append(b []byte, m any) []byte {
	switch v := m.(type) {
	case *msg.Prepare:
		n := 3
		if v.Probe {
			n++
		}
		b = mpenc.MapLen(b, n)
		b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
		b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
		b = mpenc.Uint(mpenc.Key(b, "s"), v.FromSlot)
		if v.Probe {
			b = mpenc.Bool(mpenc.Key(b, "p"), true)
		}
	case *msg.Promise:
		n := 3
		if v.Probe {
			n++
		}
		if v.Truncated != 0 {
			n++
		}
		b = mpenc.MapLen(b, n)
		b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
		b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
		b = e.Entries(mpenc.Key(b, "e"), v.Entries)
		if v.Probe {
			b = mpenc.Bool(mpenc.Key(b, "p"), true)
		}
		if v.Truncated != 0 {
			b = mpenc.Uint(mpenc.Key(b, "t"), v.Truncated)
		}
	case *msg.Nack:
		n := 3
		if v.LeaderAlive {
			n++
		}
		b = mpenc.MapLen(b, n)
		b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
		b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
		b = mpenc.Ballot(mpenc.Key(b, "p"), v.Promised)
		if v.LeaderAlive {
			b = mpenc.Bool(mpenc.Key(b, "l"), true)
		}
	case *msg.Accept:
		b = mpenc.MapLen(b, 4)
		b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
		b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
		b = e.Proposals(mpenc.Key(b, "p"), v.Proposals)
		b = mpenc.Run(mpenc.Key(b, "k"), v.Chosen)
	case *msg.Accepted:
		b = mpenc.MapLen(b, 3) // Values is msgpack:"-"
		b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
		b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
		b = mpenc.Key(b, "s")
		if v.Slots == nil {
			b = mpenc.Nil(b)
		} else {
			b = e.ArrayLen(b, len(v.Slots))
			for _, s := range v.Slots {
				b = mpenc.Uint(b, s)
			}
		}
	case *msg.Heartbeat:
		b = mpenc.MapLen(b, 5)
		b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
		b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
		b = mpenc.Uint(mpenc.Key(b, "q"), v.Seq)
		b = mpenc.Uint(mpenc.Key(b, "c"), v.Commit)
		b = mpenc.Run(mpenc.Key(b, "k"), v.Chosen)
	case *msg.ChosenRun:
		b = mpenc.MapLen(b, 3)
		b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
		b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
		b = mpenc.Run(mpenc.Key(b, "r"), v.Run)
	case *msg.HeartbeatAck:
		n := 4
		if v.Truncated != 0 {
			n++
		}
		b = mpenc.MapLen(b, n)
		b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
		b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
		b = mpenc.Uint(mpenc.Key(b, "q"), v.Seq)
		b = mpenc.Ballot(mpenc.Key(b, "p"), v.Promised)
		if v.Truncated != 0 {
			b = mpenc.Uint(mpenc.Key(b, "t"), v.Truncated)
		}
	case *msg.CatchupRequest:
		b = mpenc.MapLen(b, 3)
		b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
		b = mpenc.Uint(mpenc.Key(b, "a"), v.First)
		b = mpenc.Uint(mpenc.Key(b, "z"), v.Last)
	case *msg.CatchupReply:
		n := 3
		if v.Snapshot != 0 {
			n++
		}
		b = mpenc.MapLen(b, n)
		b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
		b = e.Proposals(mpenc.Key(b, "c"), v.Chosen)
		b = mpenc.Uint(mpenc.Key(b, "t"), v.Through)
		if v.Snapshot != 0 {
			b = mpenc.Uint(mpenc.Key(b, "s"), v.Snapshot)
		}
	case *msg.SnapshotRequest:
		b = mpenc.MapLen(b, 3)
		b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
		b = mpenc.Uint(mpenc.Key(b, "s"), v.Slot)
		b = mpenc.Uint(mpenc.Key(b, "o"), v.Offset)
	case *msg.SnapshotChunk:
		b = mpenc.MapLen(b, 7)
		b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
		b = mpenc.Uint(mpenc.Key(b, "s"), v.Slot)
		b = mpenc.Uint(mpenc.Key(b, "r"), v.Rev)
		b = mpenc.Uint(mpenc.Key(b, "n"), v.Size)
		b = mpenc.Uint(mpenc.Key(b, "c"), uint64(v.CRC))
		b = mpenc.Uint(mpenc.Key(b, "o"), v.Offset)
		b = e.Bin(mpenc.Key(b, "d"), v.Data)
	case *msg.ClientRequest:
		n := 2
		if v.Attempt != 0 {
			n++
		}
		b = mpenc.MapLen(b, n)
		b = e.Command(mpenc.Key(b, "c"), &v.Cmd)
		b = mpenc.Uint(mpenc.Key(b, "h"), uint64(v.Hops))
		if v.Attempt != 0 {
			b = mpenc.Uint(mpenc.Key(b, "a"), uint64(v.Attempt))
		}
	case *msg.ReadRequest:
		b = mpenc.MapLen(b, 3)
		b = mpenc.Uint(mpenc.Key(b, "o"), uint64(v.Origin))
		b = e.Str(mpenc.Key(b, "w"), v.Reply)
		b = mpenc.Uint(mpenc.Key(b, "h"), uint64(v.Hops))
	case *msg.ReadIndex:
		b = mpenc.MapLen(b, 1)
		b = mpenc.Uint(mpenc.Key(b, "i"), v.Index)
	case *msg.Reject:
		n := 2
		if v.Attempt != 0 {
			n++
		}
		b = mpenc.MapLen(b, n)
		b = mpenc.Uint(mpenc.Key(b, "r"), uint64(v.Reason))
		b = mpenc.Uint(mpenc.Key(b, "l"), uint64(v.Leader))
		if v.Attempt != 0 {
			b = mpenc.Uint(mpenc.Key(b, "a"), uint64(v.Attempt))
		}
	case *msg.Result:
		b = mpenc.MapLen(b, 4)
		b = mpenc.Uint(mpenc.Key(b, "Slot"), v.Slot)
		b = mpenc.Uint(mpenc.Key(b, "Rev"), v.Rev)
		b = e.Bin(mpenc.Key(b, "Data"), v.Data)
		b = mpenc.Uint(mpenc.Key(b, "Code"), uint64(v.Code))
	case *msg.ReadResult:
		b = mpenc.MapLen(b, 4)
		b = e.Bin(mpenc.Key(b, "Data"), v.Data)
		b = mpenc.Uint(mpenc.Key(b, "Applied"), v.Applied)
		b = mpenc.Uint(mpenc.Key(b, "Code"), uint64(v.Code))
		b = e.Str(mpenc.Key(b, "Detail"), v.Detail)
	default:
		e.Err = ErrUnknownType // typeIndex lets no other type through
	}
	return b
}
