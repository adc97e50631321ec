// Package linearize holds the porcupine model of the built-in KV store, so
// that every history checker (the seeded simulator in sim/, the real-actor
// chaos test in node/ and the process chaos test in cmd/node) judges
// histories by one specification.
//
// The history is partitioned by key (operations on different keys commute in
// the spec), so a state is one key's: whether it exists, its value, its rev.
//
// Where the model is lenient (it accepts more than the real store could do,
// never less, so it cannot reject a linearizable history):
//   - revs are global in the store, but partitioning by key only checks that
//     the revs of one key's writes grow in linearization order, not the
//     interleaving with other keys' revs;
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
	// Get (the key's rev) and writes (the rev the write consumed)
	Rev uint64
	// writes
	OK      bool
	Deleted bool
}

// state is one key's state in one possible linearization.
type state struct {
	Exists     bool
	Value      string
	Rev        uint64 // valid if Exists && !RevUnknown
	RevUnknown bool   // set by an unknown-outcome put that applied
	MaxRev     uint64 // highest rev a write of this key is known to have consumed
}

// condHolds says whether the condition may hold and whether it may fail in
// s; both are true when it cannot be told (an IfRev on an unknown rev).
func condHolds(s state, in Input) (mayHold, mayFail bool) {
	switch in.Cond {
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
		return s.Rev == in.Rev, s.Rev != in.Rev
	}
	return false, false
}

func applyWrite(s state, in Input, rev uint64, known bool) state {
	switch in.Kind {
	case Put:
		s.Exists, s.Value = true, in.Value
		s.Rev, s.RevUnknown = rev, !known
	case Delete:
		s.Exists, s.Value, s.Rev, s.RevUnknown = false, "", 0, false
	}
	return s
}

func step(st, input, output any) []any {
	s := st.(state)
	in := input.(Input)
	out := output.(Output)
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

	mayHold, mayFail := condHolds(s, in)
	if out.Unknown {
		var next []any
		if mayHold {
			next = append(next, applyWrite(s, in, 0, false))
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
		n := applyWrite(s, in, out.Rev, true)
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

func partition(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := op.Input.(Input).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

func describeCond(in Input) string {
	switch in.Cond {
	case CondRev:
		return fmt.Sprintf(" if rev=%d", in.Rev)
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
		fmt.Fprintf(&b, "put(%s=%q%s) -> ", in.Key, in.Value, describeCond(in))
	case Delete:
		fmt.Fprintf(&b, "delete(%s%s) -> ", in.Key, describeCond(in))
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

func describeState(st any) string {
	s := st.(state)
	if !s.Exists {
		return fmt.Sprintf("absent (max rev %d)", s.MaxRev)
	}
	rev := strconv.FormatUint(s.Rev, 10)
	if s.RevUnknown {
		rev = "?"
	}
	return fmt.Sprintf("%q@%s (max rev %d)", s.Value, rev, s.MaxRev)
}

// Model is the porcupine model of the KV store, partitioned by key.
var Model = (&porcupine.NondeterministicModel{
	Partition:         partition,
	Init:              func() []any { return []any{state{}} },
	Step:              step,
	Equal:             func(a, b any) bool { return a.(state) == b.(state) },
	DescribeOperation: Describe,
	DescribeState:     describeState,
}).ToModel()
