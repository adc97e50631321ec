package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"slices"
	"strings"
	"sync"
)

var errZeroRev = errors.New("rev 0: revs start at 1")

// entry is one key's state. The map holds pointers so that a put on an
// existing key updates the entry in place: one hash lookup, and no key string
// allocated for it. Fields are read and written under the store's lock; the
// value's bytes are never modified once stored (a put replaces the slice), so
// snapshots and reads may use them after the lock is released.
type entry struct {
	rev   uint64
	value []byte
}

// Store is the key-value state machine. The executor calls Apply from one
// goroutine; Read, Get, Snapshot and Digest may run concurrently with it.
type Store struct {
	mu sync.RWMutex
	m  map[string]*entry
}

// New returns an empty store.
func New() *Store { return &Store{m: make(map[string]*entry)} }

// Len is the number of keys present.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// Apply executes one command with the rev the executor gave it and returns the
// encoded result (DecodeWrite; DecodeGet for a Get sent through the log). It
// never panics and never returns nil: a command it cannot execute yields a
// result with Err set and leaves the state unchanged, identically on every
// replica.
func (s *Store) Apply(rev uint64, cmd []byte) []byte {
	// The fast path leaves the key in bytes (c.key is empty), so that
	// looking it up and updating an existing key allocate nothing.
	c, key, ok := fastCommandKey(cmd)
	var err error
	if !ok {
		c, err = slowDecodeCommand(cmd)
		key = nil
	}
	if err == nil && rev == 0 {
		err = errZeroRev
	}
	if err != nil {
		return encodeWrite(WriteResult{Rev: rev, Err: err.Error()})
	}

	res := WriteResult{Rev: rev}
	s.mu.Lock()
	var cur *entry
	if key != nil {
		cur = s.m[string(key)] // the conversion does not allocate
	} else {
		cur = s.m[c.key]
	}
	if c.op == opGet {
		var r GetResult
		if cur != nil {
			r = GetResult{Found: true, Value: cur.value, Rev: cur.rev}
		}
		s.mu.Unlock()
		return encodeGet(r)
	}
	var curEntry entry
	if cur != nil {
		curEntry = *cur
	}
	if c.cond.holds(curEntry, cur != nil) {
		res.OK = true
		switch {
		case c.op == opPut && cur != nil:
			cur.rev, cur.value = rev, c.value
		case c.op == opPut:
			k := c.key
			if key != nil {
				k = string(key)
			}
			s.m[k] = &entry{rev: rev, value: c.value}
		case c.op == opDelete && cur != nil:
			if key != nil {
				delete(s.m, string(key))
			} else {
				delete(s.m, c.key)
			}
			res.Deleted = true
		}
	}
	s.mu.Unlock()
	return encodeWrite(res)
}

// Read answers a Get query from the local state without going through the
// log; linearizability is the caller's job (read-index on the leader).
func (s *Store) Read(query []byte) ([]byte, error) {
	c, err := decodeCommand(query)
	if err == nil && c.op != opGet {
		err = errors.New("not a query")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read: %w", ErrBadCommand, err)
	}
	return encodeGet(s.lookup(c.key)), nil
}

// Get is Read for Go callers in the same process, skipping the encoding. The
// value is a copy, so the caller may keep or modify it.
func (s *Store) Get(key string) GetResult {
	r := s.lookup(key)
	r.Value = bytes.Clone(r.Value)
	return r
}

// lookup's Value aliases the stored slice; callers must copy before handing
// it out.
func (s *Store) lookup(key string) GetResult {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.m[key]
	if e == nil {
		return GetResult{}
	}
	return GetResult{Found: true, Value: e.value, Rev: e.rev}
}

// Digest summarises the whole state (keys, revs, values) in 64 bits, so tests
// and operators can compare replicas without shipping snapshots. Equal states
// give equal digests; it is also the checksum a snapshot of this state
// carries.
func (s *Store) Digest() uint64 {
	var sum uint64
	for _, it := range s.sorted() {
		sum = digestEntry(sum, it.key, it.entry)
	}
	return sum
}

type item struct {
	key string
	entry
}

// sorted copies the entries out under the read lock and sorts them after
// releasing it, so a large snapshot holds up Apply only for the copy.
func (s *Store) sorted() []item {
	s.mu.RLock()
	items := make([]item, 0, len(s.m))
	for k, e := range s.m {
		items = append(items, item{k, *e})
	}
	s.mu.RUnlock()
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.key, b.key) })
	return items
}

// crcTable is CRC-64/ECMA: table-driven and fast on large values, and a CRC
// catches the bit flips and truncations a snapshot on disk suffers.
var crcTable = crc64.MakeTable(crc64.ECMA)

// digestEntry folds one entry into sum. Lengths are included so that entry
// boundaries cannot shift ("ab"+"c" vs "a"+"bc").
func digestEntry(sum uint64, key string, e entry) uint64 {
	var hdr [3 * binary.MaxVarintLen64]byte
	b := binary.AppendUvarint(hdr[:0], uint64(len(key)))
	b = binary.AppendUvarint(b, e.rev)
	b = binary.AppendUvarint(b, uint64(len(e.value)))
	sum = crc64.Update(sum, crcTable, b)
	sum = crc64.Update(sum, crcTable, []byte(key))
	return crc64.Update(sum, crcTable, e.value)
}
