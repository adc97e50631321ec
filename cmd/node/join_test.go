package main

import (
	"log/slog"
	"maps"
	"strings"
	"testing"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/msg"
)

// A replica keeps the first configuration of its first start: a restart
// with another --peers (the cluster's members have changed since) must fold
// the log's changes over the same start as every other replica, or it
// would decide their validity differently.
func TestRestartKeepsTheFirstConfiguration(t *testing.T) {
	dir := t.TempDir()
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s := settings{id: 1, clusterID: "c", storage: "nutsdb", dataDir: dir,
		peers: map[msg.NodeID]string{1: "h:1", 2: "h:2", 3: "h:3"}}
	s.roles = []roleList{{"consensus.cluster.acceptors", []string{"1", "2"}}}
	first, peers, roles, join, err := resolveMembers(&s, logger)
	if err != nil || join || !maps.Equal(first, s.peers) || !maps.Equal(peers, s.peers) || roles[3] != membership.Proposer|membership.Learner {
		t.Fatalf("first start: first %v peers %v roles %v join %v, %v", first, peers, roles, join, err)
	}
	s.roles = nil                                                 // the file's role lists changed since: the stored ones stay
	s.peers = map[msg.NodeID]string{1: "h:1", 2: "h:2", 4: "h:4"} // 3 replaced by 4 meanwhile
	first, peers, roles, join, err = resolveMembers(&s, logger)
	want := map[msg.NodeID]string{1: "h:1", 2: "h:2", 3: "h:3"}
	if err != nil || join || !maps.Equal(first, want) || roles[3] != membership.Proposer|membership.Learner || roles[1] != membership.All {
		t.Fatalf("restart with other peers: first %v roles %v join %v, %v; want the stored %v", first, roles, join, err, want)
	}
	if peers[4] != "h:4" || peers[3] != "h:3" {
		t.Fatalf("restart: peers %v, want the stored ones and --peers'", peers)
	}
	if !strings.Contains(logs.String(), "first configuration is used") {
		t.Fatalf("no warning that --peers differs from the stored first configuration:\n%s", logs.String())
	}
	s.id = 2
	if _, _, _, _, err := resolveMembers(&s, logger); err == nil || !strings.Contains(err.Error(), "not replica 2") {
		t.Fatalf("another replica's directory: %v", err)
	}
}

// A data directory is a witness's or a full replica's for good: a witness
// restarted without --witness stays one (its state machine holds nothing to
// serve), and a full replica's directory refuses --witness. A replica the
// first configuration makes acceptor-only is a witness.
func TestWitnessDataDirectory(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(&strings.Builder{}, nil))
	peers := map[msg.NodeID]string{1: "h:1", 2: "h:2", 3: "h:3"}
	s := settings{id: 3, clusterID: "c", storage: "nutsdb", dataDir: t.TempDir(), peers: peers}
	s.roles = []roleList{{"consensus.cluster.learners", []string{"1", "2"}}, {"consensus.cluster.proposers", []string{"1", "2"}}}
	if _, _, _, _, err := resolveMembers(&s, logger); err != nil || !s.witness {
		t.Fatalf("acceptor-only in the first configuration: witness %v, %v", s.witness, err)
	}
	s.witness, s.roles = false, nil
	if _, _, _, _, err := resolveMembers(&s, logger); err != nil || !s.witness {
		t.Fatalf("restart without --witness: witness %v, %v; want a witness still", s.witness, err)
	}
	full := settings{id: 1, clusterID: "c", storage: "nutsdb", dataDir: t.TempDir(), peers: peers}
	if _, _, _, _, err := resolveMembers(&full, logger); err != nil || full.witness {
		t.Fatalf("a full replica: witness %v, %v", full.witness, err)
	}
	full.witness = true
	if _, _, _, _, err := resolveMembers(&full, logger); err == nil || !strings.Contains(err.Error(), "cannot become a witness") {
		t.Fatalf("--witness on a full replica's directory: %v", err)
	}
}

// --witness on a replica the first configuration makes a full one is
// refused: a witness takes the acceptor role only.
func TestWitnessFlagNeedsTheAcceptorRoleOnly(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(&strings.Builder{}, nil))
	s := settings{id: 3, clusterID: "c", storage: "nutsdb", dataDir: t.TempDir(), witness: true,
		peers: map[msg.NodeID]string{1: "h:1", 2: "h:2", 3: "h:3"}}
	if _, _, _, _, err := resolveMembers(&s, logger); err == nil || !strings.Contains(err.Error(), "acceptor role only") {
		t.Fatalf("--witness with every role: %v", err)
	}
}
