package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/rsml-go/rsml/internal/linearize"
	"github.com/rsml-go/rsml/internal/linearize/kvtxn"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
)

// Client timing, in ticks, modelled on node/api.go (10 ms ticks): a request
// is sent again when its replica sees the leader change or when retryTicks
// pass without an answer; a rejected one after a short, growing backoff.
const (
	retryTicks   = 30
	minDeadline  = 50
	spanDeadline = 100
	maxThink     = 3
)

type phase uint8

const (
	proposing phase = iota // a write waits for its result
	indexing               // a read waits for its read index
	reading                // a read waits for the executor's answer
)

// client is one workload client. Like a node.Node's Go API caller it sits on
// one replica per operation, tags writes with its own session (Client, Seq,
// Acked) and turns a deadline into an unknown outcome when the write may have
// been proposed.
type client struct {
	idx     int
	session uint64
	seq     uint64 // last write seq used
	acked   uint64 // every seq up to here is answered or abandoned
	// established: the executor has answered a write of this session, so
	// the session exists in the agreed log and Acked may be sent.
	established bool
	rng         *rand.Rand
	lastRev     map[string]uint64
	// bank is the client's view of the bank's accounts (bank.go), once it
	// has made a bank transaction.
	bank    *linearize.BankClient
	op      *op
	nextOp  int64 // when to start the next operation (units)
	stopped bool  // starts no more operations
	// script, if set, is the client's whole workload (liveness and final
	// reads); onDone runs after each scripted operation ends.
	script []linearize.Input
	onDone func(c *client, o *op, out linearize.Output, ok bool)
	gen    uint64 // bumps with each op, naming its waiter
}

type op struct {
	in          linearize.Input
	replica     *replica
	inc         uint64
	ref         string
	call        int64
	deadline    int64
	phase       phase
	outstanding int
	attempt     int          // rejects so far, for the backoff
	sent        int          // attempts sent; attempt n replies to ref#n
	rejected    map[int]bool // attempts a Reject answered
	retryAt     int64
	leaderGen   uint64
	cmd         msg.Command
	slot        uint64 // a write's slot, from its result
}

// ackedWrite is an acknowledged write, for the lost-write checker.
type ackedWrite struct {
	client, seq, slot, rev uint64
	desc                   string
}

func (s *sim) newClient(stream uint64) *client {
	c := &client{idx: len(s.clients), session: uint64(len(s.clients)+1) << 32,
		rng: rand.New(rand.NewPCG(s.cfg.Seed, 100+stream)), lastRev: map[string]uint64{}}
	s.clients = append(s.clients, c)
	return c
}

func (s *sim) startClients() {
	for i := range s.cfg.Clients {
		c := s.newClient(uint64(i))
		c.nextOp = s.now + c.rng.Int64N(tickUnits*maxThink)
		s.at(c.nextOp, func() { s.wake(c) })
	}
}

// wake re-evaluates a client: start its next operation, resend, or give up.
// Wakes are idempotent, so a stale one does no harm.
func (s *sim) wake(c *client) {
	o := c.op
	if o == nil {
		if !c.stopped && s.now >= c.nextOp {
			s.startOp(c)
		}
		return
	}
	if s.now >= o.deadline {
		s.expire(c, "deadline")
		return
	}
	if o.phase != reading && (s.now >= o.retryAt || o.leaderGen != o.replica.leaderGen) {
		s.sendOp(c)
	}
}

func (s *sim) keyName(i int) string { return fmt.Sprintf("k%d", i) }

func (s *sim) nextInput(c *client) linearize.Input {
	if c.script != nil {
		in := c.script[0]
		c.script = c.script[1:]
		if len(c.script) == 0 {
			c.stopped = true
		}
		return in
	}
	switch p := c.rng.IntN(100); {
	case p < s.cfg.BankPercent:
		return s.bankInput(c)
	case p < s.cfg.BankPercent+s.cfg.TxnPercent:
		return s.txnInput(c)
	}
	in := linearize.Input{Key: s.keyName(c.rng.IntN(s.cfg.Keys))}
	switch p := c.rng.IntN(100); {
	case p < 40:
		in.Kind = linearize.Get
		return in
	case p < 80:
		in.Kind = linearize.Put
		in.Value = fmt.Sprintf("c%d-%d", c.idx, c.gen+1)
	default:
		in.Kind = linearize.Delete
	}
	switch p := c.rng.IntN(100); {
	case p < 40:
	case p < 70:
		in.Cond, in.Rev = linearize.CondRev, c.lastRev[in.Key]
	case p < 85:
		in.Cond = linearize.CondExists
	default:
		in.Cond = linearize.CondAbsent
	}
	return in
}

func (s *sim) upReplicas() []*replica {
	var up []*replica
	for _, r := range s.reps {
		if r.up && s.serving(r) {
			up = append(up, r)
		}
	}
	return up
}

func (s *sim) startOp(c *client) {
	up := s.upReplicas()
	if len(up) == 0 {
		c.nextOp = s.now + tickUnits
		s.at(c.nextOp, func() { s.wake(c) })
		return
	}
	r := up[c.rng.IntN(len(up))]
	in := s.nextInput(c)
	c.gen++
	o := &op{in: in, replica: r, inc: r.inc, call: s.steps,
		ref:      fmt.Sprintf("c%d.%d@%d.%d", c.idx, c.gen, r.id, r.inc),
		deadline: s.now + tickUnits*(minDeadline+c.rng.Int64N(spanDeadline))}
	if c.script != nil {
		o.deadline = s.now + tickUnits*int64(s.cfg.LivenessTicks)
	}
	c.op = o
	switch {
	case isRead(in):
		o.phase = indexing
		if s.cfg.Bugs.StaleReads {
			s.readAt(c, 0)
		} else {
			s.sendOp(c)
		}
	default:
		c.seq++
		o.phase = proposing
		acked := c.acked
		if !c.established {
			// As node.Propose: until the executor has the session, an
			// Acked above 0 would read as "this session was evicted".
			acked = 0
		}
		o.cmd = msg.Command{Client: c.session, Seq: c.seq, Acked: acked, Origin: r.id, Reply: o.ref,
			Data: encodeWrite(in)}
		s.sendOp(c)
	}
	s.at(o.deadline, func() { s.wake(c) })
}

// isRead reports whether in goes through a read index rather than the log:
// a get, or a transaction without writes.
func isRead(in linearize.Input) bool {
	return in.Kind == linearize.Get || in.Kind == linearize.Txn && in.Txn.ReadOnly()
}

func encodeWrite(in linearize.Input) []byte {
	if in.Kind == linearize.Txn {
		return encodeTxn(in.Txn)
	}
	cond := kvtxn.Cond(in.Cond, in.Rev)
	if in.Kind == linearize.Delete {
		return kv.DeleteIf(in.Key, cond)
	}
	return kv.PutIf(in.Key, []byte(in.Value), cond)
}

// sendOp sends (or sends again) the operation's request to its replica's
// proposer, as node.Propose (through the intake) and node.Read (through the
// mailbox) do.
func (s *sim) sendOp(c *client) {
	o := c.op
	r := o.replica
	o.leaderGen = r.leaderGen
	o.retryAt = s.now + tickUnits*retryTicks
	s.at(o.retryAt, func() { s.wake(c) })
	if o.phase == reading {
		return
	}
	// Each attempt has its own reply name, so that two answers to one
	// attempt (a duplicated message) are not taken for answers to two.
	o.sent++
	ref := fmt.Sprintf("%s#%d", o.ref, o.sent)
	s.waiters[ref] = c
	if o.phase == proposing {
		// Through the replica's intake, as node.Propose sends its writes:
		// the proposer takes them at its next message, or is rung.
		o.outstanding++
		cmd := o.cmd
		cmd.Reply = ref
		r.intake.Push(&msg.ClientRequest{Cmd: cmd, Attempt: uint32(o.sent)})
		return
	}
	s.sendLocal(r, msg.Out{To: msg.Target{Node: r.id, Role: msg.RoleProposer}, Msg: &msg.ReadRequest{Origin: r.id, Reply: ref}})
}

// readAt asks the local executor to answer the read once it has applied
// index (0: at once, the stale read).
func (s *sim) readAt(c *client, index uint64) {
	o := c.op
	o.phase = reading
	ref := o.ref + "#read"
	s.waiters[ref] = c
	query := kv.Get(o.in.Key)
	if o.in.Kind == linearize.Txn {
		query = encodeTxn(o.in.Txn)
	}
	q := &msg.Read{Query: query, Index: index, Reply: ref}
	s.sendLocal(o.replica, msg.Out{To: msg.Target{Node: o.replica.id, Role: msg.RoleExecutor}, Msg: q})
}

// leaderChanged wakes the clients waiting on r: node.Propose and node.Read
// send again when their replica's leader changes.
func (s *sim) leaderChanged(r *replica) {
	for _, c := range s.clients {
		if c.op != nil && c.op.replica == r && c.op.phase != reading {
			s.after(0, func() { s.wake(c) })
		}
	}
}

// backoff is node.backoff: 5 ms more per attempt, at most 100 ms.
func backoff(attempt int) int64 {
	return min(int64(attempt+1)*tickUnits/2, 10*tickUnits)
}

// reply delivers an answer to the waiter named ref.
func (s *sim) reply(ref string, m any) {
	c := s.waiters[ref]
	base, attempt, _ := strings.Cut(ref, "#")
	if c == nil || c.op == nil || c.op.ref != base {
		return // an answer for an operation that has ended
	}
	o := c.op
	switch m := m.(type) {
	case *msg.Reject:
		if o.phase == reading {
			return
		}
		if o.phase == proposing {
			// As node.Propose: one Reject per attempt counts (a duplicated
			// request draws two for one attempt).
			n, _ := strconv.Atoi(attempt)
			if !o.rejected[n] {
				o.outstanding--
			}
			if o.rejected == nil {
				o.rejected = map[int]bool{}
			}
			o.rejected[n] = true
		}
		o.attempt++
		o.retryAt = s.now + backoff(o.attempt)
		s.at(o.retryAt, func() { s.wake(c) })
	case *msg.ReadIndex:
		if o.phase == indexing {
			s.readAt(c, m.Index)
		}
	case *msg.ReadResult:
		if o.phase != reading {
			return
		}
		if m.Code != msg.ErrNone {
			s.violate(CoreError, "read %s: executor error %s %s", linearize.Describe(o.in, linearize.Output{}), m.Code, m.Detail)
			s.endOp(c, linearize.Output{}, false)
			return
		}
		if o.in.Kind == linearize.Txn {
			s.txnAnswered(c, m.Data, 0)
			return
		}
		g, err := kv.DecodeGet(m.Data)
		if err != nil {
			s.violate(CoreError, "read %s: %v", o.in.Key, err)
			s.endOp(c, linearize.Output{}, false)
			return
		}
		out := linearize.Output{Found: g.Found, Value: string(g.Value), Rev: g.Rev}
		s.res.Ops.ReadsOK++
		if g.Found {
			c.lastRev[o.in.Key] = g.Rev
		}
		s.record(c, out, s.steps)
		s.endOp(c, out, true)
	case *msg.Result:
		if o.phase != proposing {
			return
		}
		if m.Code != msg.ErrNone {
			// Refused by the executor's session table: not applied. With
			// fewer clients than MaxSessions nothing is evicted, and the
			// client's seq is above every seq it acked, so a refusal means
			// the exactly-once bookkeeping is wrong.
			kind := CoreError
			switch m.Code {
			case msg.ErrStaleRequest, msg.ErrSessionExpired:
				kind = Session
			}
			s.violate(kind, "client %d on replica %d: %s (seq %d, acked %d) refused: %s", c.idx, o.replica.id,
				linearize.Describe(o.in, linearize.Output{}), o.cmd.Seq, o.cmd.Acked, m.Code)
			s.res.Ops.Refused++
			s.endOp(c, linearize.Output{}, false)
			return
		}
		c.established = true
		if o.in.Kind == linearize.Txn {
			s.txnAnswered(c, m.Data, m.Slot)
			if w, err := kv.DecodeTxn(m.Data); err == nil && w.Rev != m.Rev {
				s.violate(CoreError, "txn: executor rev %d, store rev %d", m.Rev, w.Rev)
			}
			return
		}
		w, err := kv.DecodeWrite(m.Data)
		if err != nil || w.Err != "" {
			s.violate(CoreError, "write %s: result %+v, %v", linearize.Describe(o.in, linearize.Output{}), w, err)
			s.endOp(c, linearize.Output{}, false)
			return
		}
		if w.Rev != m.Rev {
			s.violate(CoreError, "write %s: executor rev %d, store rev %d", linearize.Describe(o.in, linearize.Output{}), m.Rev, w.Rev)
		}
		out := linearize.Output{Rev: w.Rev, OK: w.OK, Deleted: w.Deleted}
		if w.OK {
			s.res.Ops.WritesOK++
			if o.in.Kind == linearize.Put {
				c.lastRev[o.in.Key] = w.Rev
			}
		} else {
			s.res.Ops.CondFailed++
		}
		o.slot = m.Slot
		s.acked = append(s.acked, ackedWrite{client: c.session, seq: o.cmd.Seq, slot: m.Slot, rev: w.Rev,
			desc: linearize.Describe(o.in, out)})
		s.record(c, out, s.steps)
		s.endOp(c, out, true)
	}
}

// earlyAck is the planted EarlyAck bug: every put or delete in a proposed
// slot is answered at once as applied in that slot. It stays out of the
// porcupine history (no rev is known yet), so only the lost-write checker
// can see the answer go wrong.
func (s *sim) earlyAck(a *msg.Accept) {
	for _, p := range a.Proposals {
		for _, cmd := range p.Value.Cmds {
			for _, c := range s.clients {
				o := c.op
				if o == nil || o.phase != proposing || cmd.Client != c.session || cmd.Seq != o.cmd.Seq ||
					o.in.Kind == linearize.Get || o.in.Cond != linearize.CondNone {
					continue
				}
				s.acked = append(s.acked, ackedWrite{client: c.session, seq: o.cmd.Seq, slot: p.Slot,
					desc: linearize.Describe(o.in, linearize.Output{OK: true}) + " (answered when proposed)"})
				s.endOp(c, linearize.Output{}, false)
			}
		}
	}
}

// expire ends an operation without an answer: a write that may have been
// proposed has an unknown outcome; anything else certainly did nothing.
func (s *sim) expire(c *client, why string) {
	o := c.op
	if o.phase == proposing && o.outstanding > 0 {
		s.res.Ops.Unknown++
		out := linearize.Output{Unknown: true}
		s.record(c, out, math.MaxInt64)
		s.logf("client %d: %s (%s)", c.idx, linearize.Describe(o.in, out), why)
		s.endOp(c, out, false)
		return
	}
	if isRead(o.in) {
		s.res.Ops.ReadsFailed++
	} else {
		s.res.Ops.NotApplied++
	}
	s.logf("client %d: %s gave up (%s)", c.idx, linearize.Describe(o.in, linearize.Output{Unknown: true}), why)
	s.endOp(c, linearize.Output{}, false)
}

// endOpsOn ends every operation waiting on a replica that crashed, as
// node's calls return ErrStopped.
func (s *sim) endOpsOn(id msg.NodeID) {
	for _, c := range s.clients {
		if c.op != nil && c.op.replica.id == id {
			s.expire(c, fmt.Sprintf("replica %d crashed", id))
		}
	}
}

func (s *sim) record(c *client, out linearize.Output, ret int64) {
	o := c.op
	s.res.History = append(s.res.History, porcupine.Operation{ClientId: c.idx, Input: o.in, Call: o.call, Output: out, Return: ret})
	s.traceString(fmt.Sprintf("%d %s", c.idx, linearize.Describe(o.in, out)))
	if ret != math.MaxInt64 {
		s.logf("client %d on replica %d: %s", c.idx, o.replica.id, linearize.Describe(o.in, out))
	}
}

func (s *sim) endOp(c *client, out linearize.Output, ok bool) {
	o := c.op
	for n := 1; n <= o.sent; n++ {
		delete(s.waiters, fmt.Sprintf("%s#%d", o.ref, n))
	}
	delete(s.waiters, o.ref+"#read")
	c.op = nil
	if !isRead(o.in) {
		// node.finishTag: answered or abandoned, this seq needs no answer.
		c.acked = o.cmd.Seq
	}
	if c.onDone != nil {
		c.onDone(c, o, out, ok)
	}
	if c.stopped {
		return
	}
	c.nextOp = s.now + c.rng.Int64N(tickUnits*maxThink)
	s.at(c.nextOp, func() { s.wake(c) })
}
