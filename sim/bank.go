package sim

import (
	"fmt"

	"github.com/rsml-go/rsml/internal/linearize"
	"github.com/rsml-go/rsml/internal/linearize/kvtxn"
	"github.com/rsml-go/rsml/kv"
)

// bank is the bank of the workload (linearize.Bank): transfers between
// accounts conditional on the revs last seen, and audits of the total.
var bank = linearize.DefaultBank

// bankInput is the client's next bank operation.
func (s *sim) bankInput(c *client) linearize.Input {
	if c.bank == nil {
		c.bank = linearize.NewBankClient(bank)
	}
	return c.bank.Next(c.rng.IntN)
}

// txnInput is a transaction on the shared keys.
func (s *sim) txnInput(c *client) linearize.Input {
	keys := make([]string, s.cfg.Keys)
	for i := range keys {
		keys[i] = s.keyName(i)
	}
	return linearize.RandomTxn(c.rng.IntN, keys, c.lastRev, fmt.Sprintf("c%d-%d", c.idx, c.gen+1))
}

func encodeTxn(t *linearize.TxnInput) []byte {
	b, err := kvtxn.Txn(t).Encode()
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
	out := kvtxn.Output(r)
	ops := o.in.Txn.Else
	if r.Succeeded {
		ops = o.in.Txn.Then
	}
	if len(ops) != len(r.Results) {
		s.violate(CoreError, "%s: %d results for %d ops", linearize.Describe(o.in, linearize.Output{}), len(r.Results), len(ops))
		s.endOp(c, linearize.Output{}, false)
		return
	}
	linearize.LearnRevs(c.lastRev, o.in, out)
	if c.bank != nil {
		c.bank.Learn(o.in, out)
	}
	s.res.Ops.Txns++
	if bank.IsAudit(o.in) {
		s.res.Ops.Audits++
		if err := bank.Check(o.in, out); err != nil {
			s.violate(Invariant, "%v", err)
		}
	}
	if slot == 0 {
		s.res.Ops.ReadsOK++
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
