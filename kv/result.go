package kv

import (
	"errors"
	"fmt"
)

// ErrConditionFailed reports a conditional write whose condition did not hold;
// the HTTP layer maps it to 412. The write still consumed its rev.
var ErrConditionFailed = errors.New("kv: condition failed")

// ErrBadCommand reports a command or query the store refused to execute
// (undecodable, empty key, unknown op). Every replica refuses it alike, so the
// state stays identical; the HTTP layer maps it to 400.
var ErrBadCommand = errors.New("kv: bad command")

// ErrMalformed reports bytes that do not decode as a result or a snapshot:
// corruption or a version mismatch, never a client mistake.
var ErrMalformed = errors.New("kv: malformed encoding")

// WriteResult is the outcome of a put or delete.
type WriteResult struct {
	// Rev is the rev the command consumed, whatever the outcome; after a
	// successful put it is the key's new rev.
	Rev uint64
	// OK is false when the condition failed or the command was refused.
	OK bool
	// Deleted is true iff a delete found the key and removed it.
	Deleted bool
	// Err is why the store refused the command; empty otherwise. It is a
	// string because results cross the network and the log.
	Err string
}

// Error turns the result into what a caller branches on: nil on success,
// ErrConditionFailed, or an error wrapping ErrBadCommand.
func (r WriteResult) Error() error {
	switch {
	case r.Err != "":
		return fmt.Errorf("%w: %s", ErrBadCommand, r.Err)
	case !r.OK:
		return ErrConditionFailed
	}
	return nil
}

const (
	flagOK      = 1 << 0
	flagDeleted = 1 << 1
)

// encodeWrite writes [rev, flags] or, for a refused command, [rev, flags, err].
func encodeWrite(r WriteResult) []byte {
	if r.Err == "" {
		// [rev, flags], the bytes msgpack's encoder writes (a test compares).
		var flags byte
		if r.OK {
			flags |= flagOK
		}
		if r.Deleted {
			flags |= flagDeleted
		}
		b := make([]byte, 1, 11)
		b[0] = 0x92
		return append(appendUint(b, r.Rev), flags)
	}
	return slowEncodeWrite(r)
}

// slowEncodeWrite is encodeWrite through msgpack's encoder.
func slowEncodeWrite(r WriteResult) []byte {
	return build(16+len(r.Err), func(e *encoder) {
		var flags uint64
		if r.OK {
			flags |= flagOK
		}
		if r.Deleted {
			flags |= flagDeleted
		}
		if r.Err == "" {
			e.arrayLen(2)
		} else {
			e.arrayLen(3)
		}
		e.uint(r.Rev)
		e.uint(flags)
		if r.Err != "" {
			e.str(r.Err)
		}
	})
}

// DecodeWrite decodes what Store.Apply returned for a put or delete.
func DecodeWrite(b []byte) (WriteResult, error) {
	var r WriteResult
	err := decodeBytes(b, func(d *decoder) {
		n := d.arrayLen()
		if d.err == nil && n != 2 && n != 3 {
			d.fail(fmt.Errorf("write result has %d fields", n))
		}
		r.Rev = d.uint()
		flags := d.uint()
		if n == 3 {
			r.Err = d.str()
		}
		if d.err == nil && flags&^(flagOK|flagDeleted) != 0 {
			d.fail(fmt.Errorf("unknown result flags %#x", flags))
		}
		r.OK = flags&flagOK != 0
		r.Deleted = flags&flagDeleted != 0
	})
	if err != nil {
		return WriteResult{}, fmt.Errorf("%w: write result: %w", ErrMalformed, err)
	}
	return r, nil
}

// GetResult is the answer to a Get query.
type GetResult struct {
	Found bool
	// Value is non-nil when Found, even if empty: an empty value is a value.
	Value []byte
	// Rev is the rev of the write that set the key (its ETag).
	Rev uint64
}

// encodeGet writes [] for an absent key and [rev, value] otherwise.
func encodeGet(r GetResult) []byte {
	return build(len(r.Value)+16, func(e *encoder) {
		if !r.Found {
			e.arrayLen(0)
			return
		}
		e.arrayLen(2)
		e.uint(r.Rev)
		e.bin(r.Value)
	})
}

// DecodeGet decodes what Store.Read (or Apply of a Get) returned.
func DecodeGet(b []byte) (GetResult, error) {
	var r GetResult
	err := decodeBytes(b, func(d *decoder) {
		switch n := d.arrayLen(); {
		case d.err != nil:
		case n == 0:
		case n == 2:
			r.Found = true
			r.Rev = d.uint()
			r.Value = d.bin()
			if r.Value == nil {
				r.Value = []byte{}
			}
		default:
			d.fail(fmt.Errorf("get result has %d fields", n))
		}
	})
	if err != nil {
		return GetResult{}, fmt.Errorf("%w: get result: %w", ErrMalformed, err)
	}
	return r, nil
}
