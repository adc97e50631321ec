package kv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
)

// The snapshot is one msgpack array:
//
//	[magic, version, [[key, rev, value], ...], checksum]
//
// with keys strictly ascending, so equal states give equal bytes on every
// replica, and checksum = the state's Digest, so corruption is caught before
// the state is replaced.
const (
	snapMagic   = "rsml.kv"
	snapVersion = 1
)

// Snapshot writes the whole state to w. It holds the read lock only while
// copying the entry list, not while writing.
func (s *Store) Snapshot(w io.Writer) error {
	items := s.sorted()

	// msgpack writes byte by byte; give it a buffer unless w already is one.
	var buf *bufio.Writer
	if _, ok := w.(io.ByteWriter); !ok {
		buf = bufio.NewWriterSize(w, 64<<10)
		w = buf
	}
	e := encoder{e: msgpack.NewEncoder(w)}
	e.arrayLen(4)
	e.str(snapMagic)
	e.uint(snapVersion)
	e.arrayLen(len(items))
	var sum uint64
	for _, it := range items {
		e.arrayLen(3)
		e.str(it.key)
		e.uint(it.rev)
		e.bin(it.value)
		sum = digestEntry(sum, it.key, it.entry)
	}
	e.uint(sum)
	if e.err == nil && buf != nil {
		e.err = buf.Flush()
	}
	if e.err != nil {
		return fmt.Errorf("kv: snapshot: %w", e.err)
	}
	return nil
}

// Restore replaces the whole state with the snapshot read from r, which must
// hold exactly one snapshot. The snapshot is decoded and verified in full
// before anything is replaced, so on error the store keeps its old state.
func (s *Store) Restore(r io.Reader) error {
	m, err := readSnapshot(r)
	if err != nil {
		return fmt.Errorf("%w: snapshot: %w", ErrMalformed, err)
	}
	s.mu.Lock()
	s.m = m
	s.mu.Unlock()
	return nil
}

func readSnapshot(r io.Reader) (map[string]*entry, error) {
	dec := msgpack.NewDecoder(r)
	d := decoder{d: dec}
	if br, ok := r.(*bytes.Reader); ok {
		d.r = br // read directly by msgpack, so its Len is exact
	}
	if n := d.arrayLen(); d.err == nil && n != 4 {
		return nil, fmt.Errorf("snapshot has %d fields", n)
	}
	if magic := d.str(); d.err == nil && magic != snapMagic {
		return nil, errors.New("not a kv snapshot")
	}
	if v := d.uint(); d.err == nil && v != snapVersion {
		return nil, fmt.Errorf("unsupported snapshot version %d", v)
	}
	count := d.arrayLen()
	if d.err == nil && count < 0 {
		return nil, errors.New("nil entry list")
	}
	// count is untrusted until the checksum matches: presize modestly.
	m := make(map[string]*entry, min(max(count, 0), 1<<16))
	var sum uint64
	var prev string
	// Entries come from slabs of up to 4096, not one allocation each: a
	// restore of a million keys otherwise spends a fifth of its time there.
	var slab []entry
	for i := 0; i < count && d.err == nil; i++ {
		if n := d.arrayLen(); d.err == nil && n != 3 {
			d.fail(fmt.Errorf("entry %d has %d fields", i, n))
		}
		key := d.str()
		e := entry{rev: d.uint(), value: d.bin()}
		switch {
		case d.err != nil:
		case key == "":
			d.fail(fmt.Errorf("entry %d: empty key", i))
		case i > 0 && key <= prev:
			d.fail(fmt.Errorf("entry %d: key out of order", i))
		case e.rev == 0:
			d.fail(fmt.Errorf("entry %d: rev 0", i))
		case e.value == nil:
			d.fail(fmt.Errorf("entry %d: nil value", i))
		default:
			if len(slab) == 0 {
				slab = make([]entry, min(count-i, 4096))
			}
			slab[0] = e
			m[key] = &slab[0]
			slab = slab[1:]
			sum = digestEntry(sum, key, e)
			prev = key
		}
	}
	if want := d.uint(); d.err == nil && want != sum {
		d.fail(fmt.Errorf("checksum %#x, computed %#x", want, sum))
	}
	if d.err == nil {
		if _, err := dec.PeekCode(); err == nil {
			d.fail(errTrailing)
		} else if err != io.EOF {
			d.fail(err)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}
