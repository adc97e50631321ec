// Package linearize holds the porcupine model of the built-in KV store, so
// that every history checker (the seeded simulator in sim/, the real-actor
// chaos test in node/ and the process chaos test in cmd/node) judges
// histories by one specification.
//
// The history is partitioned by the keys operations touch together
// (operations on disjoint keys commute in the spec): a single-key operation
// touches its key, a transaction every key it names, so the keys that some
// transaction links share a partition. A state holds, per key of its
// partition, whether it exists, its value and its rev.
//
// Where the model is lenient (it accepts more than the real store could do,
// never less, so it cannot reject a linearizable history):
//   - revs are global in the store, but partitioning by key only checks that
//     the revs of one key's writes grow in linearization order, not the
//     interleaving with other keys' revs (a transaction's rev is checked
//     against every key of its partition, and a read-only one's reported
//     rev must not be below any of them);
//   - a write whose outcome is unknown may apply or not; if it applies, its
//     rev is unknown, so the key's rev is marked unknown: a later Get of that
//     key accepts any rev (and then learns it), and a later IfRev write of
//     that key may succeed or fail, until the next write with a known rev
//     sets the key again;
//   - an unknown write does not raise the "highest rev seen" bound, nor does
//     a failed condition reported without its rev.
//
// An operation whose outcome is unknown must be recorded with Output
// {Unknown: true} and Return math.MaxInt64 (porcupine's "never returned"):
// it may then be linearized at any point after its call.
package linearize

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Kind is what a client asked for; a separate type so that a history cannot
// mix it up with a condition.
type Kind uint8

// The operations the KV model knows.
const (
	Get Kind = iota
	Put
	Delete
	Txn // a transaction: Input.Txn, Output.Succeeded and Output.Results
)

// Cond mirrors kv.Cond in a comparable form the model can inspect (kv.Cond
// hides its fields, and the model must not depend on the store's code).
type Cond uint8

// The conditions of a conditional write.
const (
	CondNone Cond = iota
	CondRev
	CondExists
	CondAbsent
)

// Input is what a client asked for.
type Input struct {
	Kind  Kind
	Key   string
	Value string // Put
	Cond  Cond   // Put/Delete
	Rev   uint64 // CondRev
	Txn   *TxnInput
}

// TxnInput is a transaction: if every condition of If holds, Then runs, else
// Else, atomically at one rev. One without Put or Delete is a read: it takes
// no rev and its Output.Rev is the store's last rev.
type TxnInput struct {
	If   []TxnCompare
	Then []TxnOp
	Else []TxnOp
}

// TxnCompare is one condition of a transaction (Cond is not CondNone).
type TxnCompare struct {
	Key  string
	Cond Cond
	Rev  uint64 // CondRev
}

// TxnOp is one operation of a transaction: Get, Put or Delete.
type TxnOp struct {
	Kind  Kind
	Key   string
	Value string // Put
}

// ReadOnly reports whether neither branch writes.
func (t *TxnInput) ReadOnly() bool {
	for _, ops := range [2][]TxnOp{t.Then, t.Else} {
		for _, o := range ops {
			if o.Kind != Get {
				return false
			}
		}
	}
	return true
}

// keys lists every key the transaction names.
func (t *TxnInput) keys() []string {
	var ks []string
	for _, c := range t.If {
		ks = append(ks, c.Key)
	}
	for _, ops := range [2][]TxnOp{t.Then, t.Else} {
		for _, o := range ops {
			ks = append(ks, o.Key)
		}
	}
	return ks
}

// Output is what a client got back. Unknown marks a write whose outcome is
// unknown (its Return must be math.MaxInt64). A write whose condition failed
// (OK false) may leave Rev 0 when the client was not told the rev the attempt
// took (revs start at 1); the model then checks only that the condition
// could fail.
type Output struct {
	Unknown bool
	// Get
	Found bool
	Value string
	// Get (the key's rev), writes (the rev the write consumed), and
	// transactions (the rev taken, or the store's last rev for a read)
	Rev uint64
	// writes
	OK      bool
	Deleted bool
	// transactions: which branch ran, and one result per op of it
	Succeeded bool
	Results   []TxnOpOutput
}

// TxnOpOutput is one operation's result in a transaction: a get's Found,
// Value and Rev; a delete's Deleted. (A write's rev is the transaction's.)
type TxnOpOutput struct {
	Found   bool
	Value   string
	Rev     uint64
	Deleted bool
}

// keyState is one key's state in one possible linearization; the zero
// keyState is a key never written.
type keyState struct {
	Exists     bool
	Value      string
	Rev        uint64 // valid if Exists && !RevUnknown
	RevUnknown bool   // set by an unknown-outcome put that applied
	MaxRev     uint64 // highest rev a write of this key is known to have consumed
}

// keyed is one key's state in a partition's state.
type keyed struct {
	Key string
	keyState
}

// state is a partition's state: its keys in order, each different from the
// zero keyState (so that equal states compare equal). It is never modified:
// a step makes a new one.
type state []keyed

func (s state) get(k string) keyState {
	for _, e := range s {
		if e.Key == k {
			return e.keyState
		}
	}
	return keyState{}
}

// with returns s with key k in state ks.
func (s state) with(k string, ks keyState) state {
	out := make(state, 0, len(s)+1)
	done := false
	for _, e := range s {
		if !done && e.Key >= k {
			done = true
			if ks != (keyState{}) {
				out = append(out, keyed{k, ks})
			}
			if e.Key == k {
				continue
			}
		}
		out = append(out, e)
	}
	if !done && ks != (keyState{}) {
		out = append(out, keyed{k, ks})
	}
	return out
}

// condHolds says whether the condition may hold and whether it may fail in
// s; both are true when it cannot be told (an IfRev on an unknown rev).
func condHolds(s keyState, c Cond, rev uint64) (mayHold, mayFail bool) {
	switch c {
	case CondNone:
		return true, false
	case CondExists:
		return s.Exists, !s.Exists
	case CondAbsent:
		return !s.Exists, s.Exists
	case CondRev:
		if !s.Exists {
			return false, true
		}
		if s.RevUnknown {
			return true, true
		}
		return s.Rev == rev, s.Rev != rev
	}
	return false, false
}

func applyWrite(s keyState, kind Kind, value string, rev uint64, known bool) keyState {
	switch kind {
	case Put:
		s.Exists, s.Value = true, value
		s.Rev, s.RevUnknown = rev, !known
	case Delete:
		s.Exists, s.Value, s.Rev, s.RevUnknown = false, "", 0, false
	}
	return s
}

func step(st, input, output any) []any {
	in := input.(Input)
	out := output.(Output)
	if in.Kind == Txn {
		return stepTxn(st.(state), in.Txn, out)
	}
	next := stepKey(st.(state).get(in.Key), in, out)
	for i, n := range next {
		next[i] = st.(state).with(in.Key, n.(keyState))
	}
	return next
}

// stepKey is step for an operation on one key.
func stepKey(s keyState, in Input, out Output) []any {
	if in.Kind == Get {
		if out.Unknown { // a failed read changed nothing
			return []any{s}
		}
		if out.Found != s.Exists {
			return nil
		}
		if !s.Exists {
			return []any{s}
		}
		if out.Value != s.Value {
			return nil
		}
		if s.RevUnknown {
			s.Rev, s.RevUnknown = out.Rev, false
			return []any{s}
		}
		if out.Rev != s.Rev {
			return nil
		}
		return []any{s}
	}

	mayHold, mayFail := condHolds(s, in.Cond, in.Rev)
	if out.Unknown {
		var next []any
		if mayHold {
			next = append(next, applyWrite(s, in.Kind, in.Value, 0, false))
		}
		return append(next, s)
	}
	// A known write: its rev is after every rev this key has seen. A failed
	// condition reported without its rev (Rev 0) says nothing about revs.
	if (out.OK || out.Rev != 0) && out.Rev <= s.MaxRev {
		return nil
	}
	if out.OK {
		if !mayHold {
			return nil
		}
		if in.Kind == Delete && out.Deleted != s.Exists {
			return nil
		}
		n := applyWrite(s, in.Kind, in.Value, out.Rev, true)
		n.MaxRev = out.Rev
		return []any{n}
	}
	// The condition failed: it must not hold, and nothing changed. An
	// unconditional write never fails.
	if !mayFail || out.Deleted {
		return nil
	}
	if out.Rev != 0 {
		s.MaxRev = out.Rev
	}
	return []any{s}
}

// opKeys lists the keys an operation touches; a transaction that names no
// key gets the empty key (never a real one), a partition of its own.
func opKeys(in Input) []string {
	if in.Kind != Txn {
		return []string{in.Key}
	}
	if ks := in.Txn.keys(); len(ks) > 0 {
		return ks
	}
	return []string{""}
}

// partition groups the operations by the connected components of the keys
// they touch together (a union-find over keys), in a stable order.
func partition(history []porcupine.Operation) [][]porcupine.Operation {
	parent := map[string]string{}
	var find func(k string) string
	find = func(k string) string {
		p, ok := parent[k]
		if !ok {
			parent[k] = k
			return k
		}
		if p == k {
			return k
		}
		r := find(p)
		parent[k] = r
		return r
	}
	union := func(a, b string) {
		ra, rb := find(a), find(b)
		if ra != rb {
			parent[max(ra, rb)] = min(ra, rb) // the smallest key names its component
		}
	}
	for _, op := range history {
		ks := opKeys(op.Input.(Input))
		find(ks[0])
		for _, k := range ks[1:] {
			union(ks[0], k)
		}
	}
	byRoot := map[string][]porcupine.Operation{}
	for _, op := range history {
		r := find(opKeys(op.Input.(Input))[0])
		byRoot[r] = append(byRoot[r], op)
	}
	roots := make([]string, 0, len(byRoot))
	for r := range byRoot {
		roots = append(roots, r)
	}
	sort.Strings(roots)
	out := make([][]porcupine.Operation, 0, len(roots))
	for _, r := range roots {
		out = append(out, byRoot[r])
	}
	return out
}

func describeCond(c Cond, rev uint64) string {
	switch c {
	case CondRev:
		return fmt.Sprintf(" if rev=%d", rev)
	case CondExists:
		return " if exists"
	case CondAbsent:
		return " if absent"
	}
	return ""
}

// Describe renders an operation for logs and the visualization.
func Describe(input, output any) string {
	in := input.(Input)
	out := output.(Output)
	var b strings.Builder
	switch in.Kind {
	case Get:
		fmt.Fprintf(&b, "get(%s) -> ", in.Key)
		switch {
		case out.Unknown:
			b.WriteString("unknown")
		case out.Found:
			fmt.Fprintf(&b, "%q@%d", out.Value, out.Rev)
		default:
			b.WriteString("absent")
		}
		return b.String()
	case Put:
		fmt.Fprintf(&b, "put(%s=%q%s) -> ", in.Key, in.Value, describeCond(in.Cond, in.Rev))
	case Delete:
		fmt.Fprintf(&b, "delete(%s%s) -> ", in.Key, describeCond(in.Cond, in.Rev))
	case Txn:
		return describeTxn(in.Txn, out)
	}
	switch {
	case out.Unknown:
		b.WriteString("unknown")
	case out.OK:
		fmt.Fprintf(&b, "ok@%d", out.Rev)
		if out.Deleted {
			b.WriteString(" deleted")
		}
	case out.Rev == 0:
		b.WriteString("cond failed")
	default:
		fmt.Fprintf(&b, "cond failed@%d", out.Rev)
	}
	return b.String()
}

func describeOps(b *strings.Builder, ops []TxnOp) {
	for i, o := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		switch o.Kind {
		case Put:
			fmt.Fprintf(b, "put %s=%q", o.Key, o.Value)
		case Delete:
			fmt.Fprintf(b, "delete %s", o.Key)
		default:
			fmt.Fprintf(b, "get %s", o.Key)
		}
	}
}

func describeTxn(t *TxnInput, out Output) string {
	var b strings.Builder
	b.WriteString("txn(")
	for i, c := range t.If {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s%s", c.Key, describeCond(c.Cond, c.Rev))
	}
	b.WriteString(" then ")
	describeOps(&b, t.Then)
	b.WriteString(" else ")
	describeOps(&b, t.Else)
	b.WriteString(") -> ")
	if out.Unknown {
		b.WriteString("unknown")
		return b.String()
	}
	branch := "else"
	if out.Succeeded {
		branch = "then"
	}
	fmt.Fprintf(&b, "%s@%d [", branch, out.Rev)
	for i, r := range out.Results {
		if i > 0 {
			b.WriteString(" ")
		}
		switch {
		case r.Found:
			fmt.Fprintf(&b, "%q@%d", r.Value, r.Rev)
		case r.Deleted:
			b.WriteString("deleted")
		default:
			b.WriteString("-")
		}
	}
	b.WriteString("]")
	return b.String()
}

func describeState(st any) string {
	var parts []string
	for _, e := range st.(state) {
		k := e.keyState
		desc := fmt.Sprintf("absent (max rev %d)", k.MaxRev)
		if k.Exists {
			rev := strconv.FormatUint(k.Rev, 10)
			if k.RevUnknown {
				rev = "?"
			}
			desc = fmt.Sprintf("%q@%s (max rev %d)", k.Value, rev, k.MaxRev)
		}
		parts = append(parts, e.Key+": "+desc)
	}
	if len(parts) == 0 {
		return "empty"
	}
	return strings.Join(parts, "; ")
}

// Model is the porcupine model of the KV store, partitioned by key.
var Model = (&porcupine.NondeterministicModel{
	Partition:         partition,
	Init:              func() []any { return []any{state(nil)} },
	Step:              step,
	Equal:             func(a, b any) bool { return slices.Equal(a.(state), b.(state)) },
	DescribeOperation: Describe,
	DescribeState:     describeState,
}).ToModel()
