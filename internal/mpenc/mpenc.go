// Package mpenc writes msgpack by hand for the types of package msg: the
// exact bytes msgpack's reflective encoder writes with UseCompactInts(true)
// (field order, keys from the msgpack tags, omitempty, nil for nil pointers
// and slices), so msgpack's decoder reads them like any other msgpack.
// remote's tests compare it with msgpack for every wire type.
//
// It exists for speed: msgpack's reflective omitempty check allocates per
// field, about 100 allocations for an Accept of 16 commands, where this
// allocates nothing. The wire (remote) and the logs (storage) both use it.
//
// Functions take the buffer and return it extended, as append does: passing
// it by value rather than through a struct field saves a GC write barrier per
// call.
package mpenc

import (
	"errors"
	"math"

	"github.com/rsml-go/rsml/msg"
)

// ErrTooLong: a string, byte string or list longer than msgpack allows.
var ErrTooLong = errors.New("string, bytes or list longer than msgpack allows")

// Enc keeps the first error of a run of appends (a length msgpack cannot
// express), so callers check once at the end.
type Enc struct {
	Err error
}

// Entries appends a list of log entries (nil as msgpack nil).
func (e *Enc) Entries(b []byte, es []msg.Entry) []byte {
	if es == nil {
		return Nil(b)
	}
	b = e.ArrayLen(b, len(es))
	for i := range es {
		en := &es[i]
		b = MapLen(b, 3)
		b = Uint(Key(b, "s"), en.Slot)
		b = Ballot(Key(b, "b"), en.Ballot)
		b = e.Value(Key(b, "v"), en.Value)
	}
	return b
}

// Run appends a msg.Run.
func Run(b []byte, r msg.Run) []byte {
	b = MapLen(b, 2)
	b = Uint(Key(b, "a"), r.First)
	return Uint(Key(b, "z"), r.Through)
}

// Ballot appends a msg.Ballot.
func Ballot(b []byte, v msg.Ballot) []byte {
	b = MapLen(b, 2)
	b = Uint(Key(b, "r"), v.Round)
	return Uint(Key(b, "i"), uint64(v.ID))
}

// Proposals appends a list of proposals (nil as msgpack nil).
func (e *Enc) Proposals(b []byte, ps []msg.Proposal) []byte {
	if ps == nil {
		return Nil(b)
	}
	b = e.ArrayLen(b, len(ps))
	for i := range ps {
		b = MapLen(b, 2)
		b = Uint(Key(b, "s"), ps[i].Slot)
		b = e.Value(Key(b, "v"), ps[i].Value)
	}
	return b
}

// Value appends a value (a nil pointer as msgpack nil).
func (e *Enc) Value(b []byte, v *msg.Value) []byte {
	if v == nil {
		return Nil(b)
	}
	n := 1
	if len(v.Change) > 0 {
		n++
	}
	if len(v.Floor) > 0 {
		n++
	}
	b = MapLen(b, n)
	b = Key(b, "c")
	if v.Cmds == nil {
		b = Nil(b)
	} else {
		b = e.ArrayLen(b, len(v.Cmds))
		for i := range v.Cmds {
			b = e.Command(b, &v.Cmds[i])
		}
	}
	if len(v.Change) > 0 {
		b = e.Bin(Key(b, "g"), v.Change)
	}
	if len(v.Floor) > 0 {
		b = e.Bin(Key(b, "w"), v.Floor)
	}
	return b
}

// Command appends a command, leaving out its zero fields as omitempty does.
func (e *Enc) Command(b []byte, c *msg.Command) []byte {
	n := 1
	for _, set := range [...]bool{c.Client != 0, c.Seq != 0, c.Acked != 0, c.Origin != 0, c.Reply != ""} {
		if set {
			n++
		}
	}
	b = MapLen(b, n)
	if c.Client != 0 {
		b = Uint(Key(b, "c"), c.Client)
	}
	if c.Seq != 0 {
		b = Uint(Key(b, "s"), c.Seq)
	}
	if c.Acked != 0 {
		b = Uint(Key(b, "a"), c.Acked)
	}
	if c.Origin != 0 {
		b = Uint(Key(b, "o"), uint64(c.Origin))
	}
	if c.Reply != "" {
		b = e.Str(Key(b, "w"), c.Reply)
	}
	return e.Bin(Key(b, "d"), c.Data)
}

// Key appends a map key: a fixstr, as every key of ours is shorter
// than 32 bytes.
func Key(b []byte, k string) []byte {
	return append(append(b, 0xa0|byte(len(k))), k...)
}

// Nil appends msgpack nil.
func Nil(b []byte) []byte { return append(b, 0xc0) }

// Bool appends a boolean.
func Bool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

// Uint appends n in the fewest bytes, as msgpack's EncodeUint.
func Uint(b []byte, n uint64) []byte {
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

// header appends a length-prefixed header: the fix form (fix | n) when
// n is below fixMax, else code8 (if not 0), code16 or code32 with n
// big-endian. n must fit in 32 bits (see encoder.length).
func header(b []byte, n int, fix byte, fixMax int, code8, code16, code32 byte) []byte {
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

// MapLen appends a map header; our maps have a handful of entries.
func MapLen(b []byte, n int) []byte { return header(b, n, 0x80, 16, 0, 0xde, 0xdf) }

// length checks that n fits a msgpack length; else it records ErrTooLong.
func (e *Enc) length(n int) bool {
	if uint64(n) > math.MaxUint32 {
		e.Err = ErrTooLong
		return false
	}
	return true
}

// ArrayLen appends an array header.
func (e *Enc) ArrayLen(b []byte, n int) []byte {
	if !e.length(n) {
		return b
	}
	return header(b, n, 0x90, 16, 0, 0xdc, 0xdd)
}

// Str appends a string.
func (e *Enc) Str(b []byte, s string) []byte {
	if !e.length(len(s)) {
		return b
	}
	return append(header(b, len(s), 0xa0, 32, 0xd9, 0xda, 0xdb), s...)
}

// Bin appends v as msgpack binary; nil stays nil, as msgpack's EncodeBytes.
func (e *Enc) Bin(b []byte, v []byte) []byte {
	if v == nil {
		return Nil(b)
	}
	if !e.length(len(v)) {
		return b
	}
	// Binary has no fix form: fixMax 0 skips it.
	return append(header(b, len(v), 0, 0, 0xc4, 0xc5, 0xc6), v...)
}
