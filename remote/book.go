package remote

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
)

// SupervisorName is the name of every replica's supervisor actor; the four role
// actors are its children, so their ids are fixed and peers can address them
// without asking (see ActorName).
const SupervisorName = "rsml"

// roles are the actor roles a Book hands out PIDs for. msg.RoleWaiter is not an
// actor: its messages go to WaitersPID (see WithLocalWaiters).
var roles = [...]msg.Role{msg.RoleProposer, msg.RoleAcceptor, msg.RoleLearner, msg.RoleExecutor}

// actorNames holds ActorName of every role in roles, indexed by msg.Role.
var actorNames = func() [msg.RoleExecutor + 1]string {
	var names [msg.RoleExecutor + 1]string
	for _, r := range roles {
		names[r] = SupervisorName + "/" + r.String()
	}
	return names
}()

// ActorName returns the process id of a role actor: "rsml/" + role.String(),
// which is the id Proto.Actor gives a child spawned with
// SpawnNamed(props, role.String()) under a parent spawned as SupervisorName.
func ActorName(role msg.Role) string {
	if int(role) < len(actorNames) && actorNames[role] != "" {
		return actorNames[role]
	}
	return SupervisorName + "/" + role.String()
}

// ErrBadBook is wrapped by every error NewBook returns.
var ErrBadBook = errors.New("remote: bad address book")

// denseLimit bounds the ids a Book indexes by slice; larger ids (unusual: ids
// are small integers) fall back to a map.
const denseLimit = 1024

// peer is one replica's entry: its address and the cached PIDs of its roles
// and of its waiters process.
type peer struct {
	addr    string
	pids    [msg.RoleExecutor + 1]*actor.PID
	waiters *actor.PID
}

// Book maps replica ids to actor-system addresses and builds the PIDs of their
// role actors. One Book per ActorSystem (PIDs cache their process).
//
// A Book is safe for concurrent use. Its PIDs are built once per replica, so
// the per-message lookup allocates nothing. Replicas that join the cluster
// are added with Learn.
type Book struct {
	self msg.NodeID
	tab  atomic.Pointer[table] // replaced whole by Learn

	wire      *codec      // set by WithWire: messages to other replicas go as Encode's Any
	cluster   string      // the cluster id of wire
	onWireErr func(error) // reports an Encode failure in Send; may be nil

	localWaiters func(ref string, m any) // set by WithLocalWaiters
	onUnknown    func(to msg.NodeID)     // set by WithUnknownReplica
}

// table is a Book's replicas: immutable once published.
type table struct {
	ids   []msg.NodeID
	dense []*peer // indexed by id when every id < denseLimit
	peers map[msg.NodeID]*peer
}

func (t *table) peer(id msg.NodeID) *peer {
	if t.dense != nil {
		if int(id) < len(t.dense) {
			return t.dense[id]
		}
		return nil
	}
	return t.peers[id]
}

// index sorts the ids and builds the dense index.
func (t *table) index() {
	slices.Sort(t.ids)
	t.dense = nil
	if top := t.ids[len(t.ids)-1]; top < denseLimit {
		t.dense = make([]*peer, top+1)
		for id, p := range t.peers {
			t.dense[id] = p
		}
	}
}

func newPeer(addr string) *peer {
	p := &peer{addr: addr, waiters: actor.NewPID(addr, WaitersName)}
	for _, r := range roles {
		p.pids[r] = actor.NewPID(addr, actorNames[r])
	}
	return p
}

// Learn adds the replicas of addrs the Book does not know, and takes the
// new address of one that moved: a membership change made them peers.
// It reports whether anything changed. Replicas are never dropped: a
// removed one may still need answers while it leaves.
func (b *Book) Learn(addrs map[msg.NodeID]string) bool {
	for {
		old := b.tab.Load()
		var add []msg.NodeID
		for id, addr := range addrs {
			if p := old.peer(id); id != 0 && addr != "" && (p == nil || p.addr != addr) {
				add = append(add, id)
			}
		}
		if len(add) == 0 {
			return false
		}
		t := &table{ids: slices.Clone(old.ids), peers: maps.Clone(old.peers)}
		for _, id := range add {
			if _, ok := t.peers[id]; !ok {
				t.ids = append(t.ids, id)
			}
			t.peers[id] = newPeer(addrs[id])
		}
		t.index()
		if b.tab.CompareAndSwap(old, t) {
			return true
		}
	}
}

// BookOption configures a Book in NewBook.
type BookOption func(*Book) error

// WithWire makes the Book prepare messages for Proto.Actor remoting (the TCP
// cluster): Send and Wrap turn a message for another replica into the
// *anypb.Any that Encode(cluster, m) makes, while a message for the Book's own
// replica stays the plain pointer. The receiving actors need
// DecodeMiddleware(cluster, ...) and other receivers Unwrap.
//
// Send reports a message it cannot encode (a type that does not cross
// replicas) to onError, if not nil, and drops it: a bug to log and count,
// never a panic. cluster must pass ValidClusterID.
//
// The in-process cluster needs no wire: its links pass pointers.
func WithWire(cluster string, onError func(error)) BookOption {
	return func(b *Book) error {
		c, err := codecFor(cluster)
		if err != nil {
			return err
		}
		b.wire, b.cluster, b.onWireErr = c, cluster, onError
		return nil
	}
}

// WithLocalWaiters makes Send hand a message for one of this replica's own
// waiters to deliver, with the waiter's name, as a plain call: no process
// lookup and no mailbox between the executor's answer and the caller.
// deliver must not block.
//
// Peers address this replica's waiters through its waiters process (see
// WaitersName): so that their answers arrive, register NewWaiters with the
// same deliver under WaitersName.
func WithLocalWaiters(deliver func(ref string, m any)) BookOption {
	return func(b *Book) error {
		b.localWaiters = deliver
		return nil
	}
}

// WithUnknownReplica reports each message Send drops because the Book has
// no address for its replica (one that joined and that this replica has
// not learned of yet): not delivered, so the sender's resend or its
// caller's retry must cover it. report must not block.
func WithUnknownReplica(report func(to msg.NodeID)) BookOption {
	return func(b *Book) error {
		b.onUnknown = report
		return nil
	}
}

// NewBook builds the address book of replica self. addrs must name every
// replica, self included, each with a distinct non-empty address; id 0 is
// reserved for "none".
func NewBook(self msg.NodeID, addrs map[msg.NodeID]string, opts ...BookOption) (*Book, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: no replicas", ErrBadBook)
	}
	if self == 0 {
		return nil, fmt.Errorf("%w: self id 0 (0 means none)", ErrBadBook)
	}
	b := &Book{self: self}
	t := &table{peers: make(map[msg.NodeID]*peer, len(addrs))}
	for _, opt := range opts {
		if err := opt(b); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadBook, err)
		}
	}
	seen := make(map[string]msg.NodeID, len(addrs))
	for id, addr := range addrs {
		if id == 0 {
			return nil, fmt.Errorf("%w: replica id 0 (0 means none)", ErrBadBook)
		}
		if addr == "" {
			return nil, fmt.Errorf("%w: replica %d: empty address", ErrBadBook, id)
		}
		if other, dup := seen[addr]; dup {
			lo, hi := min(id, other), max(id, other)
			return nil, fmt.Errorf("%w: replicas %d and %d share address %q", ErrBadBook, lo, hi, addr)
		}
		seen[addr] = id
		t.peers[id] = newPeer(addr)
		t.ids = append(t.ids, id)
	}
	if _, ok := addrs[self]; !ok {
		return nil, fmt.Errorf("%w: self %d is not among the replicas", ErrBadBook, self)
	}
	t.index()
	b.tab.Store(t)
	return b, nil
}

func (b *Book) peer(id msg.NodeID) *peer { return b.tab.Load().peer(id) }

// Cluster returns the cluster id given to WithWire, or "" if the Book has no
// wire (the in-process cluster).
func (b *Book) Cluster() string { return b.cluster }

// Self returns the id of the replica this Book belongs to.
func (b *Book) Self() msg.NodeID { return b.self }

// IDs returns every replica id the Book knows, in ascending order, self
// included. The slice is shared by all callers: do not modify it.
func (b *Book) IDs() []msg.NodeID { return b.tab.Load().ids }

// Addr returns the actor-system address of replica id, or "" if id is unknown.
func (b *Book) Addr(id msg.NodeID) string {
	if p := b.peer(id); p != nil {
		return p.addr
	}
	return ""
}

// PID returns the PID of role on replica id, or nil if id is unknown or role is
// not one of the four role actors. The PID is shared and cached: it must be
// used only with the ActorSystem this Book belongs to, and never modified.
func (b *Book) PID(id msg.NodeID, role msg.Role) *actor.PID {
	p := b.peer(id)
	if p == nil || int(role) >= len(p.pids) {
		return nil
	}
	return p.pids[role] // nil for role 0
}

// WaitersPID returns the PID of the waiters process (WaitersName) of replica
// id, or nil if id is unknown. A message for one of its waiters goes there in
// a WaiterEnvelope. The PID is shared and cached, as PID's are.
func (b *Book) WaitersPID(id msg.NodeID) *actor.PID {
	if p := b.peer(id); p != nil {
		return p.waiters
	}
	return nil
}
