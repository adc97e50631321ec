package remote

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
)

// Network is the simulated network of the in-process cluster: every replica
// runs its own ActorSystem, and Attach makes the PIDs of other replicas resolve
// to links of this Network instead of to remoting endpoints. A link carries
// one direction between two replicas and is where faults are injected.
//
// Delivery keeps the guarantees of Proto.Actor remoting and no more: at most
// once, FIFO per (sender replica, receiver replica) link. A message is checked
// against the faults when it is sent and, if it was delayed, again when it is
// due: a partition, block or detach that happens while a message is in flight
// loses it, as a dropped connection would.
//
// Only user messages cross a link. System messages (Watch, Unwatch, Terminate)
// and Stop sent to another replica's PID are dropped: the roles never watch or
// stop each other across replicas (a peer's failure is seen through missing
// replies and timeouts, as Paxos requires anyway), so the simulation does not
// model remote watch; a replica crash is modelled by Detach. A message to a
// process that does not exist on the target is counted as a dead letter and
// dropped, without the DeadLetterResponse remoting would send back to a
// Request: a RequestFuture across a link times out instead of failing fast.
//
// A message must not carry a *actor.PID (a PID caches the process of the
// system that first used it); address peers by msg.Target and the receiver's
// own Book. The one exception handled here is the Sender of an
// *actor.MessageEnvelope (Request/Respond), which is re-created for the
// receiving system so that Respond comes back over a link.
//
// Typical use: NewNetwork; for each replica, a new ActorSystem, Attach, NewBook
// with Addrs of every id, then spawn the role actors; Close at the end.
//
// Fault decisions come from one math/rand source seeded by NewNetwork: a
// single-threaded run with the same seed makes the same decisions. All methods
// are safe for concurrent use with traffic.
type Network struct {
	mu        sync.Mutex // serialises Attach, Detach, the fault topology and Close
	endpoints map[weak.Pointer[actor.ActorSystem]]*endpoint
	closed    bool
	done      chan struct{} // closed by Close: link goroutines stop
	wg        sync.WaitGroup

	state  atomic.Pointer[netState] // read on every message; replaced, never modified
	faults atomic.Pointer[faults]

	randMu sync.Mutex
	rng    *rand.Rand

	sent, delivered, dropped, duplicated, deadLetters atomic.Uint64
}

// NetStats counts messages that entered links since NewNetwork. Once nothing is
// in flight, Sent + Duplicated == Delivered + Dropped + DeadLetters.
type NetStats struct {
	Sent        uint64 // user messages handed to a link, one per send
	Delivered   uint64 // copies put into a target process (duplicates count twice)
	Dropped     uint64 // copies lost to a fault: partition, block, isolation, a detached replica, SetDrop, Close
	Duplicated  uint64 // extra copies made by SetDuplicate
	DeadLetters uint64 // copies that reached a live replica with no process of the target id
}

// netState is an immutable snapshot of who is attached and who may talk to
// whom; the hot path reads it with one atomic load.
type netState struct {
	closed   bool
	nodes    map[msg.NodeID]*attachment
	group    map[msg.NodeID]int // Partition groups, 1-based; absent = talks to everyone
	blocked  map[[2]msg.NodeID]struct{}
	isolated map[msg.NodeID]struct{}
}

// attachment is one Attach of a system as a replica. A fresh one per Attach, so
// a message sent to or from an earlier incarnation is recognised and dropped.
type attachment struct {
	id  msg.NodeID
	ep  *endpoint
	sys *actor.ActorSystem
}

// endpoint is the Network's side of one ActorSystem: its links to the other
// replicas, shared by every PID of that system. It holds no reference to the
// system, so a detached system can be garbage collected.
type endpoint struct {
	n  *Network
	id msg.NodeID

	mu    sync.Mutex
	links map[msg.NodeID]*link
}

type faults struct {
	drop, dup          float64
	minDelay, maxDelay time.Duration
	reorder            float64       // probability that a message leaves the link's order
	reorderMax         time.Duration // how late such a message may arrive
}

func (f *faults) random() bool { return f.drop > 0 || f.dup > 0 || f.maxDelay > 0 || f.reorder > 0 }

// NewNetwork returns a network with no replicas and no faults. seed drives
// every fault decision.
func NewNetwork(seed int64) *Network {
	n := &Network{
		endpoints: make(map[weak.Pointer[actor.ActorSystem]]*endpoint),
		done:      make(chan struct{}),
		rng:       rand.New(rand.NewPCG(uint64(seed), 0x5253_4d4c)), //nolint:gosec // fault injection, not security
	}
	n.state.Store(&netState{nodes: map[msg.NodeID]*attachment{}})
	n.faults.Store(&faults{})
	return n
}

const addrPrefix = "r"

// Addr returns the actor-system address of replica id on this network: "r"
// followed by the id, e.g. "r1". It is stable, so a Book can be built before
// the replica is attached.
func (n *Network) Addr(id msg.NodeID) string { return addrPrefix + id.String() }

// Addrs returns the address of each id, the map NewBook takes.
func (n *Network) Addrs(ids ...msg.NodeID) map[msg.NodeID]string {
	m := make(map[msg.NodeID]string, len(ids))
	for _, id := range ids {
		m[id] = n.Addr(id)
	}
	return m
}

// parseAddr is the inverse of Addr; it rejects anything Addr does not produce.
func (n *Network) parseAddr(addr string) (msg.NodeID, bool) {
	if len(addr) < 2 || addr[:len(addrPrefix)] != addrPrefix {
		return 0, false
	}
	v, err := strconv.ParseUint(addr[len(addrPrefix):], 10, 32)
	if err != nil || v == 0 || n.Addr(msg.NodeID(v)) != addr {
		return 0, false
	}
	return msg.NodeID(v), true
}

// Attach makes sys replica id: it sets sys's address to Addr(id) and, the first
// time it sees sys, registers an address resolver that routes the PIDs of
// other replicas through this network's links. Call it before sys spawns an
// actor or sends a message (protoactor reads the address and the resolvers
// without locks, and a spawned PID keeps the address it was born with).
//
// A new system may be attached for an id whose old system was detached or is
// still attached (a replica restart): the old system is detached by it, and
// whatever the old system sends, or had in flight, is dropped. A system may be
// detached and attached again under the same id. Attaching one system under
// two ids is a programming error and panics.
func (n *Network) Attach(id msg.NodeID, sys *actor.ActorSystem) {
	if id == 0 || sys == nil {
		panic(fmt.Sprintf("remote: Attach(%d, %p): need a replica id and a system", id, sys))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for k := range n.endpoints {
		if k.Value() == nil { // the system was garbage collected
			delete(n.endpoints, k)
		}
	}
	key := weak.Make(sys)
	ep := n.endpoints[key]
	switch {
	case ep == nil:
		ep = &endpoint{n: n, id: id, links: make(map[msg.NodeID]*link)}
		n.endpoints[key] = ep
		if addr := n.Addr(id); sys.ProcessRegistry.Address != addr {
			sys.ProcessRegistry.Address = addr
		}
		sys.ProcessRegistry.RegisterAddressResolver(ep.resolve)
	case ep.id != id:
		panic(fmt.Sprintf("remote: an actor system attached as replica %d cannot be attached as replica %d", ep.id, id))
	}
	n.update(func(st *netState) { st.nodes[id] = &attachment{id: id, ep: ep, sys: sys} })
}

// Detach takes replica id off the network, as if it crashed: messages to and
// from it, including those in flight, are dropped until a system is attached
// for id again.
func (n *Network) Detach(id msg.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.update(func(st *netState) { delete(st.nodes, id) })
}

// Partition splits the replicas into groups: replicas in different groups
// cannot talk to each other. A replica named in no group can talk to everyone
// (so Partition([]msg.NodeID{3}) cuts 3 off only if every other replica is
// named too; see Isolate). Each call replaces the previous partition and
// Partition() removes it; blocks and isolations are kept. An id named in two
// groups belongs to the last.
func (n *Network) Partition(groups ...[]msg.NodeID) {
	g := make(map[msg.NodeID]int)
	for i, ids := range groups {
		for _, id := range ids {
			g[id] = i + 1
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.update(func(st *netState) { st.group = g })
}

// Isolate cuts replica id off from every other replica, both ways, until Heal.
func (n *Network) Isolate(id msg.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.update(func(st *netState) {
		st.isolated = cloneMap(st.isolated)
		st.isolated[id] = struct{}{}
	})
}

// Block cuts the link from one replica to another; the other direction is
// untouched. It lasts until Heal.
func (n *Network) Block(from, to msg.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.update(func(st *netState) {
		st.blocked = cloneMap(st.blocked)
		st.blocked[[2]msg.NodeID{from, to}] = struct{}{}
	})
}

// Heal removes every partition, block and isolation. Drop, duplicate and delay
// settings and detached replicas stay as they are.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.update(func(st *netState) { st.group, st.blocked, st.isolated = nil, nil, nil })
}

// SetDrop makes every link lose each message with probability p (clamped to
// [0, 1]; 0 turns dropping off).
func (n *Network) SetDrop(p float64) {
	n.setFaults(func(f *faults) { f.drop = clampProb(p) })
}

// SetDuplicate makes every link deliver each message twice with probability p
// (clamped to [0, 1]). Both copies are the same pointer, in order.
func (n *Network) SetDuplicate(p float64) {
	n.setFaults(func(f *faults) { f.dup = clampProb(p) })
}

// SetDelay delays each message by a random duration in [lo, hi] (a negative lo
// counts as 0, a hi below lo as lo; SetDelay(0, 0) turns delay off).
// Per-link FIFO is kept: a message is never delivered before one sent earlier
// on the same link, so a later message with a shorter delay waits.
func (n *Network) SetDelay(lo, hi time.Duration) {
	lo = max(lo, 0)
	hi = max(hi, lo)
	n.setFaults(func(f *faults) { f.minDelay, f.maxDelay = lo, hi })
}

// SetReorder makes every link deliver each message, with probability p
// (clamped to [0, 1]), up to max later than it would have arrived, outside
// the link's FIFO order: messages sent after it may overtake it. Proto.Actor
// remoting keeps per-link order; Paxos must not depend on it, and this is
// how tests show it does not. SetReorder(0, 0) turns it off.
func (n *Network) SetReorder(p float64, max time.Duration) {
	n.setFaults(func(f *faults) { f.reorder, f.reorderMax = clampProb(p), max })
}

// Stats returns the message counters.
func (n *Network) Stats() NetStats {
	return NetStats{
		Sent:        n.sent.Load(),
		Delivered:   n.delivered.Load(),
		Dropped:     n.dropped.Load(),
		Duplicated:  n.duplicated.Load(),
		DeadLetters: n.deadLetters.Load(),
	}
}

// Close stops the network: every message in flight and every later send is
// dropped. It waits for the goroutines that deliver delayed messages to end.
// The attached systems are not touched; shut them down yourself.
func (n *Network) Close() {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		n.update(func(st *netState) { st.closed = true })
		close(n.done)
	}
	n.mu.Unlock()
	n.wg.Wait()
}

// update replaces the state snapshot with a modified copy; n.mu must be held.
// Maps that change must be cloned by change (the old snapshot may be in use).
func (n *Network) update(change func(*netState)) {
	old := n.state.Load()
	st := *old
	st.nodes = cloneMap(old.nodes)
	change(&st)
	n.state.Store(&st)
}

func (n *Network) setFaults(change func(*faults)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f := *n.faults.Load()
	change(&f)
	n.faults.Store(&f)
}

// decide draws the fate of one message: how many copies to deliver (0, 1 or
// 2) and the delay of each; late > 0 takes the message out of the link's
// order, delivered that much later.
func (n *Network) decide() (copies int, delays [2]time.Duration, late time.Duration) {
	f := n.faults.Load()
	if !f.random() {
		return 1, delays, 0
	}
	n.randMu.Lock()
	defer n.randMu.Unlock()
	if f.drop > 0 && n.rng.Float64() < f.drop {
		return 0, delays, 0
	}
	if f.reorder > 0 && f.reorderMax > 0 && n.rng.Float64() < f.reorder {
		return 1, delays, 1 + time.Duration(n.rng.Int64N(int64(f.reorderMax)))
	}
	copies = 1
	if f.dup > 0 && n.rng.Float64() < f.dup {
		copies = 2
	}
	for i := range copies {
		delays[i] = f.minDelay
		if span := f.maxDelay - f.minDelay; span > 0 {
			delays[i] += time.Duration(n.rng.Int64N(int64(span) + 1))
		}
	}
	return copies, delays, 0
}

// startLink accounts for a new link goroutine, unless the network is closed.
func (n *Network) startLink() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	return true
}

// reachable reports whether the fault topology lets from talk to to.
func (st *netState) reachable(from, to msg.NodeID) bool {
	if len(st.isolated) > 0 {
		if _, ok := st.isolated[from]; ok {
			return false
		}
		if _, ok := st.isolated[to]; ok {
			return false
		}
	}
	if len(st.blocked) > 0 {
		if _, ok := st.blocked[[2]msg.NodeID{from, to}]; ok {
			return false
		}
	}
	if len(st.group) > 0 {
		gf, gt := st.group[from], st.group[to]
		if gf != 0 && gt != 0 && gf != gt {
			return false
		}
	}
	return true
}

// route finds the current attachments of a link's two ends, or reports that
// the message must be dropped.
func (st *netState) route(from *endpoint, to msg.NodeID) (src, dst *attachment, ok bool) {
	if st.closed {
		return nil, nil, false
	}
	src, dst = st.nodes[from.id], st.nodes[to]
	if src == nil || src.ep != from || dst == nil || !st.reachable(from.id, to) {
		return nil, nil, false
	}
	return src, dst, true
}

// stillRoutes reports whether a message sent from src to dst may still be
// delivered: both ends are the same incarnations and can talk.
func (st *netState) stillRoutes(src, dst *attachment) bool {
	return !st.closed && st.nodes[src.id] == src && st.nodes[dst.id] == dst && st.reachable(src.id, dst.id)
}

// resolve is the AddressResolver registered on the endpoint's system.
func (ep *endpoint) resolve(pid *actor.PID) (actor.Process, bool) {
	to, ok := ep.n.parseAddr(pid.Address)
	if !ok || to == ep.id {
		return nil, false
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	l := ep.links[to]
	if l == nil {
		l = &link{n: ep.n, from: ep, to: to}
		ep.links[to] = l
	}
	return l, true
}

// link is the actor.Process standing for replica to in the system of one
// endpoint. PIDs of that system cache it, so it outlives attachments and
// checks them on every message.
type link struct {
	n    *Network
	from *endpoint
	to   msg.NodeID

	mu      sync.Mutex
	queue   []pending // delayed messages, due times non-decreasing; queue[head:] is live
	head    int
	last    time.Time // due time of the last queued message
	running bool      // a goroutine owns the queue (and may be delivering its head)
}

type pending struct {
	pid      *actor.PID
	m        any
	src, dst *attachment
	due      time.Time
}

var _ actor.Process = (*link)(nil)

// SendUserMessage applies the faults and delivers m to the process pid names on
// the target replica: at once in the caller's goroutine when nothing delays it,
// else through the link's goroutine when it is due.
func (l *link) SendUserMessage(pid *actor.PID, m any) {
	n := l.n
	n.sent.Add(1)
	src, dst, ok := n.state.Load().route(l.from, l.to)
	if !ok {
		n.dropped.Add(1)
		return
	}
	copies, delays, late := n.decide()
	switch copies {
	case 0:
		n.dropped.Add(1)
		return
	case 2:
		n.duplicated.Add(1)
	}
	m = forReceiver(m)
	if late > 0 {
		n.deliverLate(src, dst, pid, m, late)
		return
	}

	l.mu.Lock()
	if !l.running && delays == [2]time.Duration{} {
		// Nothing queued ahead of it: deliver now, FIFO for free. No lock is
		// held while a target process runs.
		l.mu.Unlock()
		for range copies {
			n.deliver(dst, pid, m)
		}
		return
	}
	now := time.Now()
	for i := range copies {
		due := now.Add(delays[i])
		if due.Before(l.last) {
			due = l.last // never overtake an earlier message
		}
		l.last = due
		l.queue = append(l.queue, pending{pid: pid, m: m, src: src, dst: dst, due: due})
	}
	if !l.running {
		if n.startLink() {
			l.running = true
			go l.run()
		} else {
			n.dropped.Add(uint64(l.clearLocked()))
		}
	}
	l.mu.Unlock()
}

// deliverLate delivers m after d on a timer of its own, outside any link's
// order, unless the route is gone by then or the network closed.
func (n *Network) deliverLate(src, dst *attachment, pid *actor.PID, m any, d time.Duration) {
	if !n.startLink() {
		n.dropped.Add(1)
		return
	}
	t := time.NewTimer(d)
	go func() {
		defer n.wg.Done()
		defer t.Stop()
		select {
		case <-t.C:
			if n.state.Load().stillRoutes(src, dst) {
				n.deliver(dst, pid, m)
				return
			}
		case <-n.done:
		}
		n.dropped.Add(1)
	}()
}

// SendSystemMessage drops m: remote watch and other lifecycle messages are not
// used between replicas (see Network).
func (l *link) SendSystemMessage(*actor.PID, any) {}

// Stop drops the request: one replica does not stop another's actors.
func (l *link) Stop(*actor.PID) {}

// run delivers the queued messages in order, each when it is due, and ends
// when the queue is empty or the network closes.
func (l *link) run() {
	n := l.n
	defer n.wg.Done()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		l.mu.Lock()
		if l.head == len(l.queue) {
			l.clearLocked()
			l.running = false
			l.mu.Unlock()
			return
		}
		p := l.queue[l.head]
		wait := time.Until(p.due)
		if wait <= 0 {
			l.queue[l.head] = pending{}
			l.head++
			if l.head >= 64 && l.head*2 >= len(l.queue) { // reclaim the delivered prefix
				k := copy(l.queue, l.queue[l.head:])
				clear(l.queue[k:])
				l.queue, l.head = l.queue[:k], 0
			}
			l.mu.Unlock()
			if n.state.Load().stillRoutes(p.src, p.dst) {
				n.deliver(p.dst, p.pid, p.m)
			} else {
				n.dropped.Add(1)
			}
			continue
		}
		l.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-n.done:
			l.mu.Lock()
			n.dropped.Add(uint64(l.clearLocked()))
			l.running = false
			l.mu.Unlock()
			return
		}
	}
}

// clearLocked empties the queue and returns how many messages it held.
func (l *link) clearLocked() int {
	k := len(l.queue) - l.head
	clear(l.queue)
	l.queue, l.head = l.queue[:0], 0
	return k
}

// deliver hands m to the process registered as pid.Id in the target system.
// It looks the process up by id rather than sending through the target's Root
// with pid: pid caches the process it resolved to in the sender's system.
func (n *Network) deliver(dst *attachment, pid *actor.PID, m any) {
	proc, ok := dst.sys.ProcessRegistry.GetLocal(pid.Id)
	if !ok {
		n.deadLetters.Add(1) // counted, not logged: a stopped role is routine under chaos
		return
	}
	n.delivered.Add(1)
	proc.SendUserMessage(pid, m)
}

// forReceiver makes m safe to hand to another system. Messages are immutable
// and pass as they are, except a MessageEnvelope whose Sender PID would be
// used by the receiver's system to reply: it gets a fresh PID with no cached
// process, so the reply is resolved in the receiver's system and comes back
// over a link.
func forReceiver(m any) any {
	env, ok := m.(*actor.MessageEnvelope)
	if !ok || env.Sender == nil {
		return m
	}
	sender := actor.NewPID(env.Sender.Address, env.Sender.Id)
	sender.RequestId = env.Sender.RequestId
	return &actor.MessageEnvelope{Header: env.Header, Message: env.Message, Sender: sender}
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

func clampProb(p float64) float64 {
	if math.IsNaN(p) || p <= 0 {
		return 0
	}
	return math.Min(p, 1)
}
