package storage

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rsml-go/rsml/msg"
)

func compactMsgpack(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sampleValues() []*msg.Value {
	long := func(n int) string { return strings.Repeat("x", n) }
	var many []msg.Command
	for i := range 70000 {
		many = append(many, msg.Command{Seq: uint64(i), Data: []byte{}})
	}
	return []*msg.Value{
		nil, {}, {Cmds: []msg.Command{}}, {Cmds: many}, {Change: []byte{0x81, 0xa1, 0x62, 0x01}},
		{Cmds: []msg.Command{{Data: []byte("x")}}, Change: bytes.Repeat([]byte{3}, 300)},
		{Cmds: []msg.Command{{}, {Data: []byte{}}, {Client: math.MaxUint64, Seq: 1 << 32, Acked: 255, Origin: 7, Reply: long(31), Data: []byte("d")}}},
		{Cmds: []msg.Command{{Reply: long(32), Data: bytes.Repeat([]byte{1}, 65536)}, {Reply: long(65536), Data: bytes.Repeat([]byte{2}, 256)}}},
	}
}

// The hand encoders write msgpack's bytes (with compact ints), and what they
// write decodes, through msgpack.Unmarshal as the logs read it, to what
// msgpack.Marshal's output decodes to: old and new records read the same.
func TestRecordEncodingRoundTrips(t *testing.T) {
	vals := sampleValues()
	var recs []*AcceptorRecord
	recs = append(recs, &AcceptorRecord{}, &AcceptorRecord{Entries: []msg.Entry{}}, &AcceptorRecord{Truncated: math.MaxUint64})
	for i, v := range vals {
		recs = append(recs, &AcceptorRecord{
			Promised:  msg.Ballot{Round: uint64(i) << 40, ID: msg.NodeID(i)},
			Entries:   []msg.Entry{{Slot: uint64(i), Ballot: msg.Ballot{Round: 3, ID: 2}, Value: v}, {Slot: 1 << 33, Value: v}},
			Truncated: uint64(i),
		})
	}
	for i, rec := range recs {
		got, err := encodeRecord(rec)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if want := compactMsgpack(t, rec); !bytes.Equal(got, want) {
			t.Fatalf("record %d: encoding differs from msgpack's", i)
		}
		old, err := msgpack.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		var a, b AcceptorRecord
		if err := msgpack.Unmarshal(got, &a); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if err := msgpack.Unmarshal(old, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("record %d reads back differently from its old encoding", i)
		}
	}
	for i, v := range vals {
		got, err := encodeValue(v)
		if err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		if want := compactMsgpack(t, v); !bytes.Equal(got, want) {
			t.Fatalf("value %d: encoding differs from msgpack's", i)
		}
		old, _ := msgpack.Marshal(v)
		var a, b *msg.Value
		if err := msgpack.Unmarshal(got, &a); err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		if err := msgpack.Unmarshal(old, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("value %d reads back differently from its old encoding", i)
		}
	}
}
