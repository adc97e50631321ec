package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/rsml-go/rsml/client"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/node"
	"github.com/rsml-go/rsml/storage"
)

// benchTarget is what the bench loads: the leader of a cluster started in
// this process, or a running cluster over HTTP.
type benchTarget struct {
	transport, storage string
	nodes              int
	put                func(ctx context.Context, client int, keys []string, value []byte) error
	// spread: the clients are spread over every endpoint.
	spread bool
	// stop releases everything the target started.
	stop func() error
}

// benchClusterID names the bench's cluster, so that a stray replica of
// another cluster on a reused port is ignored.
const benchClusterID = "rsml-bench"

// localTarget starts a cluster in this process, waits for its leader to
// apply one write (as hraft-bench's Barrier waits for the bootstrap entries)
// and returns a target that puts through the leader's Go API.
func localTarget(ctx context.Context, f benchFlags, logger *slog.Logger) (_ *benchTarget, err error) {
	var cleanups []func() error
	stop := func() error {
		var errs []error
		for i := len(cleanups) - 1; i >= 0; i-- {
			errs = append(errs, cleanups[i]())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			_ = stop()
		}
	}()
	var newStore func(id msg.NodeID) (storage.Store, error)
	if f.storage == "nutsdb" {
		dir, err := os.MkdirTemp(f.dir, "rsml-bench-")
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, func() error { return os.RemoveAll(dir) })
		newStore = func(id msg.NodeID) (storage.Store, error) {
			return storage.OpenDir(filepath.Join(dir, "replica-"+id.String()), benchClusterID, id, logger)
		}
	}
	var nodes []*node.Node
	if f.transport == "memory" {
		c, err := node.StartCluster(ctx, node.ClusterConfig{Nodes: f.nodes, NewStore: newStore,
			Template: node.Config{ClusterID: benchClusterID, Logger: logger}})
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, func() error { return stopWithin(c.Stop) })
		nodes = c.Nodes()
	} else {
		if nodes, err = startTCPReplicas(ctx, f.nodes, newStore, logger, &cleanups); err != nil {
			return nil, err
		}
	}
	leader, err := waitForLeader(ctx, nodes)
	if err != nil {
		return nil, err
	}
	put := func(ctx context.Context, _ int, keys []string, value []byte) error {
		if len(keys) > 1 {
			t := kv.Txn{Then: make([]kv.Op, len(keys))}
			for i, k := range keys {
				t.Then[i] = kv.PutOp(k, value)
			}
			r, err := leader.Txn(ctx, t)
			if err == nil && !r.Succeeded {
				err = errors.New("txn: refused without a condition")
			}
			return err
		}
		r, err := leader.Put(ctx, keys[0], value, kv.Cond{})
		if err == nil && !r.OK {
			err = fmt.Errorf("put %s: refused without a condition", keys[0])
		}
		return err
	}
	if err := put(ctx, 0, []string{"key-0"}, make([]byte, f.valueSize)); err != nil {
		return nil, fmt.Errorf("first write: %w", err)
	}
	return &benchTarget{transport: f.transport, storage: f.storage, nodes: f.nodes, put: put, stop: stop}, nil
}

// startTCPReplicas starts n replicas, each in its own actor system with
// Proto.Actor remoting on a loopback port: the code path of replicas in
// separate processes. What it starts is added to cleanups, replicas before
// their stores so that the stores close after the replicas stop.
func startTCPReplicas(ctx context.Context, n int, newStore func(msg.NodeID) (storage.Store, error),
	logger *slog.Logger, cleanups *[]func() error) ([]*node.Node, error) {
	peers := map[msg.NodeID]string{}
	addrs, err := loopbackPorts(n)
	if err != nil {
		return nil, err
	}
	for i, a := range addrs {
		peers[msg.NodeID(i+1)] = a
	}
	var nodes []*node.Node
	for id := msg.NodeID(1); int(id) <= n; id++ {
		var st storage.Store
		if newStore != nil {
			if st, err = newStore(id); err != nil {
				return nil, err
			}
			*cleanups = append(*cleanups, st.Close)
		}
		nd, err := node.Start(ctx, node.Config{ID: id, ClusterID: benchClusterID, Peers: peers, Store: st, Logger: logger})
		if err != nil {
			return nil, err
		}
		*cleanups = append(*cleanups, func() error { return stopWithin(nd.Stop) })
		nodes = append(nodes, nd)
	}
	return nodes, nil
}

// loopbackPorts picks n free loopback ports. Another program could take one
// before the replica listens on it; the replica's start then fails and names
// the address.
func loopbackPorts(n int) ([]string, error) {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

// stopWithin stops a replica or cluster with the same grace as rsml-node run.
func stopWithin(stop func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
	defer cancel()
	return stop(ctx)
}

// waitForLeader polls the replicas' status until one leads.
func waitForLeader(ctx context.Context, nodes []*node.Node) (*node.Node, error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		for _, n := range nodes {
			if n.Status().IsLeader {
				return n, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no leader: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// httpTarget loads a running cluster through package client, which finds the
// leader and retries what is safe to retry. The cluster's transport and
// storage cannot be asked over the API, so they are reported as "http" (how
// the load reaches the cluster) and "unknown"; nodes is the number of peers
// the first replica that answers knows.
func httpTarget(ctx context.Context, f benchFlags) (*benchTarget, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = f.clients // one kept-alive connection per client
	var creds []client.Option
	if f.cacert != "" || f.cert != "" || f.key != "" {
		cfg, err := client.LoadTLS(f.cacert, f.cert, f.key)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = cfg
	}
	if tok := cmp.Or(f.token, os.Getenv("RSML_TOKEN")); tok != "" {
		creds = append(creds, client.WithToken(tok))
	}
	hc := &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	c, err := client.New(f.endpoints, append(creds, client.WithHTTPClient(hc))...)
	if err != nil {
		return nil, err
	}
	// With --spread, client i goes first to endpoint i mod n (and on to
	// the others if it fails); otherwise every client to the first that
	// answers.
	cs := []*client.Client{c}
	if f.spread {
		cs = cs[:0]
		for i := range f.endpoints {
			c, err := client.New(append(slices.Clone(f.endpoints[i:]), f.endpoints[:i]...), append(creds, client.WithHTTPClient(hc),
				client.WithEndpointsInOrder())...)
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
		}
	}
	sts, err := c.StatusAll(ctx)
	if err != nil {
		return nil, err
	}
	nodes := 0
	for _, s := range sts {
		if s.Err == nil {
			nodes = len(s.Status.Peers)
			break
		}
	}
	put := func(ctx context.Context, cl int, keys []string, value []byte) error {
		c := cs[cl%len(cs)]
		if len(keys) > 1 {
			t := client.Txn{Then: make([]client.Op, len(keys))}
			for i, k := range keys {
				t.Then[i] = client.PutOp(k, value)
			}
			r, err := c.Txn(ctx, t)
			if err == nil && !r.Succeeded {
				err = errors.New("txn: refused without a condition")
			}
			return err
		}
		_, err := c.Put(ctx, keys[0], value, client.Cond{})
		return err
	}
	if err := put(ctx, 0, []string{"key-0"}, make([]byte, f.valueSize)); err != nil {
		return nil, fmt.Errorf("first write: %w", err)
	}
	return &benchTarget{transport: "http", storage: "unknown", nodes: nodes, put: put, spread: f.spread,
		stop: func() error { c.CloseIdleConnections(); return nil }}, nil
}
