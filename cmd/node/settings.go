package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/rsml-go/rsml/msg"
)

// settings is one replica's configuration after the config file and the
// flags are merged (flags win).
type settings struct {
	id                msg.NodeID
	clusterID         string
	peers             map[msg.NodeID]string
	bind              string
	http              string
	storage           string
	dataDir           string
	logFormat         string
	logLevel          string
	electionTimeout   time.Duration
	heartbeatInterval time.Duration
	maxKeyBytes       int
	maxValueBytes     int
	snapshotEvery     uint64
}

// fileConfig is the TOML shape of DESIGN.md §4.1.
type fileConfig struct {
	Consensus struct {
		ReplicaID string `toml:"replica_id"`
		ClusterID string `toml:"cluster_id"`
		Storage   struct {
			Type string `toml:"type"`
			Dir  string `toml:"dir"`
		} `toml:"storage"`
		Transport struct {
			Type string `toml:"type"`
			Bind string `toml:"bind"`
		} `toml:"transport"`
		HTTP              string `toml:"http"`
		ElectionTimeout   string `toml:"election_timeout"`
		HeartbeatInterval string `toml:"heartbeat_interval"`
		MaxKeyBytes       int    `toml:"max_key_bytes"`
		MaxValueBytes     int    `toml:"max_value_bytes"`
		SnapshotEvery     uint64 `toml:"snapshot_every"`
		Cluster           struct {
			Acceptors []string          `toml:"acceptors"`
			Proposers []string          `toml:"proposers"`
			Learners  []string          `toml:"learners"`
			Endpoints map[string]string `toml:"endpoints"`
		} `toml:"cluster"`
	} `toml:"consensus"`
	Log struct {
		Format string `toml:"format"`
		Level  string `toml:"level"`
	} `toml:"log"`
}

// runFlags declares run's flags on fs and returns a function that merges
// the config file (if --config names one) and the flags that were set.
func runFlags(fs *flag.FlagSet) func() (settings, error) {
	config := fs.String("config", "", "TOML config file (DESIGN.md §4.1 shape); flags override its settings")
	id := fs.String("id", "", "this replica's id: a positive integer that is a key of --peers")
	peers := fs.String("peers", "", "every replica's consensus address, this one's included: 1=HOST:PORT,2=HOST:PORT,...")
	clusterID := fs.String("cluster-id", "rsml", "cluster name; messages from replicas of another cluster are ignored")
	bind := fs.String("bind", "", "address to listen on for consensus traffic (default: this replica's --peers address)")
	httpAddr := fs.String("http", "127.0.0.1:8001", "HOST:PORT of the HTTP API")
	storage := fs.String("storage", "nutsdb", "storage: nutsdb (durable, in --data-dir) or memory (lost when the process ends: a restarted replica must not rejoin)")
	dataDir := fs.String("data-dir", "", "data directory for --storage nutsdb (one per replica; locked while in use)")
	logFormat := fs.String("log-format", "text", "log format: text (colours on a terminal) or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	election := fs.Duration("election-timeout", 150*time.Millisecond, "shortest wait without a leader before a follower campaigns (each wait is drawn from [T, 2T))")
	heartbeat := fs.Duration("heartbeat-interval", 50*time.Millisecond, "how often the leader beacons; must be below --election-timeout")
	maxKey := fs.Int("max-key-bytes", 1024, "longest key accepted by the HTTP API")
	maxValue := fs.Int("max-value-bytes", 1<<20, "largest value accepted by the HTTP API, inclusive")
	snapEvery := fs.Uint64("snapshot-every", 100000, "applied commands between snapshots; the logs are truncated below each snapshot, so this bounds their size and a restart's replay")
	return func() (settings, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		s := settings{clusterID: *clusterID, http: *httpAddr, storage: *storage, logFormat: *logFormat,
			logLevel: *logLevel, electionTimeout: *election, heartbeatInterval: *heartbeat,
			maxKeyBytes: *maxKey, maxValueBytes: *maxValue, dataDir: *dataDir, bind: *bind, snapshotEvery: *snapEvery}
		if *config != "" {
			if err := s.loadFile(*config, set); err != nil {
				return s, err
			}
		}
		if set["id"] || s.id == 0 {
			v, err := parseID(*id)
			if err != nil {
				return s, fmt.Errorf("--id: %w", err)
			}
			s.id = v
		}
		if set["peers"] || s.peers == nil {
			p, err := parsePeers(*peers)
			if err != nil {
				return s, fmt.Errorf("--peers: %w", err)
			}
			s.peers = p
		}
		return s, s.validate()
	}
}

func parseID(s string) (msg.NodeID, error) {
	if s == "" {
		return 0, errors.New("required (a positive replica id)")
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("%q is not a positive integer", s)
	}
	return msg.NodeID(v), nil
}

func parsePeers(s string) (map[msg.NodeID]string, error) {
	if s == "" {
		return nil, errors.New("required, as 1=HOST:PORT,2=HOST:PORT")
	}
	out := map[msg.NodeID]string{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("%q: want ID=HOST:PORT", part)
		}
		id, err := parseID(k)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("replica %d listed twice", id)
		}
		if err := checkHostPort(v); err != nil {
			return nil, fmt.Errorf("replica %d: %w", id, err)
		}
		out[id] = v
	}
	return out, nil
}

func checkHostPort(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("address %q: want HOST:PORT", a)
	}
	if host == "" {
		return fmt.Errorf("address %q: host missing", a)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("address %q: bad port", a)
	}
	return nil
}

// loadFile reads the TOML file; settings whose flag was set keep the flag's value.
func (s *settings) loadFile(path string, set map[string]bool) error {
	var fc fileConfig
	md, err := toml.DecodeFile(path, &fc)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("config %s: no such file", path)
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return fmt.Errorf("config %s: unknown settings: %s", path, strings.Join(keys, ", "))
	}
	c := fc.Consensus
	if c.ReplicaID != "" && !set["id"] {
		v, err := parseID(c.ReplicaID)
		if err != nil {
			return fmt.Errorf("config %s: consensus.replica_id: %w", path, err)
		}
		s.id = v
	}
	str := func(flagName, v string, dst *string) {
		if v != "" && !set[flagName] {
			*dst = v
		}
	}
	str("cluster-id", c.ClusterID, &s.clusterID)
	str("http", c.HTTP, &s.http)
	str("storage", c.Storage.Type, &s.storage)
	str("data-dir", c.Storage.Dir, &s.dataDir)
	str("bind", c.Transport.Bind, &s.bind)
	str("log-format", fc.Log.Format, &s.logFormat)
	str("log-level", fc.Log.Level, &s.logLevel)
	if t := c.Transport.Type; t != "" && t != "tcp" {
		return fmt.Errorf("config %s: consensus.transport.type %q: run supports tcp (memory is the in-process cluster of dev)", path, t)
	}
	dur := func(flagName, key, v string, dst *time.Duration) error {
		if v == "" || set[flagName] {
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("config %s: consensus.%s: %w", path, key, err)
		}
		*dst = d
		return nil
	}
	if err := dur("election-timeout", "election_timeout", c.ElectionTimeout, &s.electionTimeout); err != nil {
		return err
	}
	if err := dur("heartbeat-interval", "heartbeat_interval", c.HeartbeatInterval, &s.heartbeatInterval); err != nil {
		return err
	}
	if c.MaxKeyBytes != 0 && !set["max-key-bytes"] {
		s.maxKeyBytes = c.MaxKeyBytes
	}
	if c.MaxValueBytes != 0 && !set["max-value-bytes"] {
		s.maxValueBytes = c.MaxValueBytes
	}
	if c.SnapshotEvery != 0 && !set["snapshot-every"] {
		s.snapshotEvery = c.SnapshotEvery
	}
	if len(c.Cluster.Endpoints) > 0 && !set["peers"] {
		s.peers = map[msg.NodeID]string{}
		for k, v := range c.Cluster.Endpoints {
			id, err := parseID(k)
			if err != nil {
				return fmt.Errorf("config %s: consensus.cluster.endpoints: %w", path, err)
			}
			if err := checkHostPort(v); err != nil {
				return fmt.Errorf("config %s: consensus.cluster.endpoints.%s: %w", path, k, err)
			}
			s.peers[id] = v
		}
	}
	// Role sets: every replica runs every role in this version.
	for name, set := range map[string][]string{"acceptors": c.Cluster.Acceptors, "proposers": c.Cluster.Proposers, "learners": c.Cluster.Learners} {
		if set == nil {
			continue
		}
		if !sameIDs(set, s.peers) {
			return fmt.Errorf("config %s: consensus.cluster.%s must list every replica (%s): replicas with only some roles are not supported yet", path, name, idList(s.peers))
		}
	}
	return nil
}

func sameIDs(list []string, peers map[msg.NodeID]string) bool {
	if len(list) != len(peers) {
		return false
	}
	for _, k := range list {
		id, err := parseID(k)
		if err != nil {
			return false
		}
		if _, ok := peers[id]; !ok {
			return false
		}
	}
	return true
}

func idList(peers map[msg.NodeID]string) string {
	var ids []string
	for id := range peers {
		ids = append(ids, id.String())
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

func (s *settings) validate() error {
	if _, ok := s.peers[s.id]; !ok {
		return fmt.Errorf("--id %d is not in --peers (%s)", s.id, idList(s.peers))
	}
	seen := map[string]msg.NodeID{}
	for id, a := range s.peers {
		if other, dup := seen[a]; dup {
			return fmt.Errorf("--peers: replicas %d and %d share address %s", min(id, other), max(id, other), a)
		}
		seen[a] = id
	}
	switch s.storage {
	case "memory":
	case "nutsdb":
		if s.dataDir == "" {
			return errors.New("--storage nutsdb needs --data-dir")
		}
	default:
		return fmt.Errorf("--storage %q: want nutsdb or memory", s.storage)
	}
	if s.logFormat != "text" && s.logFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", s.logFormat)
	}
	if _, err := parseLevel(s.logLevel); err != nil {
		return err
	}
	if err := checkHostPort(s.http); err != nil {
		return fmt.Errorf("--http: %w", err)
	}
	if s.bind != "" {
		if err := checkHostPort(s.bind); err != nil {
			return fmt.Errorf("--bind: %w", err)
		}
	}
	if s.snapshotEvery == 0 {
		return errors.New("--snapshot-every must be at least 1")
	}
	if s.maxKeyBytes <= 0 || s.maxValueBytes <= 0 {
		return errors.New("--max-key-bytes and --max-value-bytes must be positive")
	}
	if s.heartbeatInterval <= 0 || s.electionTimeout <= s.heartbeatInterval {
		return fmt.Errorf("--heartbeat-interval (%v) must be positive and below --election-timeout (%v)", s.heartbeatInterval, s.electionTimeout)
	}
	return nil
}
