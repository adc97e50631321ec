package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/node"
	"github.com/rsml-go/rsml/storage"
)

// stopGrace bounds a clean stop: DESIGN.md §4.1 wants exit within 10s of
// SIGTERM.
const stopGrace = 8 * time.Second

func runCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rsml-node run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := runFlags(fs)
	if err := fs.Parse(args); err != nil {
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
	logger := newLogger(stderr, s.logFormat, s.logLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var store storage.Store
	if s.storage == "nutsdb" {
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
	n, err := node.Start(ctx, node.Config{ID: s.id, ClusterID: s.clusterID, Peers: s.peers, Listen: s.bind, Store: store,
		Logger: logger, ElectionTimeout: s.electionTimeout, HeartbeatInterval: s.heartbeatInterval,
		SnapshotEvery: s.snapshotEvery})
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node run: %v\n", err)
		return 1
	}
	hs, err := n.ListenHTTP(s.http, node.HTTPConfig{MaxKeyBytes: s.maxKeyBytes, MaxValueBytes: s.maxValueBytes})
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node run: %v\n", err)
		sctx, cancel := context.WithTimeout(context.Background(), stopGrace)
		defer cancel()
		_ = n.Stop(sctx)
		return 1
	}
	logger.Info("serving", "http", hs.URL(), "consensus", s.peers[s.id], "cluster", s.clusterID)
	fmt.Fprintf(stdout, "replica %d: %s\n", s.id, hs.URL())
	<-ctx.Done()
	logger.Info("stopping")
	return shutdown(stderr, []*node.HTTPServer{hs}, func(c context.Context) error { return n.Stop(c) })
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
	fs := flag.NewFlagSet("rsml-node dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 3, "number of replicas (1 to 7)")
	httpAddr := fs.String("http", "127.0.0.1:8001", "HOST:PORT of replica 1's HTTP API; replica i listens on PORT+(i-1)")
	storeKind := fs.String("storage", "memory", "storage: memory or nutsdb (durable, one directory per replica under --data-dir)")
	dataDir := fs.String("data-dir", "", "parent data directory for --storage nutsdb (replica i uses DIR/replica-i)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "rsml-node dev: unexpected argument %q\n", fs.Arg(0))
		return 2
	case *nodes < 1 || *nodes > 7:
		fmt.Fprintf(stderr, "rsml-node dev: --nodes %d: want 1 to 7\n", *nodes)
		return 2
	case *storeKind != "memory" && *storeKind != "nutsdb":
		fmt.Fprintf(stderr, "rsml-node dev: --storage %q: want memory or nutsdb\n", *storeKind)
		return 2
	case *storeKind == "nutsdb" && *dataDir == "":
		fmt.Fprintln(stderr, "rsml-node dev: --storage nutsdb needs --data-dir")
		return 2
	case *logFormat != "text" && *logFormat != "json":
		fmt.Fprintf(stderr, "rsml-node dev: --log-format %q: want text or json\n", *logFormat)
		return 2
	}
	if _, err := parseLevel(*logLevel); err != nil {
		fmt.Fprintf(stderr, "rsml-node dev: %v\n", err)
		return 2
	}
	host, portStr, err := net.SplitHostPort(*httpAddr)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || port < 0 || port+*nodes-1 > 65535 {
		fmt.Fprintf(stderr, "rsml-node dev: --http %q: want HOST:PORT\n", *httpAddr)
		return 2
	}
	logger := newLogger(stderr, *logFormat, *logLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cc := node.ClusterConfig{Nodes: *nodes, Template: node.Config{Logger: logger}}
	if *storeKind == "nutsdb" {
		cc.NewStore = func(id msg.NodeID) (storage.Store, error) {
			return storage.OpenDir(filepath.Join(*dataDir, "replica-"+id.String()), "rsml", id, logger)
		}
	}
	c, err := node.StartCluster(ctx, cc)
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node dev: %v\n", err)
		return 1
	}
	var servers []*node.HTTPServer
	stopAll := func(ctx context.Context) error { return c.Stop(ctx) }
	for i := 1; i <= *nodes; i++ {
		addr := net.JoinHostPort(host, strconv.Itoa(port+i-1))
		if port == 0 {
			addr = net.JoinHostPort(host, "0")
		}
		hs, err := c.Node(msg.NodeID(i)).ListenHTTP(addr, node.HTTPConfig{})
		if err != nil {
			fmt.Fprintf(stderr, "rsml-node dev: %v\n", err)
			shutdown(stderr, servers, stopAll)
			return 1
		}
		servers = append(servers, hs)
		fmt.Fprintf(stdout, "replica %d: %s\n", i, hs.URL())
	}
	logger.Info("dev cluster running; Ctrl-C stops it", "replicas", *nodes)
	<-ctx.Done()
	return shutdown(stderr, servers, stopAll)
}
