package learner

import (
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/actors/quorum"
	"github.com/rsml-go/rsml/actors/role"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// Config holds the learner's membership and limits.
type Config struct {
	ID msg.NodeID
	// Members is the cluster's first configuration. Nil: every one of
	// Acceptors runs every role, with membership.DefaultAlpha.
	Members *membership.History
	// Acceptors make the first configuration when Members is nil.
	Acceptors []msg.NodeID
	// SnapshotMembers reads the membership a snapshot's data carries (ok
	// false: none, the first configuration holds). Nil: snapshots carry
	// none.
	SnapshotMembers func(data []byte) (h *membership.History, ok bool, err error)
	// StallTicks is how long the learner waits, behind and without progress,
	// before it fetches from a peer: under load slots complete out of order
	// and gaps close on their own within microseconds.
	StallTicks int
	// ResendTicks is how long a catch-up request waits before it is retried
	// with another peer.
	ResendTicks int
	// MaxCatchup bounds the slots, and MaxCatchupBytes the bytes, of one
	// catch-up reply; MaxCatchupBytes is also the size of a snapshot chunk.
	MaxCatchup      int
	MaxCatchupBytes int
	// Witness: this replica's state machine holds nothing, so its
	// snapshots describe nothing a peer could use. It never serves one,
	// nor points a peer at one: a peer asking for slots it dropped is told
	// only how far it has delivered, and asks another.
	Witness bool
}

// A transfer of a peer's snapshot to this replica, pulled one chunk at a time.
type transfer struct {
	peer   msg.NodeID
	slot   uint64 // 0 until the first chunk names it
	rev    uint64
	size   uint64
	crc    uint32
	buf    []byte
	sentAt int // when the outstanding request went out
	tries  int // requests for the same chunk without an answer
}

// The snapshot this replica serves to peers, kept while a transfer runs.
type serving struct {
	snap   storage.Snapshot
	crc    uint32
	usedAt int
}

type vote struct {
	ballot msg.Ballot
	mask   uint64
}

// Core is the learner's protocol state. It reads its chosen log and its
// snapshots; its writes go out through Ready. It is not safe for concurrent
// use.
type Core struct {
	cfg     Config
	members *membership.History // as of delivered
	log     storage.ChosenLog
	snaps   storage.SnapshotStore
	out     []msg.Out
	writes  role.ChosenWrites // to the chosen log, with the next Ready
	saveJob *role.SnapshotJob // a peer's snapshot to save, with the next Ready
	now     int

	delivered uint64                // every slot up to here is in log and sent to the executor
	votes     map[uint64][]vote     // undecided slots: acceptors per ballot
	local     map[uint64]msg.Entry  // our acceptor's copy of undelivered slots
	waiting   map[uint64]msg.Ballot // chosen, but we lack the value of that ballot
	ready     map[uint64]*msg.Value // chosen with value, behind a gap
	readyAt   map[uint64]msg.Ballot // ready slots seen chosen by a quorum in that ballot

	// run is the leader's latest word on slots a quorum accepted in its
	// ballot: our acceptor's copies in that ballot are the chosen values.
	runBallot msg.Ballot
	run       msg.Run
	// mine is the latest stretch of delivered slots each seen chosen by a
	// quorum in mineBallot: our proposer, if it leads in that ballot, passes
	// it on to the other learners.
	mineBallot msg.Ballot
	mine       msg.Run

	commit     uint64 // the highest slot known chosen
	leader     msg.NodeID
	stuckAt    uint64 // delivered point when the current stall began
	stuckSince int
	fetchedAt  int
	fetching   bool
	peerTurn   int
	// heardAt is when a leader's heartbeat last came, probedAt when we
	// last asked a peer what follows our delivered point without knowing
	// we were behind (probe); probing says that probe is unanswered.
	heardAt, probedAt int
	probing           bool

	installs uint64 // peers' snapshots installed by this incarnation
	lastSnap uint64 // the executor's latest durable snapshot this incarnation heard of
	// The two newest snapshots known durable (loaded at start, made or
	// installed since): held, the older, is what the replica reports
	// holding (msg.Committed.Snapshot), which one damaged file cannot
	// make false.
	newest, held uint64
	// floorHeld is the highest witness floor delivered that held at its
	// slot (this incarnation: floors below its snapshot are not seen).
	floorHeld  uint64
	floors     FloorStats
	incoming   *transfer         // a peer's snapshot being received
	installing *storage.Snapshot // a peer's snapshot being saved, to install once durable
	serving    *serving          // our snapshot being sent
}

// New builds a learner over the chosen values already in log. A snapshot
// beyond the log (one installed from a peer just before a crash, or a log
// whose unsynced tail a power cut took) moves the log's start up to it: the
// first Ready resets the log there. The first Ready also carries what a
// (re)started learner sends (see Start).
func New(cfg Config, log storage.ChosenLog, snaps storage.SnapshotStore) (*Core, error) {
	if cfg.Members == nil {
		if len(cfg.Acceptors) > quorum.MaxVoters {
			return nil, fmt.Errorf("learner: %d acceptors, at most %d", len(cfg.Acceptors), quorum.MaxVoters)
		}
		h, err := membership.Bootstrap(membership.DefaultAlpha, Everyone(cfg.Acceptors))
		if err != nil {
			return nil, fmt.Errorf("learner: %w", err)
		}
		cfg.Members = h
	}
	c := &Core{cfg: cfg, members: cfg.Members, log: log, snaps: snaps,
		votes: map[uint64][]vote{}, local: map[uint64]msg.Entry{}, waiting: map[uint64]msg.Ballot{},
		ready: map[uint64]*msg.Value{}, readyAt: map[uint64]msg.Ballot{}}
	c.delivered = log.Last()
	// Only the membership the snapshot starts with is needed here: a
	// large snapshot is not read into memory (the executor reads it).
	snap, ok, err := storage.LoadHead(snaps, snapshotHead)
	if err != nil {
		return nil, fmt.Errorf("learner: load snapshot: %w", err)
	}
	var from uint64 // the membership is as of this slot
	if ok {
		h, err := c.snapshotMembers(snap.Data)
		if err != nil && len(snap.Data) == snapshotHead {
			// The membership goes on past the head: read it all.
			if snap, ok, err = snaps.Load(); err == nil && ok {
				h, err = c.snapshotMembers(snap.Data)
			} else if err == nil {
				err = fmt.Errorf("the snapshot is gone")
			}
		}
		if err != nil {
			return nil, fmt.Errorf("learner: snapshot at slot %d: %w", snap.Slot, err)
		}
		c.members, from, c.newest = h, snap.Slot, snap.Slot
		if snap.Slot > c.delivered {
			c.writes = role.ChosenWrites{Reset: true, ResetTo: snap.Slot}
			c.delivered = snap.Slot
		}
	}
	// The changes chosen after the snapshot are in the log.
	err = storage.Changes(log, from, c.delivered, func(s uint64, change []byte) {
		c.members, _ = c.members.Apply(s, change)
	})
	if err != nil {
		return nil, fmt.Errorf("learner: %w", err)
	}
	c.commit = c.delivered
	c.start()
	return c, nil
}

// snapshotHead is how much of a snapshot New reads into memory for the
// membership that starts it.
const snapshotHead = 64 << 10

// Everyone is the members of a cluster where every replica runs every role
// and knows no address (tests, and clusters whose addresses live elsewhere).
func Everyone(ids []msg.NodeID) []membership.Member {
	ms := make([]membership.Member, len(ids))
	for i, id := range ids {
		ms[i] = membership.Member{ID: id, Addr: "replica-" + id.String(), Roles: membership.All}
	}
	return ms
}

// snapshotMembers is the membership a snapshot carries, or the first one.
func (c *Core) snapshotMembers(data []byte) (*membership.History, error) {
	if c.cfg.SnapshotMembers == nil {
		return c.cfg.Members, nil
	}
	h, ok, err := c.cfg.SnapshotMembers(data)
	if err != nil || !ok {
		return c.cfg.Members, err
	}
	return h, nil
}

// Members is the membership as of the delivered point.
func (c *Core) Members() *membership.History { return c.members }

// Delivered is the learner's commit point: every slot up to it is chosen,
// stored and handed to the executor.
func (c *Core) Delivered() uint64 { return c.delivered }

// Installs counts the peers' snapshots this core installed.
func (c *Core) Installs() uint64 { return c.installs }

// FloorStats counts the witness floors a witness's learner delivered: those
// it passed to its acceptor, and those that did not hold at their slot (a
// membership change the leader had not counted came first).
type FloorStats struct {
	Taken, Refused uint64
}

// Floors returns the floor counts of this incarnation.
func (c *Core) Floors() FloorStats { return c.floors }

// start queues what a (re)started learner sends: the last delivered slot
// again, so that an executor that missed it notices the gap and resyncs, and
// the commit point for the proposer.
func (c *Core) start() {
	if c.delivered > 0 {
		if v, ok := c.log.Get(c.delivered); ok {
			c.send(c.cfg.ID, msg.RoleExecutor, &msg.Deliver{First: c.delivered, Values: []*msg.Value{v}})
		}
		c.send(c.cfg.ID, msg.RoleProposer, &msg.Committed{Commit: c.delivered, Members: c.members, Snapshot: c.held, Floor: c.floorHeld})
	}
}

// Step handles one message.
func (c *Core) Step(m any) {
	switch m := m.(type) {
	case *msg.Accepted:
		c.accepted(m)
	case *msg.Accept:
		c.acceptCopy(m)
	case *msg.Heartbeat:
		c.leader, c.heardAt = m.From, c.now
		if m.Commit > c.commit {
			c.commit = m.Commit
		}
		c.chosenRun(m.Ballot, m.Chosen)
		c.advance()
		c.maybeFetch()
	case *msg.ChosenRun:
		c.chosenRun(m.Ballot, m.Run)
		c.advance()
	case *msg.CatchupRequest:
		c.serveCatchup(m)
	case *msg.CatchupReply:
		c.catchupReply(m)
	case *msg.Resync:
		c.resync(m.From)
	case *msg.Snapshotted:
		c.snapshotted(m.Slot)
	case *msg.SnapshotRequest:
		c.serveSnapshot(m)
	case *msg.SnapshotChunk:
		c.chunk(m)
	case *msg.SnapshotSaved:
		c.saved(m)
	}
}

// Ready implements role.Core: the writes to the chosen log (delivered slots
// are stored before the executor hears of them), a peer's snapshot to save,
// and the messages.
func (c *Core) Ready() role.Ready {
	rd := role.Ready{Chosen: c.writes, Snapshot: c.saveJob, Messages: c.flush()}
	c.writes, c.saveJob = role.ChosenWrites{}, nil
	return rd
}

// Advance implements role.Core.
func (c *Core) Advance() {}

// Tick advances the clock and retries a catch-up or a snapshot chunk that got
// no answer.
func (c *Core) Tick() {
	c.now++
	if c.serving != nil && c.now-c.serving.usedAt > 100*max(c.cfg.ResendTicks, 1) {
		c.serving = nil // nobody is pulling it any more: free the memory
	}
	if t := c.incoming; t != nil {
		if c.now-t.sentAt >= max(c.cfg.ResendTicks, 1) {
			if t.tries >= 5 {
				// That peer is gone or cannot serve it: start over elsewhere.
				c.incoming = nil
				c.peerTurn++
				c.fetching = false
			} else {
				c.requestChunk()
			}
		}
		return
	}
	c.maybeFetch()
	c.probe()
}

// probe asks a peer for what follows our delivered point when no leader
// has been heard for a while: without heartbeats nothing says we are
// behind, and a replica may need slots it has not delivered before it can
// help elect a leader (its acceptor runs only once it has delivered the
// change that gives it a vote, roles.RunsAcceptor).
func (c *Core) probe() {
	quiet := 3 * max(c.cfg.ResendTicks, 1)
	if c.fetching || c.incoming != nil || c.installing != nil || c.now-c.heardAt < quiet || c.now-c.probedAt < quiet {
		return
	}
	peer := c.pickPeer()
	if peer == 0 {
		return
	}
	if c.probing {
		// The last probe got no answer: that peer may be gone. (An answer
		// with nothing turns to the next peer itself; turning here too
		// would skip every other peer, and with two peers ask the same
		// one forever.)
		c.peerTurn++
		peer = c.pickPeer()
	}
	c.probedAt, c.probing = c.now, true
	c.send(peer, msg.RoleLearner, &msg.CatchupRequest{From: c.cfg.ID, First: c.delivered + 1, Last: c.delivered + uint64(max(c.cfg.MaxCatchup, 1))})
}

func (c *Core) flush() []msg.Out {
	out := c.out
	c.out = nil
	return out
}

func (c *Core) send(node msg.NodeID, role msg.Role, m any) {
	c.out = append(c.out, msg.Out{To: msg.Target{Node: node, Role: role}, Msg: m})
}

func (c *Core) accepted(m *msg.Accepted) {
	if m.From == c.cfg.ID && len(m.Slots) > 0 && m.Slots[0] <= c.delivered {
		// A leader re-proposing what we already delivered (a restarted
		// proposer that campaigned before hearing our commit point): tell it.
		c.send(c.cfg.ID, msg.RoleProposer, &msg.Committed{Commit: c.delivered, Snapshot: c.held, Floor: c.floorHeld})
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
				c.ready[s], c.readyAt[s] = m.Values[i], b
				continue
			}
			if m.Ballot == c.runBallot && c.run.First <= s && s <= c.run.Through {
				// The leader already told us a quorum accepted it.
				delete(c.votes, s)
				c.ready[s], c.readyAt[s] = m.Values[i], m.Ballot
				continue
			}
		}
		// Votes count only where the configuration is known (the slot is
		// within α of what we delivered), and only those of its acceptors.
		// A leader proposes only there, so votes dropped here are for
		// another leader's slots, or ours from before a restart that lost
		// delivered slots: not counting is always safe.
		if s > c.delivered+c.members.Alpha {
			continue
		}
		q := c.members.For(s).Quorum()
		bit, ok := q.Bit(m.From)
		if !ok {
			continue
		}
		// A slot waiting for the value of its chosen ballot keeps counting:
		// a quorum in a later ballot (the same value, re-proposed by a leader
		// that recovered it) may match our acceptor's copy where the earlier
		// one cannot. Only this learner counts votes, so nobody else could
		// deliver it (the simulator's seed 5390 with 5 replicas stalled so).
		vs := c.votes[s]
		j := 0
		for j < len(vs) && vs[j].ballot != m.Ballot {
			j++
		}
		if j == len(vs) {
			vs = append(vs, vote{ballot: m.Ballot})
		}
		vs[j].mask |= bit
		c.votes[s] = vs
		if q.Reached(vs[j].mask) {
			c.chosen(s, m.Ballot)
		}
	}
	c.advance()
}

// acceptCopy takes a leader's Accept, which an observer (a learner with no
// acceptor of its own) gets instead of its acceptor's copies: the value the
// leader proposed at a slot in ballot b is the one chosen there if a quorum
// accepted it in b, since one ballot carries one value per slot. It is no
// vote; the chosen runs (this Accept's, heartbeats', ChosenRuns) say which
// slots to deliver.
func (c *Core) acceptCopy(m *msg.Accept) {
	for _, p := range m.Proposals {
		s := p.Slot
		if s <= c.delivered || c.ready[s] != nil {
			continue
		}
		if e, ok := c.local[s]; !ok || e.Ballot.Less(m.Ballot) {
			c.local[s] = msg.Entry{Slot: s, Ballot: m.Ballot, Value: p.Value}
		}
		if b, ok := c.waiting[s]; ok && b == m.Ballot {
			delete(c.waiting, s)
			c.ready[s], c.readyAt[s] = p.Value, b
		} else if m.Ballot == c.runBallot && c.run.First <= s && s <= c.run.Through {
			c.ready[s], c.readyAt[s] = p.Value, m.Ballot
		}
	}
	c.chosenRun(m.Ballot, m.Chosen)
	c.advance()
}

// chosen records that slot s was chosen in ballot b.
func (c *Core) chosen(s uint64, b msg.Ballot) {
	delete(c.votes, s)
	if e, ok := c.local[s]; ok && e.Ballot == b {
		c.ready[s], c.readyAt[s] = e.Value, b
		return
	}
	// Our acceptor's copy, if any, is from another ballot and may hold a value
	// that was never chosen: fetch the chosen one from a peer. Only we
	// counted the votes, so tell the peers first: they deliver it from their
	// own acceptors' copies in b, and then have it for us.
	c.waiting[s] = b
	if s > c.commit {
		c.commit = s
	}
	run := &msg.ChosenRun{From: c.cfg.ID, Ballot: b, Run: msg.Run{First: s, Through: s}}
	for _, id := range c.learners() {
		if id != c.cfg.ID {
			c.send(id, msg.RoleLearner, run)
		}
	}
}

// learners are the learners of every configuration we know of, in force or
// pending.
func (c *Core) learners() []msg.NodeID {
	ids := c.members.Latest().With(membership.Learner)
	for _, e := range c.members.Epochs[:len(c.members.Epochs)-1] {
		for _, id := range e.Config.With(membership.Learner) {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// chosenRun takes the leader's word that a quorum accepted every slot of r in
// ballot b. One ballot carries one value per slot, so our acceptor's copy
// accepted in b is the chosen value; a slot without such a copy is fetched
// (the commit point moves past it).
func (c *Core) chosenRun(b msg.Ballot, r msg.Run) {
	if r.Empty() {
		return
	}
	if r.Through > c.commit {
		c.commit = r.Through
	}
	if b == c.runBallot && r.First <= c.run.Through+1 && r.Through > c.run.Through {
		c.run.Through = r.Through
		c.run.First = min(c.run.First, r.First)
	} else if b != c.runBallot || r.Through > c.run.Through {
		c.runBallot, c.run = b, r
	}
	lo := max(r.First, c.delivered+1)
	if lo > r.Through {
		return
	}
	take := func(s uint64, e msg.Entry) {
		if e.Ballot == b && c.ready[s] == nil {
			delete(c.votes, s)
			delete(c.waiting, s)
			c.ready[s], c.readyAt[s] = e.Value, b
		}
	}
	if r.Through-lo < uint64(len(c.local)) {
		for s := lo; s <= r.Through; s++ {
			if e, ok := c.local[s]; ok {
				take(s, e)
			}
		}
		return
	}
	for s, e := range c.local {
		if s >= lo && s <= r.Through {
			take(s, e)
		}
	}
}

// advance delivers every ready slot that follows the delivered prefix. The
// slots go into the chosen log with the Ready that sends them to the executor:
// stored first.
func (c *Core) advance() {
	if c.installing != nil {
		return // the snapshot comes first; its install advances
	}
	first := c.delivered + 1
	var vals []*msg.Value
	for {
		v, ok := c.ready[c.delivered+1]
		if !ok {
			break
		}
		s := c.delivered + 1
		if len(c.writes.Values) == 0 {
			c.writes.First = s
		}
		c.writes.Values = append(c.writes.Values, v)
		delete(c.ready, s)
		delete(c.local, s)
		delete(c.votes, s)
		delete(c.waiting, s)
		if len(v.Change) > 0 {
			c.members, _ = c.members.Apply(s, v.Change)
		}
		if len(v.Floor) > 0 {
			c.floor(s, v.Floor)
		}
		if b, ok := c.readyAt[s]; ok {
			delete(c.readyAt, s)
			if b == c.mineBallot && c.mine.Through == s-1 && !c.mine.Empty() {
				c.mine.Through = s
			} else {
				c.mineBallot, c.mine = b, msg.Run{First: s, Through: s}
			}
		} else {
			c.mineBallot, c.mine = msg.Ballot{}, msg.Run{}
		}
		c.delivered = s
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return
	}
	if c.delivered > c.commit {
		c.commit = c.delivered
	}
	c.send(c.cfg.ID, msg.RoleExecutor, &msg.Deliver{First: first, Values: vals})
	c.send(c.cfg.ID, msg.RoleProposer, &msg.Committed{Commit: c.delivered, Ballot: c.mineBallot, Run: c.mine, Members: c.members, Snapshot: c.held, Floor: c.floorHeld})
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
	if c.incoming != nil || c.installing != nil {
		return // a snapshot is on its way; slots follow it
	}
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
	for _, id := range c.members.Latest().With(membership.Learner) {
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
	if base := c.log.Base(); m.First <= base && m.First <= c.delivered {
		// Dropped here: the requester needs our snapshot first (a
		// witness's is empty: it asks a full replica).
		if c.cfg.Witness {
			c.send(m.From, msg.RoleLearner, r)
			return
		}
		r.Snapshot = base
		c.send(m.From, msg.RoleLearner, r)
		return
	}
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

func (c *Core) catchupReply(m *msg.CatchupReply) {
	c.probing = false
	if m.Through > c.commit {
		c.commit = m.Through
	}
	if c.installing != nil {
		return
	}
	if m.Snapshot > c.delivered && c.incoming == nil {
		c.incoming = &transfer{peer: m.From}
		c.requestChunk()
		return
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
	c.advance()
	switch {
	case c.delivered == before:
		// That peer had nothing for us; the next try goes elsewhere. Not
		// fetching any more: otherwise the resend path turns once more and,
		// with two peers, always lands on the same one (two lagging
		// followers asked each other forever, never the leader; the
		// simulator found it).
		c.peerTurn++
		c.fetching = false
	case c.behind():
		// Stream the rest without waiting for a tick.
		c.stuckAt = c.delivered
		c.fetch()
	default:
		c.fetching = false
	}
}

// resync re-delivers from slot from on, for an executor that restarted or
// missed a delivery.
func (c *Core) resync(from uint64) {
	if from == 0 {
		from = 1
	}
	// One answer holds at most resyncParts messages of MaxCatchup slots
	// and MaxCatchupBytes in all: a restarted replica replays a log that
	// may hold two snapshot intervals, which decoded at once would all be
	// in memory at once. The executor asks for the rest (Deliver.More).
	const chunk = 1024
	const resyncParts = 4
	slots, budget := resyncParts*max(c.cfg.MaxCatchup, 1), c.cfg.MaxCatchupBytes
	full := func() bool { return slots <= 0 || (c.cfg.MaxCatchupBytes > 0 && budget <= 0) }
	var out []*msg.Deliver
	s := from
	for s <= c.delivered && !full() {
		d := &msg.Deliver{First: s}
		for ; s <= c.delivered && len(d.Values) < chunk && !full(); s++ {
			v, ok := c.log.Get(s)
			if !ok {
				break
			}
			d.Values = append(d.Values, v)
			slots--
			budget -= v.Size()
		}
		if len(d.Values) == 0 {
			if len(out) == 0 {
				// Dropped here: our executor is behind our own
				// truncation point (its newest snapshot was damaged and
				// it restored an older one). Hand it the snapshot we
				// have.
				c.installLocal(from)
				return
			}
			break
		}
		out = append(out, d)
	}
	if len(out) > 0 && s <= c.delivered {
		out[len(out)-1].More = true
	}
	for _, d := range out {
		c.send(c.cfg.ID, msg.RoleExecutor, d)
	}
}

// floor takes the floor chosen at slot if it holds there: every replica
// with state then has its slots in a durable snapshot, so a witness's
// copies of them are no longer anyone's last, and a witness's acceptor may
// drop them. The check is on the membership as of slot, which every
// replica folds alike; the leader that proposed the floor may have known
// an older one. Every replica notes the floor (its proposer proposes the
// next one only above it); only a witness counts them.
func (c *Core) floor(slot uint64, b []byte) {
	f, err := membership.DecodeFloor(b)
	if err != nil || !c.members.Holds(slot, f) {
		if c.cfg.Witness {
			c.floors.Refused++
		}
		return
	}
	c.floorHeld = max(c.floorHeld, f.Through)
	if c.cfg.Witness {
		c.floors.Taken++
		c.send(c.cfg.ID, msg.RoleAcceptor, &msg.Truncate{Floor: f.Through})
	}
}

// durable notes a new durable snapshot at slot.
func (c *Core) durable(slot uint64) {
	if slot > c.newest {
		c.held, c.newest = c.newest, slot
	}
}

// snapshotted is the executor's word that a snapshot of slots up to slot is
// durable. The acceptor and the chosen log keep back to the previous
// snapshot: lagging peers catch up from the chosen log without a snapshot
// transfer, our executor can still start from the previous snapshot if the
// newest one turns out damaged, and the leader has had a whole snapshot
// interval to tell the other learners what was chosen before an acceptor's
// truncation point makes a new leader skip those slots (only the leader's
// learner counts votes; until the others hear, it alone knows).
func (c *Core) snapshotted(slot uint64) {
	if slot == 0 || slot <= c.lastSnap || slot > c.delivered {
		return
	}
	prev := c.lastSnap
	c.lastSnap = slot
	c.durable(slot)
	if prev > 0 {
		c.send(c.cfg.ID, msg.RoleAcceptor, &msg.Truncate{Through: prev})
	}
	if prev > c.log.Base() {
		c.writes.Truncate = prev
	}
	// The proposer reports what we hold (for witness floors) without
	// waiting for the next slot, which an idle cluster may not choose.
	c.send(c.cfg.ID, msg.RoleProposer, &msg.Committed{Commit: c.delivered, Snapshot: c.held, Floor: c.floorHeld})
}

func (c *Core) requestChunk() {
	t := c.incoming
	t.sentAt = c.now
	t.tries++
	c.send(t.peer, msg.RoleLearner, &msg.SnapshotRequest{From: c.cfg.ID, Slot: t.slot, Offset: uint64(len(t.buf))})
}

// serveSnapshot sends one chunk of our latest snapshot.
func (c *Core) serveSnapshot(m *msg.SnapshotRequest) {
	none := &msg.SnapshotChunk{From: c.cfg.ID}
	if c.cfg.Witness {
		c.send(m.From, msg.RoleLearner, none)
		return
	}
	if c.serving == nil || (m.Offset == 0 && m.Slot == 0) || (m.Slot != 0 && c.serving.snap.Slot != m.Slot) {
		snap, ok, err := c.snaps.Load()
		if err != nil || !ok || snap.Slot == 0 || (m.Slot != 0 && snap.Slot != m.Slot) {
			c.send(m.From, msg.RoleLearner, none)
			return
		}
		c.serving = &serving{snap: snap, crc: crc32.Checksum(snap.Data, crcTable)}
	}
	sv := c.serving
	sv.usedAt = c.now
	size := uint64(len(sv.snap.Data))
	if m.Offset > size {
		c.send(m.From, msg.RoleLearner, none)
		return
	}
	end := min(size, m.Offset+uint64(max(c.cfg.MaxCatchupBytes, 1)))
	c.send(m.From, msg.RoleLearner, &msg.SnapshotChunk{From: c.cfg.ID, Slot: sv.snap.Slot, Rev: sv.snap.Rev,
		Size: size, CRC: sv.crc, Offset: m.Offset, Data: sv.snap.Data[m.Offset:end]})
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// chunk takes one chunk of the snapshot being received.
func (c *Core) chunk(m *msg.SnapshotChunk) {
	t := c.incoming
	if t == nil || m.From != t.peer {
		return
	}
	if m.Slot == 0 || m.Slot <= c.delivered || (t.slot != 0 && (m.Slot != t.slot || m.Size != t.size || m.CRC != t.crc)) {
		// The peer has nothing (more) for us, or it moved to a newer
		// snapshot mid-way, or we caught up meanwhile: start over.
		c.incoming = nil
		c.fetching = false
		if m.Slot == 0 {
			c.peerTurn++
		}
		return
	}
	if m.Offset != uint64(len(t.buf)) {
		return // a duplicate or a stale answer
	}
	if t.slot == 0 {
		t.slot, t.rev, t.size, t.crc = m.Slot, m.Rev, m.Size, m.CRC
		t.buf = make([]byte, 0, m.Size)
	}
	if uint64(len(t.buf)+len(m.Data)) > t.size || (len(m.Data) == 0 && uint64(len(t.buf)) < t.size) {
		c.incoming = nil
		return
	}
	t.buf = append(t.buf, m.Data...)
	t.tries = 0
	if uint64(len(t.buf)) < t.size {
		c.requestChunk()
		return
	}
	c.incoming = nil
	if crc32.Checksum(t.buf, crcTable) != t.crc {
		c.fetching = false
		return // damaged on the way: the next fetch starts over
	}
	if _, err := c.snapshotMembers(t.buf); err != nil {
		c.fetching = false
		c.peerTurn++
		return // a snapshot we could not follow: another peer's may do
	}
	c.save(storage.Snapshot{Slot: t.slot, Rev: t.rev, Data: t.buf})
}

// save asks for a peer's snapshot to be made durable; install follows when it
// is (a restart then resumes from it).
func (c *Core) save(snap storage.Snapshot) {
	if snap.Slot <= c.delivered {
		return
	}
	c.installing = &snap
	data := snap.Data
	c.saveJob = &role.SnapshotJob{Slot: snap.Slot, Rev: snap.Rev, Encode: func() ([]byte, error) { return data, nil }}
}

// saved hears how the save of the snapshot being installed went.
func (c *Core) saved(m *msg.SnapshotSaved) {
	snap := c.installing
	if snap == nil || m.Slot != snap.Slot {
		return
	}
	c.installing = nil
	if m.Err != nil {
		c.fetching = false // the next fetch starts over
		return
	}
	c.install(*snap)
}

// install makes a durable peer's snapshot ours: the chosen log starts after
// it, and the executor restores it. Every slot up to it is chosen, so the
// acceptor may drop them too.
func (c *Core) install(snap storage.Snapshot) {
	if snap.Slot <= c.delivered {
		return
	}
	h, err := c.snapshotMembers(snap.Data)
	if err != nil {
		return // checked when it arrived; a local one is the executor's
	}
	c.members = h
	c.writes = role.ChosenWrites{Reset: true, ResetTo: snap.Slot}
	for s := range c.votes {
		if s <= snap.Slot {
			delete(c.votes, s)
		}
	}
	for s := range c.local {
		if s <= snap.Slot {
			delete(c.local, s)
		}
	}
	for s := range c.waiting {
		if s <= snap.Slot {
			delete(c.waiting, s)
		}
	}
	for s := range c.ready {
		if s <= snap.Slot {
			delete(c.ready, s)
			delete(c.readyAt, s)
		}
	}
	c.delivered = snap.Slot
	c.commit = max(c.commit, snap.Slot)
	c.lastSnap = snap.Slot
	c.durable(snap.Slot)
	c.installs++
	c.fetching = false
	c.send(c.cfg.ID, msg.RoleExecutor, &msg.Install{Slot: snap.Slot, Rev: snap.Rev, Data: snap.Data})
	c.send(c.cfg.ID, msg.RoleAcceptor, &msg.Truncate{Through: snap.Slot})
	c.send(c.cfg.ID, msg.RoleProposer, &msg.Committed{Commit: snap.Slot, Members: c.members, Snapshot: c.held, Floor: c.floorHeld})
	c.advance()
	if c.behind() {
		// Stream the slots that follow the snapshot without waiting.
		c.stuckAt = c.delivered
		c.fetch()
	}
}

// installLocal hands our executor our own latest snapshot when it asked for
// slots the chosen log no longer holds.
func (c *Core) installLocal(from uint64) {
	snap, ok, err := c.snaps.Load()
	if err != nil || !ok || snap.Slot < from || snap.Slot < c.log.Base() {
		return // nothing better to give; a restart of the executor retries
	}
	c.send(c.cfg.ID, msg.RoleExecutor, &msg.Install{Slot: snap.Slot, Rev: snap.Rev, Data: snap.Data})
	c.resync(snap.Slot + 1)
}
