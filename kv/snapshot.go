package kv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/tidwall/btree"
	"github.com/vmihailenco/msgpack/v5"
)

// The snapshot is one msgpack array:
//
//	[magic, 2, rev, [[key, rev, value], ...], checksum]
//
// with keys strictly ascending, so equal states give equal bytes on every
// replica, and checksum = the state's Digest, so corruption is caught before
// the state is replaced. Version 1, written before the store kept its last
// rev, lacks the rev (and its checksum covers only the entries); it is still
// read, with the highest rev of its entries as the last rev.
const (
	snapMagic   = "rsml.kv"
	snapVersion = 2
)

// Snapshot writes the whole state to w. It holds the read lock only while
// copying the entry list, not while writing.
func (s *Store) Snapshot(w io.Writer) error {
	items, rev := s.sorted()
	return writeSnapshot(w, items, rev)
}

// Capture copies the entry list now (values are shared: they are never
// modified in place) and returns the function that writes the snapshot of
// that state, which may run on another goroutine while Apply goes on
// (executor.Capturer).
func (s *Store) Capture() func(w io.Writer) error {
	items, rev := s.sorted()
	return func(w io.Writer) error { return writeSnapshot(w, items, rev) }
}

func writeSnapshot(w io.Writer, items []item, rev uint64) error {
	// msgpack writes byte by byte; give it a buffer unless w already is one.
	var buf *bufio.Writer
	if _, ok := w.(io.ByteWriter); !ok {
		buf = bufio.NewWriterSize(w, 64<<10)
		w = buf
	}
	e := encoder{e: msgpack.NewEncoder(w)}
	e.arrayLen(5)
	e.str(snapMagic)
	e.uint(snapVersion)
	e.uint(rev)
	e.arrayLen(len(items))
	var sum uint64
	for _, it := range items {
		e.arrayLen(3)
		e.str(it.key)
		e.uint(it.rev)
		e.bin(it.value)
		sum = digestEntry(sum, it.key, it.entry)
	}
	e.uint(digestRev(sum, rev))
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
	tree, rev, err := readSnapshot(r)
	if err != nil {
		return fmt.Errorf("%w: snapshot: %w", ErrMalformed, err)
	}
	s.mu.Lock()
	s.tree, s.rev = tree, rev
	s.mu.Unlock()
	return nil
}

func readSnapshot(r io.Reader) (*btree.BTreeG[*item], uint64, error) {
	dec := msgpack.NewDecoder(r)
	d := decoder{d: dec}
	if br, ok := r.(*bytes.Reader); ok {
		d.r = br // read directly by msgpack, so its Len is exact
	}
	fields := d.arrayLen()
	if d.err == nil && fields != 4 && fields != 5 {
		return nil, 0, fmt.Errorf("snapshot has %d fields", fields)
	}
	if magic := d.str(); d.err == nil && magic != snapMagic {
		return nil, 0, errors.New("not a kv snapshot")
	}
	version := d.uint()
	if d.err == nil && !(version == 1 && fields == 4 || version == snapVersion && fields == 5) {
		return nil, 0, fmt.Errorf("unsupported snapshot version %d with %d fields", version, fields)
	}
	var rev uint64
	if version == snapVersion {
		rev = d.uint()
	}
	count := d.arrayLen()
	if d.err == nil && count < 0 {
		return nil, 0, errors.New("nil entry list")
	}
	tree := newTree()
	var sum, maxRev uint64
	var prev string
	// Entries come from slabs of up to 4096, not one allocation each: a
	// restore of a million keys otherwise spends a fifth of its time there.
	var slab []item
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
				slab = make([]item, min(count-i, 4096))
			}
			slab[0] = item{key: key, entry: e}
			tree.Load(&slab[0]) // keys ascend: an append
			slab = slab[1:]
			sum = digestEntry(sum, key, e)
			maxRev = max(maxRev, e.rev)
			prev = key
		}
	}
	if version == snapVersion {
		sum = digestRev(sum, rev)
		if d.err == nil && maxRev > rev {
			d.fail(fmt.Errorf("an entry has rev %d, above the last rev %d", maxRev, rev))
		}
	} else {
		rev = maxRev
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
		return nil, 0, d.err
	}
	return tree, rev, nil
}
