package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/KimMachineGun/automemlimit/memlimit"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/node"
	"github.com/rsml-go/rsml/remote"
	"github.com/rsml-go/rsml/storage"
)

// stopGrace bounds a clean stop: DESIGN.md §4.1 wants exit within 10s of
// SIGTERM.
const stopGrace = 8 * time.Second

// catchHUP catches SIGHUP from the start of a command: its default action
// ends the process, and a reload sent while the replica starts must wait
// for it rather than kill it.
func catchHUP() (<-chan os.Signal, func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup, func() { signal.Stop(hup) }
}

// leveledLogger makes the logger of run or dev, with the level in a
// LevelVar that SIGHUP can change.
func leveledLogger(w io.Writer, s settings) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	lvl, _ := parseLevel(s.logLevel) // validated
	level.Set(lvl)
	return newLevelLogger(w, s.logFormat, level), level
}

// serveUntilStopped waits for SIGINT or SIGTERM (ctx), reloading the config
// file and the credentials files (files) on every SIGHUP meanwhile, or for
// a replica to fail (failed gives the error of the first that did): then
// it returns that error.
func serveUntilStopped(ctx context.Context, hup <-chan os.Signal, logger *slog.Logger, level *slog.LevelVar, s settings,
	load func() (settings, error), failed <-chan error, files []credFiles) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case <-hup:
			s = reload(logger, level, s, load)
			for _, f := range files {
				if err := f.reload(); err != nil {
					logger.Error("SIGHUP: "+f.what+" not reloaded; the running ones stay", "err", err)
				} else {
					logger.Info("SIGHUP: " + f.what + " reloaded; new connections and requests use them")
				}
			}
		}
	}
}

// credFiles are credentials SIGHUP re-reads: TLS material, tokens. A
// reload that fails keeps what is in use.
type credFiles struct {
	what   string
	reload func() error
}

// failures reports the nodes that fail until ctx ends.
func failures(ctx context.Context, nodes ...*node.Node) <-chan error {
	ch := make(chan error, len(nodes))
	for _, n := range nodes {
		go func() {
			select {
			case <-n.Failed():
				ch <- n.Err()
			case <-ctx.Done():
			}
		}()
	}
	return ch
}

// failuresOrRemoval is failures for one replica, and node.ErrRemoved once
// it has been out of the configuration for grace: a removed replica
// lingers a little, answering peers that are still catching up.
func failuresOrRemoval(ctx context.Context, n *node.Node, grace time.Duration) <-chan error {
	failed := failures(ctx, n)
	ch := make(chan error, 1)
	go func() {
		select {
		case err := <-failed:
			ch <- err
		case <-n.Removed():
			t := time.NewTimer(grace)
			defer t.Stop()
			select {
			case <-t.C:
				ch <- node.ErrRemoved
			case err := <-failed:
				ch <- err
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
	}()
	return ch
}

// failedExit is the exit status of a process whose replica failed: it says
// why on stderr, after the stop.
func failedExit(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "rsml-node: %v\n", err)
	return 1
}

// reload answers SIGHUP: it re-reads the config file through load (the same
// merge as at start, so flags still win), applies the log level at once
// and logs every other change as needing a restart. A file that no longer
// loads changes nothing. It returns the settings now in force.
func reload(logger *slog.Logger, level *slog.LevelVar, running settings, load func() (settings, error)) settings {
	if running.file == "" {
		logger.Info("SIGHUP: no config file (--config) to reload; nothing changes")
		return running
	}
	next, err := load()
	if err != nil {
		logger.Error("SIGHUP: config file not reloaded; the running settings stay", "file", running.file, "err", err)
		return running
	}
	changed := false
	from, _ := parseLevel(running.logLevel)
	to, _ := parseLevel(next.logLevel)
	if from != to {
		level.Set(to)
		// Logged at the new level when that is above info, so that the
		// line saying the level changed is not itself filtered out.
		logger.Log(context.Background(), max(slog.LevelInfo, to), "SIGHUP: log level changed",
			"setting", next.label("log-level"), "from", from.String(), "to", to.String())
		running.logLevel = next.logLevel
		changed = true
	}
	for _, c := range restartNeeded(&running, &next) {
		logger.Warn("SIGHUP: setting changed; needs a restart", "setting", c.setting, "running", c.running, "reloaded", c.reloaded)
		changed = true
	}
	if !changed {
		logger.Info("SIGHUP: config file reloaded; nothing changed", "file", running.file)
	}
	if logger.Enabled(context.Background(), slog.LevelDebug) {
		var all []string
		for _, v := range running.values() {
			all = append(all, v.name+"="+v.value)
		}
		logger.Debug("SIGHUP: settings in force", "file", running.file, "settings", strings.Join(all, " "))
	}
	return running
}

func runCommand(args []string, stdout, stderr io.Writer) int {
	hup, stopHUP := catchHUP()
	defer stopHUP()
	fs := flag.NewFlagSet("rsml-node run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := runFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rsml-node run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	s, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node run: %v\n", err)
		return 2
	}
	logger, level := leveledLogger(stderr, s)
	applyMemoryLimit(s, logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var store storage.Store
	if s.durable() {
		d, err := storage.OpenDir(s.dataDir, s.clusterID, s.id, logger)
		if err != nil {
			fmt.Fprintf(stderr, "rsml-node run: %v\n", err)
			return 1
		}
		defer d.Close()
		store = d
	} else {
		logger.Warn("memory storage: this replica forgets everything when it stops; never restart it into a running cluster")
	}
	first, peers, roles, join, err := resolveMembers(&s, logger)
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node run: %v\n", err)
		return 1
	}
	s.peers = peers
	var files []credFiles
	var peerTLS *remote.PeerTLS
	if s.peerTLS() {
		if peerTLS, err = remote.LoadPeerTLS(s.peerCert, s.peerKey, s.peerCA); err != nil {
			fmt.Fprintf(stderr, "rsml-node run: %v\n", err)
			return 1
		}
		logger.Info("mutual TLS between replicas", "certificate", s.peerCert, "ca", s.peerCA, "certificate_valid_until", peerTLS.NotAfter())
		files = append(files, credFiles{"peer TLS files", peerTLS.Reload})
	} else if a := s.bind; !loopback(a) || a == "" && !loopback(peers[s.id]) {
		logger.Warn("NO TLS between replicas on a non-loopback address: anyone who reaches the consensus port can "+
			"take part in the cluster; give --peer-cert, --peer-key and --peer-ca (rsml-node certs makes a development set)",
			"consensus", peers[s.id])
	}
	hcfg := node.HTTPConfig{MaxKeyBytes: s.maxKeyBytes, MaxValueBytes: s.maxValueBytes, Pprof: s.pprof}
	if s.clientCert != "" {
		if hcfg.TLS, err = node.LoadClientTLS(s.clientCert, s.clientKey, s.clientCA); err != nil {
			fmt.Fprintf(stderr, "rsml-node run: %v\n", err)
			return 1
		}
		files = append(files, credFiles{"HTTPS files", hcfg.TLS.Reload})
	}
	if s.authTokens != "" {
		if hcfg.Tokens, err = node.LoadTokens(s.authTokens); err != nil {
			fmt.Fprintf(stderr, "rsml-node run: %v\n", err)
			return 1
		}
		files = append(files, credFiles{"token file", hcfg.Tokens.Reload})
		logger.Info("HTTP API needs credentials", "tokens", hcfg.Tokens.Len(), "client_ca", s.clientCA)
	} else if s.clientCA != "" {
		logger.Info("HTTP API needs credentials: client certificates", "client_ca", s.clientCA)
	}
	n, err := node.Start(ctx, node.Config{ID: s.id, ClusterID: s.clusterID, Peers: s.peers, Listen: s.bind, Store: store,
		Logger: logger, ElectionTimeout: s.electionTimeout, HeartbeatInterval: s.heartbeatInterval,
		SnapshotEvery: s.snapshotEvery, SnapshotBytes: s.snapshotBytes, Join: join, First: first, Roles: roles, Witness: s.witness, PeerTLS: peerTLS})
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node run: %v\n", err)
		return 1
	}
	hs, err := n.ListenHTTP(s.http, hcfg)
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node run: %v\n", err)
		stopNode(n)
		return 1
	}
	logger.Info("serving", "http", hs.URL(), "consensus", s.peers[s.id], "cluster", s.clusterID, "config", s.file)
	fmt.Fprintf(stdout, "replica %d: %s\n", s.id, hs.URL())
	if !loopback(s.http) && (s.clientCert == "" || s.authTokens == "" && s.clientCA == "") {
		logger.Warn("NO TLS or NO authentication on the HTTP API on a non-loopback address: give --client-cert and "+
			"--client-key, and --auth-tokens or --client-ca", "http", s.http)
	}
	ferr := serveUntilStopped(ctx, hup, logger, level, s, load, failuresOrRemoval(ctx, n, 3*s.electionTimeout), files)
	if errors.Is(ferr, node.ErrRemoved) {
		logger.Info("removed from the configuration: stopping", "config", n.Status().Config)
		ferr = nil
	} else if ferr == nil {
		logger.Info("stopping")
		hs.Drain()
		handOver(logger, n)
	} else {
		logger.Info("stopping")
	}
	code := shutdown(stderr, []*node.HTTPServer{hs}, func(c context.Context) error { return n.Stop(c) })
	if ferr != nil {
		return failedExit(stderr, ferr)
	}
	return code
}

// handOverTimeout bounds the handover at SIGTERM: with stopGrace after it,
// run exits within 10 s.
const handOverTimeout = time.Second

// handOver moves leadership off a replica that is about to stop, to the
// follower the leader heard from last: its followers would otherwise wait
// an election timeout for a leader that is gone, and a rolling restart
// would stall writes once per replica. The HTTP API still serves meanwhile;
// writes waiting for the handover go to the new leader.
func handOver(logger *slog.Logger, n *node.Node) {
	if !n.Status().IsLeader {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), handOverTimeout)
	defer cancel()
	start := time.Now()
	to, ballot, err := n.TransferLeadership(ctx, 0)
	if err != nil {
		logger.Warn("stopping: leadership not handed over; the others elect a leader after the election timeout", "err", err)
		return
	}
	logger.Info("stopping: leadership handed over", "to", to, "ballot", ballot.String(), "took", time.Since(start))
}

func shutdown(stderr io.Writer, servers []*node.HTTPServer, stopNodes func(context.Context) error) int {
	sctx, cancel := context.WithTimeout(context.Background(), stopGrace)
	defer cancel()
	code := 0
	for _, hs := range servers {
		hctx, hcancel := context.WithTimeout(sctx, 2*time.Second)
		if err := hs.Close(hctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(stderr, "rsml-node: stop http: %v\n", err)
		}
		hcancel()
	}
	if err := stopNodes(sctx); err != nil {
		fmt.Fprintf(stderr, "rsml-node: stop: %v\n", err)
		code = 1
	}
	return code
}

func devCommand(args []string, stdout, stderr io.Writer) int {
	hup, stopHUP := catchHUP()
	defer stopHUP()
	fs := flag.NewFlagSet("rsml-node dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := devFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rsml-node dev: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	s, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node dev: %v\n", err)
		return 2
	}
	logger, level := leveledLogger(stderr, s)
	applyMemoryLimit(s, logger)
	if len(s.ignored) > 0 {
		logger.Warn("dev runs every replica in this process: these settings of the config file do not apply",
			"file", s.file, "settings", strings.Join(s.ignored, ", "))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	replicas := map[msg.NodeID]string{}
	for i := 1; i <= s.nodes; i++ {
		replicas[msg.NodeID(i)] = ""
	}
	cc := node.ClusterConfig{Nodes: s.nodes, Template: node.Config{Logger: logger, ClusterID: s.clusterID,
		ElectionTimeout: s.electionTimeout, HeartbeatInterval: s.heartbeatInterval, SnapshotEvery: s.snapshotEvery,
		SnapshotBytes: s.snapshotBytes, Roles: s.firstRoles(replicas)}}
	if s.durable() {
		cc.NewStore = func(id msg.NodeID) (storage.Store, error) {
			return storage.OpenDir(filepath.Join(s.dataDir, "replica-"+id.String()), s.clusterID, id, logger)
		}
	}
	c, err := node.StartCluster(ctx, cc)
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node dev: %v\n", err)
		return 1
	}
	var servers []*node.HTTPServer
	stopAll := func(ctx context.Context) error { return c.Stop(ctx) }
	hc := node.HTTPConfig{MaxKeyBytes: s.maxKeyBytes, MaxValueBytes: s.maxValueBytes, Pprof: s.pprof}
	var dt *devTLS
	if s.tlsDir != "" {
		if dt, err = setUpDevTLS(s.tlsDir, s.nodes); err != nil {
			fmt.Fprintf(stderr, "rsml-node dev: --tls: %v\n", err)
			shutdown(stderr, servers, stopAll)
			return 1
		}
		hc.Tokens = dt.tokens
	}
	for i := 1; i <= s.nodes; i++ {
		if dt != nil {
			hc.TLS = dt.https[i-1]
		}
		hs, err := c.Node(msg.NodeID(i)).ListenHTTP(s.https[i-1], hc)
		if err != nil {
			fmt.Fprintf(stderr, "rsml-node dev: %v\n", err)
			shutdown(stderr, servers, stopAll)
			return 1
		}
		servers = append(servers, hs)
		fmt.Fprintf(stdout, "replica %d: %s\n", i, hs.URL())
	}
	if dt != nil {
		dt.explain(stdout, servers[0].URL())
	}
	logger.Info("dev cluster running; Ctrl-C stops it", "replicas", s.nodes, "config", s.file)
	ferr := serveUntilStopped(ctx, hup, logger, level, s, load, failures(ctx, c.Nodes()...), nil)
	code := shutdown(stderr, servers, stopAll)
	if ferr != nil {
		return failedExit(stderr, ferr)
	}
	return code
}

// applyMemoryLimit sets Go's soft memory limit from --memory-limit, or, when
// neither it nor GOMEMLIMIT is set, to memoryLimitRatio of the container's
// memory limit (cgroup; none outside a container): a replica's heap then
// stays clear of the limit at which the kernel would kill it. It logs the
// limit in force. It also sets GOGC to defaultGCPercent unless the
// environment sets it.
func applyMemoryLimit(s settings, logger *slog.Logger) {
	switch {
	case s.memoryLimit > 0:
		debug.SetMemoryLimit(s.memoryLimit)
	case os.Getenv("GOMEMLIMIT") == "":
		if _, err := memlimit.Set(memlimit.WithRatio(memoryLimitRatio), memlimit.WithProvider(memlimit.FromCgroup)); err != nil &&
			!errors.Is(err, memlimit.ErrNoLimit) && !errors.Is(err, memlimit.ErrCgroupsNotSupported) {
			logger.Warn("cannot read the container's memory limit; no memory limit set", "err", err)
		}
	}
	if limit := debug.SetMemoryLimit(-1); limit < math.MaxInt64 {
		logger.Info("memory limit", "bytes", limit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}

// defaultGCPercent is the GOGC of a replica whose environment sets none: the
// heap may grow to 1.5 times what is live between collections instead of
// Go's twice. Three run processes under 64 HTTP clients held 20 MB less each
// with 100,000 keys (77-80 MB against 95-100 MB), and 6 MB less with 1000
// keys, for no difference in throughput or CPU per operation that this
// machine's noise would show (scripts/memory.sh, alternating rounds).
const defaultGCPercent = 50

// memoryLimitRatio is the share of a container's memory limit that
// applyMemoryLimit gives Go: the rest is for what Go does not count (the
// binary, the page cache of the data files charged to the container).
const memoryLimitRatio = 0.8

// loopback reports whether HOST:PORT listens on a loopback address only
// ("" counts as loopback: nothing to say about it).
func loopback(hostport string) bool {
	if hostport == "" {
		return true
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// stopNode stops a replica that will not serve (a setting found bad after
// it started), within stopGrace.
func stopNode(n *node.Node) {
	sctx, cancel := context.WithTimeout(context.Background(), stopGrace)
	defer cancel()
	_ = n.Stop(sctx)
}
