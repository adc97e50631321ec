package linearize

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestBankCheck(t *testing.T) {
	b := DefaultBank
	audit := b.Audit()
	if !b.IsAudit(audit) {
		t.Fatal("an audit is not an audit")
	}
	res := func(values ...string) Output {
		out := Output{Rev: 9, Succeeded: true}
		for _, v := range values {
			if v == "" {
				out.Results = append(out.Results, TxnOpOutput{})
			} else {
				out.Results = append(out.Results, TxnOpOutput{Found: true, Value: v, Rev: 3})
			}
		}
		return out
	}
	for _, tc := range []struct {
		out  Output
		want string // "" for no error
	}{
		{res("100", "100", "100"), ""},
		{res("90", "120", "90"), ""},
		{res("", "", ""), ""}, // before the opening
		{Output{Unknown: true}, ""},
		{res("100", "100", "99"), "holding 299"},
		{res("100", "100", ""), "found 2 of 3"},
		{res("100", "x", "100"), "not a number"},
	} {
		err := b.Check(audit, tc.out)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.out.Results, err, tc.want)
		}
	}
	other := Input{Kind: Txn, Txn: &TxnInput{Then: []TxnOp{get("acct0")}}}
	if b.IsAudit(other) || b.Check(other, res("1")) != nil {
		t.Error("a read of one account is not an audit")
	}
}

// TestBankClient plays a client against the reference semantics of the
// model: it opens the accounts once, then every transfer it makes on fresh
// revs succeeds and keeps the total.
func TestBankClient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := NewBankClient(DefaultBank)
	var s state
	rev := uint64(0)
	run := func(in Input) Output {
		t.Helper()
		tx := in.Txn
		holds := true
		for _, cmp := range tx.If {
			h, _ := condHolds(s.get(cmp.Key), cmp.Cond, cmp.Rev)
			holds = holds && h
		}
		ops := tx.Else
		if holds {
			ops = tx.Then
		}
		out := Output{Succeeded: holds, Rev: rev}
		if !tx.ReadOnly() {
			rev++
			out.Rev = rev
		}
		for _, op := range ops {
			ks := s.get(op.Key)
			switch op.Kind {
			case Put:
				s = s.with(op.Key, applyWrite(ks, Put, op.Value, rev, true))
				out.Results = append(out.Results, TxnOpOutput{Rev: rev})
			case Get:
				out.Results = append(out.Results, TxnOpOutput{Found: ks.Exists, Value: ks.Value, Rev: ks.Rev})
			}
		}
		c.Learn(in, out)
		return out
	}
	if out := run(c.Next(rng.IntN)); !out.Succeeded {
		t.Fatal("the first bank operation did not open the accounts")
	}
	transfers := 0
	for range 200 {
		in := c.Next(rng.IntN)
		if in.Txn.If != nil && in.Txn.If[0].Cond == CondAbsent {
			t.Fatal("the client opened the accounts twice")
		}
		out := run(in)
		if err := c.Check(in, out); err != nil {
			t.Fatal(err)
		}
		if !in.Txn.ReadOnly() {
			if !out.Succeeded {
				t.Fatalf("a transfer on the revs just learned failed: %s", Describe(in, out))
			}
			transfers++
		}
	}
	if transfers < 50 {
		t.Fatalf("only %d transfers in 200 operations", transfers)
	}
}

func TestRandomTxnIsWellFormed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	keys := []string{"a", "b"}
	last := map[string]uint64{"a": 5}
	kinds := map[Kind]int{}
	for range 500 {
		in := RandomTxn(rng.IntN, keys, last, "v")
		for _, c := range in.Txn.If {
			if c.Cond == CondNone {
				t.Fatal("a condition without a condition")
			}
		}
		for _, op := range append(in.Txn.Then, in.Txn.Else...) {
			kinds[op.Kind]++
			if op.Key != "a" && op.Key != "b" {
				t.Fatalf("op on %q", op.Key)
			}
		}
		LearnRevs(last, in, Output{Succeeded: true, Rev: 6, Results: make([]TxnOpOutput, len(in.Txn.Then))})
	}
	if kinds[Get] == 0 || kinds[Put] == 0 || kinds[Delete] == 0 {
		t.Fatalf("kinds %v: want every kind", kinds)
	}
}
