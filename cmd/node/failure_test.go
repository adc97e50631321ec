package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/node"
)

// A replica whose role keeps failing ends run's wait with the replica's
// error, and run exits 1 saying why, instead of serving without the role.
func TestRunExitsWhenTheReplicaFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := node.StartCluster(ctx, node.ClusterConfig{Nodes: 3, Template: node.Config{Logger: quiet, MaxRestarts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	n := c.Nodes()[0]
	hup := make(chan os.Signal)
	var level slog.LevelVar
	done := make(chan error, 1)
	go func() {
		done <- serveUntilStopped(ctx, hup, quiet, &level, settings{}, nil, failures(ctx, c.Nodes()...), nil)
	}()
	n.InjectCrash(msg.RoleExecutor)
	n.InjectCrash(msg.RoleExecutor)
	var ferr error
	select {
	case ferr = <-done:
	case <-ctx.Done():
		t.Fatal("run kept waiting after its replica failed")
	}
	if ferr == nil || !strings.Contains(ferr.Error(), "executor") {
		t.Fatalf("run's wait ended with %v, want the executor's failure", ferr)
	}
	var stderr bytes.Buffer
	if code := failedExit(&stderr, ferr); code != 1 || !strings.Contains(stderr.String(), "executor role failed") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}
