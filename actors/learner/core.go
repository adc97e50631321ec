package learner

import (
	"fmt"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// Config holds the learner's membership and limits.
type Config struct {
	ID msg.NodeID
	// Acceptors are the replicas whose votes count; a quorum is a majority.
	Acceptors []msg.NodeID
	// StallTicks is how long the learner waits, behind and without progress,
	// before it fetches from a peer: under load slots complete out of order
	// and gaps close on their own within microseconds.
	StallTicks int
	// ResendTicks is how long a catch-up request waits before it is retried
	// with another peer.
	ResendTicks int
	// MaxCatchup bounds the slots, and MaxCatchupBytes the bytes, of one
	// catch-up reply.
	MaxCatchup      int
	MaxCatchupBytes int
}

type vote struct {
	ballot msg.Ballot
	mask   uint64
}

// Core is the learner's protocol state. It is not safe for concurrent use.
type Core struct {
	cfg    Config
	quorum int
	index  map[msg.NodeID]uint
	log    storage.ChosenLog
	out    []msg.Out
	now    int

	delivered uint64                // every slot up to here is in log and sent to the executor
	votes     map[uint64][]vote     // undecided slots: acceptors per ballot
	local     map[uint64]msg.Entry  // our acceptor's copy of undelivered slots
	waiting   map[uint64]msg.Ballot // chosen, but we lack the value of that ballot
	ready     map[uint64]*msg.Value // chosen with value, behind a gap

	commit     uint64 // the highest slot known chosen
	leader     msg.NodeID
	stuckAt    uint64 // delivered point when the current stall began
	stuckSince int
	fetchedAt  int
	fetching   bool
	peerTurn   int
}

// New builds a learner over the chosen values already in log.
func New(cfg Config, log storage.ChosenLog) (*Core, error) {
	if len(cfg.Acceptors) > 64 {
		return nil, fmt.Errorf("learner: %d acceptors, at most 64", len(cfg.Acceptors))
	}
	c := &Core{cfg: cfg, quorum: len(cfg.Acceptors)/2 + 1, index: map[msg.NodeID]uint{}, log: log,
		votes: map[uint64][]vote{}, local: map[uint64]msg.Entry{}, waiting: map[uint64]msg.Ballot{},
		ready: map[uint64]*msg.Value{}}
	for i, id := range cfg.Acceptors {
		c.index[id] = uint(i)
	}
	c.delivered = log.Last()
	c.commit = c.delivered
	return c, nil
}

// Delivered is the learner's commit point: every slot up to it is chosen,
// stored and handed to the executor.
func (c *Core) Delivered() uint64 { return c.delivered }

// Start returns what a (re)started learner sends: the last delivered slot
// again, so that an executor that missed it notices the gap and resyncs, and
// the commit point for the proposer.
func (c *Core) Start() []msg.Out {
	if c.delivered > 0 {
		if v, ok := c.log.Get(c.delivered); ok {
			c.send(c.cfg.ID, msg.RoleExecutor, &msg.Deliver{First: c.delivered, Values: []*msg.Value{v}})
		}
		c.send(c.cfg.ID, msg.RoleProposer, &msg.Committed{Commit: c.delivered})
	}
	return c.flush()
}

// Step handles one message and returns what to send. An error means the
// chosen log could not be written; the learner must stop rather than deliver.
func (c *Core) Step(m any) ([]msg.Out, error) {
	var err error
	switch m := m.(type) {
	case *msg.Accepted:
		err = c.accepted(m)
	case *msg.Heartbeat:
		c.leader = m.From
		if m.Commit > c.commit {
			c.commit = m.Commit
		}
		c.maybeFetch()
	case *msg.CatchupRequest:
		c.serveCatchup(m)
	case *msg.CatchupReply:
		err = c.catchupReply(m)
	case *msg.Resync:
		c.resync(m.From)
	}
	return c.flush(), err
}

// Tick advances the clock and retries a catch-up that got no answer.
func (c *Core) Tick() []msg.Out {
	c.now++
	c.maybeFetch()
	return c.flush()
}

func (c *Core) flush() []msg.Out {
	out := c.out
	c.out = nil
	return out
}

func (c *Core) send(node msg.NodeID, role msg.Role, m any) {
	c.out = append(c.out, msg.Out{To: msg.Target{Node: node, Role: role}, Msg: m})
}

func (c *Core) accepted(m *msg.Accepted) error {
	bit, ok := c.index[m.From]
	if !ok {
		return nil // not an acceptor of ours
	}
	if m.From == c.cfg.ID && len(m.Slots) > 0 && m.Slots[0] <= c.delivered {
		// A leader re-proposing what we already delivered (a restarted
		// proposer that campaigned before hearing our commit point): tell it.
		c.send(c.cfg.ID, msg.RoleProposer, &msg.Committed{Commit: c.delivered})
	}
	for i, s := range m.Slots {
		if s <= c.delivered || c.ready[s] != nil {
			continue
		}
		if m.From == c.cfg.ID && i < len(m.Values) {
			if e, ok := c.local[s]; !ok || e.Ballot.Less(m.Ballot) {
				c.local[s] = msg.Entry{Slot: s, Ballot: m.Ballot, Value: m.Values[i]}
			}
			// The value may be what a chosen ballot was waiting for.
			if b, ok := c.waiting[s]; ok && b == m.Ballot {
				delete(c.waiting, s)
				c.ready[s] = m.Values[i]
				continue
			}
		}
		if _, ok := c.waiting[s]; ok {
			continue
		}
		vs := c.votes[s]
		j := 0
		for j < len(vs) && vs[j].ballot != m.Ballot {
			j++
		}
		if j == len(vs) {
			vs = append(vs, vote{ballot: m.Ballot})
		}
		vs[j].mask |= 1 << bit
		c.votes[s] = vs
		if popcount(vs[j].mask) >= c.quorum {
			c.chosen(s, m.Ballot)
		}
	}
	return c.advance()
}

func popcount(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// chosen records that slot s was chosen in ballot b.
func (c *Core) chosen(s uint64, b msg.Ballot) {
	delete(c.votes, s)
	if e, ok := c.local[s]; ok && e.Ballot == b {
		c.ready[s] = e.Value
		return
	}
	// Our acceptor's copy, if any, is from another ballot and may hold a value
	// that was never chosen: fetch the chosen one from a peer.
	c.waiting[s] = b
	if s > c.commit {
		c.commit = s
	}
}

// advance delivers every ready slot that follows the delivered prefix.
func (c *Core) advance() error {
	first := c.delivered + 1
	var vals []*msg.Value
	for {
		v, ok := c.ready[c.delivered+1]
		if !ok {
			break
		}
		s := c.delivered + 1
		if err := c.log.Append(s, v); err != nil {
			return err
		}
		delete(c.ready, s)
		delete(c.local, s)
		delete(c.votes, s)
		delete(c.waiting, s)
		c.delivered = s
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return nil
	}
	if c.delivered > c.commit {
		c.commit = c.delivered
	}
	c.send(c.cfg.ID, msg.RoleExecutor, &msg.Deliver{First: first, Values: vals})
	c.send(c.cfg.ID, msg.RoleProposer, &msg.Committed{Commit: c.delivered})
	return nil
}

// behind reports whether slots past the delivered point are known chosen but
// cannot be delivered.
func (c *Core) behind() bool {
	return c.commit > c.delivered || len(c.waiting) > 0 || len(c.ready) > 0
}

// maybeFetch asks a peer for the chosen values we miss, once the learner has
// been behind without progress for StallTicks; an unanswered request is
// retried with the next peer after ResendTicks.
func (c *Core) maybeFetch() {
	if !c.behind() {
		// Not behind: the stall clock starts only when the learner falls
		// behind. (Without this, a learner that never delivered a slot had
		// stuckAt == delivered == 0 and stuckSince == 0, so after idling for
		// StallTicks it fetched at the first out-of-order slot.)
		c.fetching = false
		c.stuckAt, c.stuckSince = c.delivered, c.now
		return
	}
	if c.delivered != c.stuckAt {
		c.stuckAt, c.stuckSince, c.fetching = c.delivered, c.now, false
		return
	}
	if c.now-c.stuckSince < c.cfg.StallTicks {
		return
	}
	if c.fetching {
		if c.now-c.fetchedAt < c.cfg.ResendTicks {
			return
		}
		c.peerTurn++
	}
	c.fetch()
}

func (c *Core) fetch() {
	peer := c.pickPeer()
	if peer == 0 {
		return
	}
	last := c.commit
	for s := range c.waiting {
		last = max(last, s)
	}
	for s := range c.ready {
		last = max(last, s)
	}
	first := c.delivered + 1
	last = min(last, first+uint64(c.cfg.MaxCatchup)-1)
	c.send(peer, msg.RoleLearner, &msg.CatchupRequest{From: c.cfg.ID, First: first, Last: last})
	c.fetching, c.fetchedAt = true, c.now
}

// pickPeer prefers the leader, then rotates through the others.
func (c *Core) pickPeer() msg.NodeID {
	var peers []msg.NodeID
	if c.leader != 0 && c.leader != c.cfg.ID {
		peers = append(peers, c.leader)
	}
	for _, id := range c.cfg.Acceptors {
		if id != c.cfg.ID && id != c.leader {
			peers = append(peers, id)
		}
	}
	if len(peers) == 0 {
		return 0
	}
	return peers[c.peerTurn%len(peers)]
}

func (c *Core) serveCatchup(m *msg.CatchupRequest) {
	r := &msg.CatchupReply{From: c.cfg.ID, Through: c.delivered}
	size := 0
	for s := m.First; s <= m.Last && s <= c.delivered && len(r.Chosen) < c.cfg.MaxCatchup; s++ {
		v, ok := c.log.Get(s)
		if !ok {
			continue // below what we keep
		}
		size += v.Size()
		if len(r.Chosen) > 0 && size > c.cfg.MaxCatchupBytes {
			break
		}
		r.Chosen = append(r.Chosen, msg.Proposal{Slot: s, Value: v})
	}
	c.send(m.From, msg.RoleLearner, r)
}

func (c *Core) catchupReply(m *msg.CatchupReply) error {
	if m.Through > c.commit {
		c.commit = m.Through
	}
	for _, p := range m.Chosen {
		if p.Slot <= c.delivered || p.Value == nil {
			continue
		}
		delete(c.waiting, p.Slot)
		delete(c.votes, p.Slot)
		c.ready[p.Slot] = p.Value
	}
	before := c.delivered
	if err := c.advance(); err != nil {
		return err
	}
	switch {
	case c.delivered == before:
		// That peer had nothing for us; the next try goes elsewhere.
		c.peerTurn++
	case c.behind():
		// Stream the rest without waiting for a tick.
		c.stuckAt = c.delivered
		c.fetch()
	default:
		c.fetching = false
	}
	return nil
}

// resync re-delivers from slot from on, for an executor that restarted or
// missed a delivery.
func (c *Core) resync(from uint64) {
	if from == 0 {
		from = 1
	}
	const chunk = 1024
	for s := from; s <= c.delivered; {
		d := &msg.Deliver{First: s}
		for ; s <= c.delivered && len(d.Values) < chunk; s++ {
			v, ok := c.log.Get(s)
			if !ok {
				break
			}
			d.Values = append(d.Values, v)
		}
		if len(d.Values) == 0 {
			return // truncated below: the executor needs a snapshot
		}
		c.send(c.cfg.ID, msg.RoleExecutor, d)
	}
}
