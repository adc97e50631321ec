package kv

import (
	"errors"
	"fmt"
)

type op uint8

const (
	opPut    op = 1
	opDelete op = 2
	opGet    op = 3
	opTxn    op = 4 // a transaction (txn.go)
	opList   op = 5 // a prefix listing, a query only (list.go)
)

// cmdOverhead covers a command's array, op, length prefixes and a condition,
// so a builder allocates its output once.
const cmdOverhead = 24

var (
	errEmptyKey   = errors.New("empty key")
	errNotCommand = errors.New("a list is a query: it cannot go through the log")
)

// command is a decoded command or query. Layouts (msgpack arrays; the
// condition's fields are omitted when unconditional):
//
//	put:    [1, key, value, cond...]
//	delete: [2, key, cond...]
//	get:    [3, key]
//	cond:   [1, rev] | [2] (exists) | [3] (absent)
//	txn:    [4, [compare...], [then op...], [else op...]]  (txn.go)
//	list:   [5, prefix, start after, limit]               (list.go)
type command struct {
	op    op
	key   string
	value []byte
	cond  Cond
	txn   *Txn         // opTxn
	list  *ListRequest // opList
}

// Put builds a command that sets key to value. A nil value is stored as an
// empty one: a put never makes a key absent.
func Put(key string, value []byte) []byte { return PutIf(key, value, Cond{}) }

// PutIf builds a put that applies only when c holds.
func PutIf(key string, value []byte, c Cond) []byte {
	return build(len(key)+len(value)+cmdOverhead, func(e *encoder) {
		e.arrayLen(3 + c.fields())
		e.uint(uint64(opPut))
		e.str(key)
		e.bin(value)
		c.encode(e)
	})
}

// Delete builds a command that removes key; deleting an absent key is not an
// error, it still consumes a rev and reports Deleted false.
func Delete(key string) []byte { return DeleteIf(key, Cond{}) }

// DeleteIf builds a delete that applies only when c holds.
func DeleteIf(key string, c Cond) []byte {
	return build(len(key)+cmdOverhead, func(e *encoder) {
		e.arrayLen(2 + c.fields())
		e.uint(uint64(opDelete))
		e.str(key)
		c.encode(e)
	})
}

// Get builds a query for Store.Read. Applied through the log instead, it is
// answered in log order and changes nothing.
func Get(key string) []byte {
	return build(len(key)+cmdOverhead, func(e *encoder) {
		e.arrayLen(2)
		e.uint(uint64(opGet))
		e.str(key)
	})
}

// decodeCommand is strict about shape — exact field counts, known ops and
// condition kinds, no trailing bytes — so that a command every replica
// accepts means the same thing on every replica.
func decodeCommand(b []byte) (command, error) {
	if c, ok := fastCommand(b); ok {
		return c, nil
	}
	return slowDecodeCommand(b)
}

// slowDecodeCommand is decodeCommand through msgpack's decoder: the definition
// of the format, used for whatever fastCommand leaves.
func slowDecodeCommand(b []byte) (command, error) {
	var c command
	err := decodeBytes(b, func(d *decoder) {
		n := d.arrayLen()
		if d.err != nil {
			return
		}
		if n < 2 {
			d.fail(fmt.Errorf("command has %d fields", n))
			return
		}
		o := d.uint()
		switch {
		case d.err != nil:
			return
		case (o == uint64(opTxn) || o == uint64(opList)) && n != 4:
			c.op = op(o) // refused in the shape of its kind
			d.fail(fmt.Errorf("op %d with %d fields", o, n))
			return
		case o == uint64(opTxn):
			c.op = opTxn
			c.txn = decodeTxn(d)
			return
		case o == uint64(opList):
			c.op = opList
			c.list = &ListRequest{Prefix: d.str(), StartAfter: d.str()}
			limit := d.uint()
			if d.err == nil && (limit < 1 || limit > MaxListLimit) {
				d.fail(fmt.Errorf("list limit %d: want 1 to %d", limit, MaxListLimit))
			}
			c.list.Limit = int(limit)
			return
		}
		c.key = d.str()
		rest := n - 2
		switch {
		case d.err != nil:
			return
		case o == uint64(opPut) && rest >= 1:
			c.op = opPut
			c.value = d.bin()
			if c.value == nil {
				c.value = []byte{}
			}
			c.cond = decodeCond(d, rest-1)
		case o == uint64(opDelete):
			c.op = opDelete
			c.cond = decodeCond(d, rest)
		case o == uint64(opGet) && rest == 0:
			c.op = opGet
		default:
			d.fail(fmt.Errorf("unknown op %d with %d fields", o, n))
			return
		}
		if d.err == nil && c.key == "" {
			d.fail(errEmptyKey)
		}
	})
	if err != nil {
		return command{op: c.op}, err
	}
	return c, nil
}
