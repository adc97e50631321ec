package kv

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// maxChunk bounds each step of growing a byte string being read from a
// stream, so a corrupt length costs at most about what the stream really holds.
const maxChunk = 1 << 20

var errTrailing = errors.New("trailing bytes")

// appendWriter lets a pooled msgpack.Encoder write straight into a slice sized
// for the message: building a command or result costs one allocation.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

// encoder keeps the first error so encoding code reads as a plain sequence of
// fields; the caller checks err once at the end.
type encoder struct {
	e   *msgpack.Encoder
	err error
}

func (e *encoder) arrayLen(n int) {
	if e.err == nil {
		e.err = e.e.EncodeArrayLen(n)
	}
}

func (e *encoder) uint(v uint64) {
	if e.err == nil {
		e.err = e.e.EncodeUint(v)
	}
}

func (e *encoder) str(s string) {
	if e.err == nil {
		e.err = e.e.EncodeString(s)
	}
}

// bin writes nil as an empty byte string: a stored value is never absent, and
// an empty value must stay distinct from a missing key.
func (e *encoder) bin(b []byte) {
	if e.err != nil {
		return
	}
	if b == nil {
		b = []byte{}
	}
	e.err = e.e.EncodeBytes(b)
}

type bufEncoder struct {
	w appendWriter
	encoder
}

var encPool = sync.Pool{New: func() any {
	be := &bufEncoder{}
	be.e = msgpack.NewEncoder(&be.w)
	return be
}}

// build runs fn on a pooled encoder writing into a fresh slice of capacity
// size. Writing to memory cannot fail, so there is no error to return.
func build(size int, fn func(*encoder)) []byte {
	be := encPool.Get().(*bufEncoder)
	be.w.b = make([]byte, 0, size)
	be.err = nil
	fn(&be.encoder)
	out := be.w.b
	be.w.b = nil
	encPool.Put(be)
	return out
}

// decoder keeps the first error, like encoder; after an error every method
// returns a zero value, so decoding code need not check each field.
type decoder struct {
	d *msgpack.Decoder
	// r, when the input is in memory, lets bin reject a length longer than what
	// is left before allocating for it.
	r   *bytes.Reader
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// arrayLen returns -1 for nil as well as on error; callers compare it with
// the lengths they accept.
func (d *decoder) arrayLen() int {
	if d.err != nil {
		return -1
	}
	n, err := d.d.DecodeArrayLen()
	if err != nil {
		d.err = err
		return -1
	}
	return n
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := d.d.DecodeUint64()
	d.fail(err)
	return v
}

// str reads a string through bin rather than msgpack's DecodeString: the
// latter grows the pooled decoder's scratch buffer by up to 1 MiB for every
// string whose length exceeds the input, and keeps it, so junk commands would
// grow memory without bound.
func (d *decoder) str() string {
	b := d.bin()
	if len(b) == 0 {
		return ""
	}
	// b is freshly allocated and never written again: share it, saving a copy
	// on the write path.
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// bin returns a fresh slice (never aliasing the input) or nil for a msgpack
// nil.
func (d *decoder) bin() []byte {
	if d.err != nil {
		return nil
	}
	n, err := d.d.DecodeBytesLen()
	if err != nil {
		d.err = err
		return nil
	}
	if n < 0 {
		return nil
	}
	chunk := maxChunk
	if d.r != nil {
		if n > d.r.Len() {
			d.err = errors.New("byte string longer than input")
			return nil
		}
		chunk = n
	}
	b := make([]byte, 0, min(n, chunk))
	for len(b) < n {
		start := len(b)
		k := min(n-start, chunk)
		b = slices.Grow(b, k)[:start+k]
		if err := d.d.ReadFull(b[start:]); err != nil {
			d.err = err
			return nil
		}
	}
	return b
}

type bufDecoder struct {
	br bytes.Reader
	decoder
}

var decPool = sync.Pool{New: func() any {
	bd := &bufDecoder{}
	bd.d = msgpack.NewDecoder(&bd.br) // a bytes.Reader is read directly, unbuffered
	bd.r = &bd.br
	return bd
}}

// decodeBytes runs fn on a pooled decoder over b and requires that fn consume
// all of b: trailing bytes mean the input is not what we think it is.
func decodeBytes(b []byte, fn func(*decoder)) error {
	bd := decPool.Get().(*bufDecoder)
	bd.br.Reset(b)
	bd.err = nil
	fn(&bd.decoder)
	if bd.err == nil && bd.br.Len() != 0 {
		bd.err = errTrailing
	}
	err := bd.err
	bd.br.Reset(nil)
	decPool.Put(bd)
	return err
}
