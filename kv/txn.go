package kv

import (
	"errors"
	"fmt"
)

// Limits of one transaction, checked when it is built and again when it is
// decoded, identically on every replica.
const (
	// MaxTxnOps is the most operations in each branch of a transaction.
	MaxTxnOps = 1024
	// MaxTxnCompares is the most conditions of a transaction.
	MaxTxnCompares = 1024
)

// OpKind says what an operation of a transaction does.
type OpKind uint8

// The operations a transaction may hold. The values are the wire's.
const (
	OpPut    OpKind = OpKind(opPut)
	OpDelete OpKind = OpKind(opDelete)
	OpGet    OpKind = OpKind(opGet)
)

// String names the kind as the HTTP API spells it.
func (k OpKind) String() string {
	switch k {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpGet:
		return "get"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Op is one operation of a transaction: a put, a delete or a get. A get sees
// the operations before it in the same transaction.
type Op struct {
	Kind  OpKind
	Key   string
	Value []byte // a put's value; nil is stored as empty
}

// PutOp sets key to value inside a transaction.
func PutOp(key string, value []byte) Op { return Op{Kind: OpPut, Key: key, Value: value} }

// DeleteOp removes key inside a transaction.
func DeleteOp(key string) Op { return Op{Kind: OpDelete, Key: key} }

// GetOp reads key inside a transaction.
func GetOp(key string) Op { return Op{Kind: OpGet, Key: key} }

// Compare is one condition of a transaction: Cond must hold on Key.
type Compare struct {
	Key  string
	Cond Cond
}

// Txn is a transaction: if every condition holds, Then runs, else Else runs;
// either way the branch runs atomically, as one command at one rev, which
// every key it writes gets.
//
// A transaction with a write in either branch goes through the log and takes
// a rev even when the branch that runs writes nothing (as a failed
// conditional write does). One without writes is a query: it is answered
// without the log (Store.Read, linearizably through a read index) and takes
// no rev.
type Txn struct {
	If   []Compare
	Then []Op
	Else []Op
}

// ReadOnly reports whether neither branch writes.
func (t Txn) ReadOnly() bool {
	for _, ops := range [2][]Op{t.Then, t.Else} {
		for _, o := range ops {
			if o.Kind != OpGet {
				return false
			}
		}
	}
	return true
}

// Validate checks what the store would refuse: counts over the limits, empty
// keys, conditions and kinds that do not exist.
func (t Txn) Validate() error {
	if len(t.If) > MaxTxnCompares {
		return fmt.Errorf("%w: %d conditions, at most %d", ErrBadCommand, len(t.If), MaxTxnCompares)
	}
	for i, c := range t.If {
		switch {
		case c.Key == "":
			return fmt.Errorf("%w: condition %d: %w", ErrBadCommand, i, errEmptyKey)
		case c.Cond.kind == condNone:
			return fmt.Errorf("%w: condition %d on %q has no condition", ErrBadCommand, i, c.Key)
		case c.Cond.kind > condAbsent:
			return fmt.Errorf("%w: condition %d: unknown kind %d", ErrBadCommand, i, c.Cond.kind)
		}
	}
	for _, b := range [...]struct {
		name string
		ops  []Op
	}{{"then", t.Then}, {"else", t.Else}} {
		if len(b.ops) > MaxTxnOps {
			return fmt.Errorf("%w: %s: %d operations, at most %d", ErrBadCommand, b.name, len(b.ops), MaxTxnOps)
		}
		for i, o := range b.ops {
			switch {
			case o.Kind < OpPut || o.Kind > OpGet:
				return fmt.Errorf("%w: %s op %d: unknown kind %d", ErrBadCommand, b.name, i, o.Kind)
			case o.Key == "":
				return fmt.Errorf("%w: %s op %d: %w", ErrBadCommand, b.name, i, errEmptyKey)
			case o.Kind != OpPut && o.Value != nil:
				return fmt.Errorf("%w: %s op %d: a %s has no value", ErrBadCommand, b.name, i, o.Kind)
			}
		}
	}
	return nil
}

// Encode checks the transaction and builds its command, for Propose (or for
// Read when it is ReadOnly).
func (t Txn) Encode() ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	size := cmdOverhead
	for _, c := range t.If {
		size += len(c.Key) + 16
	}
	for _, ops := range [2][]Op{t.Then, t.Else} {
		for _, o := range ops {
			size += len(o.Key) + len(o.Value) + 12
		}
	}
	return build(size, func(e *encoder) {
		e.arrayLen(4)
		e.uint(uint64(opTxn))
		e.arrayLen(len(t.If))
		for _, c := range t.If {
			e.arrayLen(1 + c.Cond.fields())
			e.str(c.Key)
			c.Cond.encode(e)
		}
		encodeOps(e, t.Then)
		encodeOps(e, t.Else)
	}), nil
}

func encodeOps(e *encoder, ops []Op) {
	e.arrayLen(len(ops))
	for _, o := range ops {
		if o.Kind == OpPut {
			e.arrayLen(3)
			e.uint(uint64(o.Kind))
			e.str(o.Key)
			e.bin(o.Value)
			continue
		}
		e.arrayLen(2)
		e.uint(uint64(o.Kind))
		e.str(o.Key)
	}
}

// decodeTxn reads the three arrays after a transaction's op code, as
// strictly as the rest of the format: exact field counts, known kinds,
// non-empty keys, counts within the limits (checked before allocating).
func decodeTxn(d *decoder) *Txn {
	t := &Txn{}
	n := d.arrayLen()
	if d.err == nil && (n < 0 || n > MaxTxnCompares) {
		d.fail(fmt.Errorf("txn: %d conditions, want 0 to %d", n, MaxTxnCompares))
	}
	if n > 0 && d.err == nil {
		t.If = make([]Compare, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		f := d.arrayLen()
		if d.err == nil && f < 2 {
			d.fail(fmt.Errorf("txn: condition %d has %d fields", i, f))
		}
		t.If[i] = Compare{Key: d.str(), Cond: decodeCond(d, f-1)}
		if d.err == nil && t.If[i].Key == "" {
			d.fail(fmt.Errorf("txn: condition %d: %w", i, errEmptyKey))
		}
	}
	t.Then = decodeOps(d, "then")
	t.Else = decodeOps(d, "else")
	return t
}

func decodeOps(d *decoder, branch string) []Op {
	n := d.arrayLen()
	if d.err != nil {
		return nil
	}
	if n < 0 || n > MaxTxnOps {
		d.fail(fmt.Errorf("txn: %s: %d operations, want 0 to %d", branch, n, MaxTxnOps))
		return nil
	}
	if n == 0 {
		return nil
	}
	ops := make([]Op, n)
	for i := 0; i < n && d.err == nil; i++ {
		f := d.arrayLen()
		k := OpKind(d.uint())
		o := Op{Kind: k, Key: d.str()}
		switch {
		case d.err != nil:
		case k == OpPut && f == 3:
			if o.Value = d.bin(); o.Value == nil {
				o.Value = []byte{}
			}
		case (k == OpDelete || k == OpGet) && f == 2:
		default:
			d.fail(fmt.Errorf("txn: %s op %d: kind %d with %d fields", branch, i, k, f))
		}
		if d.err == nil && o.Key == "" {
			d.fail(fmt.Errorf("txn: %s op %d: %w", branch, i, errEmptyKey))
		}
		ops[i] = o
	}
	return ops
}

// TxnResult is the outcome of a transaction.
type TxnResult struct {
	// Rev is the transaction's rev (every key it wrote has it), or for a
	// read-only transaction the store's last rev when it was read.
	Rev uint64
	// Succeeded says which branch ran: Then when every condition held.
	Succeeded bool
	// Results has one entry per operation of the branch that ran, in order.
	Results []OpResult
	// Err is why the store refused the transaction (nothing ran); empty
	// otherwise.
	Err string
}

// Error is nil unless the store refused the transaction: then it wraps
// ErrBadCommand. A transaction whose conditions failed is not an error.
func (r TxnResult) Error() error {
	if r.Err != "" {
		return fmt.Errorf("%w: %s", ErrBadCommand, r.Err)
	}
	return nil
}

// OpResult is the outcome of one operation of a transaction.
type OpResult struct {
	Kind OpKind
	// Rev is the transaction's rev for a put or a delete, and the key's rev
	// for a get that found it.
	Rev uint64
	// Deleted is true when a delete found the key.
	Deleted bool
	// Found is true when a get found the key; Value is then its value
	// (non-nil, even if empty).
	Found bool
	Value []byte
}

// applyTxn runs a decoded transaction at rev under the write lock, so that
// no reader sees half of it.
func (s *Store) applyTxn(rev uint64, t *Txn) TxnResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rev = max(s.rev, rev)
	res := TxnResult{Rev: rev, Succeeded: s.holds(t.If)}
	ops := t.Else
	if res.Succeeded {
		ops = t.Then
	}
	res.Results = make([]OpResult, len(ops))
	for i, o := range ops {
		r := OpResult{Kind: o.Kind, Rev: rev}
		cur := s.find(o.Key)
		switch o.Kind {
		case OpPut:
			if cur != nil {
				cur.rev, cur.value = rev, o.Value
			} else {
				s.insert(o.Key, entry{rev: rev, value: o.Value})
			}
		case OpDelete:
			if cur != nil {
				s.remove(cur)
				r.Deleted = true
			}
		case OpGet:
			r = getResult(cur)
		}
		res.Results[i] = r
	}
	return res
}

// readTxn answers a transaction without writes; it reports the store's last
// rev, as a read does not take one.
func (s *Store) readTxn(t *Txn) TxnResult {
	s.mu.RLock()
	defer s.mu.RUnlock()
	res := TxnResult{Rev: s.rev, Succeeded: s.holds(t.If)}
	ops := t.Else
	if res.Succeeded {
		ops = t.Then
	}
	res.Results = make([]OpResult, len(ops))
	for i, o := range ops {
		res.Results[i] = getResult(s.find(o.Key))
	}
	return res
}

// holds evaluates a transaction's conditions. The caller holds mu.
func (s *Store) holds(cs []Compare) bool {
	for _, c := range cs {
		cur := s.find(c.Key)
		var e entry
		if cur != nil {
			e = cur.entry
		}
		if !c.Cond.holds(e, cur != nil) {
			return false
		}
	}
	return true
}

func getResult(cur *item) OpResult {
	if cur == nil {
		return OpResult{Kind: OpGet}
	}
	return OpResult{Kind: OpGet, Found: true, Rev: cur.rev, Value: cur.value}
}

// encodeTxn writes [rev, succeeded, [result...]] or, for a refused
// transaction, [rev, 0, [], err]. A result is [1, rev] for a put, [2, rev,
// deleted] for a delete, [3] for a get that found nothing and [3, rev,
// value] for one that did.
func encodeTxn(r TxnResult) []byte {
	size := 16 + len(r.Err)
	for _, o := range r.Results {
		size += 16 + len(o.Value)
	}
	return build(size, func(e *encoder) {
		if r.Err != "" {
			e.arrayLen(4)
		} else {
			e.arrayLen(3)
		}
		e.uint(r.Rev)
		e.uint(boolUint(r.Succeeded))
		e.arrayLen(len(r.Results))
		for _, o := range r.Results {
			switch {
			case o.Kind == OpPut:
				e.arrayLen(2)
				e.uint(uint64(o.Kind))
				e.uint(o.Rev)
			case o.Kind == OpDelete:
				e.arrayLen(3)
				e.uint(uint64(o.Kind))
				e.uint(o.Rev)
				e.uint(boolUint(o.Deleted))
			case o.Found:
				e.arrayLen(3)
				e.uint(uint64(o.Kind))
				e.uint(o.Rev)
				e.bin(o.Value)
			default:
				e.arrayLen(1)
				e.uint(uint64(o.Kind))
			}
		}
		if r.Err != "" {
			e.str(r.Err)
		}
	})
}

func boolUint(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

var errBadBool = errors.New("boolean field is not 0 or 1")

// DecodeTxn decodes what Store.Apply (or Store.Read) returned for a
// transaction.
func DecodeTxn(b []byte) (TxnResult, error) {
	var r TxnResult
	err := decodeBytes(b, func(d *decoder) {
		n := d.arrayLen()
		if d.err == nil && n != 3 && n != 4 {
			d.fail(fmt.Errorf("txn result has %d fields", n))
		}
		r.Rev = d.uint()
		r.Succeeded = decodeBool(d)
		count := d.arrayLen()
		if d.err == nil && (count < 0 || count > MaxTxnOps) {
			d.fail(fmt.Errorf("txn result has %d results", count))
		}
		if count > 0 && d.err == nil {
			r.Results = make([]OpResult, count)
		}
		for i := 0; i < count && d.err == nil; i++ {
			f := d.arrayLen()
			o := OpResult{Kind: OpKind(d.uint())}
			switch {
			case d.err != nil:
			case o.Kind == OpPut && f == 2:
				o.Rev = d.uint()
			case o.Kind == OpDelete && f == 3:
				o.Rev = d.uint()
				o.Deleted = decodeBool(d)
			case o.Kind == OpGet && f == 1:
			case o.Kind == OpGet && f == 3:
				o.Found, o.Rev = true, d.uint()
				if o.Value = d.bin(); o.Value == nil {
					o.Value = []byte{}
				}
			default:
				d.fail(fmt.Errorf("txn result %d: kind %d with %d fields", i, o.Kind, f))
			}
			r.Results[i] = o
		}
		if n == 4 {
			r.Err = d.str()
		}
	})
	if err != nil {
		return TxnResult{}, fmt.Errorf("%w: txn result: %w", ErrMalformed, err)
	}
	return r, nil
}

func decodeBool(d *decoder) bool {
	v := d.uint()
	if d.err == nil && v > 1 {
		d.fail(errBadBool)
	}
	return v == 1
}

// ParseTxn decodes a transaction command built by Txn.Encode, with the checks
// the store applies; an error wraps ErrBadCommand (also for a command that is
// not a transaction). Tools that inspect the log use it.
func ParseTxn(cmd []byte) (Txn, error) {
	c, err := slowDecodeCommand(cmd)
	if err == nil && c.op != opTxn {
		err = errors.New("not a transaction")
	}
	if err != nil {
		return Txn{}, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	return *c.txn, nil
}
