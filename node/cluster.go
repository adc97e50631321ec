package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rsml-go/rsml/actors/executor"
	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
	"github.com/rsml-go/rsml/storage"
)

// ClusterConfig describes an in-process cluster.
type ClusterConfig struct {
	// Nodes is the number of replicas (default 3).
	Nodes int
	// Seed seeds the simulated network's faults and the replicas' election
	// jitter, so that a failing run can be replayed (0: time-based).
	Seed int64
	// Template holds the settings every replica shares; ID, Peers, System,
	// Store and StateMachine are filled in per replica.
	Template Config
	// NewStateMachine makes each replica's state machine (nil: kv.New).
	NewStateMachine func(id msg.NodeID) executor.StateMachine
	// NewStore opens each replica's storage (nil: in memory). The cluster
	// keeps a store open across StopNode/StartNode, as a disk outlives a
	// process, and closes it in Stop.
	NewStore func(id msg.NodeID) (storage.Store, error)
}

// Cluster is a whole cluster in one process: one actor system per replica,
// routed through a simulated network whose faults tests control.
type Cluster struct {
	cfg ClusterConfig
	// Net is the simulated network: partition, drop, delay, duplicate.
	Net   *remote.Network
	peers map[msg.NodeID]string // the first configuration
	ids   []msg.NodeID
	// joiners are the replicas started with JoinNode: not in the first
	// configuration.
	joiners map[msg.NodeID]bool

	mu     sync.Mutex
	nodes  map[msg.NodeID]*Node
	stores map[msg.NodeID]storage.Store
	sms    map[msg.NodeID]executor.StateMachine
}

// StartCluster starts every replica of an in-process cluster.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Nodes < 1 || cfg.Nodes > 64 {
		return nil, fmt.Errorf("cluster: Nodes = %d, want 1 to 64", cfg.Nodes)
	}
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano()
	}
	c := &Cluster{cfg: cfg, Net: remote.NewNetwork(cfg.Seed), nodes: map[msg.NodeID]*Node{}, joiners: map[msg.NodeID]bool{},
		stores: map[msg.NodeID]storage.Store{}, sms: map[msg.NodeID]executor.StateMachine{}}
	for i := 1; i <= cfg.Nodes; i++ {
		c.ids = append(c.ids, msg.NodeID(i))
	}
	c.peers = c.Net.Addrs(c.ids...)
	for _, id := range c.ids {
		if err := c.StartNode(ctx, id); err != nil {
			_ = c.Stop(context.Background())
			return nil, err
		}
	}
	return c, nil
}

// JoinNode starts a new replica id, outside the first configuration, with
// empty storage: it follows the cluster once a member adds it (AddMember
// with the address Addr gives).
func (c *Cluster) JoinNode(ctx context.Context, id msg.NodeID) error {
	c.mu.Lock()
	if _, ok := c.peers[id]; ok || c.joiners[id] || id == 0 {
		c.mu.Unlock()
		return fmt.Errorf("cluster: replica %d exists", id)
	}
	c.joiners[id] = true
	c.ids = append(c.ids, id)
	c.mu.Unlock()
	return c.StartNode(ctx, id)
}

// Addr returns the address replica id has (or would have) on the network.
func (c *Cluster) Addr(id msg.NodeID) string { return c.Net.Addr(id) }

// IDs returns the replicas' ids.
func (c *Cluster) IDs() []msg.NodeID { return c.ids }

// Node returns a running replica, or nil if it is stopped.
func (c *Cluster) Node(id msg.NodeID) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// Nodes returns the running replicas.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, id := range c.ids {
		if n := c.nodes[id]; n != nil {
			out = append(out, n)
		}
	}
	return out
}

// StateMachine returns replica id's state machine (kept across restarts, as
// its snapshot store is).
func (c *Cluster) StateMachine(id msg.NodeID) executor.StateMachine {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sms[id]
}

// StartNode starts replica id, or restarts it after StopNode with the storage
// it had: what it made durable survives, its volatile state does not.
func (c *Cluster) StartNode(ctx context.Context, id msg.NodeID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes[id] != nil {
		return fmt.Errorf("cluster: replica %d is running", id)
	}
	if _, ok := c.peers[id]; !ok && !c.joiners[id] {
		return fmt.Errorf("cluster: no replica %d", id)
	}
	st := c.stores[id]
	if st == nil {
		if c.cfg.NewStore != nil {
			var err error
			if st, err = c.cfg.NewStore(id); err != nil {
				return fmt.Errorf("cluster: storage of replica %d: %w", id, err)
			}
		} else {
			st = storage.NewMemory()
		}
		c.stores[id] = st
	}
	sm := c.sms[id]
	if sm == nil {
		if c.cfg.NewStateMachine != nil {
			sm = c.cfg.NewStateMachine(id)
		} else {
			sm = kv.New()
		}
		c.sms[id] = sm
	}
	cfg := c.cfg.Template
	cfg.ID, cfg.Peers, cfg.Store, cfg.StateMachine = id, c.peers, st, sm
	if c.joiners[id] {
		// The first configuration, and every replica of the cluster to
		// reach them (as run --join learns the members from a seed).
		cfg.Join, cfg.First = true, c.peers
		cfg.Peers = c.Net.Addrs(c.ids...)
	}
	if r, ok := cfg.Roles[id]; cfg.Witness || ok && r == membership.Acceptor && !cfg.Join {
		cfg.StateMachine = nil // a witness holds none
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(c.cfg.Seed)*31 + uint64(id)
	}
	sys := newSystem(cfg.ActorLogger)
	c.Net.Attach(id, sys)
	cfg.System = sys
	n, err := Start(ctx, cfg)
	if err != nil {
		c.Net.Detach(id)
		sys.Shutdown()
		return err
	}
	n.ownSys = true
	c.nodes[id] = n
	return nil
}

// StopNode stops replica id as a crash would: its network link goes down
// first, so it sends nothing more. Its storage is kept for StartNode.
//
// The replica stays registered until its actors have stopped: if Stop times
// out, StartNode keeps refusing, so two incarnations never share a store.
func (c *Cluster) StopNode(ctx context.Context, id msg.NodeID) error {
	c.mu.Lock()
	n := c.nodes[id]
	c.mu.Unlock()
	if n == nil {
		return fmt.Errorf("cluster: replica %d is not running", id)
	}
	c.Net.Detach(id)
	if err := n.Stop(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.nodes, id)
	c.mu.Unlock()
	return nil
}

// Leader returns the replica that leads with the highest ballot, or nil.
func (c *Cluster) Leader() *Node {
	var best *Node
	var bb msg.Ballot
	for _, n := range c.Nodes() {
		if st := n.Status(); st.IsLeader && (best == nil || bb.Less(st.Ballot)) {
			best, bb = n, st.Ballot
		}
	}
	return best
}

// WaitLeader waits until a replica leads and every running replica that can
// hear it agrees; it returns the leader.
func (c *Cluster) WaitLeader(ctx context.Context) (*Node, error) {
	return c.waitLeader(ctx, 0)
}

// WaitNewLeader waits for a leader other than old.
func (c *Cluster) WaitNewLeader(ctx context.Context, old msg.NodeID) (*Node, error) {
	return c.waitLeader(ctx, old)
}

func (c *Cluster) waitLeader(ctx context.Context, not msg.NodeID) (*Node, error) {
	t := time.NewTicker(c.tick())
	defer t.Stop()
	for {
		if l := c.Leader(); l != nil && l.ID() != not {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: no leader: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func (c *Cluster) tick() time.Duration {
	if d := c.cfg.Template.TickInterval; d > 0 {
		return d
	}
	return 10 * time.Millisecond
}

// WaitApplied waits until every running replica has applied at least slot.
func (c *Cluster) WaitApplied(ctx context.Context, slot uint64) error {
	t := time.NewTicker(c.tick())
	defer t.Stop()
	for {
		done := true
		for _, n := range c.Nodes() {
			if n.Status().Applied < slot {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for slot %d: %w", slot, ctx.Err())
		case <-t.C:
		}
	}
}

// Stop stops every replica and the simulated network.
func (c *Cluster) Stop(ctx context.Context) error {
	var errs []error
	for _, n := range c.Nodes() {
		c.Net.Detach(n.ID())
		errs = append(errs, n.Stop(ctx))
	}
	c.mu.Lock()
	c.nodes = map[msg.NodeID]*Node{}
	for id, st := range c.stores {
		errs = append(errs, st.Close())
		delete(c.stores, id)
	}
	c.mu.Unlock()
	c.Net.Close()
	return errors.Join(errs...)
}
