package kv

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
)

// boundaries are lengths and numbers at the edges of msgpack's encodings.
var boundaries = []uint64{0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64}

func builderOutputs() [][]byte {
	var out [][]byte
	for _, n := range []int{1, 31, 32, 255, 256, 65535, 65536} {
		key := strings.Repeat("k", n)
		for _, vn := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
			out = append(out, Put(key, bytes.Repeat([]byte{'v'}, vn)))
		}
		out = append(out, Put(key, nil), Delete(key), Get(key),
			PutIf(key, []byte("v"), IfExists()), PutIf(key, []byte("v"), IfAbsent()),
			DeleteIf(key, IfExists()), DeleteIf(key, IfAbsent()))
		for _, rev := range boundaries {
			out = append(out, PutIf(key, []byte("v"), IfRev(rev)), DeleteIf(key, IfRev(rev)))
		}
	}
	return out
}

// Every command the builders make takes the fast path, and decodes to what
// the msgpack decoder gives; otherwise the fast path would be dead code.
func TestFastCommandCoversBuilders(t *testing.T) {
	for i, b := range builderOutputs() {
		in := bytes.Clone(b)
		fast, ok := fastCommand(in)
		if !ok {
			t.Fatalf("command %d (%x...) missed the fast path", i, b[:min(len(b), 12)])
		}
		clear(in) // the command must not alias its input
		slow, err := slowDecodeCommand(b)
		if err != nil || !reflect.DeepEqual(fast, slow) {
			t.Fatalf("command %d: fast %+v, slow %+v %v", i, fast, slow, err)
		}
	}
}

// FuzzFastCommandAgrees is the differential check behind the fast path: on
// any input it accepts, the msgpack decoder must accept it too and give the
// same command. (Inputs it refuses go to that decoder anyway.)
func FuzzFastCommandAgrees(f *testing.F) {
	for _, b := range builderOutputs() {
		if len(b) < 512 {
			f.Add(b)
		}
	}
	for _, b := range [][]byte{
		{0x92, 0x03, 0xd9, 0x01, 'k'},             // get with a str8 key
		{0x92, 0x03, 0xc4, 0x01, 'k'},             // get with a bin8 key
		{0x93, 0x01, 0xa1, 'k', 0xa1, 'v'},        // put with a fixstr value
		{0x93, 0x01, 0xa1, 'k', 0xc0},             // put with a nil value
		{0x93, 0xcc, 0x01, 0xa1, 'k', 0xc4, 0x00}, // op as uint8
		{0x93, 0x01, 0xa0, 0xc4, 0x00},            // empty key
		{0x94, 0x01, 0xa1, 'k', 0xc4, 0x00, 0x02}, // put with a one-field condition
		{0x92, 0x02, 0xa1, 'k', 0x00},             // trailing byte
		{0x95, 0x01, 0xa1, 'k', 0xc4, 0x00, 0x01, 0xd0, 0xff},
		{0x92, 0x03, 0xdb, 0xff, 0xff, 0xff, 0xff, 'k'}, // a str32 length of 2^32-1
		{0x92, 0x03, 0xdb, 0x80, 0x00, 0x00, 0x00, 'k'}, // 2^31: negative as a 32-bit int
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := fastCommand(b)
		if !ok {
			return
		}
		slow, err := slowDecodeCommand(b)
		if err != nil {
			t.Fatalf("fast path accepted %x, msgpack refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%x: fast %+v, msgpack %+v", b, fast, slow)
		}
	})
}

// encodeWrite writes the very bytes msgpack's encoder does: results are kept
// in session tables and snapshots, whose bytes replicas compare.
func TestEncodeWriteMatchesMsgpack(t *testing.T) {
	for _, rev := range boundaries {
		for _, r := range []WriteResult{{Rev: rev}, {Rev: rev, OK: true}, {Rev: rev, OK: true, Deleted: true}, {Rev: rev, Deleted: true}} {
			if got, want := encodeWrite(r), slowEncodeWrite(r); !bytes.Equal(got, want) {
				t.Fatalf("%+v: %x, msgpack %x", r, got, want)
			}
		}
	}
}

// A length of 2^31 or more, which a 32-bit int would take as negative, is
// refused by the fast path and by Apply alike (GOARCH=386 go test runs this
// where it matters).
func TestHugeLengthFieldRefused(t *testing.T) {
	for _, b := range [][]byte{
		{0x92, 0x03, 0xdb, 0x80, 0x00, 0x00, 0x00, 'k'},
		{0x92, 0x03, 0xdb, 0xff, 0xff, 0xff, 0xff, 'k'},
		{0x93, 0x01, 0xa1, 'k', 0xc6, 0x80, 0x00, 0x00, 0x00, 'v'},
	} {
		if _, ok := fastCommand(b); ok {
			t.Fatalf("%x: accepted by the fast path", b)
		}
		w, err := DecodeWrite(New().Apply(1, b))
		if err != nil || w.Err == "" || w.OK {
			t.Fatalf("%x: Apply gave %+v %v, want a refused command", b, w, err)
		}
	}
}
