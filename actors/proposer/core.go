package proposer

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/actors/quorum"
	"github.com/rsml-go/rsml/actors/role"
	"github.com/rsml-go/rsml/msg"
)

// Config holds the proposer's membership, timing (in ticks) and batching limits.
type Config struct {
	ID msg.NodeID
	// Members is the cluster's first configuration; the learner tells of
	// later ones (Committed.Members). Nil: every one of Replicas runs every
	// role, with membership.DefaultAlpha.
	Members *membership.History
	// Replicas make the first configuration when Members is nil.
	Replicas []msg.NodeID
	// HeartbeatTicks is the leader's beacon period.
	HeartbeatTicks int
	// ElectionTicks is the shortest election timeout; each timeout is drawn
	// from [ElectionTicks, 2*ElectionTicks) so that candidates rarely collide.
	ElectionTicks int
	// ResendTicks is how long an unanswered Prepare or Accept waits before it
	// is sent again (remoting is at-most-once).
	ResendTicks int
	// Window is the most slots the leader keeps in flight.
	Window int
	// EagerSlots slots (default 1) are opened for any queued command; past
	// them a new slot waits until a full batch is queued: FullBatch commands
	// (default MaxBatch) or MaxBatchBytes of them. Every slot costs about
	// twenty messages across the replicas whatever it carries, so fewer,
	// fuller slots go faster: measured on 2 cores with 4 to 64 clients, one
	// eager slot beat two in throughput and latency, over TCP, in memory and
	// on nutsdb alike. A lone client still gets its slot at once, and a
	// backlog of full batches still fills the window.
	EagerSlots int
	FullBatch  int
	// HoldBatches makes a leader whose window just emptied wait, before it
	// opens the next slot, until as many commands are queued as the slots
	// just chosen carried plus those queued meanwhile: their clients, just
	// answered, are about to send their next command. Without it the next
	// slot left at once with only the commands that had queued meanwhile,
	// and the answered clients waited for that slot to be chosen before
	// theirs could go: at 64 clients each slot carried about half of them.
	// The wait ends early at Release (the actor's timer) or the next tick.
	HoldBatches bool
	// MaxBatch and MaxBatchBytes bound the commands of one slot.
	MaxBatch      int
	MaxBatchBytes int
	// MaxQueue bounds the requests waiting for a slot; past it the leader
	// rejects new ones as overloaded.
	MaxQueue int
	// MaxHops bounds forwarding between proposers that disagree on the leader.
	MaxHops uint8
	// Witness: this replica holds no data (its Progress reports say so).
	Witness bool
	// Rand draws election timeouts; seed it for reproducible simulations.
	Rand *rand.Rand
	// Planted plants deliberate bugs, so that the simulator can show its
	// checkers catch them. Never set outside tests.
	Planted Planted
}

// Planted are deliberate bugs in the proposer (Config.Planted).
type Planted struct {
	// ReleaseUnchosen makes a hold's release tell the learners that every
	// slot the leader proposed is chosen, before a quorum accepted it: a
	// client can then be answered for a slot that is never chosen.
	ReleaseUnchosen bool
}

// position is what the proposer is in the protocol.
type position uint8

const (
	follower position = iota
	candidate
	leader
)

func (r position) String() string {
	return [...]string{"follower", "candidate", "leader"}[r]
}

type inflight struct {
	value  *msg.Value
	sentAt int
}

type pendingRead struct {
	req     *msg.ReadRequest
	index   uint64
	needSeq uint64
}

// Core is the proposer's protocol state. It is not safe for concurrent use.
type Core struct {
	cfg     Config
	members *membership.History // as of commit
	// everyone is every member of the configurations in members, in
	// force or pending: who hears heartbeats.
	everyone []msg.NodeID
	role     position
	step     func(c *Core, m any)
	out      []msg.Out
	now      int

	maxSeen      msg.Ballot // the highest ballot heard of
	ballot       msg.Ballot // ours, as candidate or leader
	saved        msg.Ballot // the highest ballot durable in storage
	saving       msg.Ballot // handed out by the last Ready, durable at Advance
	leader       msg.NodeID // the leader we follow (ourselves when leading); 0 if unknown
	leaderBallot msg.Ballot
	commit       uint64 // every slot up to commit is chosen (from our learner)
	// truncated: every slot up to it is chosen, as a promiser's truncation
	// point showed; our learner may not have them yet.
	truncated uint64

	electionElapsed int
	electionTimeout int

	// candidate
	probing    bool // pre-vote: asking whether a quorum would promise
	promises   map[msg.NodeID]*msg.Promise
	fromSlot   uint64
	preparedAt int

	// leader
	// promised are the acceptors that promised our ballot, kept for the
	// whole leadership: a slot a later configuration governs is proposed
	// only once a majority of its acceptors are among them.
	promised map[msg.NodeID]bool
	// best is, for each slot from nextSlot on, the entry of the highest
	// ballot any promiser reported: what must be proposed there. Slots up
	// to bestTop are recovered as the gate lets them.
	best    map[uint64]msg.Entry
	bestTop uint64
	// change is a membership change waiting for a slot; changeSlot is
	// where one is in flight (0: none).
	change     *msg.ChangeRequest
	changeSlot uint64
	// A witness floor (membership.Floor) waiting for a slot, and where one
	// is in flight (0: none).
	floor     []byte
	floorSlot uint64
	// What our learner says (Committed): the snapshot it holds durably,
	// and the highest floor it delivered that held.
	snapshot, floorHeld uint64
	leaderSince         int
	nextSlot            uint64
	chosen              msg.Run // our learner saw these chosen in our ballot
	shipped             uint64  // the highest chosen slot sent to the other learners
	inflight            map[uint64]*inflight
	queue               []msg.Command
	queueBytes          int      // batchSize of the queued commands
	holdTarget          int      // > 0: no eager slot opens until this many commands queue (HoldBatches)
	attempts            []uint32 // the ClientRequest.Attempt of each queued command
	hbSeq               uint64
	hbSentAt            int
	ackSeq              map[msg.NodeID]uint64
	ackTick             map[msg.NodeID]int
	// ackWitness: the acceptor's heartbeat acks say it is a witness's.
	ackWitness map[msg.NodeID]bool
	reads      []pendingRead
	// progress is what the replicas that are no acceptors last reported of
	// their learners (Progress): who may be promoted to acceptor.
	progress map[msg.NodeID]learnerProgress

	// Leadership transfer, on the leader's side: while transferTo is set no
	// slot opens; once every slot it opened is chosen it sends the target a
	// TimeoutNow, and it gives up at transferUntil.
	transferTo msg.NodeID
	// why is the reason for the step-down about to happen (becomeFollower
	// keeps it in stepDown when we led); stepDown is the last one.
	why, stepDown  string
	transferUntil  int
	transferSentAt int // 0: no TimeoutNow sent yet
	// and on the target's: campaign once commit reaches takeOverAt, or at
	// takeOverUntil.
	takeOver      bool
	takeOverAt    uint64
	takeOverUntil int
	takeOverFrom  msg.Ballot // the ballot of the leader handing over
	handover      msg.Ballot // this campaign's Prepares carry it (zero: an ordinary one)

	// seen remembers the forwarded requests this proposer took, oldest
	// first in seenRing, so that a copy the network duplicated is dropped:
	// one copy proposed and the other rejected would tell the client that a
	// command that may be chosen was certainly not proposed.
	seen     map[reqKey]struct{}
	seenRing []reqKey
	seenNext int
}

// learnerProgress is one Progress report, and the tick it arrived at.
type learnerProgress struct {
	delivered, commit, snapshot uint64
	at                          int
	witness                     bool
}

// reqKey names one attempt of one client call: its origin replica, its
// waiter and the attempt's number.
type reqKey struct {
	origin  msg.NodeID
	reply   string
	attempt uint32
}

// seenMax bounds the forwarded requests remembered: duplicates arrive close
// together, and the memory stays small.
const seenMax = 1 << 14

// duplicate reports whether m is a copy of a forwarded request already
// taken, and remembers m otherwise. Requests from this replica's own
// clients (Hops 0) never cross the network and are never duplicated.
func (c *Core) duplicate(m *msg.ClientRequest) bool {
	if m.Hops == 0 {
		return false
	}
	k := reqKey{origin: m.Cmd.Origin, reply: m.Cmd.Reply, attempt: m.Attempt}
	if _, ok := c.seen[k]; ok {
		return true
	}
	if c.seen == nil {
		c.seen = make(map[reqKey]struct{}, 64)
	}
	if len(c.seenRing) < seenMax {
		c.seenRing = append(c.seenRing, k)
	} else {
		delete(c.seen, c.seenRing[c.seenNext])
		c.seenRing[c.seenNext] = k
		c.seenNext = (c.seenNext + 1) % seenMax
	}
	c.seen[k] = struct{}{}
	return false
}

// New returns a follower that knows no leader yet. used is the highest
// ballot this replica's proposer ever used (from storage): every ballot it
// uses from now on is higher. commit is how far the replica's learner has
// delivered: a restarted proposer that campaigns recovers only what follows.
func New(cfg Config, used msg.Ballot, commit uint64) *Core {
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(uint64(cfg.ID), 0x5eed))
	}
	if cfg.Members == nil {
		ms := make([]membership.Member, len(cfg.Replicas))
		for i, id := range cfg.Replicas {
			ms[i] = membership.Member{ID: id, Addr: "replica-" + id.String(), Roles: membership.All}
		}
		h, err := membership.Bootstrap(membership.DefaultAlpha, ms)
		if err != nil {
			panic(fmt.Sprintf("proposer: replicas %v: %v", cfg.Replicas, err))
		}
		cfg.Members = h
	}
	c := &Core{cfg: cfg, maxSeen: used, saved: used, commit: commit}
	c.setMembers(cfg.Members)
	c.becomeFollower(0, msg.Ballot{})
	return c
}

// setMembers takes the membership as of our commit point.
func (c *Core) setMembers(h *membership.History) {
	c.members = h
	c.everyone = c.everyone[:0]
	for _, e := range h.Epochs {
		for _, id := range e.Config.IDs() {
			if !slices.Contains(c.everyone, id) {
				c.everyone = append(c.everyone, id)
			}
		}
	}
	slices.Sort(c.everyone)
}

// Members is the membership as the proposer knows it (as of its commit
// point).
func (c *Core) Members() *membership.History { return c.members }

// gate reports whether the leader may propose at slot s: its configuration
// is known (s is within α of the commit point, so every change that could
// govern it is delivered) and a majority of its acceptors promised our
// ballot. Every proposal, new or recovered, passes it.
func (c *Core) gate(s uint64) bool {
	return s <= c.commit+c.members.Alpha && c.prepared(c.members.For(s))
}

// prepared reports whether a majority of cfg's acceptors promised our
// ballot.
func (c *Core) prepared(cfg *membership.Config) bool {
	return countIn(cfg.Quorum(), func(id msg.NodeID) bool { return c.promised[id] })
}

// countIn reports whether the voters of q for which yes holds make a majority.
// countLive is how many of q's voters yes counts.
func countLive(q quorum.Majority, yes func(id msg.NodeID) bool) int {
	n := 0
	for _, id := range q.Voters() {
		if yes(id) {
			n++
		}
	}
	return n
}

func countIn(q quorum.Majority, yes func(id msg.NodeID) bool) bool {
	return q.Count(countLive(q, yes))
}

// acceptorsOf returns the acceptors of the configurations that govern slots
// lo to hi and of the latest one, each once.
func (c *Core) acceptorsOf(lo, hi uint64) []msg.NodeID {
	var ids []msg.NodeID
	for _, cfg := range append(c.members.Span(lo, hi), c.members.Latest()) {
		for _, id := range cfg.Quorum().Voters() {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// Status is a snapshot of what the proposer believes.
type Status struct {
	Role     string
	Leader   msg.NodeID
	Ballot   msg.Ballot // the leader's ballot as far as we know
	Commit   uint64
	NextSlot uint64
	Queued   int
	InFlight int
	// Transferring is the replica a leader hands over to (0: none): the
	// node logs and counts a handover that starts and one given up.
	Transferring msg.NodeID
	// StepDown says why this proposer last stopped leading ("" while it
	// never led): StepDownQuorum, StepDownBallot, StepDownChosen or
	// StepDownHandover, then ": " and the particulars.
	StepDown string
}

// Why a leader stops leading (Status.StepDown starts with one of them).
const (
	// StepDownQuorum: check-quorum, no quorum of acceptors answered
	// heartbeats for an election timeout.
	StepDownQuorum = "quorum"
	// StepDownBallot: a higher ballot was promised or leads.
	StepDownBallot = "ballot"
	// StepDownChosen: slots it never proposed were chosen, so another led.
	StepDownChosen = "chosen"
	// StepDownHandover: it handed leadership over, or is no proposer.
	StepDownHandover = "handover"
)

// Status reports the proposer's view of leadership.
func (c *Core) Status() Status {
	return Status{Role: c.role.String(), Leader: c.leader, Ballot: c.leaderBallot, Commit: c.commit,
		NextSlot: c.nextSlot, Queued: len(c.queue), InFlight: len(c.inflight), Transferring: c.transferTo,
		StepDown: c.stepDown}
}

// Ballot returns the ballot this proposer campaigns or leads with (zero if it
// never campaigned).
func (c *Core) Ballot() msg.Ballot { return c.ballot }

// IsLeader reports whether this proposer leads with phase 1 done.
func (c *Core) IsLeader() bool { return c.role == leader }

// Campaign asks the proposer to start an election now instead of waiting for
// the timeout, with a pre-vote: a live leader's acceptors refuse it. Moving
// leadership off a live leader is TransferLeader.
type Campaign struct{}

// requests are client requests that arrived together (from the intake): a
// leader queues them all before it fills a slot, so they share a batch.
type requests []*msg.ClientRequest

// release ends a hold (HoldBatches): the next slot takes what is queued, and
// learners hear what was chosen.
type release struct{}

// Step handles one message.
func (c *Core) Step(m any) {
	switch m := m.(type) {
	case *msg.Heartbeat:
		c.heartbeat(m)
	case *msg.Committed:
		c.committed(m)
	case *msg.Progress:
		if c.role == leader && m.Ballot == c.ballot {
			c.progress[m.From] = learnerProgress{delivered: m.Delivered, commit: m.Commit, snapshot: m.Snapshot, at: c.now, witness: m.Witness}
		}
	case *msg.Nack:
		c.nack(m)
	case *Campaign:
		if c.role != leader {
			c.campaign()
		}
	case *msg.TransferLeader:
		c.transfer(m)
	case *msg.TimeoutNow:
		c.timeoutNow(m)
	case requests:
		c.stepRequests(m)
	case release:
		c.release()
	case *msg.ClientRequest:
		if !c.duplicate(m) {
			c.step(c, m)
		}
	default:
		c.step(c, m)
	}
}

// Ready implements role.Core. A new ballot goes with the messages produced
// with it: the driver makes it durable before any of them leaves, so that a
// restart never uses it again.
func (c *Core) Ready() role.Ready {
	rd := role.Ready{Messages: c.flush()}
	if c.saved.Less(c.ballot) {
		rd.Ballot, c.saving = c.ballot, c.ballot
	}
	return rd
}

// Advance implements role.Core.
func (c *Core) Advance() {
	if c.saved.Less(c.saving) {
		c.saved = c.saving
	}
}

// Tick advances the logical clock by one tick.
func (c *Core) Tick() {
	c.now++
	switch c.role {
	case leader:
		c.tickLeader()
	case candidate:
		if c.now-c.preparedAt >= c.cfg.ResendTicks {
			c.sendPrepare(false)
		}
		fallthrough
	case follower:
		c.electionElapsed++
		if c.electionElapsed >= c.electionTimeout {
			c.campaign()
		}
		c.tryTakeOver()
	}
}

func (c *Core) flush() []msg.Out {
	out := c.out
	c.out = nil
	return out
}

func (c *Core) send(node msg.NodeID, role msg.Role, m any) {
	c.out = append(c.out, msg.Out{To: msg.Target{Node: node, Role: role}, Msg: m})
}

// sendAccept sends the proposals, in slot order, each to the acceptors of
// the configuration that governs its slot: one Accept per run of slots
// under one configuration.
func (c *Core) sendAccept(props []msg.Proposal, chosen msg.Run) {
	for len(props) > 0 {
		cfg := c.members.For(props[0].Slot)
		n := 1
		for n < len(props) && c.members.For(props[n].Slot) == cfg {
			n++
		}
		a := &msg.Accept{From: c.cfg.ID, Ballot: c.ballot, Proposals: props[:n:n], Chosen: chosen}
		for _, m := range cfg.Members {
			switch {
			case m.Roles.Has(membership.Acceptor):
				c.send(m.ID, msg.RoleAcceptor, a)
			case m.Roles.Has(membership.Learner):
				// An observer: no acceptor copies its learner could
				// deliver from, so its learner gets the proposals.
				c.send(m.ID, msg.RoleLearner, a)
			}
		}
		props = props[n:]
	}
}

func (c *Core) reply(origin msg.NodeID, ref string, m any) {
	if ref == "" {
		return
	}
	c.out = append(c.out, msg.Out{To: msg.Target{Node: origin, Role: msg.RoleWaiter, Ref: ref}, Msg: m})
}

func (c *Core) reject(m any, why msg.RejectReason) {
	hint := c.leader
	switch m := m.(type) {
	case *msg.ClientRequest:
		c.reply(m.Cmd.Origin, m.Cmd.Reply, &msg.Reject{Reason: why, Leader: hint, Attempt: m.Attempt})
	case *msg.ReadRequest:
		c.reply(m.Origin, m.Reply, &msg.Reject{Reason: why, Leader: hint})
	case *msg.ChangeRequest:
		c.reply(m.Origin, m.Reply, &msg.Reject{Reason: why, Leader: hint})
	}
}

// --- roles -------------------------------------------------------------------

func (c *Core) resetElectionTimer() {
	c.electionElapsed = 0
	c.electionTimeout = c.cfg.ElectionTicks + c.cfg.Rand.IntN(max(c.cfg.ElectionTicks, 1))
}

func (c *Core) becomeFollower(lead msg.NodeID, b msg.Ballot) {
	wasLeader := c.role == leader
	if wasLeader {
		c.stepDown = c.why
		if c.stepDown == "" {
			c.stepDown = StepDownHandover
		}
	}
	c.why = ""
	c.holdTarget = 0
	c.role, c.step = follower, stepFollower
	c.leader, c.leaderBallot = lead, b
	c.promises = nil
	c.resetElectionTimer()
	// Commands we queued were never proposed, and reads not yet confirmed
	// were never answered: say so, and their clients try the next leader.
	// Slots in flight may still be chosen by the next leader, whose phase 1
	// recovers them; their clients learn the outcome from their executor.
	// In a handover (ours as the leader, or the one we campaigned for) they
	// go to the new leader instead, to the target if the new leader is not
	// known yet: a client whose write waited for the handover sees no error.
	to := lead
	if to == 0 && wasLeader {
		to = c.transferTo
	}
	handingOver := wasLeader && c.transferTo != 0 || !wasLeader && !c.handover.IsZero()
	forward := handingOver && to != 0 && to != c.cfg.ID
	for i := range c.queue {
		if forward {
			c.send(to, msg.RoleProposer, &msg.ClientRequest{Cmd: c.queue[i], Attempt: c.attempts[i], Hops: 1})
			continue
		}
		c.reject(&msg.ClientRequest{Cmd: c.queue[i], Attempt: c.attempts[i]}, msg.RejectNoLeader)
	}
	for _, r := range c.reads {
		if forward {
			c.send(to, msg.RoleProposer, &msg.ReadRequest{Origin: r.req.Origin, Reply: r.req.Reply, Hops: 1})
			continue
		}
		c.reject(r.req, msg.RejectNoLeader)
	}
	if ch := c.change; ch != nil {
		if forward {
			c.send(to, msg.RoleProposer, &msg.ChangeRequest{Change: ch.Change, Origin: ch.Origin, Reply: ch.Reply, Hops: 1})
		} else {
			c.reply(ch.Origin, ch.Reply, &msg.Reject{Reason: msg.RejectNoLeader, Leader: c.leader})
		}
	}
	c.queue, c.attempts, c.reads, c.queueBytes = nil, nil, nil, 0
	c.transferTo, c.handover = 0, msg.Ballot{}
	c.change, c.changeSlot = nil, 0
	c.promised, c.best, c.bestTop = nil, nil, 0
	if wasLeader {
		c.inflight, c.ackSeq, c.ackTick = nil, nil, nil
	}
}

func (c *Core) campaign() { c.startCampaign(msg.Ballot{}) }

// proposer reports whether the latest configuration makes us a proposer:
// one that does not never campaigns, whatever it is asked.
func (c *Core) proposer() bool { return c.members.Latest().Runs(c.cfg.ID, membership.Proposer) }

// startCampaign starts an election at a ballot above any heard of. An
// ordinary one (zero handover) asks first whether a quorum would promise
// (pre-vote); one the leader of ballot handover asked for prepares at once,
// past the acceptors' lease on that leader.
func (c *Core) startCampaign(handover msg.Ballot) {
	if !c.proposer() {
		c.becomeFollower(c.leader, c.leaderBallot)
		return
	}
	c.role, c.step = candidate, stepCandidate
	c.ballot = msg.Ballot{Round: c.maxSeen.Round + 1, ID: c.cfg.ID}
	c.maxSeen = c.ballot
	c.leader, c.leaderBallot = 0, msg.Ballot{}
	c.promises = map[msg.NodeID]*msg.Promise{}
	c.fromSlot = c.commit + 1
	c.handover = handover
	c.probing = handover.IsZero()
	c.takeOver = false
	c.resetElectionTimer()
	c.sendPrepare(true)
}

// sendPrepare asks the acceptors of every configuration that governs a slot
// we may propose at (those within α of our commit point) and of the
// latest one (all, or those that have not promised yet).
func (c *Core) sendPrepare(all bool) {
	p := &msg.Prepare{From: c.cfg.ID, Ballot: c.ballot, FromSlot: c.fromSlot, Probe: c.probing, Handover: c.handover}
	for _, id := range c.acceptorsOf(c.commit+1, c.commit+c.members.Alpha) {
		if _, ok := c.promises[id]; all || !ok {
			c.send(id, msg.RoleAcceptor, p)
		}
	}
	c.preparedAt = c.now
}

// prepareMissing asks, as leader, the acceptors that have not promised our
// ballot: those of a configuration that has just come within reach.
func (c *Core) prepareMissing() {
	ready := c.prepared(c.members.Latest())
	for _, cfg := range c.members.Span(c.commit+1, c.commit+c.members.Alpha) {
		ready = ready && c.prepared(cfg)
	}
	if ready {
		return
	}
	p := &msg.Prepare{From: c.cfg.ID, Ballot: c.ballot, FromSlot: c.commit + 1}
	sent := false
	for _, id := range c.acceptorsOf(c.commit+1, c.commit+c.members.Alpha) {
		if !c.promised[id] {
			c.send(id, msg.RoleAcceptor, p)
			sent = true
		}
	}
	if sent {
		c.preparedAt = c.now
	}
}

func (c *Core) becomeLeader() {
	c.role, c.step = leader, stepLeader
	c.holdTarget = 0
	c.handover, c.transferTo, c.transferSentAt = msg.Ballot{}, 0, 0
	c.leader, c.leaderBallot = c.cfg.ID, c.ballot
	c.leaderSince = c.now
	c.inflight = map[uint64]*inflight{}
	c.ackSeq = map[msg.NodeID]uint64{}
	c.ackTick = map[msg.NodeID]int{}
	c.ackWitness = map[msg.NodeID]bool{}
	c.progress = map[msg.NodeID]learnerProgress{}
	c.hbSeq = 0
	c.chosen, c.shipped = msg.Run{}, 0
	c.change, c.changeSlot = nil, 0
	c.floor, c.floorSlot = nil, 0

	// Every open slot gets the value accepted in the highest ballot any
	// promiser reported, holes a no-op (recover, as the gate allows).
	// Slots our learner has seen chosen meanwhile need nothing.
	c.promised = make(map[msg.NodeID]bool, len(c.promises))
	c.best, c.bestTop = map[uint64]msg.Entry{}, 0
	c.nextSlot = max(c.fromSlot, c.commit+1)
	for _, p := range c.promises {
		c.promise(p)
	}
	c.promises = nil
	c.nextSlot = max(c.nextSlot, c.truncated+1)
	c.recover()
	c.sendHeartbeat()
	c.propose()
}

// promise takes a promise of our ballot, as candidate or leader: its
// entries from nextSlot on join what recovery proposes. Slots already
// proposed were proposed with a majority of their own acceptors' entries,
// which is all Paxos needs.
func (c *Core) promise(p *msg.Promise) {
	c.promised[p.From] = true
	if c.best == nil {
		c.best = map[uint64]msg.Entry{}
	}
	// A promiser dropped its entries up to its truncation point: those
	// slots are chosen. Proposing there (a no-op for an entry that is
	// merely gone) could choose a second value, so recovery starts above
	// the highest point; our learner fetches what lies below.
	c.truncated = max(c.truncated, p.Truncated)
	for _, e := range p.Entries {
		if e.Slot < c.nextSlot {
			continue
		}
		if cur, ok := c.best[e.Slot]; !ok || cur.Ballot.Less(e.Ballot) {
			c.best[e.Slot] = e
		}
		c.bestTop = max(c.bestTop, e.Slot)
	}
}

// recover re-proposes recovered slots, in order, as far as the gate lets
// it: a slot whose configuration is not known yet, or whose acceptors have
// not promised, waits (the commit point grows, promises arrive).
func (c *Core) recover() {
	var props []msg.Proposal
	for c.nextSlot <= c.bestTop && c.gate(c.nextSlot) {
		s := c.nextSlot
		v := &msg.Value{}
		if e, ok := c.best[s]; ok && e.Value != nil {
			v = e.Value
		}
		delete(c.best, s)
		if len(v.Change) > 0 {
			c.changeSlot = s
		}
		props = append(props, msg.Proposal{Slot: s, Value: v})
		c.inflight[s] = &inflight{value: v, sentAt: c.now}
		c.nextSlot++
	}
	if c.nextSlot > c.bestTop {
		c.best, c.bestTop = nil, 0
	}
	c.sendAccept(props, msg.Run{})
}

// --- leadership transfer -----------------------------------------------------

// transfer starts handing leadership to m.Target (0: the live follower
// whose acceptor answered our heartbeats last) and tells the asker which
// target and from which ballot, so that it knows when the handover is done.
func (c *Core) transfer(m *msg.TransferLeader) {
	if c.role != leader {
		c.reply(m.Origin, m.Reply, &msg.Reject{Reason: msg.RejectNoLeader, Leader: c.leader})
		return
	}
	target := m.Target
	if target == 0 {
		target = c.transferTo // one under way will do
	}
	if target == 0 {
		target = c.freshestFollower()
	}
	switch {
	case target == c.cfg.ID && c.transferTo != 0 && c.transferSentAt > 0:
		// Told to keep the lead after the target was told to take it: too
		// late to call back; the asker tries again once it is settled.
		c.reply(m.Origin, m.Reply, &msg.Reject{Reason: msg.RejectNoLeader, Leader: c.cfg.ID})
		return
	case target == c.cfg.ID:
		if c.transferTo != 0 { // not told yet: call the handover off
			c.transferTo = 0
			c.propose()
		}
	case target == 0 || !c.members.Latest().Runs(target, membership.Proposer) || !c.live(target):
		if c.now-c.leaderSince < c.cfg.ElectionTicks && (target == 0 || c.members.Latest().Runs(target, membership.Proposer)) {
			// Just elected: the answers to our first heartbeats may still
			// be on their way. Not a refusal: ask again shortly.
			c.reply(m.Origin, m.Reply, &msg.Reject{Reason: msg.RejectNoLeader, Leader: c.cfg.ID})
			return
		}
		c.reply(m.Origin, m.Reply, &msg.Reject{Reason: msg.RejectCannotLead, Leader: c.cfg.ID})
		return
	case target != c.transferTo:
		c.transferTo, c.transferUntil, c.transferSentAt = target, c.now+c.cfg.ElectionTicks, 0
		c.holdTarget = 0
		c.tryHandOver()
	}
	c.reply(m.Origin, m.Reply, &msg.TransferStarted{Target: target, Ballot: c.ballot})
}

// live reports whether id's acceptor answered a heartbeat within an
// election timeout.
func (c *Core) live(id msg.NodeID) bool {
	t, ok := c.ackTick[id]
	return ok && c.now-t < c.cfg.ElectionTicks
}

// freshestFollower is the live follower whose acceptor acknowledged the
// latest heartbeat (the lowest id among equals), or 0 if none.
func (c *Core) freshestFollower() msg.NodeID {
	var best msg.NodeID
	for _, id := range c.members.Latest().With(membership.Proposer) {
		if id == c.cfg.ID || !c.live(id) {
			continue
		}
		if best == 0 || c.ackSeq[id] > c.ackSeq[best] {
			best = id
		}
	}
	return best
}

// tryHandOver sends the target its TimeoutNow once every slot this leader
// opened is chosen: the target's phase 1 then recovers nothing, and no
// client's write is left to a recovery.
func (c *Core) tryHandOver() {
	if c.transferTo == 0 || c.transferSentAt > 0 || len(c.inflight) > 0 {
		return
	}
	c.transferSentAt = max(c.now, 1)
	// The learners hear now what a hold would keep until the next slot,
	// which will not open: the target campaigns once its learner knows.
	c.shipChosen()
	c.send(c.transferTo, msg.RoleProposer, &msg.TimeoutNow{From: c.cfg.ID, Ballot: c.ballot, Commit: c.nextSlot - 1})
}

// timeoutNow is the leader handing over to us: we campaign once our learner
// has caught up with what it had chosen, or after half an election timeout
// whatever our learner knows (phase 1 recovers the rest).
func (c *Core) timeoutNow(m *msg.TimeoutNow) {
	if c.role == leader || m.Ballot.Less(c.leaderBallot) || !c.proposer() {
		return // we lead, or follow a leader newer than the sender, or may not lead
	}
	// Our ballot must beat the sender's even if we never heard it.
	c.maxSeen = msg.MaxBallot(c.maxSeen, m.Ballot)
	if c.takeOver && c.takeOverFrom == m.Ballot {
		return // a resend: the deadline stays, within the leader's own
	}
	c.takeOver, c.takeOverAt, c.takeOverUntil, c.takeOverFrom = true, m.Commit, c.now+max(c.cfg.ElectionTicks/2, 1), m.Ballot
	c.tryTakeOver()
}

func (c *Core) tryTakeOver() {
	if c.takeOver && c.role != leader && (c.commit >= c.takeOverAt || c.now >= c.takeOverUntil) {
		c.startCampaign(c.takeOverFrom)
	}
}

// --- common messages ---------------------------------------------------------

func (c *Core) heartbeat(m *msg.Heartbeat) {
	c.maxSeen = msg.MaxBallot(c.maxSeen, m.Ballot)
	if m.From == c.cfg.ID {
		return
	}
	switch c.role {
	case leader:
		if c.ballot.Less(m.Ballot) {
			c.why = StepDownBallot + ": replica " + m.From.String() + " leads with ballot " + m.Ballot.String()
			c.becomeFollower(m.From, m.Ballot)
		}
	case candidate:
		// A live leader at a ballot at least ours: stand down rather than
		// disrupt it. A lower one may be deposed (it keeps beaconing until
		// check-quorum stops it); if it still leads a quorum, the acceptors'
		// lease refuses our probes and we stand down through their Nacks.
		if !m.Ballot.Less(c.ballot) {
			c.becomeFollower(m.From, m.Ballot)
		}
	case follower:
		if !m.Ballot.Less(c.leaderBallot) {
			c.leader, c.leaderBallot = m.From, m.Ballot
			c.resetElectionTimer()
			// How far our learner is (whether we may be promoted),
			// and whether we are a witness.
			p := &msg.Progress{From: c.cfg.ID, Ballot: m.Ballot, Delivered: c.commit, Commit: m.Commit, Witness: c.cfg.Witness}
			if !c.cfg.Witness {
				p.Snapshot = c.snapshot
			}
			c.send(m.From, msg.RoleProposer, p)
		}
	}
	if c.takeOver && c.takeOverFrom.Less(m.Ballot) {
		c.takeOver = false // a newer leader: the handover is moot
	}
}

func (c *Core) committed(m *msg.Committed) {
	commit := m.Commit
	// As is: a restarted learner may hold less than its last incarnation.
	c.snapshot, c.floorHeld = m.Snapshot, m.Floor
	if c.role == leader && m.Ballot == c.ballot && !m.Run.Empty() {
		// What our learner saw chosen in our ballot: the other learners
		// deliver it from their own acceptors' copies.
		c.chosen = m.Run
	}
	if h, ok := m.Members.(*membership.History); ok && h != c.members && commit >= c.commit {
		c.setMembers(h)
		if c.role == leader {
			// A configuration that has come within reach: its acceptors
			// promise while the slots before it fill.
			c.prepareMissing()
			defer c.fillToChange()
		}
	}
	if commit <= c.commit {
		return
	}
	c.commit = commit
	c.tryTakeOver()
	if c.role == leader && commit >= c.nextSlot {
		if c.best == nil || commit > c.bestTop {
			// Slots we never proposed are chosen: a higher ballot has led.
			c.why = StepDownChosen + ": slots from " + strconv.FormatUint(c.nextSlot, 10) + " were chosen elsewhere"
			c.becomeFollower(0, msg.Ballot{})
			return
		}
		c.nextSlot = commit + 1 // recovered slots found chosen meanwhile
	}
	if c.changeSlot != 0 && commit >= c.changeSlot {
		c.changeSlot = 0
		c.serveReads()
	}
	if c.floorSlot != 0 && commit >= c.floorSlot {
		c.floorSlot = 0
	}
	if c.role == leader {
		local, remote := 0, 0 // commands freed, from our clients and from other replicas'
		for s, f := range c.inflight {
			if s <= commit {
				if f.value != nil {
					for i := range f.value.Cmds {
						if f.value.Cmds[i].Origin == c.cfg.ID {
							local++
						} else {
							remote++
						}
					}
				}
				delete(c.inflight, s)
			}
		}
		c.tryHandOver()
		if c.cfg.HoldBatches && len(c.inflight) == 0 && local > 0 {
			// Only our own clients are answered at once: another replica's
			// hear their answer after its learner does, and then a network
			// hop away; waiting for them would mostly run out the timer.
			_, full := c.batching()
			c.holdTarget = min(local+len(c.queue), full, c.cfg.MaxQueue)
		}
		c.propose()
		if c.holdTarget > 0 && remote == 0 {
			// The slot we are about to open carries the chosen run; if
			// none opens before Release, Release tells the learners. With
			// commands of other replicas in the chosen slots their
			// learners hear it now: their clients are waiting for it.
			return
		}
		c.shipChosen()
	}
}

// shipChosen tells the other learners the chosen run if no Accept carried
// it, or they would wait for the next heartbeat to apply.
func (c *Core) shipChosen() {
	if c.chosen.Through <= c.shipped {
		return
	}
	c.shipped = c.chosen.Through
	run := &msg.ChosenRun{From: c.cfg.ID, Ballot: c.ballot, Run: c.chosen}
	for _, id := range c.everyone {
		if id != c.cfg.ID {
			c.send(id, msg.RoleLearner, run)
		}
	}
}

func (c *Core) nack(m *msg.Nack) {
	c.maxSeen = msg.MaxBallot(c.maxSeen, m.Promised)
	if c.role == follower || m.Ballot != c.ballot {
		return
	}
	if m.LeaderAlive && c.role == candidate {
		// Someone still hears a leader; wait a full timeout before trying again.
		c.becomeFollower(0, msg.Ballot{})
		return
	}
	if c.ballot.Less(m.Promised) {
		c.why = StepDownBallot + ": replica " + m.From.String() + " promised ballot " + m.Promised.String()
		c.becomeFollower(0, msg.Ballot{})
	}
}

// --- follower ----------------------------------------------------------------

func stepFollower(c *Core, m any) {
	switch m := m.(type) {
	case *msg.ClientRequest, *msg.ReadRequest, *msg.ChangeRequest:
		c.route(m)
	}
}

// route sends a request to the leader we know. Without one the request is
// rejected at once as not proposed: the client waits for a leader (the node
// API watches leader changes) rather than the proposer holding it, so that a
// client whose deadline passes knows its request was never proposed.
func (c *Core) route(m any) {
	if c.leader == 0 || c.leader == c.cfg.ID {
		c.reject(m, msg.RejectNoLeader)
		return
	}
	switch m := m.(type) {
	case *msg.ClientRequest:
		if m.Hops >= c.cfg.MaxHops {
			c.reject(m, msg.RejectNoLeader)
			return
		}
		c.send(c.leader, msg.RoleProposer, &msg.ClientRequest{Cmd: m.Cmd, Hops: m.Hops + 1, Attempt: m.Attempt})
	case *msg.ReadRequest:
		if m.Hops >= c.cfg.MaxHops {
			c.reject(m, msg.RejectNoLeader)
			return
		}
		c.send(c.leader, msg.RoleProposer, &msg.ReadRequest{Origin: m.Origin, Reply: m.Reply, Hops: m.Hops + 1})
	case *msg.ChangeRequest:
		if m.Hops >= c.cfg.MaxHops {
			c.reject(m, msg.RejectNoLeader)
			return
		}
		c.send(c.leader, msg.RoleProposer, &msg.ChangeRequest{Change: m.Change, Origin: m.Origin, Reply: m.Reply, Hops: m.Hops + 1})
	}
}

// --- candidate ---------------------------------------------------------------

func stepCandidate(c *Core, m any) {
	switch m := m.(type) {
	case *msg.ClientRequest:
		if !c.handover.IsZero() {
			// The leader handed over to us and forwards what it queued:
			// keep it for our first slots (or for the leader we yield to).
			c.enqueue(m)
			return
		}
		c.route(m)
	case *msg.ReadRequest, *msg.ChangeRequest:
		c.route(m)
	case *msg.Promise:
		if m.Ballot != c.ballot || m.Probe != c.probing {
			return
		}
		c.promises[m.From] = m
		if !countIn(c.members.For(c.fromSlot).Quorum(), func(id msg.NodeID) bool { return c.promises[id] != nil }) {
			return
		}
		if c.probing {
			// A quorum would promise: now ask for real.
			c.probing = false
			c.promises = map[msg.NodeID]*msg.Promise{}
			c.sendPrepare(true)
			return
		}
		c.becomeLeader()
	}
}

// --- leader ------------------------------------------------------------------

func stepLeader(c *Core, m any) {
	switch m := m.(type) {
	case *msg.ClientRequest:
		c.enqueue(m)
		c.propose()
	case *msg.ReadRequest:
		// Linearizable without the log: any write acknowledged before this
		// read arrived sits in a slot we have already assigned (ours, or
		// recovered by our phase 1, whether or not the gate has let us
		// propose it again yet), and a quorum confirming our ballot after
		// this point proves no higher ballot chose anything before it.
		c.reads = append(c.reads, pendingRead{req: m, index: max(c.nextSlot-1, c.bestTop), needSeq: c.hbSeq + 1})
		if c.quorumSeq() >= c.hbSeq {
			c.sendHeartbeat()
		}
	case *msg.ChangeRequest:
		c.proposeChange(m)
	case *msg.Promise:
		// A promise that came late, or one from an acceptor of a newer
		// configuration (prepareMissing).
		if m.Ballot == c.ballot && !m.Probe && !c.promised[m.From] {
			c.promise(m)
			if c.nextSlot <= c.truncated {
				c.why = StepDownChosen + ": the log was truncated past our next slot"
				c.becomeFollower(0, msg.Ballot{}) // slots we never proposed are chosen
				return
			}
			c.propose()
		}
	case *msg.HeartbeatAck:
		if m.Ballot != c.ballot {
			return
		}
		if c.ballot.Less(m.Promised) {
			c.maxSeen = msg.MaxBallot(c.maxSeen, m.Promised)
			c.why = StepDownBallot + ": replica " + m.From.String() + " promised ballot " + m.Promised.String()
			c.becomeFollower(0, msg.Ballot{})
			return
		}
		if m.Truncated > c.truncated {
			// Slots up to it are chosen, and that acceptor ignores Accepts
			// for them: stop resending them (our learner fetches them, told
			// by our heartbeats' commit point).
			c.truncated = m.Truncated
			for s := range c.inflight {
				if s <= c.truncated {
					delete(c.inflight, s)
				}
			}
			if c.nextSlot <= c.truncated {
				// Slots we never proposed are chosen: a higher ballot led.
				c.why = StepDownChosen + ": the log was truncated past our next slot"
				c.becomeFollower(0, msg.Ballot{})
				return
			}
			c.propose()
		}
		if m.Seq > c.ackSeq[m.From] {
			c.ackSeq[m.From] = m.Seq
		}
		c.ackWitness[m.From] = m.Witness
		c.ackTick[m.From] = c.now
		c.serveReads()
	}
}

// Holding reports whether the leader holds its next slot for a fuller batch
// (HoldBatches); the Runner arms a timer to release it.
func (c *Core) Holding() bool { return c.holdTarget > 0 }

func (c *Core) release() {
	if c.holdTarget == 0 {
		return
	}
	c.holdTarget = 0
	if c.role != leader {
		return
	}
	c.propose()
	if c.cfg.Planted.ReleaseUnchosen && c.nextSlot > 1 {
		c.chosen = msg.Run{First: max(c.chosen.First, 1), Through: c.nextSlot - 1}
	}
	c.shipChosen()
}

// enqueue queues a client's command for the next slot, or rejects it as
// overloaded when MaxQueue commands already wait.
func (c *Core) enqueue(m *msg.ClientRequest) {
	if len(c.queue) >= c.cfg.MaxQueue {
		c.reject(m, msg.RejectOverloaded)
		return
	}
	c.queue = append(c.queue, m.Cmd)
	c.queueBytes += batchSize(&m.Cmd)
	c.attempts = append(c.attempts, m.Attempt)
}

// stepRequests handles client requests that arrived together, as Step would
// one by one, except that a leader queues them all before it fills a slot:
// requests taken in one go share a batch.
func (c *Core) stepRequests(reqs []*msg.ClientRequest) {
	if c.role != leader {
		for _, m := range reqs {
			c.step(c, m)
		}
		return
	}
	_, full := c.batching()
	for _, m := range reqs {
		c.enqueue(m)
		if len(c.queue) >= full || c.queueBytes >= c.cfg.MaxBatchBytes {
			// A full batch leaves now, as it would one request at a time,
			// so that MaxQueue turns away no more than it would then.
			c.propose()
		}
	}
	c.propose()
}

// RequestsWanted says when client requests waiting outside the proposer
// (node's intake) are worth waking it for: once n of them, or bytes of their
// batchSize (0: no byte bound), are waiting. Below that the proposer would
// only queue them, and takes them at its next message anyway (a Committed
// that frees the window, a tick).
func (c *Core) RequestsWanted() (n, bytes int) {
	if c.role != leader {
		return 1, 0 // forwarded or rejected at once
	}
	eager, full := c.batching()
	if c.holdTarget > 0 {
		return max(1, c.holdTarget-len(c.queue)), max(1, c.cfg.MaxBatchBytes-c.queueBytes)
	}
	if len(c.queue) >= c.cfg.MaxQueue ||
		len(c.inflight) < min(eager, c.cfg.Window) {
		return 1, 0
	}
	n = c.cfg.MaxQueue - len(c.queue) // overload is answered promptly
	if len(c.inflight) < c.cfg.Window {
		n = min(n, max(1, full-len(c.queue)))
		bytes = max(1, c.cfg.MaxBatchBytes-c.queueBytes)
	}
	return n, bytes
}

// batching is EagerSlots and FullBatch with their defaults applied.
func (c *Core) batching() (eager, full int) {
	eager, full = c.cfg.EagerSlots, c.cfg.FullBatch
	if eager <= 0 {
		eager = 1
	}
	if full <= 0 || full > c.cfg.MaxBatch {
		full = c.cfg.MaxBatch
	}
	return eager, full
}

// propose fills free slots of the window with batches of queued commands.
// Batches grow on their own under load: while the eager slots are taken,
// commands queue up, and the next slot takes as many as fit.
func (c *Core) propose() {
	if c.transferTo != 0 {
		return // handing over: the target takes what is queued
	}
	c.recover()
	if c.best != nil {
		return // recovered slots come first
	}
	if ch := c.change; ch != nil && c.changeSlot == 0 && c.gate(c.nextSlot) && len(c.inflight) < c.cfg.Window {
		c.change = nil
		c.openSlot(&msg.Value{Change: ch.Change})
	}
	if f := c.floor; f != nil && c.gate(c.nextSlot) && len(c.inflight) < c.cfg.Window {
		c.floor = nil
		c.floorSlot = c.nextSlot
		c.openSlot(&msg.Value{Floor: f})
	}
	eager, full := c.batching()
	if c.holdTarget > 0 && len(c.queue) < c.holdTarget && c.queueBytes < c.cfg.MaxBatchBytes {
		return
	}
	for len(c.queue) > 0 && len(c.inflight) < c.cfg.Window && c.gate(c.nextSlot) &&
		(len(c.inflight) < eager || len(c.queue) >= full || c.queueBytes >= c.cfg.MaxBatchBytes) {
		c.holdTarget = 0
		n, size := 0, 0
		for n < len(c.queue) && n < c.cfg.MaxBatch {
			sz := batchSize(&c.queue[n])
			if n > 0 && size+sz > c.cfg.MaxBatchBytes {
				break
			}
			size += sz
			n++
		}
		v := &msg.Value{Cmds: slices.Clone(c.queue[:n])}
		c.queue, c.attempts = c.queue[n:], c.attempts[n:]
		c.queueBytes -= size
		if len(c.queue) == 0 {
			c.queue, c.attempts, c.queueBytes = nil, nil, 0
		}
		c.openSlot(v)
	}
}

// openSlot proposes v at the next slot.
func (c *Core) openSlot(v *msg.Value) {
	slot := c.nextSlot
	c.nextSlot++
	if len(v.Change) > 0 {
		c.changeSlot = slot
	}
	c.inflight[slot] = &inflight{value: v, sentAt: c.now}
	c.shipped = c.chosen.Through
	c.sendAccept([]msg.Proposal{{Slot: slot, Value: v}}, c.chosen)
}

// fillToChange proposes no-ops up to the slot before the latest
// configuration takes effect, when no command is waiting to fill them: an
// idle cluster would otherwise take a change into force only as fast as
// writes come, and whoever asked for it waits for that.
func (c *Core) fillToChange() {
	if c.role != leader || len(c.queue) > 0 || c.transferTo != 0 || c.best != nil {
		return
	}
	var props []msg.Proposal
	for c.nextSlot < c.members.LatestFrom() && c.gate(c.nextSlot) {
		v := &msg.Value{}
		props = append(props, msg.Proposal{Slot: c.nextSlot, Value: v})
		c.inflight[c.nextSlot] = &inflight{value: v, sentAt: c.now}
		c.nextSlot++
	}
	c.sendAccept(props, c.chosen)
}

// proposeChange takes a membership change: one at a time, so it is refused
// as busy while another is waiting, in flight, or chosen and not yet in
// force (which Apply would refuse anyway, at the cost of a slot).
func (c *Core) proposeChange(m *msg.ChangeRequest) {
	if c.change != nil || c.changeSlot != 0 || c.members.LatestFrom() > c.commit+1 || c.transferTo != 0 {
		c.reject(m, msg.RejectConfigBusy)
		return
	}
	if id, ok := c.promotes(m.Change); ok && !c.caughtUp(id) {
		c.reject(m, msg.RejectNotCaughtUp)
		return
	}
	if c.witnessAsFull(m.Change) {
		c.reject(m, msg.RejectWitnessRoles)
		return
	}
	c.change = m
	c.propose()
}

// promotes reports whether the encoded change would make a replica an
// acceptor that is not one in the latest configuration, and which.
func (c *Core) promotes(b []byte) (msg.NodeID, bool) {
	ch, err := membership.DecodeChange(b)
	if err != nil || ch.Member.Roles&membership.Acceptor == 0 {
		return 0, false // a malformed change is refused where it is applied
	}
	switch ch.Op {
	case membership.Add:
		return ch.Member.ID, true
	case membership.SetRoles:
		return ch.Member.ID, !c.members.Latest().Runs(ch.Member.ID, membership.Acceptor)
	}
	return 0, false
}

// caughtUp reports whether replica id answered one of our heartbeats
// within an election timeout, with its learner within catchUpSlack (or α)
// slots of the commit point the heartbeat carried. A new id never has: it
// is added as a learner first, which hears our heartbeats.
func (c *Core) caughtUp(id msg.NodeID) bool {
	if id == c.cfg.ID {
		return true // our learner is as far as the log goes
	}
	p, ok := c.progress[id]
	return ok && c.now-p.at <= c.cfg.ElectionTicks && p.delivered+max(c.members.Alpha, catchUpSlack) >= p.commit
}

// catchUpSlack is how far behind the log a learner may be and still be
// made an acceptor: a few slots more than a live follower trails the
// leader by (its window of slots in flight), so that the replica has
// installed the snapshot and replayed the log before it counts. Slots, not
// commands, are the unit, and a slot may hold a batch of thousands of
// commands: a larger slack would let a replica count with most of the
// state still to fetch. The check keeps a replica that does not run, or is
// still far behind, out of the quorums the cluster waits on; what a
// promoted replica still lacks, the acceptors of the slots hold.
const catchUpSlack = 64

// batchSize is what a command counts against MaxBatchBytes: its data and a
// fixed allowance for its other fields.
func batchSize(cmd *msg.Command) int { return len(cmd.Data) + 32 }

func (c *Core) sendHeartbeat() {
	c.hbSeq++
	c.hbSentAt = c.now
	// The commit point includes slots known chosen through truncation, so
	// that learners fetch them: ours too, which may be the one behind.
	hb := &msg.Heartbeat{From: c.cfg.ID, Ballot: c.ballot, Seq: c.hbSeq, Commit: max(c.commit, c.truncated), Chosen: c.chosen}
	span := c.governing()
	for _, id := range c.everyone {
		for _, cfg := range span {
			// Only acceptors of a configuration still to govern a slot
			// run one (roles.RunsAcceptor).
			if cfg.Runs(id, membership.Acceptor) {
				c.send(id, msg.RoleAcceptor, hb)
				break
			}
		}
		c.send(id, msg.RoleLearner, hb)
		if id != c.cfg.ID {
			c.send(id, msg.RoleProposer, hb)
		}
	}
}

// proposeFloor proposes a witness floor when the cluster has a witness and
// every replica with state has reported a durable snapshot past the last
// floor that held: the lowest of those snapshots, with the reports as
// evidence, if it holds in the membership this leader knows. The learners
// check it again against the membership as of the floor's slot
// (membership.History.Holds), so a change chosen before it that adds a
// learner this leader has not counted voids the floor rather than letting
// witnesses drop what that learner may need. Without a witness no floor is
// ever proposed.
func (c *Core) proposeFloor() {
	if c.floor != nil || c.floorSlot != 0 || c.best != nil || c.transferTo != 0 {
		return
	}
	span := c.members.Span(c.commit+1, c.members.LatestFrom())
	witness := false
	for _, cfg := range span {
		for _, id := range cfg.With(membership.Acceptor) {
			witness = witness || c.ackWitness[id] || c.progress[id].witness
		}
	}
	if !witness {
		return
	}
	var f membership.Floor
	for _, cfg := range span {
		for _, id := range cfg.With(membership.Learner) {
			snap := c.snapshot
			if id != c.cfg.ID {
				p, ok := c.progress[id]
				if !ok || p.witness || c.ackWitness[id] {
					return // no report yet, or a witness with a learner: nothing to count on
				}
				snap = p.snapshot
			}
			if len(f.Holds) == 0 || snap < f.Through {
				f.Through = snap
			}
			if !slices.ContainsFunc(f.Holds, func(h membership.Hold) bool { return h.ID == id }) {
				f.Holds = append(f.Holds, membership.Hold{ID: id, Snapshot: snap})
			}
		}
	}
	if f.Through <= c.floorHeld || !c.members.Holds(c.nextSlot, &f) {
		return
	}
	c.floor = f.Encode()
	c.propose()
}

// witnessAsFull reports whether the encoded change would make a replica
// that reports itself a witness (in its Progress or its acceptor's acks)
// both an acceptor and a learner: it would serve reads and snapshots of a
// state it does not hold. A witness added as a learner, then given the
// acceptor role alone, never is.
func (c *Core) witnessAsFull(b []byte) bool {
	ch, err := membership.DecodeChange(b)
	if err != nil || ch.Op == membership.Remove {
		return false
	}
	r, id := ch.Member.Roles, ch.Member.ID
	return r.Has(membership.Acceptor) && r.Has(membership.Learner) && (c.progress[id].witness || c.ackWitness[id])
}

// governing returns the configurations that govern a slot after our commit
// point, in force or pending: the only ones whose acceptors still decide
// anything (and the only ones that run an acceptor, roles.RunsAcceptor).
func (c *Core) governing() []*membership.Config {
	return c.members.Span(c.commit+1, max(c.commit+c.members.Alpha, c.members.LatestFrom()))
}

// quorumSeq is the highest heartbeat a quorum of the acceptors of every
// governing configuration has acknowledged.
func (c *Core) quorumSeq() uint64 {
	q := ^uint64(0)
	for _, cfg := range c.governing() {
		q = min(q, cfg.Quorum().Committed(func(id msg.NodeID) uint64 { return c.ackSeq[id] }))
	}
	return q
}

func (c *Core) serveReads() {
	if len(c.reads) == 0 || c.changeSlot != 0 || c.best != nil || c.nextSlot-1 > c.commit+c.members.Alpha {
		// A read needs a quorum of every configuration that may govern a
		// slot up to its index, and we know the configurations only up to
		// α past our commit point: while a change is in flight, while
		// recovered values (a change among them, perhaps) wait for the
		// gate, or while slots known chosen only through a truncation
		// point lie further than that, the reads wait for our learner.
		return
	}
	q := c.quorumSeq()
	keep := c.reads[:0]
	for _, r := range c.reads {
		if r.needSeq <= q {
			c.reply(r.req.Origin, r.req.Reply, &msg.ReadIndex{Index: r.index})
		} else {
			keep = append(keep, r)
		}
	}
	c.reads = keep
	if len(c.reads) > 0 && q >= c.hbSeq {
		c.sendHeartbeat()
	}
}

func (c *Core) tickLeader() {
	if c.transferTo != 0 {
		switch {
		case c.now >= c.transferUntil:
			// The target did not take over in time (down, or cut off): lead on.
			c.transferTo, c.transferSentAt = 0, 0
			c.propose()
		case c.transferSentAt > 0 && c.now-c.transferSentAt >= c.cfg.ResendTicks:
			c.transferSentAt = 0 // lost, or the target was still catching up
			c.tryHandOver()
		}
	}
	c.release() // a hold lasts less than a tick
	c.fillToChange()
	c.proposeFloor()
	if !c.proposer() && c.transferTo == 0 {
		// The latest configuration makes us no proposer: hand over to one
		// that is (none live yet: try again next tick).
		c.transfer(&msg.TransferLeader{})
	}
	if c.now-c.hbSentAt >= c.cfg.HeartbeatTicks {
		c.sendHeartbeat()
	}
	// Check quorum: a leader that has not heard a quorum for an election
	// timeout steps down, so its clients learn there is no leader instead of
	// waiting on a partitioned one.
	if c.now-c.leaderSince >= c.cfg.ElectionTicks {
		for _, cfg := range c.governing() {
			if !countIn(cfg.Quorum(), c.live) {
				c.why = fmt.Sprintf("%s: %d of %d acceptors answered heartbeats within %d ticks",
					StepDownQuorum, countLive(cfg.Quorum(), c.live), len(cfg.Quorum().Voters()), c.cfg.ElectionTicks)
				c.becomeFollower(0, msg.Ballot{})
				return
			}
		}
	}
	if c.now-c.preparedAt >= c.cfg.ResendTicks && !c.prepared(c.members.Latest()) {
		c.prepareMissing() // lost, or a new acceptor was still starting
	}
	// Resend what has waited too long: the Accept or its answers were lost.
	var again []msg.Proposal
	for s, f := range c.inflight {
		if c.now-f.sentAt >= c.cfg.ResendTicks {
			f.sentAt = c.now
			again = append(again, msg.Proposal{Slot: s, Value: f.value})
		}
	}
	if len(again) > 0 {
		slices.SortFunc(again, func(a, b msg.Proposal) int { return cmp.Compare(a.Slot, b.Slot) })
		c.sendAccept(again, msg.Run{})
	}
}
