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
// A new wire type needs an encoder here, a decoder in wire_decode.go, its
// line in wireTypes (wire.go), and a sample in wireSamples.

func (e *encoder) message(i int, m any) {
	e.b = wireTypes[i].enc(e, e.b, m)
}

func encPrepare(e *encoder, b []byte, v *msg.Prepare) []byte {
	n := 3
	if v.Probe {
		n++
	}
	if !v.Handover.IsZero() {
		n++
	}
	b = mpenc.MapLen(b, n)
	b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
	b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
	b = mpenc.Uint(mpenc.Key(b, "s"), v.FromSlot)
	if v.Probe {
		b = mpenc.Bool(mpenc.Key(b, "p"), true)
	}
	if !v.Handover.IsZero() {
		b = mpenc.Ballot(mpenc.Key(b, "x"), v.Handover)
	}
	return b
}

func encTransferLeader(e *encoder, b []byte, v *msg.TransferLeader) []byte {
	n := 0
	if v.Target != 0 {
		n++
	}
	if v.Origin != 0 {
		n++
	}
	if v.Reply != "" {
		n++
	}
	b = mpenc.MapLen(b, n)
	if v.Target != 0 {
		b = mpenc.Uint(mpenc.Key(b, "t"), uint64(v.Target))
	}
	if v.Origin != 0 {
		b = mpenc.Uint(mpenc.Key(b, "o"), uint64(v.Origin))
	}
	if v.Reply != "" {
		b = e.Str(mpenc.Key(b, "r"), v.Reply)
	}
	return b
}

func encTransferStarted(e *encoder, b []byte, v *msg.TransferStarted) []byte {
	b = mpenc.MapLen(b, 2)
	b = mpenc.Uint(mpenc.Key(b, "t"), uint64(v.Target))
	return mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
}

func encProgress(e *encoder, b []byte, v *msg.Progress) []byte {
	n := 2
	if v.Delivered != 0 {
		n++
	}
	if v.Commit != 0 {
		n++
	}
	if v.Witness {
		n++
	}
	if v.Snapshot != 0 {
		n++
	}
	b = mpenc.MapLen(b, n)
	b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
	b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
	if v.Delivered != 0 {
		b = mpenc.Uint(mpenc.Key(b, "d"), v.Delivered)
	}
	if v.Commit != 0 {
		b = mpenc.Uint(mpenc.Key(b, "c"), v.Commit)
	}
	if v.Witness {
		b = mpenc.Bool(mpenc.Key(b, "x"), true)
	}
	if v.Snapshot != 0 {
		b = mpenc.Uint(mpenc.Key(b, "s"), v.Snapshot)
	}
	return b
}

func encTimeoutNow(e *encoder, b []byte, v *msg.TimeoutNow) []byte {
	n := 2
	if v.Commit != 0 {
		n++
	}
	b = mpenc.MapLen(b, n)
	b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
	b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
	if v.Commit != 0 {
		b = mpenc.Uint(mpenc.Key(b, "c"), v.Commit)
	}
	return b
}

func encPromise(e *encoder, b []byte, v *msg.Promise) []byte {
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
	return b
}

func encNack(e *encoder, b []byte, v *msg.Nack) []byte {
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
	return b
}

func encAccept(e *encoder, b []byte, v *msg.Accept) []byte {
	b = mpenc.MapLen(b, 4)
	b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
	b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
	b = e.Proposals(mpenc.Key(b, "p"), v.Proposals)
	b = mpenc.Run(mpenc.Key(b, "k"), v.Chosen)
	return b
}

func encAccepted(e *encoder, b []byte, v *msg.Accepted) []byte {
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
	return b
}

func encHeartbeat(e *encoder, b []byte, v *msg.Heartbeat) []byte {
	b = mpenc.MapLen(b, 5)
	b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
	b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
	b = mpenc.Uint(mpenc.Key(b, "q"), v.Seq)
	b = mpenc.Uint(mpenc.Key(b, "c"), v.Commit)
	b = mpenc.Run(mpenc.Key(b, "k"), v.Chosen)
	return b
}

func encChosenRun(e *encoder, b []byte, v *msg.ChosenRun) []byte {
	b = mpenc.MapLen(b, 3)
	b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
	b = mpenc.Ballot(mpenc.Key(b, "b"), v.Ballot)
	b = mpenc.Run(mpenc.Key(b, "r"), v.Run)
	return b
}

func encHeartbeatAck(e *encoder, b []byte, v *msg.HeartbeatAck) []byte {
	n := 4
	if v.Truncated != 0 {
		n++
	}
	if v.Witness {
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
	if v.Witness {
		b = mpenc.Bool(mpenc.Key(b, "x"), true)
	}
	return b
}

func encCatchupRequest(e *encoder, b []byte, v *msg.CatchupRequest) []byte {
	b = mpenc.MapLen(b, 3)
	b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
	b = mpenc.Uint(mpenc.Key(b, "a"), v.First)
	b = mpenc.Uint(mpenc.Key(b, "z"), v.Last)
	return b
}

func encCatchupReply(e *encoder, b []byte, v *msg.CatchupReply) []byte {
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
	return b
}

func encSnapshotRequest(e *encoder, b []byte, v *msg.SnapshotRequest) []byte {
	b = mpenc.MapLen(b, 3)
	b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
	b = mpenc.Uint(mpenc.Key(b, "s"), v.Slot)
	b = mpenc.Uint(mpenc.Key(b, "o"), v.Offset)
	return b
}

func encSnapshotChunk(e *encoder, b []byte, v *msg.SnapshotChunk) []byte {
	b = mpenc.MapLen(b, 7)
	b = mpenc.Uint(mpenc.Key(b, "f"), uint64(v.From))
	b = mpenc.Uint(mpenc.Key(b, "s"), v.Slot)
	b = mpenc.Uint(mpenc.Key(b, "r"), v.Rev)
	b = mpenc.Uint(mpenc.Key(b, "n"), v.Size)
	b = mpenc.Uint(mpenc.Key(b, "c"), uint64(v.CRC))
	b = mpenc.Uint(mpenc.Key(b, "o"), v.Offset)
	b = e.Bin(mpenc.Key(b, "d"), v.Data)
	return b
}

func encClientRequest(e *encoder, b []byte, v *msg.ClientRequest) []byte {
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
	return b
}

func encReadRequest(e *encoder, b []byte, v *msg.ReadRequest) []byte {
	b = mpenc.MapLen(b, 3)
	b = mpenc.Uint(mpenc.Key(b, "o"), uint64(v.Origin))
	b = e.Str(mpenc.Key(b, "w"), v.Reply)
	b = mpenc.Uint(mpenc.Key(b, "h"), uint64(v.Hops))
	return b
}

func encReadIndex(e *encoder, b []byte, v *msg.ReadIndex) []byte {
	b = mpenc.MapLen(b, 1)
	b = mpenc.Uint(mpenc.Key(b, "i"), v.Index)
	return b
}

func encReject(e *encoder, b []byte, v *msg.Reject) []byte {
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
	return b
}

func encResult(e *encoder, b []byte, v *msg.Result) []byte {
	b = mpenc.MapLen(b, 4)
	b = mpenc.Uint(mpenc.Key(b, "Slot"), v.Slot)
	b = mpenc.Uint(mpenc.Key(b, "Rev"), v.Rev)
	b = e.Bin(mpenc.Key(b, "Data"), v.Data)
	b = mpenc.Uint(mpenc.Key(b, "Code"), uint64(v.Code))
	return b
}

func encReadResult(e *encoder, b []byte, v *msg.ReadResult) []byte {
	b = mpenc.MapLen(b, 4)
	b = e.Bin(mpenc.Key(b, "Data"), v.Data)
	b = mpenc.Uint(mpenc.Key(b, "Applied"), v.Applied)
	b = mpenc.Uint(mpenc.Key(b, "Code"), uint64(v.Code))
	b = e.Str(mpenc.Key(b, "Detail"), v.Detail)
	return b
}

func encChangeRequest(e *encoder, b []byte, v *msg.ChangeRequest) []byte {
	n := 3
	if v.Hops != 0 {
		n++
	}
	b = mpenc.MapLen(b, n)
	b = e.Bin(mpenc.Key(b, "c"), v.Change)
	b = mpenc.Uint(mpenc.Key(b, "o"), uint64(v.Origin))
	b = e.Str(mpenc.Key(b, "w"), v.Reply)
	if v.Hops != 0 {
		b = mpenc.Uint(mpenc.Key(b, "h"), uint64(v.Hops))
	}
	return b
}
