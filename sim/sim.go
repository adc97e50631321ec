package sim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/fnv"
	"math/rand/v2"
	"runtime/debug"
	"slices"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rsml-go/rsml/actors/executor"
	"github.com/rsml-go/rsml/actors/learner"
	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/actors/proposer"
	"github.com/rsml-go/rsml/actors/quorum"
	"github.com/rsml-go/rsml/actors/roles"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// tickUnits is how many units of simulated time make one tick. Network
// latency is a few units, so many round trips fit in a tick, as on a real
// network with 10 ms ticks.
const tickUnits = 1000

// roleOrder is the order node.Start spawns the roles in; ticks go out in
// this order too.
var roleOrder = [...]msg.Role{msg.RoleAcceptor, msg.RoleLearner, msg.RoleExecutor, msg.RoleProposer}

// event is one thing that happens at a simulated time. Events at the same
// time run in the order they were scheduled (seq), so a run is a pure
// function of its seed.
type event struct {
	at  int64
	seq uint64
	// a message delivery when fn is nil
	from  msg.NodeID
	to    msg.Target
	m     any
	local bool   // sent within one replica: dropped if it restarted since
	inc   uint64 // the receiving replica's incarnation when local
	fn    func()
}

// eventQueue is a binary min-heap on (at, seq).
type eventQueue []*event

func (q eventQueue) less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}

func (q *eventQueue) push(e *event) {
	*q = append(*q, e)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *eventQueue) pop() *event {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = nil
	h = h[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.less(l, m) {
			m = l
		}
		if r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

// replica is one simulated process: durable storage that outlives crashes
// and the volatile role cores rebuilt from it.
type replica struct {
	id    msg.NodeID
	up    bool
	inc   uint64 // incarnation: bumped by every crash and restart
	store *simStore
	sm    executor.StateMachine
	roles [msg.RoleExecutor + 1]*roleCore
	// intake is where this replica's clients leave their writes for its
	// proposer, as node.Propose does.
	intake     *proposer.Intake
	tickPeriod int64
	builds     uint64 // role incarnations, to seed each proposer's rng apart
	// what the proposer last said about leadership; leaderGen counts changes
	leader    msg.NodeID
	ballot    msg.Ballot
	leaderGen uint64
	// applied point last checked by the equal-state checker
	checked uint64
	// witness: the replica holds no state machine (Config.Witnesses)
	witness bool
	// voter: its acceptor runs (roles.RunsAcceptor); offSince: since when
	// the membership has given it no vote (-1: it gives one)
	voter    bool
	offSince int64
}

// chosenRec is the first value some learner stored for a slot.
type chosenRec struct {
	by  msg.NodeID
	v   *msg.Value
	enc []byte
}

// statePoint is the first executor snapshot seen at an applied slot.
type statePoint struct {
	by   msg.NodeID
	rev  uint64
	snap []byte
}

type sim struct {
	cfg   Config
	now   int64 // simulated time in units
	steps int64 // events processed: the history's clock
	seq   uint64
	queue eventQueue
	ids   []msg.NodeID
	reps  []*replica
	net   network
	res   *Result
	trace hash.Hash64
	buf   []byte
	halt  bool // a panic or core error ended the run early

	rngNet, rngNem *rand.Rand

	chosen map[uint64]chosenRec
	points map[uint64]statePoint

	// members0 is the first configuration; oracle is the membership as of
	// slot oracleAt, folded from the agreed log by the simulator itself.
	members0, oracle *membership.History
	oracleAt         uint64
	// epochs are every configuration the agreed log made, and from which
	// slot; ledger is every acceptance any acceptor made durable, by slot,
	// ballot and value: the quorum checker's evidence.
	epochs []membership.Epoch
	// witnessTrunc is the highest truncation point a witness made durable.
	witnessTrunc uint64
	ledger       map[ledgerKey][]msg.NodeID
	// promisers are the acceptors whose promise of a ballot reached its
	// proposer; proposed, for each slot and ballot, the promisers its
	// proposer had heard when it first sent an Accept there.
	promisers map[msg.Ballot][]msg.NodeID
	proposed  map[slotBallot][]msg.NodeID

	clients []*client
	waiters map[string]*client
	acked   []ackedWrite
	nem     nemesis
	ctl     control
}

// Run simulates one cluster under cfg and checks it. It never runs a
// goroutine of its own (porcupine's checker, afterwards, does).
func Run(cfg Config) *Result {
	cfg.setDefaults()
	s := &sim{cfg: cfg, trace: fnv.New64a(),
		res:    &Result{Seed: cfg.Seed, Faults: map[string]int{}, LivenessTicks: -1},
		chosen: map[uint64]chosenRec{}, points: map[uint64]statePoint{}, waiters: map[string]*client{}}
	s.rngNet = rand.New(rand.NewPCG(cfg.Seed, 1))
	s.rngNem = rand.New(rand.NewPCG(cfg.Seed, 2))
	var first []membership.Member
	for i := 1; i <= cfg.Replicas+cfg.Spares; i++ {
		s.ids = append(s.ids, msg.NodeID(i))
		if i <= cfg.Replicas {
			first = append(first, member(msg.NodeID(i), membership.All))
		}
	}
	members, err := membership.Bootstrap(uint64(cfg.Alpha), first)
	if err != nil {
		panic(fmt.Sprintf("sim: first configuration: %v", err))
	}
	s.members0, s.oracle = members, members
	s.epochs = slices.Clone(members.Epochs)
	s.ledger = map[ledgerKey][]msg.NodeID{}
	s.promisers, s.proposed = map[msg.Ballot][]msg.NodeID{}, map[slotBallot][]msg.NodeID{}
	s.net = newNetwork(len(s.ids))
	for _, id := range s.ids {
		lossy := cfg.Bugs.LossyAcceptorLog
		r := &replica{id: id, store: newSimStore(id, s.onChosen, s.onDurable, lossy),
			tickPeriod: tickUnits - tickUnits/20 + s.rngNem.Int64N(tickUnits/10),
			witness:    int(id) > cfg.Replicas+cfg.Spares-cfg.Witnesses}
		s.reps = append(s.reps, r)
	}
	for _, r := range s.reps {
		s.start(r)
		first := s.rngNem.Int64N(tickUnits)
		s.at(first, func() { s.tickReplica(r) })
	}
	s.startClients()
	s.startNemesis()
	s.at(tickUnits, s.control)
	s.loop()
	s.finish()
	s.res.Trace = s.trace.Sum64()
	return s.res
}

func (s *sim) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf("[t=%d.%03d] "+format, append([]any{s.now / tickUnits, s.now % tickUnits}, args...)...)
	}
}

func (s *sim) violate(k Kind, format string, args ...any) {
	v := Violation{Kind: k, Detail: fmt.Sprintf(format, args...)}
	if k == Liveness {
		v.Detail += s.describeCluster()
	}
	s.res.Violations = append(s.res.Violations, v)
	s.logf("VIOLATION %s", v)
}

// at schedules fn at absolute time t.
func (s *sim) at(t int64, fn func()) {
	s.seq++
	s.queue.push(&event{at: max(t, s.now), seq: s.seq, fn: fn})
}

// after schedules fn d units from now.
func (s *sim) after(d int64, fn func()) { s.at(s.now+d, fn) }

func (s *sim) loop() {
	for len(s.queue) > 0 && !s.halt && !s.ctl.done {
		e := s.queue.pop()
		s.now = e.at
		s.steps++
		s.run(e)
	}
	s.res.Ticks = int(s.now / tickUnits)
}

// run processes one event; a core's panic ends the run as a violation.
func (s *sim) run(e *event) {
	defer func() {
		if p := recover(); p != nil {
			s.violate(Panic, "%v\n%s", p, debug.Stack())
			s.halt = true
		}
	}()
	if e.fn != nil {
		e.fn()
		return
	}
	s.deliver(e)
}

func (s *sim) rep(id msg.NodeID) *replica {
	if id == 0 || int(id) > len(s.reps) {
		return nil
	}
	return s.reps[id-1]
}

// --- replicas ----------------------------------------------------------------

// start brings a replica up from its storage, as node.Start does: a fresh
// state machine, every role rebuilt, and what the roles send on start.
func (s *sim) start(r *replica) {
	r.up = true
	r.inc++
	r.checked = 0
	inc := r.inc
	r.intake = proposer.NewIntake(func() {
		if r.up && r.inc == inc {
			s.sendLocal(r, msg.Out{To: msg.Target{Node: r.id, Role: msg.RoleProposer}, Msg: proposer.Doorbell{}})
		}
	})
	store := kv.New()
	r.sm = store
	if r.witness {
		r.sm = executor.Witness{}
	}
	if s.cfg.Bugs.DivergentExecutor && r.id == 1 {
		r.sm = &divergentSM{Store: store}
	}
	if s.cfg.Bugs.BlindTxn {
		r.sm = &blindTxnSM{Store: store}
	}
	// The acceptor runs only while the configuration gives the replica a
	// vote, by the membership its log holds (as node.Start decides).
	logged, err := roles.Members(s.members0, r.store)
	if err != nil {
		s.violate(CoreError, "replica %d: membership from storage: %v", r.id, err)
		s.halt = true
		return
	}
	r.voter, r.offSince = roles.RunsAcceptor(logged, r.id, r.store.Chosen().Last()), -1
	for _, role := range roleOrder {
		if role != msg.RoleAcceptor || r.voter {
			s.build(r, role)
		}
	}
}

// gateAcceptor starts or stops r's acceptor as its learner's membership
// gives it a vote or not (node's gateAcceptor).
func (s *sim) gateAcceptor(r *replica, l *learner.Core) {
	on := roles.RunsAcceptor(l.Members(), r.id, l.Delivered())
	switch {
	case on:
		r.offSince = -1
	case r.offSince < 0:
		r.offSince = s.now // it stops only after the grace, as node's does
	}
	grace := int64(roles.StopGrace * timing(r.id, s.members0).ElectionTicks * tickUnits)
	if on == r.voter || !on && s.now-r.offSince < grace {
		return
	}
	r.voter = on
	if on {
		s.logf("replica %d: acceptor started (a vote in the configuration)", r.id)
		s.build(r, msg.RoleAcceptor)
	} else {
		s.logf("replica %d: acceptor stopped (no vote any more)", r.id)
		r.roles[msg.RoleAcceptor] = nil
	}
}

// build (re)creates one role from storage and sends what it sends on start.
func (s *sim) build(r *replica, role msg.Role) {
	r.builds++
	rng := rand.New(rand.NewPCG(s.cfg.Seed^uint64(r.id)<<32, r.builds))
	_, err := s.buildRole(r, role, rng)
	s.handle(r, role, err)
}

// crash stops a replica: in-flight local messages, unflushed acceptor
// answers and every volatile state are lost; storage stays.
func (s *sim) crash(r *replica) {
	if !r.up {
		return
	}
	r.up = false
	r.inc++
	r.roles = [msg.RoleExecutor + 1]*roleCore{}
	r.store.crash()
	s.endOpsOn(r.id)
}

func (s *sim) tickReplica(r *replica) {
	s.after(r.tickPeriod, func() { s.tickReplica(r) })
	if !r.up {
		return
	}
	for _, role := range roleOrder {
		if rc := r.roles[role]; rc != nil {
			s.handle(r, role, rc.tick())
		}
	}
}

// deliver hands a message to its target role, or to a client's waiter.
func (s *sim) deliver(e *event) {
	r := s.rep(e.to.Node)
	if r == nil || !r.up || (e.local && e.inc != r.inc) {
		s.res.Messages.Dropped++
		return
	}
	s.res.Messages.Delivered++
	s.traceMsg(e)
	if e.to.Role == msg.RoleWaiter {
		s.reply(e.to.Ref, e.m)
		return
	}
	if p, ok := e.m.(*msg.Promise); ok && !p.Probe && e.to.Role == msg.RoleProposer && e.to.Node == p.Ballot.ID &&
		!slices.Contains(s.promisers[p.Ballot], p.From) {
		s.promisers[p.Ballot] = append(s.promisers[p.Ballot], p.From)
	}
	rc := r.roles[e.to.Role]
	if int(e.to.Role) >= len(r.roles) || rc == nil {
		return
	}
	err := rc.step(e.m)
	if s.cfg.LogMessages {
		s.logf("%d -> %d/%s %T %+v; %s", e.from, e.to.Node, e.to.Role, e.m, e.m, describeRole(r.roles[e.to.Role]))
	}
	s.handle(r, e.to.Role, err)
}

// handle does what the role's actor does after an input: on a failure to
// persist, stop the role; on a core's failure, restart it from storage (the
// supervisor restarts a panicking actor); otherwise publish the proposer's
// leadership and let the equal-state checker look at the executor.
func (s *sim) handle(r *replica, role msg.Role, err error) {
	switch {
	case err == nil:
	case isFail(err):
		s.logf("replica %d %s: %v; restarting it", r.id, role, err)
		s.build(r, role)
		return
	default:
		// The actor stops the role for good; a run where that happens with
		// memory storage has found a bug.
		s.violate(CoreError, "replica %d %s: %v", r.id, role, err)
		r.roles[role] = nil
		s.halt = true
		return
	}
	s.afterStep(r, role)
}

// afterStep publishes the proposer's leadership and lets the equal-state
// checker look at the executor.
func (s *sim) afterStep(r *replica, role msg.Role) {
	core := r.roles[role]
	if core == nil {
		return
	}
	switch role {
	case msg.RoleProposer:
		lead, b := leaderView(core)
		if lead != r.leader || b != r.ballot {
			r.leader, r.ballot = lead, b
			r.leaderGen++
			s.logf("replica %d: leader %d ballot %s (leading: %v)", r.id, lead, b, isLeader(core))
			s.leaderChanged(r)
		}
	case msg.RoleExecutor:
		s.checkState(r, core)
	case msg.RoleLearner:
		if l, ok := core.d.Core().(*learner.Core); ok {
			s.gateAcceptor(r, l)
		}
	}
}

// --- sending -----------------------------------------------------------------

func (s *sim) send(r *replica, out []msg.Out) {
	for _, o := range out {
		if a, ok := o.Msg.(*msg.Accept); ok && a.From == r.id {
			s.checkAccept(r, o.To, a)
			for _, p := range a.Proposals {
				k := slotBallot{p.Slot, a.Ballot}
				if _, seen := s.proposed[k]; !seen {
					s.proposed[k] = slices.Clone(s.promisers[a.Ballot])
				}
			}
		}
		if a, ok := o.Msg.(*msg.Accept); ok && s.cfg.Bugs.EarlyAck {
			s.earlyAck(a)
		}
		if p, ok := o.Msg.(*msg.Prepare); ok && !p.Handover.IsZero() && o.To.Node == r.id {
			s.res.Messages.Handovers++
		}
		if o.To.Node == r.id {
			s.sendLocal(r, o)
			continue
		}
		s.sendRemote(r.id, o)
	}
}

// sendLocal queues a message within a replica: no network, no faults, but
// lost if the replica crashes first.
func (s *sim) sendLocal(r *replica, o msg.Out) {
	if _, ok := o.Msg.(*msg.Install); ok {
		s.res.Messages.Installs++
	}
	s.seq++
	s.queue.push(&event{at: s.now, seq: s.seq, from: r.id, to: o.To, m: o.Msg, local: true, inc: r.inc})
}

func (s *sim) sendRemote(from msg.NodeID, o msg.Out) {
	s.res.Messages.Sent++
	to := o.To.Node
	if s.rep(to) == nil || s.net.blocked(from, to) || (s.net.drop > 0 && s.rngNet.Float64() < s.net.drop) {
		s.res.Messages.Dropped++
		return
	}
	copies := 1
	if s.net.dup > 0 && s.rngNet.Float64() < s.net.dup {
		copies = 2
		s.res.Messages.Duplicated++
	}
	for range copies {
		d := 1 + s.rngNet.Int64N(20)
		if s.net.delay > 0 {
			d += s.rngNet.Int64N(s.net.delay)
		}
		at := s.now + d
		link := &s.net.last[from][to]
		if !s.net.reorder && at < *link {
			at = *link // per-link FIFO, as remoting is
		}
		*link = max(*link, at)
		s.seq++
		s.queue.push(&event{at: at, seq: s.seq, from: from, to: o.To, m: o.Msg})
	}
}

// --- trace -------------------------------------------------------------------

func (s *sim) traceMsg(e *event) {
	s.buf = s.buf[:0]
	s.buf = binary.LittleEndian.AppendUint64(s.buf, uint64(e.at))
	s.buf = binary.LittleEndian.AppendUint32(s.buf, uint32(e.from))
	s.buf = binary.LittleEndian.AppendUint32(s.buf, uint32(e.to.Node))
	s.buf = append(s.buf, byte(e.to.Role))
	s.buf = append(s.buf, e.to.Ref...)
	s.buf = fmt.Appendf(s.buf, "%T", e.m)
	if s.cfg.TraceMessages && e.m != nil {
		b, err := msgpack.Marshal(e.m)
		if err != nil {
			b = fmt.Appendf(nil, "unencodable %v", err)
		}
		s.buf = append(s.buf, b...)
	}
	s.trace.Write(s.buf)
}

func (s *sim) traceString(str string) {
	s.trace.Write([]byte(str))
}

// --- checkers that run during the simulation -----------------------------------

// onChosen is the agreement checker: every value any learner stores for a
// slot must equal every other's.
func (s *sim) onChosen(id msg.NodeID, slot uint64, v *msg.Value) {
	enc, err := msgpack.Marshal(v)
	if err != nil {
		s.violate(CoreError, "replica %d: chosen value of slot %d does not encode: %v", id, slot, err)
		return
	}
	prev, ok := s.chosen[slot]
	if !ok {
		s.chosen[slot] = chosenRec{by: id, v: v, enc: enc}
		s.foldMembers()
		return
	}
	if !bytes.Equal(prev.enc, enc) {
		s.violate(Agreement, "slot %d: replica %d stored %s, replica %d stored %s",
			slot, prev.by, describeValue(prev.v), id, describeValue(v))
	}
}

// ledgerKey names one acceptance: a slot, a ballot and a value's hash.
type ledgerKey struct {
	slot   uint64
	ballot msg.Ballot
	value  uint64
}

func valueHash(enc []byte) uint64 {
	h := fnv.New64a()
	h.Write(enc)
	return h.Sum64()
}

// onDurable records the acceptances of an acceptor's record, once durable.
func (s *sim) onDurable(id msg.NodeID, rec storage.AcceptorRecord) {
	if rec.Truncated > 0 && s.rep(id).witness {
		s.checkWitnessTruncation(id, rec.Truncated)
	}
	for _, e := range rec.Entries {
		enc, err := msgpack.Marshal(e.Value)
		if err != nil {
			continue // onChosen reports what does not encode
		}
		k := ledgerKey{slot: e.Slot, ballot: e.Ballot, value: valueHash(enc)}
		if !slices.Contains(s.ledger[k], id) {
			s.ledger[k] = append(s.ledger[k], id)
		}
	}
}

// fullIn reports whether replica id is a full acceptor of c: an acceptor
// and a learner, and no witness.
func (s *sim) fullIn(c *membership.Config, id msg.NodeID) bool {
	return c.Runs(id, membership.Acceptor) && c.Runs(id, membership.Learner) && !s.rep(id).witness
}

// checkWitnessTruncation is the first witness checker: a witness drops a
// slot only once every replica with state that has been a learner since
// that slot's configuration (so that the floor's slot, which comes later,
// counted it) holds the slot in a durable snapshot. A learner added later
// may lag; the second checker (checkLetGo) sees that it has caught up
// before a full acceptor leaves.
func (s *sim) checkWitnessTruncation(id msg.NodeID, through uint64) {
	s.res.Messages.WitnessTruncations++
	s.witnessTrunc = max(s.witnessTrunc, through)
	first := 0
	for i, e := range s.epochs {
		if e.From <= through {
			first = i
		}
	}
	for _, m := range s.epochs[first].Config.Members {
		always := !s.rep(m.ID).witness
		for _, e := range s.epochs[first:] {
			always = always && e.Config.Runs(m.ID, membership.Learner)
		}
		if !always {
			continue
		}
		snap, ok, err := s.rep(m.ID).store.Snapshots().Load()
		if err != nil || !ok || snap.Slot < through {
			s.violate(WitnessTruncation, "witness %d truncated through slot %d; replica %d holds a durable snapshot only through %d",
				id, through, m.ID, snap.Slot)
		}
	}
}

// checkLetGo is the second witness checker: a change that takes a full
// acceptor out (removes or demotes it) comes only once every full acceptor
// that stays holds every slot a witness has dropped; otherwise losing one
// of them could lose a slot the witnesses no longer keep.
func (s *sim) checkLetGo(prev, next *membership.Config, gone msg.NodeID, slot uint64) {
	if !s.fullIn(prev, gone) || s.fullIn(next, gone) {
		return
	}
	for _, m := range next.Members {
		if !s.fullIn(next, m.ID) {
			continue
		}
		if held := s.rep(m.ID).store.Chosen().Last(); held < s.witnessTrunc {
			s.violate(WitnessTruncation, "the change at slot %d lets full acceptor %d go while full acceptor %d holds only through %d and a witness dropped up to %d",
				slot, gone, m.ID, held, s.witnessTrunc)
		}
	}
}

// checkQuorums is the quorum checker: every slot stored as chosen, within
// the reach of the membership the agreed log gives, was durably accepted
// in one ballot by a majority of that slot's acceptors. It sees a learner
// that counts votes against the wrong configuration, or a leader that
// proposes where it could not know which acceptors decide.
func (s *sim) checkQuorums() {
	votes := map[uint64][]ledgerKey{}
	for k := range s.ledger {
		votes[k.slot] = append(votes[k.slot], k)
	}
	for slot, rec := range s.chosen {
		if slot > s.oracleAt+uint64(s.cfg.Alpha) {
			continue // beyond what the oracle's membership covers
		}
		cfg := s.configAt(slot)
		want := valueHash(rec.enc)
		q := cfg.Quorum()
		ok := false
		for _, k := range votes[slot] {
			if k.value == want && countVoters(q, s.ledger[k]) {
				ok = true
				break
			}
		}
		if !ok {
			s.violate(Quorum, "slot %d holds %s, which no majority of its acceptors %v accepted in one ballot",
				slot, describeValue(rec.v), q.Voters())
		}
	}
}

// checkAccept is the configuration checker, on every Accept a leader
// sends: its slots are within α of the leader's commit point (the gate),
// and its target is, by the agreed log (where the log reaches), an
// acceptor of each slot's configuration, or the learner of an observer.
func (s *sim) checkAccept(r *replica, to msg.Target, a *msg.Accept) {
	p := proposerOf(r.roles[msg.RoleProposer])
	if p == nil {
		return
	}
	commit := p.Status().Commit
	for _, pr := range a.Proposals {
		if pr.Slot > commit+uint64(s.cfg.Alpha) {
			s.violate(WrongConfig, "replica %d proposed at slot %d with its commit point at %d (α %d)", r.id, pr.Slot, commit, s.cfg.Alpha)
			s.halt = true
			return
		}
		if pr.Slot > s.oracleAt+uint64(s.cfg.Alpha) {
			continue
		}
		cfg := s.configAt(pr.Slot)
		m, _ := cfg.Member(to.Node)
		ok := to.Role == msg.RoleAcceptor && m.Roles.Has(membership.Acceptor) ||
			to.Role == msg.RoleLearner && m.Roles.Has(membership.Learner) && !m.Roles.Has(membership.Acceptor)
		if !ok {
			s.violate(WrongConfig, "replica %d sent slot %d to %d's %s; its configuration's acceptors are %v, observers %v",
				r.id, pr.Slot, to.Node, to.Role, cfg.Quorum().Voters(), observers(cfg))
			s.halt = true
			return
		}
	}
}

// observers are the members of cfg that learn without an acceptor.
func observers(cfg *membership.Config) []msg.NodeID {
	var ids []msg.NodeID
	for _, m := range cfg.Members {
		if m.Roles.Has(membership.Learner) && !m.Roles.Has(membership.Acceptor) {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

type slotBallot struct {
	slot   uint64
	ballot msg.Ballot
}

// checkPromises is the promise checker: a leader proposed at a slot only
// once a majority of that slot's acceptors had promised its ballot. It
// sees a leader that proposes beyond what its membership covers.
func (s *sim) checkPromises() {
	for k, ids := range s.proposed {
		if k.slot > s.oracleAt+uint64(s.cfg.Alpha) {
			continue
		}
		q := s.configAt(k.slot).Quorum()
		if !countVoters(q, ids) {
			s.violate(Promise, "ballot %s proposed at slot %d with promises from %v only; its acceptors are %v",
				k.ballot, k.slot, ids, q.Voters())
		}
	}
}

// configAt is the configuration the agreed log gives slot.
func (s *sim) configAt(slot uint64) *membership.Config {
	cfg := s.epochs[0].Config
	for _, e := range s.epochs[1:] {
		if e.From <= slot {
			cfg = e.Config
		}
	}
	return cfg
}

// countVoters reports whether the voters of q among ids make a majority.
func countVoters(q quorum.Majority, ids []msg.NodeID) bool {
	n := 0
	for _, id := range q.Voters() {
		if slices.Contains(ids, id) {
			n++
		}
	}
	return q.Count(n)
}

// member is replica id of the simulated cluster, with roles r.
func member(id msg.NodeID, r membership.Roles) membership.Member {
	return membership.Member{ID: id, Addr: "sim-" + id.String(), Roles: r}
}

// foldMembers moves the oracle's membership along the agreed log, as far as
// the log has no gap.
func (s *sim) foldMembers() {
	for {
		rec, ok := s.chosen[s.oracleAt+1]
		if !ok {
			return
		}
		s.oracleAt++
		if len(rec.v.Change) == 0 {
			continue
		}
		var out membership.Outcome
		prev := s.oracle.Latest()
		s.oracle, out = s.oracle.Apply(s.oracleAt, rec.v.Change)
		if out.Err != nil || out.Done {
			s.res.Messages.ChangesRefused++
			s.logf("membership: change at slot %d refused: %v", s.oracleAt, out.Err)
			continue
		}
		s.res.Messages.Changes++
		s.checkLetGo(prev, s.oracle.Latest(), out.Change.Member.ID, s.oracleAt)
		if id := out.Change.Member.ID; !prev.Runs(id, membership.Acceptor) && s.oracle.Latest().Runs(id, membership.Acceptor) {
			s.res.Messages.Promotions++
			if s.rep(id).witness {
				s.res.Messages.Witnesses++
			}
		}
		s.epochs = append(s.epochs, s.oracle.Epochs[len(s.oracle.Epochs)-1])
		s.logf("membership: change at slot %d: %s %d makes config %d %v from slot %d", s.oracleAt,
			out.Change.Op, out.Change.Member.ID, out.Num, s.oracle.Latest().IDs(), out.From)
	}
}

// serving reports whether r applies the log and answers clients: a learner
// of the latest configuration the agreed log holds, and no witness (whose
// node refuses clients: its state machine holds nothing).
func (s *sim) serving(r *replica) bool {
	return !r.witness && s.oracle.Latest().Runs(r.id, membership.Learner)
}

func describeValue(v *msg.Value) string {
	if len(v.Change) > 0 {
		return fmt.Sprintf("membership change (%d bytes)", len(v.Change))
	}
	if v.IsNoop() {
		return "no-op"
	}
	var b bytes.Buffer
	b.WriteString("[")
	for i, c := range v.Cmds {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "client %d seq %d (%d bytes)", c.Client, c.Seq, len(c.Data))
	}
	b.WriteString("]")
	return b.String()
}

// checkState is the equal-state checker: the first executor to reach an
// applied slot records its snapshot; every other (and every later
// incarnation) reaching that slot must have the same bytes.
func (s *sim) checkState(r *replica, core *roleCore) {
	applied, ok := executorApplied(core)
	if !ok || applied == r.checked || r.witness {
		return
	}
	r.checked = applied
	applied, rev, snap, _, err := executorState(core)
	if err != nil {
		s.violate(CoreError, "replica %d: executor snapshot: %v", r.id, err)
		return
	}
	p, seen := s.points[applied]
	if !seen {
		s.points[applied] = statePoint{by: r.id, rev: rev, snap: snap}
		return
	}
	if p.rev != rev || !bytes.Equal(p.snap, snap) {
		s.violate(Divergence, "applied slot %d: replica %d has rev %d and a %d-byte state, replica %d rev %d and a %d-byte state that differs",
			applied, p.by, p.rev, len(p.snap), r.id, rev, len(snap))
		s.halt = true
	}
}

// divergentSM is the planted executor bug: on every fourth rev it also
// writes a key no client uses, so its replica's state drifts.
type divergentSM struct{ *kv.Store }

func (d *divergentSM) Apply(rev uint64, cmd []byte) []byte {
	out := d.Store.Apply(rev, cmd)
	if rev%4 == 0 {
		d.Store.Apply(rev, kv.Put("diverged", []byte("x")))
	}
	return out
}

// describeCluster is every replica's view, for a liveness report.
func (s *sim) describeCluster() string {
	var b bytes.Buffer
	for _, r := range s.reps {
		fmt.Fprintf(&b, "\n    replica %d (up %v voter %v):", r.id, r.up, r.voter)
		for _, role := range roleOrder {
			fmt.Fprintf(&b, " [%s]", describeRole(r.roles[role]))
		}
	}
	return b.String()
}
