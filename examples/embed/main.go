// Command embed is a host program that embeds an rsml replica in its own
// Proto.Actor actor system, next to an actor of its own.
//
// It makes an actor system, hands it to node.Start (the system has no
// remoting yet, so the replica starts TCP remoting on it at this replica's
// --peers address), and only then spawns its own actor, "writer": a PID
// keeps the address it was born with, so actors spawned after Start can be
// reached from the other processes. The writer proposes through the Go API:
// it stores a key when asked, and answers with the write's rev.
//
// One HTTP server carries the replica's API (GET /v1/status, /v1/kv/KEY, ...)
// and one path of the host's own, GET /example/propose?key=K&value=V, which
// asks the writer to store the key. SIGTERM or SIGINT stop it cleanly: the
// HTTP server, the writer, the replica (which stops the remoting it started),
// then the actor system.
//
// Three of them make a cluster:
//
//	embed --id 1 --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --http 127.0.0.1:8001
//	embed --id 2 --peers ... --http 127.0.0.1:8002
//	embed --id 3 --peers ... --http 127.0.0.1:8003
//	curl '127.0.0.1:8002/example/propose?key=greeting&value=hello'
//	curl '127.0.0.1:8003/v1/kv/greeting'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/node"
	"github.com/rsml-go/rsml/storage"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	idFlag := fs.Uint64("id", 0, "this replica's id, a key of --peers")
	peersFlag := fs.String("peers", "", "every replica's consensus address, this one's included: 1=HOST:PORT,2=HOST:PORT,...")
	httpAddr := fs.String("http", "127.0.0.1:8001", "HOST:PORT of the HTTP API")
	dataDir := fs.String("data-dir", "", "durable storage directory (default: memory, lost when the process ends)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	id := msg.NodeID(*idFlag)
	peers, err := parsePeers(*peersFlag)
	if err != nil {
		fmt.Fprintf(stderr, "embed: --peers: %v\n", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()

	// The host's own actor system; the replica never shuts it down.
	// Protoactor logs an ERROR line for every connection a stopping peer
	// closes: this example drops its logs.
	quiet := slog.New(slog.DiscardHandler)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	defer sys.Shutdown()

	cfg := node.Config{ID: id, Peers: peers, System: sys, Logger: logger}
	if *dataDir != "" {
		store, err := storage.OpenDir(*dataDir, "rsml", id, logger)
		if err != nil {
			fmt.Fprintf(stderr, "embed: %v\n", err)
			return 1
		}
		defer store.Close()
		cfg.Store = store
	}
	n, err := node.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "embed: %v\n", err)
		return 1
	}
	defer stopReplica(n, stderr)

	// Spawned after Start: its PID has the TCP address.
	writerPID, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &writer{n: n} }), "writer")
	if err != nil {
		fmt.Fprintf(stderr, "embed: spawn writer: %v\n", err)
		return 1
	}
	defer func() { _ = sys.Root.StopFuture(writerPID).Wait() }()

	mux := http.NewServeMux()
	mux.Handle("/", n.Handler(node.HTTPConfig{}))
	mux.HandleFunc("/example/propose", func(w http.ResponseWriter, r *http.Request) {
		proposeHandler(w, r, sys, writerPID)
	})
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		fmt.Fprintf(stderr, "embed: http: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "embed: replica %d serves http://%s, consensus on %s\n", id, ln.Addr(), peers[id])

	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(stderr, "embed: http: %v\n", err)
		return 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "embed: stop http: %v\n", err)
	}
	return 0 // the deferred calls stop the writer, the replica, the store and the system, in that order
}

// stopReplica stops the replica, and with it the remoting it started on the
// host's system.
func stopReplica(n *node.Node, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		fmt.Fprintf(stderr, "embed: stop replica: %v\n", err)
	}
}

// propose asks the writer to store value under key; it answers proposed.
type propose struct{ key, value string }

// proposed is the writer's answer: the write's rev, or why it failed.
type proposed struct {
	rev uint64
	err error
}

// writer is the host's own actor: it writes to the replicated store through
// the replica's Go API.
type writer struct{ n *node.Node }

// Receive handles propose. Put blocks until the write is chosen and applied,
// so it runs off the actor's goroutine (the writer keeps taking messages),
// and the answer goes straight to the asker.
func (w *writer) Receive(c actor.Context) {
	p, ok := c.Message().(*propose)
	if !ok {
		return
	}
	sender, root := c.Sender(), c.ActorSystem().Root
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := w.n.Put(ctx, p.key, []byte(p.value), kv.Cond{})
		root.Send(sender, &proposed{rev: res.Rev, err: err})
	}()
}

// proposeHandler serves GET /example/propose?key=K&value=V by asking the
// writer actor, and answers {"rev": N}.
func proposeHandler(w http.ResponseWriter, r *http.Request, sys *actor.ActorSystem, writerPID *actor.PID) {
	key := r.URL.Query().Get("key")
	if key == "" {
		http.Error(w, "key is required", http.StatusBadRequest)
		return
	}
	res, err := sys.Root.RequestFuture(writerPID, &propose{key: key, value: r.URL.Query().Get("value")}, 15*time.Second).Result()
	if err == nil {
		if p := res.(*proposed); p.err != nil {
			err = p.err
		} else {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]uint64{"rev": p.rev})
			return
		}
	}
	// As the replica's own API does: 504 when the write may have been
	// applied, 503 only when it certainly was not.
	code := http.StatusServiceUnavailable
	if errors.Is(err, node.ErrIndeterminate) || errors.Is(err, actor.ErrTimeout) {
		code = http.StatusGatewayTimeout
	}
	http.Error(w, err.Error(), code)
}

// parsePeers parses 1=HOST:PORT,2=HOST:PORT,...
func parsePeers(s string) (map[msg.NodeID]string, error) {
	if s == "" {
		return nil, errors.New("required")
	}
	peers := map[msg.NodeID]string{}
	for _, part := range strings.Split(s, ",") {
		idStr, addr, ok := strings.Cut(part, "=")
		id, err := strconv.ParseUint(idStr, 10, 64)
		if !ok || err != nil || addr == "" {
			return nil, fmt.Errorf("%q: want ID=HOST:PORT", part)
		}
		peers[msg.NodeID(id)] = addr
	}
	return peers, nil
}
