package linearize

import (
	"fmt"
	"strconv"
	"strings"
)

// The transaction workloads the simulator and the chaos tests share, so that
// each checks the same things the same way. Randomness comes in as intn
// (a function returning [0, n)), so any generator drives them.

// Bank is a set of accounts whose balances only transactions change: one
// transaction opens them all with Opening each, transfers move money between
// two of them conditional on the revs the client last saw, and audits read
// them all in one read-only transaction. Every audit must see all accounts
// or none, and then the opening total: the bank invariant, said plainly next
// to porcupine's verdict on the same operations.
type Bank struct {
	Accounts int
	Opening  int
}

// DefaultBank has three accounts of 100.
var DefaultBank = Bank{Accounts: 3, Opening: 100}

// Account names account i. The "acct" prefix keeps them apart from other keys.
func (b Bank) Account(i int) string { return fmt.Sprintf("acct%d", i) }

// IsAccount reports whether key is one of the bank's accounts.
func (b Bank) IsAccount(key string) bool { return strings.HasPrefix(key, "acct") }

func (b Bank) all(kind Kind, value string) []TxnOp {
	ops := make([]TxnOp, b.Accounts)
	for i := range ops {
		ops[i] = TxnOp{Kind: kind, Key: b.Account(i), Value: value}
	}
	return ops
}

// Audit is the read-only transaction that reads every account.
func (b Bank) Audit() Input {
	return Input{Kind: Txn, Txn: &TxnInput{Then: b.all(Get, "")}}
}

// IsAudit reports whether in is an Audit.
func (b Bank) IsAudit(in Input) bool {
	t := in.Txn
	return in.Kind == Txn && len(t.If) == 0 && len(t.Else) == 0 && len(t.Then) == b.Accounts &&
		t.ReadOnly() && b.IsAccount(t.Then[0].Key)
}

// Check returns an error when out, the answer to an audit, breaks the
// invariant; nil for any other operation or outcome.
func (b Bank) Check(in Input, out Output) error {
	if !b.IsAudit(in) || out.Unknown {
		return nil
	}
	found, total := 0, 0
	for _, r := range out.Results {
		if !r.Found {
			continue
		}
		found++
		n, err := strconv.Atoi(r.Value)
		if err != nil {
			return fmt.Errorf("bank: an audit at rev %d read a balance %q that is not a number", out.Rev, r.Value)
		}
		total += n
	}
	if found != 0 && (found != b.Accounts || total != b.Accounts*b.Opening) {
		return fmt.Errorf("bank: an audit at rev %d found %d of %d accounts holding %d in all, want %d: %s",
			out.Rev, found, b.Accounts, total, b.Accounts*b.Opening, Describe(in, out))
	}
	return nil
}

type balance struct {
	value int
	rev   uint64
}

// BankClient is one client of the bank: it remembers the balances and revs
// its answers showed, to make its transfers conditional on them.
type BankClient struct {
	Bank
	known map[string]balance
}

// NewBankClient returns a client that knows nothing yet.
func NewBankClient(b Bank) *BankClient { return &BankClient{Bank: b, known: map[string]balance{}} }

// Next is the client's next operation: open the accounts (if absent; else it
// reads them) until it has seen them all, then a transfer or an audit.
func (c *BankClient) Next(intn func(int) int) Input {
	t := &TxnInput{}
	switch {
	case len(c.known) < c.Accounts:
		t.If = []TxnCompare{{Key: c.Account(0), Cond: CondAbsent}}
		t.Then = c.all(Put, strconv.Itoa(c.Opening))
		t.Else = c.all(Get, "")
	case intn(2) == 0:
		return c.Audit()
	default:
		from := intn(c.Accounts)
		to := (from + 1 + intn(c.Accounts-1)) % c.Accounts
		a, b := c.Account(from), c.Account(to)
		amount := intn(20)
		t.If = []TxnCompare{{Key: a, Cond: CondRev, Rev: c.known[a].rev}, {Key: b, Cond: CondRev, Rev: c.known[b].rev}}
		t.Then = []TxnOp{
			{Kind: Put, Key: a, Value: strconv.Itoa(c.known[a].value - amount)},
			{Kind: Put, Key: b, Value: strconv.Itoa(c.known[b].value + amount)},
		}
		t.Else = []TxnOp{{Kind: Get, Key: a}, {Kind: Get, Key: b}}
	}
	return Input{Kind: Txn, Txn: t}
}

// Learn keeps what an answered transaction showed of the accounts: the
// balances it wrote (at its rev) or read.
func (c *BankClient) Learn(in Input, out Output) {
	if in.Kind != Txn || out.Unknown {
		return
	}
	ops := in.Txn.Else
	if out.Succeeded {
		ops = in.Txn.Then
	}
	for i, op := range ops {
		if !c.IsAccount(op.Key) || i >= len(out.Results) {
			continue
		}
		value, rev := op.Value, out.Rev
		switch op.Kind {
		case Get:
			if !out.Results[i].Found {
				continue
			}
			value, rev = out.Results[i].Value, out.Results[i].Rev
		case Delete:
			delete(c.known, op.Key)
			continue
		}
		if n, err := strconv.Atoi(value); err == nil {
			c.known[op.Key] = balance{value: n, rev: rev}
		}
	}
}

// RandomTxn is a transaction over keys: up to two conditions (IfRev with the
// rev in lastRev, IfExists, IfAbsent), then up to three ops of every kind in
// Then and up to two in Else, so that gets see the writes before them. Puts
// write value plus the op's position, so each is told apart.
func RandomTxn(intn func(int) int, keys []string, lastRev map[string]uint64, value string) Input {
	t := &TxnInput{}
	for range intn(3) {
		k := keys[intn(len(keys))]
		cmp := TxnCompare{Key: k}
		switch intn(3) {
		case 0:
			cmp.Cond, cmp.Rev = CondRev, lastRev[k]
		case 1:
			cmp.Cond = CondExists
		default:
			cmp.Cond = CondAbsent
		}
		t.If = append(t.If, cmp)
	}
	ops := func(n int, branch string) []TxnOp {
		var out []TxnOp
		for i := range intn(n) {
			op := TxnOp{Key: keys[intn(len(keys))]}
			switch intn(3) {
			case 0:
				op.Kind = Get
			case 1:
				op.Kind, op.Value = Put, fmt.Sprintf("%s-%s%d", value, branch, i)
			default:
				op.Kind = Delete
			}
			out = append(out, op)
		}
		return out
	}
	t.Then, t.Else = ops(4, "t"), ops(3, "e")
	return Input{Kind: Txn, Txn: t}
}

// LearnRevs records in lastRev the revs an answered transaction showed:
// those it wrote and those its gets found.
func LearnRevs(lastRev map[string]uint64, in Input, out Output) {
	if in.Kind != Txn || out.Unknown {
		return
	}
	ops := in.Txn.Else
	if out.Succeeded {
		ops = in.Txn.Then
	}
	for i, op := range ops {
		switch {
		case i >= len(out.Results):
		case op.Kind == Put:
			lastRev[op.Key] = out.Rev
		case op.Kind == Get && out.Results[i].Found:
			lastRev[op.Key] = out.Results[i].Rev
		}
	}
}
