// Package kvtxn converts the transactions of the linearizability model to
// the store's and back, for the checkers that drive the store through its Go
// API (the simulator, the in-process chaos test). It sits apart from
// linearize so that the model itself never depends on the store's code.
package kvtxn

import (
	"github.com/rsml-go/rsml/internal/linearize"
	"github.com/rsml-go/rsml/kv"
)

// Cond is the store's condition for the model's.
func Cond(c linearize.Cond, rev uint64) kv.Cond {
	switch c {
	case linearize.CondRev:
		return kv.IfRev(rev)
	case linearize.CondExists:
		return kv.IfExists()
	case linearize.CondAbsent:
		return kv.IfAbsent()
	}
	return kv.Cond{}
}

// Txn is the store's transaction for the model's.
func Txn(t *linearize.TxnInput) kv.Txn {
	var x kv.Txn
	for _, c := range t.If {
		x.If = append(x.If, kv.Compare{Key: c.Key, Cond: Cond(c.Cond, c.Rev)})
	}
	x.Then, x.Else = ops(t.Then), ops(t.Else)
	return x
}

func ops(in []linearize.TxnOp) []kv.Op {
	var out []kv.Op
	for _, o := range in {
		switch o.Kind {
		case linearize.Put:
			out = append(out, kv.PutOp(o.Key, []byte(o.Value)))
		case linearize.Delete:
			out = append(out, kv.DeleteOp(o.Key))
		default:
			out = append(out, kv.GetOp(o.Key))
		}
	}
	return out
}

// Output is the model's record of the store's answer.
func Output(r kv.TxnResult) linearize.Output {
	out := linearize.Output{Rev: r.Rev, Succeeded: r.Succeeded, Results: make([]linearize.TxnOpOutput, len(r.Results))}
	for i, res := range r.Results {
		out.Results[i] = linearize.TxnOpOutput{Found: res.Found, Value: string(res.Value), Rev: res.Rev, Deleted: res.Deleted}
	}
	return out
}
