package kv

import "encoding/binary"

// The write path decodes every command on every replica and encodes a result
// for each, so the common shapes skip msgpack's reflective decoder and pooled
// encoder. The fast paths are shortcuts, never a second definition of the
// format: fastCommand accepts only input that decodeCommand would decode
// without error, and returns exactly what decodeCommand would (a fuzz test
// checks both); anything else, including every malformed input, goes the slow
// way, so the two paths cannot disagree about what a command means.

// fastBytes reads a byte string (str or bin family, as msgpack's
// DecodeBytesLen accepts both) at b[p:]. ok is false for any other code or a
// length past the end of b.
func fastBytes(b []byte, p int) (s []byte, next int, ok bool) {
	if p >= len(b) {
		return nil, p, false
	}
	c := b[p]
	p++
	// The length is compared as a uint64 before it becomes an int: on a
	// 32-bit build a str32 length of 2^31 or more would turn negative and
	// pass the bounds check.
	var n uint64
	switch {
	case c >= 0xa0 && c <= 0xbf: // fixstr
		n = uint64(c & 0x1f)
	case c == 0xd9 || c == 0xc4: // str8, bin8
		if p+1 > len(b) {
			return nil, p, false
		}
		n = uint64(b[p])
		p++
	case c == 0xda || c == 0xc5: // str16, bin16
		if p+2 > len(b) {
			return nil, p, false
		}
		n = uint64(binary.BigEndian.Uint16(b[p:]))
		p += 2
	case c == 0xdb || c == 0xc6: // str32, bin32
		if p+4 > len(b) {
			return nil, p, false
		}
		n = uint64(binary.BigEndian.Uint32(b[p:]))
		p += 4
	default:
		return nil, p, false
	}
	if n > uint64(len(b)-p) {
		return nil, p, false
	}
	return b[p : p+int(n)], p + int(n), true
}

// fastUint reads an unsigned integer in any of its unsigned encodings
// (positive fixint, uint8 to uint64).
func fastUint(b []byte, p int) (v uint64, next int, ok bool) {
	if p >= len(b) {
		return 0, p, false
	}
	c := b[p]
	p++
	var size int
	switch c {
	case 0xcc:
		size = 1
	case 0xcd:
		size = 2
	case 0xce:
		size = 4
	case 0xcf:
		size = 8
	default:
		if c <= 0x7f {
			return uint64(c), p, true
		}
		return 0, p, false
	}
	if p+size > len(b) {
		return 0, p, false
	}
	switch size {
	case 1:
		v = uint64(b[p])
	case 2:
		v = uint64(binary.BigEndian.Uint16(b[p:]))
	case 4:
		v = uint64(binary.BigEndian.Uint32(b[p:]))
	default:
		v = binary.BigEndian.Uint64(b[p:])
	}
	return v, p + size, true
}

// fastCond reads a condition of n fields, as decodeCond does.
func fastCond(b []byte, p, n int) (Cond, int, bool) {
	if n == 0 {
		return Cond{}, p, true
	}
	k, p, ok := fastUint(b, p)
	if !ok {
		return Cond{}, p, false
	}
	switch {
	case n == 2 && k == uint64(condRev):
		rev, p, ok := fastUint(b, p)
		return Cond{kind: condRev, rev: rev}, p, ok
	case n == 1 && (k == uint64(condExists) || k == uint64(condAbsent)):
		return Cond{kind: condKind(k)}, p, true
	}
	return Cond{}, p, false
}

// fastCommand decodes a valid command in a fixed array of 2 to 5 fields; ok
// is false for anything it does not handle, valid or not. Like
// decodeCommand, the key and value it returns are fresh copies.
func fastCommand(b []byte) (command, bool) {
	c, key, ok := fastCommandKey(b)
	if ok {
		c.key = string(key)
	}
	return c, ok
}

// fastCommandKey is fastCommand with the key left as a slice of b (c.key
// is empty), so that Apply can look it up without allocating a string.
func fastCommandKey(b []byte) (c command, key []byte, ok bool) {
	if len(b) < 3 || b[0] < 0x92 || b[0] > 0x95 {
		return command{}, nil, false
	}
	n := int(b[0] & 0x0f)
	o, p, ok := fastUint(b, 1)
	if !ok {
		return command{}, nil, false
	}
	key, p, ok = fastBytes(b, p)
	if !ok || len(key) == 0 {
		return command{}, nil, false
	}
	rest := n - 2
	switch {
	case o == uint64(opPut) && rest >= 1:
		var v []byte
		if v, p, ok = fastBytes(b, p); !ok {
			return command{}, nil, false
		}
		c.op = opPut
		c.value = append(make([]byte, 0, len(v)), v...)
		c.cond, p, ok = fastCond(b, p, rest-1)
	case o == uint64(opDelete):
		c.op = opDelete
		c.cond, p, ok = fastCond(b, p, rest)
	case o == uint64(opGet) && rest == 0:
		c.op = opGet
	default:
		return command{}, nil, false
	}
	if !ok || p != len(b) {
		return command{}, nil, false
	}
	return c, key, true
}

// appendUint appends v as msgpack's EncodeUint does: in the fewest bytes.
func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(b, byte(v))
	case v <= 0xff:
		return append(b, 0xcc, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}
