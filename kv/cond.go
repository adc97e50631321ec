package kv

import (
	"fmt"
	"strconv"
)

type condKind uint8

const (
	condNone condKind = iota
	condRev
	condExists
	condAbsent
)

// Cond is a precondition on a write's key, checked when the write is applied,
// in log order, so compare-and-set needs no lock held by the client. The zero
// Cond is unconditional.
type Cond struct {
	kind condKind
	rev  uint64
}

// IfRev holds when the key exists and its rev is rev: the write happens only
// if nobody wrote the key since the caller read it (HTTP If-Match: "<rev>").
// Revs start at 1, so IfRev(0) never holds.
func IfRev(rev uint64) Cond { return Cond{kind: condRev, rev: rev} }

// IfExists holds when the key exists (HTTP If-Match: *).
func IfExists() Cond { return Cond{kind: condExists} }

// IfAbsent holds when the key is absent, so a put creates but never
// overwrites (HTTP If-None-Match: *).
func IfAbsent() Cond { return Cond{kind: condAbsent} }

// String renders the condition for logs and test failures.
func (c Cond) String() string {
	switch c.kind {
	case condNone:
		return "always"
	case condRev:
		return "if-rev " + strconv.FormatUint(c.rev, 10)
	case condExists:
		return "if-exists"
	case condAbsent:
		return "if-absent"
	}
	return fmt.Sprintf("cond(%d)", c.kind)
}

func (c Cond) holds(cur entry, exists bool) bool {
	switch c.kind {
	case condNone:
		return true
	case condRev:
		return exists && cur.rev == c.rev
	case condExists:
		return exists
	case condAbsent:
		return !exists
	}
	return false
}

// fields is how many array elements the condition adds to a command: none
// for the common unconditional write, so it pays nothing.
func (c Cond) fields() int {
	switch c.kind {
	case condNone:
		return 0
	case condRev:
		return 2
	}
	return 1
}

func (c Cond) encode(e *encoder) {
	switch c.kind {
	case condNone:
	case condRev:
		e.uint(uint64(condRev))
		e.uint(c.rev)
	default:
		e.uint(uint64(c.kind))
	}
}

// decodeCond reads the n trailing elements of a command as a condition.
func decodeCond(d *decoder, n int) Cond {
	if n == 0 {
		return Cond{}
	}
	k := d.uint()
	switch {
	case d.err != nil:
		return Cond{}
	case n == 2 && k == uint64(condRev):
		return Cond{kind: condRev, rev: d.uint()}
	case n == 1 && (k == uint64(condExists) || k == uint64(condAbsent)):
		return Cond{kind: condKind(k)}
	}
	d.fail(fmt.Errorf("bad condition: kind %d with %d fields", k, n))
	return Cond{}
}
