package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/client"
	"github.com/rsml-go/rsml/msg"
)

// clusterFile is where a replica keeps, in its data directory, the
// cluster's first configuration (from --peers at its first start, or from
// the cluster when it joined) and the members it knew then. Every replica
// must fold the log's changes over the same first configuration, so a
// restart uses the stored one, whatever --peers says now; and a replica
// that joined needs it because the members may all have changed since.
const clusterFile = "cluster.json"

// joinState is clusterFile's content.
type joinState struct {
	ClusterID string            `json:"cluster_id"`
	ID        msg.NodeID        `json:"id"`
	Alpha     uint64            `json:"alpha"`
	First     map[string]string `json:"first"` // id → consensus address
	// Roles of the first configuration's replicas, by id (none: all).
	Roles map[string]string `json:"roles,omitempty"`
	Peers map[string]string `json:"peers"` // every member known at the time, this replica included
	// Witness: this data directory is a witness's. It holds no state
	// machine, so it can never serve as a full replica's.
	Witness bool `json:"witness,omitempty"`
}

// joinTimeout bounds asking the members for the configuration.
const joinTimeout = 30 * time.Second

// resolveMembers returns the replica's first configuration and its peers,
// and whether it is outside the first configuration (it joined): from its
// data directory if it started there before (--peers and --join then only
// add peers to reach), else from --peers, or from a member (GET
// /v1/members) with --join; what it finds it records there.
//
// A witness's data directory stays one: s.witness is set from it, and a
// full replica's directory refuses --witness.
func resolveMembers(s *settings, logger *slog.Logger) (first, peers map[msg.NodeID]string, roles map[msg.NodeID]membership.Roles, join bool, err error) {
	path := ""
	if s.durable() {
		path = filepath.Join(s.dataDir, clusterFile)
		if b, err := os.ReadFile(path); err == nil {
			var js joinState
			if err := json.Unmarshal(b, &js); err != nil {
				return nil, nil, nil, false, fmt.Errorf("%s: %w", path, err)
			}
			if js.ClusterID != s.clusterID || js.ID != s.id {
				return nil, nil, nil, false, fmt.Errorf("%s is replica %d of cluster %q, not replica %d of %q", path, js.ID, js.ClusterID, s.id, s.clusterID)
			}
			first, err1 := idMap(js.First)
			peers, err2 := idMap(js.Peers)
			if err := errors.Join(err1, err2); err != nil {
				return nil, nil, nil, false, fmt.Errorf("%s: %w", path, err)
			}
			self := peers[s.id]
			for id, addr := range s.peers {
				peers[id] = addr // --peers may know newer addresses
			}
			switch {
			case s.bind != "" && len(s.join) > 0:
				self = s.bind
			case s.peers[s.id] != "":
				self = s.peers[s.id]
			}
			peers[s.id] = self
			_, inFirst := first[s.id]
			roles, err := parseRoles(js.Roles)
			if err != nil {
				return nil, nil, nil, false, fmt.Errorf("%s: %w", path, err)
			}
			switch {
			case s.witness && !js.Witness:
				return nil, nil, nil, false, fmt.Errorf("--witness: %s is a full replica's data directory, which cannot become a witness's (remove the replica and add a witness under a new id)", s.dataDir)
			case js.Witness && !s.witness:
				logger.Info("a witness's data directory: running as a witness", "file", path)
				s.witness = true
			}
			if len(s.peers) > 0 && !sameAddrs(s.peers, first) {
				logger.Warn("the data directory's first configuration is used; --peers only adds addresses to reach",
					"file", path, "first", idList(first))
			}
			logger.Info("members from the data directory", "file", path, "first", idList(first), "peers", idList(peers))
			return first, peers, roles, !inFirst, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil, false, err
		}
	}
	if len(s.join) == 0 {
		js := joinState{ClusterID: s.clusterID, ID: s.id, Alpha: membership.DefaultAlpha, First: map[string]string{}, Peers: map[string]string{}}
		roles = s.firstRoles(s.peers)
		switch {
		case roles[s.id] == membership.Acceptor:
			s.witness = true // the first configuration makes it one
		case s.witness:
			return nil, nil, nil, false, fmt.Errorf("--witness: the first configuration gives replica %d the roles %s; a witness takes the acceptor role only (list it only under consensus.cluster.acceptors)", s.id, roles[s.id])
		}
		js.Witness = s.witness
		js.Roles = map[string]string{}
		for id, addr := range s.peers {
			js.First[id.String()], js.Peers[id.String()] = addr, addr
			js.Roles[id.String()] = roles[id].String()
		}
		if path != "" {
			b, _ := json.MarshalIndent(js, "", "  ")
			if err := writeFileSync(path, b); err != nil {
				return nil, nil, nil, false, err
			}
		}
		return s.peers, s.peers, roles, false, nil
	}
	first, peers, roles, err = askToJoin(*s, path, logger)
	return first, peers, roles, true, err
}

// sameAddrs reports whether a and b name the same replicas at the same
// addresses.
func sameAddrs(a, b map[msg.NodeID]string) bool {
	if len(a) != len(b) {
		return false
	}
	for id, addr := range a {
		if b[id] != addr {
			return false
		}
	}
	return true
}

// askToJoin asks a member for the configuration (GET /v1/members) and
// records what a restart needs at path ("" with memory storage).
func askToJoin(s settings, path string, logger *slog.Logger) (first, peers map[msg.NodeID]string, roles map[msg.NodeID]membership.Roles, err error) {
	creds, err := credOptions(s.joinCACert, s.joinCert, s.joinKey, s.joinToken)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--join: %w", err)
	}
	c, err := client.New(s.join, creds...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--join: %w", err)
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	m, err := c.Membership(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--join: ask the cluster for its configuration: %w", err)
	}
	if m.Alpha != membership.DefaultAlpha {
		return nil, nil, nil, fmt.Errorf("--join: the cluster's alpha is %d, this version's %d", m.Alpha, membership.DefaultAlpha)
	}
	js := joinState{ClusterID: s.clusterID, ID: s.id, Alpha: m.Alpha, First: map[string]string{}, Peers: map[string]string{}, Witness: s.witness}
	js.Roles = map[string]string{}
	for _, mb := range m.First {
		js.First[mb.ID] = mb.Address
		js.Peers[mb.ID] = mb.Address
		js.Roles[mb.ID] = strings.Join(mb.Roles, ",")
	}
	for _, mb := range m.Members {
		js.Peers[mb.ID] = mb.Address
		if mb.ID == s.id.String() && mb.Address != s.bind {
			return nil, nil, nil, fmt.Errorf("--join: replica %d is a member at %s, not at --bind %s", s.id, mb.Address, s.bind)
		}
	}
	if addr, ok := js.First[s.id.String()]; ok {
		return nil, nil, nil, fmt.Errorf("--join: replica %d was in the cluster's first configuration (at %s): a replica with a used id and an empty disk would forget its promises; pick a new id", s.id, addr)
	}
	js.Peers[s.id.String()] = s.bind
	if first, err = idMap(js.First); err == nil {
		if peers, err = idMap(js.Peers); err == nil {
			roles, err = parseRoles(js.Roles)
		}
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--join: the cluster's answer: %w", err)
	}
	if path != "" {
		b, _ := json.MarshalIndent(js, "", "  ")
		if err := writeFileSync(path, b); err != nil {
			return nil, nil, nil, fmt.Errorf("--join: %w", err)
		}
	}
	logger.Info("joining", "config", m.Config, "members", len(m.Members), "asked", s.join)
	return first, peers, roles, nil
}

func idMap(m map[string]string) (map[msg.NodeID]string, error) {
	out := make(map[msg.NodeID]string, len(m))
	for k, v := range m {
		id, err := strconv.ParseUint(k, 10, 32)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("replica id %q", k)
		}
		out[msg.NodeID(id)] = v
	}
	return out, nil
}

// writeFileSync writes b to path durably: a temporary file, synced, renamed
// into place, and the directory synced.
func writeFileSync(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// parseRoles reads clusterFile's roles ("proposer,acceptor,learner" by id).
func parseRoles(m map[string]string) (map[msg.NodeID]membership.Roles, error) {
	out := make(map[msg.NodeID]membership.Roles, len(m))
	for k, v := range m {
		id, err := strconv.ParseUint(k, 10, 32)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("roles: replica id %q", k)
		}
		r, err := membership.ParseRoles(strings.Split(v, ","))
		if err != nil {
			return nil, fmt.Errorf("roles of replica %s: %w", k, err)
		}
		out[msg.NodeID(id)] = r
	}
	return out, nil
}
