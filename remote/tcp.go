package remote

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/extensions"
	pa "github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
)

// ErrTCP is wrapped by every error StartTCP returns.
var ErrTCP = errors.New("remote: tcp")

// localAddress is the address of an ActorSystem that is neither remoting nor
// attached to a Network (protoactor's "nonhost").
const localAddress = "nonhost"

// Defaults of the TCP options.
const (
	// DefaultWriterQueueSize is the initial capacity of the queue of messages
	// to one peer (protoactor preallocates it: its default, 1M slots, costs
	// 16 MB per peer). The queue grows when needed; this is no bound.
	DefaultWriterQueueSize = 1024
	// DefaultWriterBatchSize is how many queued messages to one peer go out in
	// one gRPC message at most (protoactor's default is 1000). With values of
	// up to 1 MiB, 256 of them stay under DefaultMaxMessageSize.
	DefaultWriterBatchSize = 256
	// DefaultMaxMessageSize is the largest gRPC message (one batch of
	// messages) a replica accepts. A larger batch breaks the connection and
	// loses what was in flight, so it is generous (gRPC's own default is 4 MiB).
	DefaultMaxMessageSize = 256 << 20
	// DefaultShutdownTimeout bounds TCP.Shutdown's graceful stop; then the
	// gRPC server is stopped hard.
	DefaultShutdownTimeout = 3 * time.Second
)

// flowWindow is gRPC's flow-control window per stream and per connection.
// Setting it turns off gRPC's bandwidth estimation, which answers data with
// PING frames to size the window: on a link that carries a steady stream of
// small batches that was extra frames and syscalls for nothing. 4 MiB
// covers many batches in flight.
const flowWindow = 4 << 20

// keepalive settings: a peer that vanished without closing its connections
// (power loss, a partition) is detected in about 15 s and its writer stops,
// instead of queueing for it without end.
const (
	keepaliveTime    = 10 * time.Second // the least gRPC allows a client
	keepaliveTimeout = 5 * time.Second
)

type tcpConfig struct {
	advertised      string
	writerQueue     int
	writerBatch     int
	maxMessage      int
	shutdownTimeout time.Duration
	tls             *PeerTLS
}

// TCPOption configures StartTCP.
type TCPOption func(*tcpConfig)

// WithAdvertisedAddr sets the address (host:port) the replica has for its
// peers, when it differs from the bind address: a bind on 0.0.0.0 or a name
// that resolves to another form. It must be exactly the address the peers'
// Books have for this replica (Proto.Actor routes a message by comparing the
// PID's address with the system's), and it cannot be combined with port 0.
func WithAdvertisedAddr(hostport string) TCPOption {
	return func(c *tcpConfig) { c.advertised = hostport }
}

// WithWriterQueueSize sets the initial queue capacity per peer
// (DefaultWriterQueueSize).
func WithWriterQueueSize(n int) TCPOption {
	return func(c *tcpConfig) { c.writerQueue = n }
}

// WithWriterBatchSize sets how many messages to one peer share a gRPC
// message at most (DefaultWriterBatchSize).
func WithWriterBatchSize(n int) TCPOption {
	return func(c *tcpConfig) { c.writerBatch = n }
}

// WithMaxMessageSize sets the largest gRPC message accepted, in bytes
// (DefaultMaxMessageSize).
func WithMaxMessageSize(n int) TCPOption {
	return func(c *tcpConfig) { c.maxMessage = n }
}

// WithShutdownTimeout bounds the graceful part of Shutdown
// (DefaultShutdownTimeout).
func WithShutdownTimeout(d time.Duration) TCPOption {
	return func(c *tcpConfig) { c.shutdownTimeout = d }
}

// TCP is Proto.Actor remoting (gRPC over TCP) started on one ActorSystem: the
// transport of the TCP cluster. Messages between replicas must be wrapped by
// a Book made WithWire and unwrapped by DecodeMiddleware or Unwrap.
type TCP struct {
	sys     *actor.ActorSystem
	r       *pa.Remote
	addr    string
	timeout time.Duration
	once    sync.Once

	// mu guards closed: every send to another replica holds it for reading,
	// so once Shutdown has set closed under the write lock no send is still
	// inside protoactor, and later ones are dropped.
	mu      sync.RWMutex
	closed  bool
	dropped atomic.Uint64
}

// tcpExtensionID registers a TCP on its ActorSystem, so that TCPOf finds it.
var tcpExtensionID = extensions.NextExtensionID()

// tcpExtension is a TCP as an ActorSystem extension.
type tcpExtension struct{ t *TCP }

func (tcpExtension) ExtensionID() extensions.ExtensionID { return tcpExtensionID }

// TCPOf returns the TCP that StartTCP started on sys, or nil if it never
// did. A stopped TCP is still returned (see Stopped): protoactor remoting
// cannot be started twice on one system, so a caller must know that the
// remoting it finds is dead.
func TCPOf(sys *actor.ActorSystem) *TCP {
	if sys == nil || sys.Extensions == nil {
		return nil
	}
	if e, ok := sys.Extensions.Get(tcpExtensionID).(tcpExtension); ok {
		return e.t
	}
	return nil
}

// Remoting returns the Proto.Actor remoting registered on sys (started by
// StartTCP, or by the program that owns sys with protoactor's remote
// package), or nil if there is none. protoactor's own remote.GetRemote
// panics on a system without remoting.
func Remoting(sys *actor.ActorSystem) *pa.Remote {
	if sys == nil || sys.Extensions == nil {
		return nil
	}
	// ExtensionID does not read its receiver: a nil *Remote names the slot.
	r, _ := sys.Extensions.Get((*pa.Remote)(nil).ExtensionID()).(*pa.Remote)
	return r
}

// Unaddressed reports whether sys has protoactor's default address
// ("nonhost"): it neither runs remoting nor is attached to a Network, so
// only its own actors can reach each other.
func Unaddressed(sys *actor.ActorSystem) bool {
	return sys.ProcessRegistry.Address == localAddress
}

// guarded is the process of a PID on another replica: protoactor's remote
// process behind TCP's closed check. After Shutdown a send to it is dropped
// instead of reaching protoactor's endpoint manager, which would try to start
// a writer under its stopped supervisor and panic (endpointLazy.connect
// asserts the failed future's nil result).
type guarded struct {
	t *TCP
	p actor.Process
}

var _ actor.Process = (*guarded)(nil)

func (g *guarded) SendUserMessage(pid *actor.PID, m any) {
	g.t.mu.RLock()
	defer g.t.mu.RUnlock()
	if g.t.closed {
		g.t.dropped.Add(1)
		return
	}
	g.p.SendUserMessage(pid, m)
}

func (g *guarded) SendSystemMessage(pid *actor.PID, m any) {
	g.t.mu.RLock()
	defer g.t.mu.RUnlock()
	if !g.t.closed {
		g.p.SendSystemMessage(pid, m)
	}
}

func (g *guarded) Stop(pid *actor.PID) {
	g.t.mu.RLock()
	defer g.t.mu.RUnlock()
	if !g.t.closed {
		g.p.Stop(pid)
	}
}

// startMu serialises StartTCP: protoactor's Start sets gRPC's global logger
// and registers the system's address resolver without locks.
var startMu sync.Mutex

// StartTCP starts remoting on sys, listening on bind (host:port; port 0 lets
// the OS pick one) and makes Addr() the system's address: call it before sys
// spawns any actor that other systems must reach (a PID keeps the address it
// was born with), and at most once per system. The remoting settings follow DESIGN.md: a small preallocated
// queue per peer, one connection attempt per writer (MaxRetryCount = 1: more
// attempts leak gRPC connections and stall shutdown), keepalives, and a
// generous gRPC message limit.
//
// If the address cannot be listened on (in use, not local) StartTCP returns an
// error naming it and leaves nothing running; protoactor would panic.
//
// A program that embeds a replica in its own actor system may call it
// before node.Start, to get these settings and remoting it controls; the
// replica then reuses it (see node.Config.System).
//
// Logs: protoactor logs through the system's logger (actor.WithLoggerFactory;
// it logs an ERROR line about a lost connection even on an ordinary shutdown),
// and its Start sends gRPC's own logs, process-wide, to io.Discard.
func StartTCP(sys *actor.ActorSystem, bind string, opts ...TCPOption) (*TCP, error) {
	cfg := tcpConfig{
		writerQueue:     DefaultWriterQueueSize,
		writerBatch:     DefaultWriterBatchSize,
		maxMessage:      DefaultMaxMessageSize,
		shutdownTimeout: DefaultShutdownTimeout,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	if sys == nil {
		return nil, fmt.Errorf("%w: no actor system", ErrTCP)
	}
	host, port, err := splitBind(bind)
	if err != nil {
		return nil, err
	}
	if cfg.writerQueue < 1 || cfg.writerBatch < 1 || cfg.maxMessage < 1 || cfg.shutdownTimeout <= 0 {
		return nil, fmt.Errorf("%w: queue size %d, batch size %d, max message size %d and shutdown timeout %v must be positive",
			ErrTCP, cfg.writerQueue, cfg.writerBatch, cfg.maxMessage, cfg.shutdownTimeout)
	}
	if cfg.advertised != "" {
		h, p, err := net.SplitHostPort(cfg.advertised)
		if err != nil || h == "" || p == "0" || p == "" {
			return nil, fmt.Errorf("%w: advertised address %q: want host:port with a port other than 0", ErrTCP, cfg.advertised)
		}
		if port == 0 {
			return nil, fmt.Errorf("%w: bind %q: port 0 cannot be combined with an advertised address", ErrTCP, bind)
		}
	} else if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return nil, fmt.Errorf("%w: bind %q listens on every interface: give the address peers use (WithAdvertisedAddr)", ErrTCP, bind)
	}

	startMu.Lock()
	defer startMu.Unlock()
	if a := sys.ProcessRegistry.Address; a != localAddress {
		return nil, fmt.Errorf("%w: the actor system already has address %q (remoting started, or attached to a Network)", ErrTCP, a)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // protoactor joins host and port with a bare colon
	}
	creds, dialCreds := grpc.EmptyServerOption{}, grpc.WithTransportCredentials(insecure.NewCredentials())
	var serverCreds grpc.ServerOption = creds
	if cfg.tls != nil {
		serverCreds = grpc.Creds(peerCreds{cfg.tls})
		dialCreds = grpc.WithTransportCredentials(peerCreds{cfg.tls})
	}
	rc := pa.Configure(host, port,
		pa.WithEndpointWriterQueueSize(cfg.writerQueue),
		pa.WithEndpointWriterBatchSize(cfg.writerBatch),
		// Unused by this protoactor version, but its default would preallocate
		// 1M slots if a later one uses it.
		pa.WithEndpointManagerQueueSize(cfg.writerQueue),
		pa.WithServerOptions(
			serverCreds,
			// An unauthenticated peer may not hold a connection open
			// in its handshake for gRPC's default two minutes.
			grpc.ConnectionTimeout(5*time.Second),
			grpc.MaxRecvMsgSize(cfg.maxMessage),
			grpc.InitialWindowSize(flowWindow),
			grpc.InitialConnWindowSize(flowWindow),
			grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
			grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveTime / 2, PermitWithoutStream: true}),
			// Each received batch is read into a buffer and unmarshalled,
			// which copies its bytes out: the buffer can be reused. Without
			// a pool it was a tenth of a follower's allocations.
			experimental.RecvBufferPool(grpc.NewSharedBufferPool()),
		),
		pa.WithDialOptions(
			dialCreds,
			grpc.WithInitialWindowSize(flowWindow),
			grpc.WithInitialConnWindowSize(flowWindow),
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout, PermitWithoutStream: true}),
			experimental.WithRecvBufferPool(grpc.NewSharedBufferPool()),
		),
		pa.WithAdvertisedHost(cfg.advertised),
	)
	rc.MaxRetryCount = 1

	r := pa.NewRemote(sys, rc)
	if err := start(r); err != nil {
		if sys.ProcessRegistry.Address != localAddress {
			// The listener was opened and the endpoint manager failed to start
			// (it waits 3 s for its first actor): nothing to close it with
			// but Shutdown, which needs the gRPC server Start had not made.
			return nil, fmt.Errorf("%w: start remoting on %s: %w (the system is unusable)", ErrTCP, bind, err)
		}
		// The listen failed and nothing runs: take back the registration
		// NewRemote made, so that Remoting(sys) reports none and the caller
		// may try again.
		sys.Extensions.Register((*pa.Remote)(nil))
		return nil, fmt.Errorf("%w: listen on %s: %w", ErrTCP, bind, err)
	}
	t := &TCP{sys: sys, r: r, addr: sys.ProcessRegistry.Address, timeout: cfg.shutdownTimeout}
	// Start appended protoactor's resolver: put the guard in front of it.
	// The system had no address, so no PID of another system has been
	// resolved yet: every remote PID will cache a guarded process.
	rh := sys.ProcessRegistry.RemoteHandlers
	inner := rh[len(rh)-1]
	rh[len(rh)-1] = func(pid *actor.PID) (actor.Process, bool) {
		p, ok := inner(pid)
		if !ok {
			return p, false
		}
		return &guarded{t: t, p: p}, true
	}
	sys.Extensions.Register(tcpExtension{t})
	return t, nil
}

// start runs protoactor's Start, turning its panic (a failed listen) into an
// error.
func start(r *pa.Remote) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", p)
			}
		}
	}()
	r.Start()
	return nil
}

// splitBind parses host:port; the host may be empty (every interface).
func splitBind(bind string) (string, int, error) {
	host, p, err := net.SplitHostPort(bind)
	if err != nil {
		return "", 0, fmt.Errorf("%w: bind %q: %w", ErrTCP, bind, err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("%w: bind %q: port %q: want 0 to 65535", ErrTCP, bind, p)
	}
	return host, int(port), nil
}

// Addr returns the system's address, host:port, as peers must name it: the
// listener's address (with the port the OS chose for port 0), or the
// advertised address. The replica's own entry in its Book must be this.
func (t *TCP) Addr() string { return t.addr }

// Stopped reports whether Shutdown was called: from then on the system
// reaches no other system, and remoting cannot be started on it again.
func (t *TCP) Stopped() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.closed
}

// Dropped counts the messages sent to other replicas after Shutdown, which
// were dropped.
func (t *TCP) Dropped() uint64 { return t.dropped.Load() }

// Names protoactor gives the actors of its endpoint manager.
const (
	endpointSupervisorName = "EndpointSupervisor" // parent of one writer and one watcher per peer
	activatorName          = "activator"
)

// Shutdown stops remoting: from then on a message to another replica is
// dropped (see Dropped); the gRPC server stops at once, closing every
// connection peers opened to it (they see the connection fail and drop what
// was in flight); then the writers to peers stop and close their connections.
// It returns within about the shutdown timeout (WithShutdownTimeout, default
// 3 s): a writer still trying to reach a dead peer can hold its stop for up
// to 10 s more (protoactor's stop timeout), which then ends in the
// background. Calls after the first do nothing.
//
// Order for a clean stop: stop the replica's actors (StopFuture(...).Wait()),
// then Shutdown, then the caller's sys.Shutdown(). gRPC closes connections
// asynchronously: its goroutines end within milliseconds after Shutdown
// returns, not before.
//
// It does not use protoactor's Remote.Shutdown(true), which in this version
// writes fields (endpointManager.connections, .stopped,
// endpointReader.suspended) that gRPC and writer goroutines read without
// synchronisation, a data race whenever a peer disconnects while the replica
// stops (and a nil-map panic in the worst interleaving), and waits up to
// 10 s for peers to close their streams (GracefulStop).
func (t *TCP) Shutdown() {
	t.once.Do(func() {
		t.mu.Lock() // waits for the sends in progress
		t.closed = true
		t.mu.Unlock()
		done := make(chan struct{})
		go func() {
			defer close(done)
			t.r.Shutdown(false) // gRPC Server.Stop: the listener and inbound connections
			for _, id := range [...]string{endpointSupervisorName, activatorName} {
				_ = t.sys.Root.StopFuture(actor.NewPID(t.sys.ProcessRegistry.Address, id)).Wait()
			}
		}()
		timer := time.NewTimer(t.timeout)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
		}
	})
}
