// Command rsml-node runs rsml replicas.
//
// This first version has one subcommand, dev, which runs a whole cluster in
// one process; the TCP transport, the HTTP API and the client commands come
// with the next milestone (see the README's roadmap).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lmittmann/tint"

	"github.com/rsml-go/rsml/node"
)

const usage = `rsml-node: run rsml replicas

Usage:
  rsml-node dev [--nodes N]    run a whole cluster in this process until SIGINT/SIGTERM
  rsml-node help               show this help
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "dev":
		return dev(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "rsml-node: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func dev(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 3, "number of replicas (1 to 7)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *nodes < 1 || *nodes > 7 {
		fmt.Fprintf(stderr, "rsml-node dev: --nodes %d: want 1 to 7\n", *nodes)
		return 2
	}
	logger := slog.New(tint.NewTextHandler(stderr, &tint.Options{TimeFormat: time.TimeOnly}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c, err := node.StartCluster(ctx, node.ClusterConfig{Nodes: *nodes, Template: node.Config{Logger: logger}})
	if err != nil {
		fmt.Fprintf(stderr, "rsml-node dev: %v\n", err)
		return 1
	}
	if l, err := c.WaitLeader(ctx); err == nil {
		fmt.Fprintf(stdout, "rsml dev cluster: %d replicas, leader %d\n", *nodes, l.ID())
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Stop(sctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "rsml-node dev: stop: %v\n", err)
		return 1
	}
	return 0
}
