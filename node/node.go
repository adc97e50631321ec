package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/actors/acceptor"
	"github.com/rsml-go/rsml/actors/executor"
	"github.com/rsml-go/rsml/actors/learner"
	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/actors/proposer"
	"github.com/rsml-go/rsml/actors/role"
	"github.com/rsml-go/rsml/actors/roles"
	"github.com/rsml-go/rsml/internal/pactor"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
	"github.com/rsml-go/rsml/storage"
)

// Node is one running replica.
type Node struct {
	cfg    Config
	sys    *actor.ActorSystem
	ownSys bool
	tcp    *remote.TCP // remoting this replica started (and stops); nil otherwise
	book   *remote.Book
	store  storage.Store
	logger *slog.Logger
	super  *actor.PID
	local  [msg.RoleExecutor + 1]*actor.PID // this replica's role PIDs

	transport string // how the replica reaches its peers, for the logs

	mu       sync.Mutex
	prop     proposer.Status
	leaderCh chan struct{} // closed and replaced whenever the leader changes

	// The node's own exactly-once session: every proposal through the Go API
	// is tagged, so that a request lost with a failed leader can be sent again
	// without being applied twice.
	incarnation string                   // unique per Start: names this incarnation's waiters
	waiters     *waiters                 // the callers of Propose and Read waiting for answers
	waitersProc *remote.Waiters          // takes the peers' answers to waiters (remote.WaitersName)
	intake      *proposer.Intake         // Propose's requests for the proposer
	saves       role.Saves               // snapshot saves in flight, which Stop waits for
	dispatchers []*pactor.LoopDispatcher // one per role actor
	seqMu       sync.Mutex
	session     uint64 // renewed if the executors forget it
	sessionLive bool   // the executor answered a command of session
	nextSeq     uint64
	ackedSeq    uint64              // every seq up to here has its answer
	finished    map[uint64]struct{} // answered seqs above ackedSeq
	commit      atomic.Uint64
	members     atomic.Pointer[membership.History] // as of commit
	first       *membership.History                // the cluster's first configuration
	removed     chan struct{}                      // closed once a configuration without us is in force
	removeOnce  sync.Once
	applied     atomic.Uint64
	rev         atomic.Uint64
	// acceptorTruncated is the acceptor log's truncation point.
	acceptorTruncated atomic.Uint64
	// acceptorOn: the acceptor runs, or was asked to (gateAcceptor);
	// gateH and gateInForce are what it was last decided on. The learner's
	// goroutine alone uses them once the replica runs.
	acceptorOn   bool
	gateH        *membership.History
	gateInForce  bool
	gateWant     bool          // what the last membership said
	gateOffSince time.Time     // since when it said no vote
	installs     atomic.Uint64 // peers' snapshots installed
	// witness floors this replica's learner delivered: passed to its
	// acceptor, or void at their slot (membership.History.Holds)
	floorsTaken, floorsRefused atomic.Uint64

	metrics  *metrics
	inflight atomic.Int64 // Propose calls waiting for their answer

	stopOnce sync.Once
	stopped  chan struct{}
	stopErr  error

	restarts *restarts
	failOnce sync.Once
	failed   chan struct{} // closed when a role failed for good (see Failed)
	failErr  error
}

// Start starts one replica in its own actor system, or in the host's
// (Config.System, which says how the replica then reaches its peers). On
// error nothing of the replica is left running.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, sys: cfg.System, stopped: make(chan struct{}), failed: make(chan struct{}), leaderCh: make(chan struct{}),
		removed: make(chan struct{}),
		session: rand.Uint64() | 1, finished: map[uint64]struct{}{}}
	n.incarnation = strconv.FormatUint(n.session, 36) + "-"
	n.logger = cfg.Logger.With("replica", cfg.ID.String())
	n.metrics = newMetrics(n)
	if n.sys == nil {
		n.sys = newSystem(cfg.ActorLogger)
		n.ownSys = true
	}
	wire, err := n.startTransport()
	if err != nil {
		if n.ownSys {
			n.sys.Shutdown()
		}
		return nil, err
	}
	var bookOpts []remote.BookOption
	var decode actor.ReceiverMiddleware
	drop := func(reason string, err error) {
		n.metrics.dropped.WithLabelValues(reason).Inc()
		n.logger.Warn("dropped a message", "reason", reason, "err", err)
	}
	if wire {
		bookOpts = append(bookOpts, remote.WithWire(cfg.ClusterID, func(err error) {
			n.metrics.dropped.WithLabelValues("unencodable").Inc()
			n.logger.Error("cannot encode a message", "err", err)
		}))
		decode = remote.DecodeMiddleware(cfg.ClusterID, drop)
	}
	n.waiters = newWaiters(n.incarnation, func(reason string) {
		n.metrics.dropped.WithLabelValues(reason).Inc()
		n.logger.Debug("dropped an answer", "reason", reason)
	})
	n.intake = proposer.NewIntake(func() { n.sys.Root.Send(n.local[msg.RoleProposer], proposer.Doorbell{}) })
	bookOpts = append(bookOpts, remote.WithLocalWaiters(n.waiters.deliver),
		remote.WithUnknownReplica(func(to msg.NodeID) {
			n.metrics.dropped.WithLabelValues("unknown_replica").Inc()
			n.logger.Debug("dropped a message for a replica not in the address book yet", "to", to)
		}))
	book, err := remote.NewBook(cfg.ID, cfg.Peers, bookOpts...)
	if err != nil {
		n.shutdownSystem()
		return nil, fmt.Errorf("node: %w", err)
	}
	n.book = book
	n.waitersProc = remote.NewWaiters(book.Cluster(), n.waiters.deliver, drop)
	n.store = cfg.Store
	if n.store == nil {
		n.store = storage.NewMemory()
	}
	sm := cfg.StateMachine
	switch {
	case cfg.Witness:
		sm = executor.Witness{}
	case sm == nil:
		sm = kv.New()
	}
	for _, r := range []msg.Role{msg.RoleProposer, msg.RoleAcceptor, msg.RoleLearner, msg.RoleExecutor} {
		n.local[r] = actor.NewPID(n.sys.Address(), remote.ActorName(r))
	}

	ids := book.IDs()
	first, err := cfg.firstMembers()
	if err != nil {
		n.shutdownSystem()
		return nil, err
	}
	n.members.Store(first)
	n.first = first
	set, err := roles.For(cfg.roleParams(ids, first))
	if err != nil {
		n.shutdownSystem()
		return nil, err
	}
	seed := cfg.Seed
	restarts := 0
	born := time.Now()
	proposerEnv := roles.Env{Intake: n.intake, Now: func() time.Duration { return time.Since(born) },
		Hooks: proposer.Hooks{
			Status: n.observeProposer,
			Batch:  func(k int) { n.metrics.batch.Observe(float64(k)) },
			Commit: func(d time.Duration) { n.metrics.commit.Observe(d.Seconds()) },
		}}
	mbox := actor.WithMailbox(pactor.SafeMailbox())
	if decode != nil {
		mbox = func(p *actor.Props) {
			actor.WithMailbox(pactor.SafeMailbox())(p)
			actor.WithReceiverMiddleware(decode)(p)
		}
	}
	// Each role runs on a goroutine of its own (pactor.LoopDispatcher); the
	// supervisor keeps Proto.Actor's default.
	roleMbox := func() actor.PropsOption {
		d := pactor.NewLoopDispatcher(roleThroughput)
		n.dispatchers = append(n.dispatchers, d)
		return func(p *actor.Props) {
			mbox(p)
			actor.WithDispatcher(d)(p)
		}
	}
	// spec is how the supervisor (re)creates role r: a role.Actor whose core
	// is built from storage at every start.
	spec := func(r msg.Role, observe func(role.Core)) roleSpec {
		logger := n.logger.With("role", r.String())
		return roleSpec{role: r, run: true, props: actor.PropsFromProducer(func() actor.Actor {
			env := proposerEnv
			if r == msg.RoleProposer {
				restarts++ // producers run on the supervisor's goroutine, one at a time
				env.Rand = rand.New(rand.NewPCG(seed, uint64(restarts)))
			}
			a := role.NewActor(func() (role.Core, error) { return set.Build(r, n.store, sm, env) }, n.store, book, logger, &n.saves)
			a.Observe = observe
			return a
		}, roleMbox())}
	}
	var installs uint64
	var floors learner.FloorStats
	// The acceptor runs only while the configuration gives this replica a
	// vote (roles.RunsAcceptor), by the membership its log holds.
	logged, err := roles.Members(first, n.store)
	if err != nil {
		n.closeDispatchers()
		n.shutdownSystem()
		return nil, fmt.Errorf("node: membership from storage: %w", err)
	}
	n.acceptorOn = roles.RunsAcceptor(logged, cfg.ID, n.store.Chosen().Last())
	n.gateWant = n.acceptorOn
	acc := spec(msg.RoleAcceptor, func(c role.Core) {
		n.acceptorTruncated.Store(c.(*acceptor.Core).Truncated())
	})
	acc.run = n.acceptorOn
	acc.standIn = actor.PropsFromProducer(func() actor.Actor {
		return &standIn{role: msg.RoleAcceptor, dropped: func(r msg.Role, m any) {
			n.metrics.dropped.WithLabelValues("role_not_run").Inc()
			n.logger.Debug("dropped a message for a role this replica does not run", "role", r.String(), "type", fmt.Sprintf("%T", m))
		}}
	})
	if !n.acceptorOn {
		n.logger.Info("no acceptor: the configuration gives this replica no vote")
	}
	specs := []roleSpec{
		acc,
		spec(msg.RoleLearner, func(c role.Core) {
			l := c.(*learner.Core)
			n.commit.Store(l.Delivered())
			if h := l.Members(); h != n.members.Load() {
				n.observeMembers(h)
			}
			n.gateAcceptor(l.Members(), l.Delivered())
			n.checkRemoved(l.Delivered())
			if k := l.Installs(); k != installs {
				// Each incarnation counts from zero; a restart is no install.
				if k > installs {
					n.installs.Add(k - installs)
					n.logger.Info("installed a peer's snapshot", "slot", l.Delivered())
				}
				installs = k
			}
			if f := l.Floors(); f != floors {
				if f.Taken >= floors.Taken && f.Refused >= floors.Refused {
					n.floorsTaken.Add(f.Taken - floors.Taken)
					if k := f.Refused - floors.Refused; k > 0 {
						n.floorsRefused.Add(k)
						n.logger.Info("a witness floor was void at its slot: a membership change came first", "slot", l.Delivered())
					}
				}
				floors = f
			}
		}),
		spec(msg.RoleExecutor, func(c role.Core) {
			e := c.(*executor.Core)
			n.applied.Store(e.Applied())
			n.rev.Store(e.Rev())
		}),
		spec(msg.RoleProposer, nil),
	}
	sup := &supervisor{specs: specs, tick: cfg.TickInterval, onSwitch: func(r msg.Role, on bool) {
		if on {
			n.logger.Info("role started: the configuration gives this replica a vote", "role", r.String())
		} else {
			n.logger.Info("role stopped: the configuration gives this replica no vote any more", "role", r.String())
		}
	}}
	n.restarts = newRestarts(cfg.MaxRestarts, cfg.RestartWindow,
		func(role string) { n.metrics.roleRestarts.WithLabelValues(role).Inc() },
		func(role string, failures int, reason any) {
			n.fail(roleFailure(role, failures, cfg.RestartWindow, reason))
		})
	props := actor.PropsFromProducer(func() actor.Actor { return sup }, actor.WithSupervisor(n.restarts), mbox)
	// The replica that ran on this system before removed its waiters when
	// it stopped; a host's process of that name would take our answers.
	if _, ok := n.sys.ProcessRegistry.Add(n.waitersProc, remote.WaitersName); !ok {
		n.closeDispatchers()
		n.shutdownSystem()
		return nil, fmt.Errorf("node: the actor system already has a process named %q", remote.WaitersName)
	}
	pid, err := n.sys.Root.SpawnNamed(props, remote.SupervisorName)
	if err != nil {
		n.removeWaiters()
		n.closeDispatchers()
		n.shutdownSystem()
		return nil, fmt.Errorf("node: spawn replica: %w", err)
	}
	n.super = pid
	n.logger.Info("replica started", "peers", len(ids), "address", n.sys.Address(), "transport", n.transport)
	return n, nil
}

// startTransport readies the replica's actor system to reach the peers, as
// Config.System describes, and reports whether messages to them cross
// Proto.Actor remoting (the msgpack wire) rather than in-process links (Go
// pointers). On error nothing of the replica runs, and a host's system is as
// it was.
func (n *Node) startTransport() (wire bool, err error) {
	cfg, sys := &n.cfg, n.sys
	self := cfg.Peers[cfg.ID]
	addr := sys.ProcessRegistry.Address
	// A second replica would fail to spawn its supervisor; say why before
	// starting anything.
	if _, taken := sys.ProcessRegistry.GetLocal(remote.SupervisorName); taken {
		return false, fmt.Errorf("node: the actor system (address %q) already runs a replica", addr)
	}
	checkCluster := func() error {
		if err := remote.ValidClusterID(cfg.ClusterID); err != nil {
			return fmt.Errorf("config: ClusterID: %w", err)
		}
		return nil
	}
	if cfg.PeerTLS != nil && (remote.Remoting(sys) != nil || !remote.Unaddressed(sys) || len(cfg.Peers) == 1) {
		return false, fmt.Errorf("config: PeerTLS applies only to the remoting the replica starts itself (an actor " +
			"system without remoting or an address, and peers): start the host's remoting with remote.WithTLS instead")
	}
	switch {
	case remote.Remoting(sys) != nil:
		if t := remote.TCPOf(sys); t != nil && t.Stopped() {
			return false, fmt.Errorf("node: the actor system's remoting (%s) was stopped with the replica that started it, "+
				"and protoactor cannot start remoting twice on one system: use a new actor system, or start remoting "+
				"yourself (remote.StartTCP) before the first replica so that it outlives each replica", addr)
		}
		if addr != self {
			return false, fmt.Errorf("node: the actor system runs remoting at %q but Peers[%d] is %q: "+
				"peers reach this replica at its Peers entry, so the two must be equal", addr, cfg.ID, self)
		}
		if cfg.Listen != "" && cfg.Listen != addr {
			return false, fmt.Errorf("config: Listen %q cannot apply: the actor system already runs remoting at %q "+
				"(leave Listen empty)", cfg.Listen, addr)
		}
		if err := checkCluster(); err != nil {
			return false, err
		}
		n.transport = "tcp (the host's remoting)"
		return true, nil
	case remote.Unaddressed(sys) && len(cfg.Peers) == 1:
		// Nobody to reach: the address only makes the Book's PIDs of this
		// replica local. PIDs of "nonhost" stay local too.
		sys.ProcessRegistry.Address = self
		n.transport = "none (a single replica)"
		return false, nil
	case remote.Unaddressed(sys):
		if err := checkCluster(); err != nil {
			return false, err
		}
		bind := cfg.Listen
		if bind == "" {
			bind = self
		}
		// Peers address us exactly as Peers spells it.
		opts := []remote.TCPOption{remote.WithAdvertisedAddr(self)}
		if cfg.PeerTLS != nil {
			opts = append(opts, remote.WithTLS(cfg.PeerTLS))
		}
		tcp, err := remote.StartTCP(sys, bind, opts...)
		if err != nil {
			return false, fmt.Errorf("node: consensus transport: %w", err)
		}
		n.tcp = tcp
		n.transport = "tcp"
		if cfg.PeerTLS != nil {
			n.transport = "tcp, mutual TLS"
			cfg.PeerTLS.OnRefused(func(remote string, err error) {
				n.logger.Warn("refused a connection to the consensus port at the TLS handshake", "remote", remote, "err", err)
			})
		}
		return true, nil
	default:
		// An address and no remoting: a remote.Network routes it.
		if addr != self {
			return false, fmt.Errorf("node: the actor system has address %q but Peers[%d] is %q: "+
				"they must be equal (attach the system to its Network as replica %d)", addr, cfg.ID, self, cfg.ID)
		}
		n.transport = "in-process"
		return false, nil
	}
}

func newSystem(logger *slog.Logger) *actor.ActorSystem {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// A short dead-letter throttle: its timer goroutine outlives the first
	// dead letter by the interval, and a stopped replica should leave none.
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond))
}

func (n *Node) observeProposer(st proposer.Status) {
	n.mu.Lock()
	if st.Role != n.prop.Role || st.Leader != n.prop.Leader {
		n.logger.Info("leadership", "role", st.Role, "leader", st.Leader, "ballot", st.Ballot.String())
	}
	if n.prop.Role == "leader" && st.Role != "leader" {
		kind, _, _ := strings.Cut(st.StepDown, ":")
		n.metrics.stepDowns.WithLabelValues(kind).Inc()
		level := slog.LevelWarn
		if kind == proposer.StepDownHandover {
			level = slog.LevelInfo
		}
		n.logger.Log(context.Background(), level, "stepped down as leader", "reason", st.StepDown)
	}
	switch prev := n.prop.Transferring; {
	case st.Transferring != 0 && st.Transferring != prev:
		n.metrics.transfers.WithLabelValues("started").Inc()
		n.logger.Info("leadership transfer started", "to", st.Transferring, "ballot", st.Ballot.String())
	case prev != 0 && st.Transferring == 0 && st.Role == "leader":
		n.metrics.transfers.WithLabelValues("abandoned").Inc()
		n.logger.Warn("leadership transfer abandoned: the target did not take over in time, or the handover was called off; leading on",
			"target", prev, "ballot", st.Ballot.String())
	case prev != 0 && st.Transferring == 0:
		n.metrics.transfers.WithLabelValues("handed_over").Inc()
		n.logger.Info("leadership handed over", "target", prev, "leader", st.Leader)
	}
	if st.Leader != n.prop.Leader || st.Ballot != n.prop.Ballot {
		if st.Leader != 0 {
			n.metrics.leaderChanges.Inc()
		}
		close(n.leaderCh)
		n.leaderCh = make(chan struct{})
	}
	n.prop = st
	n.mu.Unlock()
}

// leaderChanged returns a channel that is closed at the next leader change.
func (n *Node) leaderChanged() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leaderCh
}

// fail takes the replica down after a role failed for good: it says why,
// and stops the replica (on a goroutine of its own: it is called from the
// supervisor, which Stop waits for).
func (n *Node) fail(err error) {
	n.failOnce.Do(func() {
		n.failErr = err
		n.logger.Error("replica failed", "err", err)
		close(n.failed)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = n.Stop(ctx)
		}()
	})
}

// Failed is closed when the replica stopped because one of its roles kept
// failing (more than MaxRestarts times within RestartWindow); Err then says
// which role and why. A process embedding the replica should treat it as
// fatal: the replica stops serving.
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Err is why the replica failed (see Failed), or nil.
func (n *Node) Err() error {
	select {
	case <-n.failed:
		return n.failErr
	default:
		return nil
	}
}

// ID returns the replica's id.
func (n *Node) ID() msg.NodeID { return n.cfg.ID }

// System returns the actor system the replica runs in.
func (n *Node) System() *actor.ActorSystem { return n.sys }

// Status describes a replica's view of the cluster.
type Status struct {
	ID       msg.NodeID
	Leader   msg.NodeID // 0 while none is known
	IsLeader bool
	Role     string     // follower, candidate or leader
	Ballot   msg.Ballot // the ballot of the leader as this replica knows it
	// Commit is how many slots this replica knows chosen; Applied how many it
	// has applied (no-ops included). Rev is the last applied command's rev.
	Commit  uint64
	Applied uint64
	Rev     uint64
	// Peers are the members of the latest configuration this replica
	// knows, and their addresses.
	Peers map[msg.NodeID]string
	// Config is that configuration's number (1: the first), and Roles
	// what it gives this replica (none: not a member).
	Config uint64
	Roles  membership.Roles
	// Witness: this replica holds no data (Config.Witness).
	Witness bool
}

// Status reports the replica's state without blocking.
func (n *Node) Status() Status {
	n.mu.Lock()
	p := n.prop
	n.mu.Unlock()
	latest := n.members.Load().Latest()
	peers := make(map[msg.NodeID]string, len(latest.Members))
	var mine membership.Roles
	for _, m := range latest.Members {
		peers[m.ID] = m.Addr
		if m.ID == n.cfg.ID {
			mine = m.Roles
		}
	}
	return Status{ID: n.cfg.ID, Leader: p.Leader, IsLeader: p.Role == "leader", Role: p.Role, Ballot: p.Ballot,
		Commit: n.commit.Load(), Applied: n.applied.Load(), Rev: n.rev.Load(), Peers: peers,
		Config: latest.Num, Roles: mine, Witness: n.cfg.Witness}
}

// Stop stops the replica's actors, then the remoting the replica started,
// then the actor system if the replica owns it. A host's system keeps
// running, with its other actors, and so does remoting the host started. It
// is safe to call more than once.
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() {
		close(n.stopped)
		if n.restarts != nil {
			n.restarts.stop()
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = n.sys.Root.StopFuture(n.super).Wait()
		}()
		select {
		case <-done:
		case <-ctx.Done():
			n.stopErr = fmt.Errorf("node: stop replica %d: %w", n.cfg.ID, ctx.Err())
			// The roles may still run: a closed dispatcher goes on
			// starting goroutines for them, and its own goroutine ends.
			n.closeDispatchers()
			return
		}
		n.removeWaiters()
		n.closeDispatchers()
		n.shutdownSystem()
		n.logger.Info("replica stopped")
	})
	return n.stopErr
}

// roleThroughput is how many messages a role handles before yielding, as
// Proto.Actor's default dispatcher does.
const roleThroughput = 300

// removeWaiters takes the waiters process out of the registry, so that a
// later replica on a host's system can register its own; answers for this
// one's waiters become dead letters.
func (n *Node) removeWaiters() {
	if p, ok := n.sys.ProcessRegistry.GetLocal(remote.WaitersName); ok && p == n.waitersProc {
		n.sys.ProcessRegistry.Remove(actor.NewPID(n.sys.Address(), remote.WaitersName))
	}
}

func (n *Node) closeDispatchers() {
	for _, d := range n.dispatchers {
		d.Close()
	}
}

func (n *Node) shutdownSystem() {
	if n.tcp != nil {
		n.tcp.Shutdown()
	}
	if n.ownSys {
		n.sys.Shutdown()
	}
}

// Campaign asks this replica's proposer to start an election now rather than
// at its next election timeout. It goes through the pre-vote, so it does not
// unseat a live leader: TransferLeadership does.
func (n *Node) Campaign() {
	n.sys.Root.Send(n.local[msg.RoleProposer], &proposer.Campaign{})
}

// InjectCrash makes one of the replica's roles panic. The supervisor restarts
// it from storage; nothing acknowledged may be lost. Tests use it.
func (n *Node) InjectCrash(r msg.Role) {
	n.sys.Root.Send(n.local[r], &msg.Crash{})
}
