package sim

import (
	"fmt"
	"math"
	"strconv"

	"github.com/rsml-go/rsml/internal/linearize"
	"github.com/rsml-go/rsml/kv"
)

// The bank: accounts whose balances only transactions change. One
// transaction opens them all with bankOpening each; transfers move money
// between two of them, conditional on the revs the client last saw; audits
// read them all in one read-only transaction and must always find the same
// total. Porcupine judges the same operations; the audit is the invariant
// said plainly.
const (
	bankAccounts = 3
	bankOpening  = 100
)

type balance struct {
	value int
	rev   uint64
}

func accountName(i int) string { return fmt.Sprintf("acct%d", i) }

func allAccounts(kind linearize.Kind, value string) []linearize.TxnOp {
	ops := make([]linearize.TxnOp, bankAccounts)
	for i := range ops {
		ops[i] = linearize.TxnOp{Kind: kind, Key: accountName(i), Value: value}
	}
	return ops
}

// bankInput is the client's next bank operation: open the accounts if it has
// not seen them, else a transfer or an audit.
func (s *sim) bankInput(c *client) linearize.Input {
	t := &linearize.TxnInput{}
	switch {
	case len(c.bank) < bankAccounts:
		t.If = []linearize.TxnCompare{{Key: accountName(0), Cond: linearize.CondAbsent}}
		t.Then = allAccounts(linearize.Put, strconv.Itoa(bankOpening))
		t.Else = allAccounts(linearize.Get, "")
	case c.rng.IntN(2) == 0:
		t.Then = allAccounts(linearize.Get, "")
	default:
		from := c.rng.IntN(bankAccounts)
		to := (from + 1 + c.rng.IntN(bankAccounts-1)) % bankAccounts
		a, b := accountName(from), accountName(to)
		amount := c.rng.IntN(20)
		t.If = []linearize.TxnCompare{{Key: a, Cond: linearize.CondRev, Rev: c.bank[a].rev}, {Key: b, Cond: linearize.CondRev, Rev: c.bank[b].rev}}
		t.Then = []linearize.TxnOp{
			{Kind: linearize.Put, Key: a, Value: strconv.Itoa(c.bank[a].value - amount)},
			{Kind: linearize.Put, Key: b, Value: strconv.Itoa(c.bank[b].value + amount)},
		}
		t.Else = []linearize.TxnOp{{Kind: linearize.Get, Key: a}, {Kind: linearize.Get, Key: b}}
	}
	return linearize.Input{Kind: linearize.Txn, Txn: t}
}

// txnInput is a transaction on the shared keys: conditions, then ops of
// every kind in both branches, so that gets see the writes before them.
func (s *sim) txnInput(c *client) linearize.Input {
	t := &linearize.TxnInput{}
	for range c.rng.IntN(3) {
		k := s.keyName(c.rng.IntN(s.cfg.Keys))
		cmp := linearize.TxnCompare{Key: k}
		switch c.rng.IntN(3) {
		case 0:
			cmp.Cond, cmp.Rev = linearize.CondRev, c.lastRev[k]
		case 1:
			cmp.Cond = linearize.CondExists
		default:
			cmp.Cond = linearize.CondAbsent
		}
		t.If = append(t.If, cmp)
	}
	ops := func(n int) []linearize.TxnOp {
		var out []linearize.TxnOp
		for range c.rng.IntN(n) {
			op := linearize.TxnOp{Key: s.keyName(c.rng.IntN(s.cfg.Keys))}
			switch c.rng.IntN(3) {
			case 0:
				op.Kind = linearize.Get
			case 1:
				op.Kind, op.Value = linearize.Put, fmt.Sprintf("c%d-%d-t", c.idx, c.gen+1)
			default:
				op.Kind = linearize.Delete
			}
			out = append(out, op)
		}
		return out
	}
	t.Then, t.Else = ops(4), ops(3)
	return linearize.Input{Kind: linearize.Txn, Txn: t}
}

func encodeTxn(t *linearize.TxnInput) []byte {
	var x kv.Txn
	for _, cmp := range t.If {
		x.If = append(x.If, kv.Compare{Key: cmp.Key, Cond: kvCond(cmp.Cond, cmp.Rev)})
	}
	conv := func(ops []linearize.TxnOp) []kv.Op {
		var out []kv.Op
		for _, o := range ops {
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
	x.Then, x.Else = conv(t.Then), conv(t.Else)
	b, err := x.Encode()
	if err != nil {
		panic(fmt.Sprintf("sim: a generated transaction does not encode: %v", err)) // a bug in the workload
	}
	return b
}

// txnAnswered records a transaction's answer: from the executor's Result
// (slot > 0) for one that writes, from a read for one that does not.
func (s *sim) txnAnswered(c *client, data []byte, slot uint64) {
	o := c.op
	r, err := kv.DecodeTxn(data)
	if err == nil {
		err = r.Error()
	}
	if err != nil {
		s.violate(CoreError, "%s: %v", linearize.Describe(o.in, linearize.Output{}), err)
		s.endOp(c, linearize.Output{}, false)
		return
	}
	out := linearize.Output{Rev: r.Rev, Succeeded: r.Succeeded, Results: make([]linearize.TxnOpOutput, len(r.Results))}
	ops := o.in.Txn.Else
	if r.Succeeded {
		ops = o.in.Txn.Then
	}
	if len(ops) != len(r.Results) {
		s.violate(CoreError, "%s: %d results for %d ops", linearize.Describe(o.in, linearize.Output{}), len(r.Results), len(ops))
		s.endOp(c, linearize.Output{}, false)
		return
	}
	for i, res := range r.Results {
		out.Results[i] = linearize.TxnOpOutput{Found: res.Found, Value: string(res.Value), Rev: res.Rev, Deleted: res.Deleted}
		k := ops[i].Key
		switch {
		case ops[i].Kind == linearize.Put:
			c.lastRev[k] = r.Rev
		case res.Found:
			c.lastRev[k] = res.Rev
		}
	}
	s.learnBank(c, ops, out)
	s.res.Ops.Txns++
	if slot == 0 {
		s.res.Ops.ReadsOK++
		s.audit(o.in.Txn, out)
	} else {
		if r.Succeeded {
			s.res.Ops.WritesOK++
		} else {
			s.res.Ops.CondFailed++
		}
		o.slot = slot
		s.acked = append(s.acked, ackedWrite{client: c.session, seq: o.cmd.Seq, slot: slot, rev: r.Rev,
			desc: linearize.Describe(o.in, out)})
	}
	s.record(c, out, s.steps)
	s.endOp(c, out, true)
}

// learnBank keeps what a bank transaction showed of the accounts: the
// balances it wrote (at its rev) or read.
func (s *sim) learnBank(c *client, ops []linearize.TxnOp, out linearize.Output) {
	for i, op := range ops {
		if len(op.Key) < 4 || op.Key[:4] != "acct" {
			continue
		}
		value, res := op.Value, out.Results[i]
		rev := out.Rev
		if op.Kind == linearize.Get {
			if !res.Found {
				continue
			}
			value, rev = res.Value, res.Rev
		}
		n, err := strconv.Atoi(value)
		if op.Kind == linearize.Delete || err != nil {
			continue
		}
		if c.bank == nil {
			c.bank = map[string]balance{}
		}
		c.bank[op.Key] = balance{value: n, rev: rev}
	}
}

// audit is the bank invariant: a read of every account sees all of them or
// none, and then the total they opened with.
func (s *sim) audit(t *linearize.TxnInput, out linearize.Output) {
	if len(t.If) != 0 || len(t.Then) != bankAccounts || t.Then[0].Key != accountName(0) {
		return
	}
	s.res.Ops.Audits++
	found, total := 0, 0
	for _, r := range out.Results {
		if r.Found {
			found++
			n, err := strconv.Atoi(r.Value)
			if err != nil {
				n = math.MinInt32
			}
			total += n
		}
	}
	if found != 0 && (found != bankAccounts || total != bankAccounts*bankOpening) {
		s.violate(Invariant, "an audit at rev %d found %d of %d accounts holding %d, want %d in all: %s",
			out.Rev, found, bankAccounts, total, bankAccounts*bankOpening, linearize.Describe(linearize.Input{Kind: linearize.Txn, Txn: t}, out))
	}
}

// blindTxnSM is the planted BlindTxn bug: it drops every writing
// transaction's conditions before applying it.
type blindTxnSM struct{ *kv.Store }

func (b *blindTxnSM) Apply(rev uint64, cmd []byte) []byte {
	if t, err := kv.ParseTxn(cmd); err == nil && !t.ReadOnly() && len(t.If) > 0 {
		t.If = nil
		if blind, err := t.Encode(); err == nil {
			cmd = blind
		}
	}
	return b.Store.Apply(rev, cmd)
}
