package storage

import (
	"github.com/rsml-go/rsml/internal/mpenc"
	"github.com/rsml-go/rsml/msg"
)

// The logs' records are written by mpenc, by hand: msgpack's reflective
// encoder was about 16% of CPU with 64 clients on nutsdb, inside the
// acceptor's synced write and the learner's delivery. mpenc writes what
// msgpack.Marshal does, except that integers take their shortest form (as
// with UseCompactInts); msgpack.Unmarshal reads either form, so logs written
// before this read back unchanged (TestRecordEncodingRoundTrips).

// encodeRecord returns rec as msgpack.Marshal(&rec) would, with compact ints.
func encodeRecord(rec *AcceptorRecord) ([]byte, error) {
	var e mpenc.Enc
	n := 2
	if rec.Truncated != 0 {
		n++
	}
	b := make([]byte, 0, recordSize(rec))
	b = mpenc.MapLen(b, n)
	b = mpenc.Ballot(mpenc.Key(b, "p"), rec.Promised)
	b = e.Entries(mpenc.Key(b, "e"), rec.Entries)
	if rec.Truncated != 0 {
		b = mpenc.Uint(mpenc.Key(b, "t"), rec.Truncated)
	}
	return b, e.Err
}

// encodeValue returns v as msgpack.Marshal(v) would, with compact ints.
func encodeValue(v *msg.Value) ([]byte, error) {
	var e mpenc.Enc
	b := e.Value(make([]byte, 0, valueSize(v)), v)
	return b, e.Err
}

// recordSize and valueSize estimate an encoding's length from above, so the
// buffer is allocated once.
func recordSize(rec *AcceptorRecord) int {
	n := 48
	for i := range rec.Entries {
		n += 48 + valueSize(rec.Entries[i].Value)
	}
	return n
}

func valueSize(v *msg.Value) int {
	if v == nil {
		return 1
	}
	n := 16 + len(v.Change) + len(v.Floor)
	for i := range v.Cmds {
		n += len(v.Cmds[i].Data) + len(v.Cmds[i].Reply) + 56
	}
	return n
}
