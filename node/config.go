package node

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/actors/executor"
	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/actors/roles"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
	"github.com/rsml-go/rsml/storage"
)

// Config describes one replica. Zero values take the defaults documented on
// each field; Validate names the first bad field.
type Config struct {
	// ID is this replica's id, a key of Peers.
	ID msg.NodeID
	// ClusterID names the cluster (default "rsml"); messages from replicas of
	// another cluster are dropped and counted.
	ClusterID string
	// Peers maps every replica's id, this one's included, to its actor-system
	// address (HOST:PORT over TCP). Without Join they make the cluster's
	// first configuration, every replica with every role; every replica
	// must be started with the same first configuration. Later ones come
	// from the log (AddMember, RemoveMember).
	Peers map[msg.NodeID]string
	// Join starts a replica that is not in the first configuration: Peers
	// then names the first configuration's replicas and this one (and may
	// name the latest configuration's members too, to reach them). It
	// learns the cluster's later configurations from its peers, and counts
	// in quorums once one names it (AddMember on a member).
	Join bool
	// First is the cluster's first configuration when Peers is not it: a
	// joining replica must fold the same changes over the same start as
	// every other. Nil: Peers (without this replica, if it joins).
	First map[msg.NodeID]string
	// Roles are the roles the first configuration gives its replicas (the
	// config file's role lists); a replica it does not name runs every
	// role. Every replica must be started with the same.
	Roles map[msg.NodeID]membership.Roles
	// Witness makes this replica a witness: it votes as an acceptor and
	// holds no state machine. Its state machine is executor.Witness
	// (Config's StateMachine must be nil), its reads and writes fail with
	// ErrWitness, and its acceptor truncates only behind the floors chosen
	// through the log (membership.Floor): slots every replica with state
	// holds in a durable snapshot. Give it the acceptor role only. A replica that Roles makes
	// acceptor-only is a witness without it. Start a store with the same
	// setting every time: a witness's store holds no state a full replica
	// could serve from (rsml-node records it in cluster.json).
	Witness bool
	// Listen is the address to listen on for consensus traffic over TCP
	// (default: Peers[ID]); useful behind NAT or to bind 0.0.0.0.
	Listen string

	// System is an actor system to run the replica in: a host program's own,
	// so that the host's actors live alongside the replica. nil makes one
	// that the replica owns and shuts down on Stop. Start tells three kinds
	// of host system apart:
	//
	//   - No remoting and no address (protoactor's "nonhost"): with peers,
	//     the replica starts Proto.Actor remoting on it (remote.StartTCP, with
	//     rsml's settings), listening on Listen or Peers[ID], and stops that
	//     remoting on Stop. A PID keeps the address it was born with, so only
	//     the host's actors spawned after Start can be reached from other
	//     processes. Protoactor cannot start remoting twice on one system:
	//     to run a replica again in the same system, use the next case.
	//     A lone replica (Peers names only ID) starts no remoting: the system
	//     just takes Peers[ID] as its address.
	//   - Remoting already started, by remote.StartTCP or by protoactor's
	//     remote package: the replica reuses it and leaves it running on
	//     Stop. Its address must be Peers[ID] (Listen empty or the same).
	//     Its settings are then the host's; DESIGN.md §3 recommends a writer
	//     queue of about 1024 (protoactor's default preallocates 1M slots per
	//     peer), MaxRetryCount 1 (more attempts leak gRPC connections and
	//     stall shutdown for 10 s), and rsml needs a gRPC receive limit well
	//     above the 8 MiB of a catch-up message (gRPC's default is 4 MiB):
	//     remote.StartTCP sets all three.
	//   - An address but no remoting: attached to a remote.Network (the
	//     in-process cluster), whose address must be Peers[ID]; messages cross
	//     as Go pointers.
	//
	// Over remoting, messages between replicas are protobuf Any values
	// holding msgpack, so they share the host's remoting with its own
	// messages. Stop never shuts a host's system down.
	System *actor.ActorSystem
	// PeerTLS makes the remoting the replica starts (the first case above)
	// mutual TLS (remote.LoadPeerTLS): it accepts only peers whose
	// certificate chains to the peer CA and never speaks plaintext. Remoting
	// a host started is the host's: start it with remote.WithTLS instead;
	// Start refuses PeerTLS with it, and with the in-process network.
	PeerTLS *remote.PeerTLS
	// StateMachine is what the replica replicates; nil means a new kv.Store.
	StateMachine executor.StateMachine
	// Store is the replica's storage; nil means a new in-memory store.
	Store storage.Store
	// Logger receives the replica's logs (nil: slog.Default()).
	Logger *slog.Logger
	// ActorLogger receives Proto.Actor's own logs (nil: discarded; an ordinary
	// shutdown makes it log errors about lost connections).
	ActorLogger *slog.Logger

	// TickInterval is the resolution of every role's timers (default 10ms).
	TickInterval time.Duration
	// HeartbeatInterval is how often the leader beacons (default 50ms).
	HeartbeatInterval time.Duration
	// ElectionTimeout is the shortest time without a leader's heartbeat
	// before a follower campaigns; each wait is drawn from [T, 2T) (default
	// 150ms).
	ElectionTimeout time.Duration
	// LeaseTimeout is how long after hearing the leader an acceptor refuses a
	// challenger; it must be below ElectionTimeout (default 2/3 of it).
	LeaseTimeout time.Duration
	// ResendInterval is how long an unanswered Prepare, Accept or catch-up
	// request waits before it is sent again (default 100ms).
	ResendInterval time.Duration
	// ProposeTimeout bounds a call whose context has no deadline (default 10s).
	ProposeTimeout time.Duration
	// RetryInterval is how long a call waits for its answer before it sends
	// its (tagged, so deduplicated) request again; a leader change makes it
	// resend at once (default 1s).
	RetryInterval time.Duration

	// Window is the number of slots the leader keeps in flight (default 16).
	Window int
	// MaxBatch is the most commands in one slot (default 1024).
	MaxBatch int
	// MaxBatchBytes is the most command bytes in one slot (default 4 MiB; a
	// single larger command still gets a slot of its own).
	MaxBatchBytes int
	// MaxQueue bounds the requests waiting at the leader (default 100000).
	MaxQueue int
	// SnapshotEvery is the number of applied commands between snapshots
	// (default 100000).
	SnapshotEvery uint64
	// SnapshotBytes also starts a snapshot once this many bytes of commands
	// were applied since the last one, or as many as the last snapshot
	// holds if that is more (default 4 MiB). The logs keep in memory what
	// follows the previous snapshot, so this, with SnapshotEvery, bounds
	// a replica's memory under writes.
	SnapshotBytes uint64
	// MaxSessions bounds the exactly-once table (default 100000 clients).
	MaxSessions int
	// MaxRestarts is how many times within RestartWindow a role that panics
	// is restarted from storage (each restart after the first waiting twice
	// as long as the one before); one more failure stops the replica (see
	// Node.Failed) rather than leave it running without the role (default
	// 10 in 10s).
	MaxRestarts   int
	RestartWindow time.Duration
	// Seed seeds election jitter (0: derived from the id).
	Seed uint64
}

func (c *Config) setDefaults() {
	if r, ok := c.Roles[c.ID]; ok && r == membership.Acceptor && !c.Join {
		c.Witness = true // the first configuration makes it one
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.TickInterval, 10*time.Millisecond)
	def(&c.HeartbeatInterval, 50*time.Millisecond)
	def(&c.ElectionTimeout, 150*time.Millisecond)
	def(&c.LeaseTimeout, c.ElectionTimeout*2/3)
	def(&c.ResendInterval, 100*time.Millisecond)
	def(&c.ProposeTimeout, 10*time.Second)
	def(&c.RetryInterval, time.Second)
	def(&c.RestartWindow, 10*time.Second)
	defInt(&c.Window, 16)
	defInt(&c.MaxBatch, 1024)
	defInt(&c.MaxBatchBytes, 4<<20)
	defInt(&c.MaxQueue, 100000)
	defInt(&c.MaxSessions, 100000)
	defInt(&c.MaxRestarts, 10)
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 100000
	}
	if c.SnapshotBytes == 0 {
		c.SnapshotBytes = DefaultSnapshotBytes
	}
	if c.ClusterID == "" {
		c.ClusterID = "rsml"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Seed == 0 {
		c.Seed = uint64(c.ID)*0x9e3779b97f4a7c15 + uint64(time.Now().UnixNano())
	}
}

// Validate checks the configuration after defaults are applied and names the
// first field that is wrong.
func (c *Config) Validate() error {
	if c.ID == 0 {
		return errors.New("config: ID must be set (a positive replica id)")
	}
	if len(c.Peers) == 0 {
		return errors.New("config: Peers must list every replica, this one included")
	}
	if _, ok := c.Peers[c.ID]; !ok {
		return fmt.Errorf("config: ID %d is not in Peers", c.ID)
	}
	if c.Witness && c.StateMachine != nil {
		return errors.New("config: a witness has no state machine: leave StateMachine nil")
	}
	if r, ok := c.Roles[c.ID]; c.Witness && !c.Join && (!ok || r != membership.Acceptor) {
		if !ok {
			r = membership.All
		}
		return fmt.Errorf("config: replica %d is a witness in the first configuration, which gives it the roles %s: a witness takes the acceptor role only (Roles[%d] = membership.Acceptor)",
			c.ID, r, c.ID)
	}
	if c.Join && len(c.Peers) < 2 {
		return errors.New("config: Join needs Peers to name the cluster's first configuration besides this replica")
	}
	seen := map[string]msg.NodeID{}
	for id, addr := range c.Peers {
		if id == 0 {
			return errors.New("config: Peers: replica id 0 is not allowed")
		}
		if addr == "" {
			return fmt.Errorf("config: Peers: replica %d has no address", id)
		}
		if other, dup := seen[addr]; dup {
			return fmt.Errorf("config: Peers: replicas %d and %d share address %s", other, id, addr)
		}
		seen[addr] = id
	}
	if len(c.Peers) > 64 {
		return fmt.Errorf("config: Peers: %d replicas, at most 64", len(c.Peers))
	}
	if c.TickInterval <= 0 {
		return errors.New("config: TickInterval must be positive")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"HeartbeatInterval", c.HeartbeatInterval}, {"ElectionTimeout", c.ElectionTimeout},
		{"LeaseTimeout", c.LeaseTimeout}, {"ResendInterval", c.ResendInterval}} {
		if d.v < c.TickInterval {
			return fmt.Errorf("config: %s (%v) must be at least TickInterval (%v)", d.name, d.v, c.TickInterval)
		}
	}
	if c.HeartbeatInterval >= c.ElectionTimeout {
		return fmt.Errorf("config: HeartbeatInterval (%v) must be below ElectionTimeout (%v)", c.HeartbeatInterval, c.ElectionTimeout)
	}
	if c.LeaseTimeout >= c.ElectionTimeout {
		return fmt.Errorf("config: LeaseTimeout (%v) must be below ElectionTimeout (%v), or a dead leader could never be replaced", c.LeaseTimeout, c.ElectionTimeout)
	}
	for _, v := range []struct {
		name string
		v    int
	}{{"Window", c.Window}, {"MaxBatch", c.MaxBatch}, {"MaxBatchBytes", c.MaxBatchBytes}, {"MaxQueue", c.MaxQueue}, {"MaxSessions", c.MaxSessions}} {
		if v.v < 0 {
			return fmt.Errorf("config: %s must not be negative", v.name)
		}
	}
	return nil
}

func (c *Config) ticks(d time.Duration) int {
	return max(1, int((d+c.TickInterval-1)/c.TickInterval))
}

// DefaultSnapshotBytes is Config.SnapshotBytes's default: with 128-byte
// values, a snapshot about every 20,000 writes, which a state of a few
// thousand keys takes in a millisecond.
const DefaultSnapshotBytes = 4 << 20

// maxCatchup bounds the slots of one catch-up reply between learners.
const maxCatchup = 4096

// firstMembers is the cluster's first configuration: Peers (but this
// replica when it joins), every replica with every role.
func (c *Config) firstMembers() (*membership.History, error) {
	var ms []membership.Member
	first := c.Peers
	if c.First != nil {
		first = c.First
	}
	for id, addr := range first {
		if c.Join && id == c.ID {
			continue
		}
		roles := membership.All
		if r, ok := c.Roles[id]; ok {
			roles = r
		}
		ms = append(ms, membership.Member{ID: id, Addr: addr, Roles: roles})
	}
	h, err := membership.Bootstrap(membership.DefaultAlpha, ms)
	if err != nil {
		return nil, fmt.Errorf("config: Peers: %w", err)
	}
	return h, nil
}

// roleParams turns the configuration into the roles' parameters.
func (c *Config) roleParams(ids []msg.NodeID, first *membership.History) roles.Params {
	return roles.Params{ID: c.ID, Replicas: ids, Members: first,
		HeartbeatTicks: c.ticks(c.HeartbeatInterval), ElectionTicks: c.ticks(c.ElectionTimeout),
		LeaseTicks: c.ticks(c.LeaseTimeout), ResendTicks: c.ticks(c.ResendInterval),
		Window: c.Window, MaxBatch: c.MaxBatch, MaxBatchBytes: c.MaxBatchBytes, MaxQueue: c.MaxQueue,
		SnapshotEvery: c.SnapshotEvery, SnapshotBytes: c.SnapshotBytes, MaxSessions: c.MaxSessions, MaxCatchup: maxCatchup, Witness: c.Witness}
}
