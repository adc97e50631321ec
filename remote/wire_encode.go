package remote

import (
	"errors"
	"math"

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

var errTooLong = errors.New("string, bytes or list longer than msgpack allows")

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
		b = appendMapLen(b, n)
		b = appendUint(appendKey(b, "f"), uint64(v.From))
		b = appendBallot(appendKey(b, "b"), v.Ballot)
		b = appendUint(appendKey(b, "s"), v.FromSlot)
		if v.Probe {
			b = appendBool(appendKey(b, "p"), true)
		}
	case *msg.Promise:
		n := 3
		if v.Probe {
			n++
		}
		if v.Truncated != 0 {
			n++
		}
		b = appendMapLen(b, n)
		b = appendUint(appendKey(b, "f"), uint64(v.From))
		b = appendBallot(appendKey(b, "b"), v.Ballot)
		b = appendKey(b, "e")
		if v.Entries == nil {
			b = appendNil(b)
		} else {
			b = e.arrayLen(b, len(v.Entries))
			for i := range v.Entries {
				en := &v.Entries[i]
				b = appendMapLen(b, 3)
				b = appendUint(appendKey(b, "s"), en.Slot)
				b = appendBallot(appendKey(b, "b"), en.Ballot)
				b = e.value(appendKey(b, "v"), en.Value)
			}
		}
		if v.Probe {
			b = appendBool(appendKey(b, "p"), true)
		}
		if v.Truncated != 0 {
			b = appendUint(appendKey(b, "t"), v.Truncated)
		}
	case *msg.Nack:
		n := 3
		if v.LeaderAlive {
			n++
		}
		b = appendMapLen(b, n)
		b = appendUint(appendKey(b, "f"), uint64(v.From))
		b = appendBallot(appendKey(b, "b"), v.Ballot)
		b = appendBallot(appendKey(b, "p"), v.Promised)
		if v.LeaderAlive {
			b = appendBool(appendKey(b, "l"), true)
		}
	case *msg.Accept:
		b = appendMapLen(b, 4)
		b = appendUint(appendKey(b, "f"), uint64(v.From))
		b = appendBallot(appendKey(b, "b"), v.Ballot)
		b = e.proposals(appendKey(b, "p"), v.Proposals)
		b = appendRun(appendKey(b, "k"), v.Chosen)
	case *msg.Accepted:
		b = appendMapLen(b, 3) // Values is msgpack:"-"
		b = appendUint(appendKey(b, "f"), uint64(v.From))
		b = appendBallot(appendKey(b, "b"), v.Ballot)
		b = appendKey(b, "s")
		if v.Slots == nil {
			b = appendNil(b)
		} else {
			b = e.arrayLen(b, len(v.Slots))
			for _, s := range v.Slots {
				b = appendUint(b, s)
			}
		}
	case *msg.Heartbeat:
		b = appendMapLen(b, 5)
		b = appendUint(appendKey(b, "f"), uint64(v.From))
		b = appendBallot(appendKey(b, "b"), v.Ballot)
		b = appendUint(appendKey(b, "q"), v.Seq)
		b = appendUint(appendKey(b, "c"), v.Commit)
		b = appendRun(appendKey(b, "k"), v.Chosen)
	case *msg.ChosenRun:
		b = appendMapLen(b, 3)
		b = appendUint(appendKey(b, "f"), uint64(v.From))
		b = appendBallot(appendKey(b, "b"), v.Ballot)
		b = appendRun(appendKey(b, "r"), v.Run)
	case *msg.HeartbeatAck:
		n := 4
		if v.Truncated != 0 {
			n++
		}
		b = appendMapLen(b, n)
		b = appendUint(appendKey(b, "f"), uint64(v.From))
		b = appendBallot(appendKey(b, "b"), v.Ballot)
		b = appendUint(appendKey(b, "q"), v.Seq)
		b = appendBallot(appendKey(b, "p"), v.Promised)
		if v.Truncated != 0 {
			b = appendUint(appendKey(b, "t"), v.Truncated)
		}
	case *msg.CatchupRequest:
		b = appendMapLen(b, 3)
		b = appendUint(appendKey(b, "f"), uint64(v.From))
		b = appendUint(appendKey(b, "a"), v.First)
		b = appendUint(appendKey(b, "z"), v.Last)
	case *msg.CatchupReply:
		n := 3
		if v.Snapshot != 0 {
			n++
		}
		b = appendMapLen(b, n)
		b = appendUint(appendKey(b, "f"), uint64(v.From))
		b = e.proposals(appendKey(b, "c"), v.Chosen)
		b = appendUint(appendKey(b, "t"), v.Through)
		if v.Snapshot != 0 {
			b = appendUint(appendKey(b, "s"), v.Snapshot)
		}
	case *msg.SnapshotRequest:
		b = appendMapLen(b, 3)
		b = appendUint(appendKey(b, "f"), uint64(v.From))
		b = appendUint(appendKey(b, "s"), v.Slot)
		b = appendUint(appendKey(b, "o"), v.Offset)
	case *msg.SnapshotChunk:
		b = appendMapLen(b, 7)
		b = appendUint(appendKey(b, "f"), uint64(v.From))
		b = appendUint(appendKey(b, "s"), v.Slot)
		b = appendUint(appendKey(b, "r"), v.Rev)
		b = appendUint(appendKey(b, "n"), v.Size)
		b = appendUint(appendKey(b, "c"), uint64(v.CRC))
		b = appendUint(appendKey(b, "o"), v.Offset)
		b = e.bin(appendKey(b, "d"), v.Data)
	case *msg.ClientRequest:
		n := 2
		if v.Attempt != 0 {
			n++
		}
		b = appendMapLen(b, n)
		b = e.command(appendKey(b, "c"), &v.Cmd)
		b = appendUint(appendKey(b, "h"), uint64(v.Hops))
		if v.Attempt != 0 {
			b = appendUint(appendKey(b, "a"), uint64(v.Attempt))
		}
	case *msg.ReadRequest:
		b = appendMapLen(b, 3)
		b = appendUint(appendKey(b, "o"), uint64(v.Origin))
		b = e.str(appendKey(b, "w"), v.Reply)
		b = appendUint(appendKey(b, "h"), uint64(v.Hops))
	case *msg.ReadIndex:
		n := 1
		if v.Ref != "" {
			n++
		}
		b = appendMapLen(b, n)
		b = appendUint(appendKey(b, "i"), v.Index)
		if v.Ref != "" {
			b = e.str(appendKey(b, "w"), v.Ref)
		}
	case *msg.Reject:
		n := 2
		if v.Attempt != 0 {
			n++
		}
		if v.Ref != "" {
			n++
		}
		b = appendMapLen(b, n)
		b = appendUint(appendKey(b, "r"), uint64(v.Reason))
		b = appendUint(appendKey(b, "l"), uint64(v.Leader))
		if v.Attempt != 0 {
			b = appendUint(appendKey(b, "a"), uint64(v.Attempt))
		}
		if v.Ref != "" {
			b = e.str(appendKey(b, "w"), v.Ref)
		}
	case *msg.Result:
		b = appendMapLen(b, 4)
		b = appendUint(appendKey(b, "Slot"), v.Slot)
		b = appendUint(appendKey(b, "Rev"), v.Rev)
		b = e.bin(appendKey(b, "Data"), v.Data)
		b = e.str(appendKey(b, "Err"), v.Err)
	case *msg.ReadResult:
		b = appendMapLen(b, 3)
		b = e.bin(appendKey(b, "Data"), v.Data)
		b = appendUint(appendKey(b, "Applied"), v.Applied)
		b = e.str(appendKey(b, "Err"), v.Err)
	default:
		e.err = ErrUnknownType // typeIndex lets no other type through
	}
	return b
}

func appendRun(b []byte, r msg.Run) []byte {
	b = appendMapLen(b, 2)
	b = appendUint(appendKey(b, "a"), r.First)
	return appendUint(appendKey(b, "z"), r.Through)
}

func appendBallot(b []byte, v msg.Ballot) []byte {
	b = appendMapLen(b, 2)
	b = appendUint(appendKey(b, "r"), v.Round)
	return appendUint(appendKey(b, "i"), uint64(v.ID))
}

func (e *encoder) proposals(b []byte, ps []msg.Proposal) []byte {
	if ps == nil {
		return appendNil(b)
	}
	b = e.arrayLen(b, len(ps))
	for i := range ps {
		b = appendMapLen(b, 2)
		b = appendUint(appendKey(b, "s"), ps[i].Slot)
		b = e.value(appendKey(b, "v"), ps[i].Value)
	}
	return b
}

func (e *encoder) value(b []byte, v *msg.Value) []byte {
	if v == nil {
		return appendNil(b)
	}
	b = appendKey(appendMapLen(b, 1), "c")
	if v.Cmds == nil {
		return appendNil(b)
	}
	b = e.arrayLen(b, len(v.Cmds))
	for i := range v.Cmds {
		b = e.command(b, &v.Cmds[i])
	}
	return b
}

func (e *encoder) command(b []byte, c *msg.Command) []byte {
	n := 1
	for _, set := range [...]bool{c.Client != 0, c.Seq != 0, c.Acked != 0, c.Origin != 0, c.Reply != ""} {
		if set {
			n++
		}
	}
	b = appendMapLen(b, n)
	if c.Client != 0 {
		b = appendUint(appendKey(b, "c"), c.Client)
	}
	if c.Seq != 0 {
		b = appendUint(appendKey(b, "s"), c.Seq)
	}
	if c.Acked != 0 {
		b = appendUint(appendKey(b, "a"), c.Acked)
	}
	if c.Origin != 0 {
		b = appendUint(appendKey(b, "o"), uint64(c.Origin))
	}
	if c.Reply != "" {
		b = e.str(appendKey(b, "w"), c.Reply)
	}
	return e.bin(appendKey(b, "d"), c.Data)
}

// appendKey appends a map key: a fixstr, as every key of ours is shorter
// than 32 bytes.
func appendKey(b []byte, k string) []byte {
	return append(append(b, 0xa0|byte(len(k))), k...)
}

func appendNil(b []byte) []byte { return append(b, 0xc0) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

// appendUint appends n in the fewest bytes, as msgpack's EncodeUint.
func appendUint(b []byte, n uint64) []byte {
	switch {
	case n <= math.MaxInt8:
		return append(b, byte(n))
	case n <= math.MaxUint8:
		return append(b, 0xcc, byte(n))
	case n <= math.MaxUint16:
		return append(b, 0xcd, byte(n>>8), byte(n))
	case n <= math.MaxUint32:
		return append(b, 0xce, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, 0xcf, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendHeader appends a length-prefixed header: the fix form (fix | n) when
// n is below fixMax, else code8 (if not 0), code16 or code32 with n
// big-endian. n must fit in 32 bits (see encoder.length).
func appendHeader(b []byte, n int, fix byte, fixMax int, code8, code16, code32 byte) []byte {
	switch {
	case n < fixMax:
		return append(b, fix|byte(n))
	case code8 != 0 && n <= math.MaxUint8:
		return append(b, code8, byte(n))
	case n <= math.MaxUint16:
		return append(b, code16, byte(n>>8), byte(n))
	}
	return append(b, code32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendMapLen appends a map header; our maps have a handful of entries.
func appendMapLen(b []byte, n int) []byte { return appendHeader(b, n, 0x80, 16, 0, 0xde, 0xdf) }

// length checks that n fits a msgpack length; else it records errTooLong.
func (e *encoder) length(n int) bool {
	if uint64(n) > math.MaxUint32 {
		e.err = errTooLong
		return false
	}
	return true
}

func (e *encoder) arrayLen(b []byte, n int) []byte {
	if !e.length(n) {
		return b
	}
	return appendHeader(b, n, 0x90, 16, 0, 0xdc, 0xdd)
}

func (e *encoder) str(b []byte, s string) []byte {
	if !e.length(len(s)) {
		return b
	}
	return append(appendHeader(b, len(s), 0xa0, 32, 0xd9, 0xda, 0xdb), s...)
}

// bin appends v as msgpack binary; nil stays nil, as msgpack's EncodeBytes.
func (e *encoder) bin(b []byte, v []byte) []byte {
	if v == nil {
		return appendNil(b)
	}
	if !e.length(len(v)) {
		return b
	}
	// Binary has no fix form: fixMax 0 skips it.
	return append(appendHeader(b, len(v), 0, 0, 0xc4, 0xc5, 0xc6), v...)
}
