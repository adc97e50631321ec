package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/msg"
)

// The defaults of the settings run and dev share; they are node.Config's
// and node.HTTPConfig's, spelled out so that --help shows them.
const (
	defElectionTimeout   = 150 * time.Millisecond
	defHeartbeatInterval = 50 * time.Millisecond
	defMaxKeyBytes       = 1024
	defMaxValueBytes     = 1 << 20
	defSnapshotEvery     = 100000
	defSnapshotBytes     = 4 << 20 // node.DefaultSnapshotBytes
)

// settings is the configuration of run (one replica) or dev (a cluster in
// one process) after the config file and the flags are merged: a flag that
// was set wins, then the file, then the flag's default.
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
	snapshotBytes     uint64
	roles             []roleList
	// join: run --join, the members' client URLs to ask for the
	// configuration (peers stays empty until they answer).
	join []string
	// witness: run --witness, or a data directory that is a witness's.
	witness bool
	// pprof: serve net/http/pprof on the HTTP address.
	pprof bool
	// memoryLimit: Go's soft memory limit in bytes (0: not set here).
	memoryLimit int64
	// peerCert, peerKey, peerCA: mutual TLS between replicas (all three,
	// or none).
	peerCert, peerKey, peerCA string
	// clientCert, clientKey: HTTPS; clientCA: client certificates
	// authenticate (as admin); authTokens: the bearer token file.
	clientCert, clientKey, clientCA, authTokens string
	// joinCACert, joinCert, joinKey, joinToken: run --join's credentials
	// for asking a secured cluster for its configuration.
	joinCACert, joinCert, joinKey, joinToken string

	// dev only: the number of replicas, replica i's HTTP address at
	// https[i-1], and the file's settings dev does not use; tlsDir: dev
	// --tls, where the certificates and the token file are.
	nodes   int
	https   []string
	ignored []string
	tlsDir  string

	// file is the config file ("" without --config); src maps a flag's name
	// to the file key its value came from, so that an error names the
	// setting the user actually wrote.
	file string
	src  map[string]string
}

// label names a setting as the user gave it: the file key when its value
// came from the config file, else the flag.
func (s *settings) label(flagName string) string {
	if k, ok := s.src[flagName]; ok {
		return k
	}
	return "--" + flagName
}

// errf builds an error about one setting: "--flag" + format, or "config
// FILE: key" + format when the value came from the file.
func (s *settings) errf(flagName, format string, a ...any) error {
	if k, ok := s.src[flagName]; ok {
		return s.fileErr(k, format, a...)
	}
	return fmt.Errorf("--"+flagName+format, a...)
}

func (s *settings) fileErr(key, format string, a ...any) error {
	return fmt.Errorf("config %s: %s"+format, append([]any{s.file, key}, a...)...)
}

// take sets *dst from the file when the file gives the setting and its flag
// was not set, and remembers where the value came from.
func take[T any](s *settings, set map[string]bool, flagName, key string, v *T, dst *T) {
	if v != nil && !set[flagName] {
		*dst = *v
		s.src[flagName] = key
	}
}

// applyFile merges the settings run and dev share.
func (s *settings) applyFile(cf *configFile, set map[string]bool) {
	c := &cf.fc.Consensus
	take(s, set, "cluster-id", "consensus.cluster_id", c.ClusterID, &s.clusterID)
	take(s, set, "http", "consensus.http", c.HTTP, &s.http)
	take(s, set, "storage", "consensus.storage.type", cf.storageType, &s.storage)
	take(s, set, "data-dir", cf.dataDirKey, cf.dataDir, &s.dataDir)
	take(s, set, "log-format", "log.format", cf.fc.Log.Format, &s.logFormat)
	take(s, set, "log-level", "log.level", cf.fc.Log.Level, &s.logLevel)
	take(s, set, "election-timeout", "consensus.election_timeout", cf.electionTimeout, &s.electionTimeout)
	take(s, set, "heartbeat-interval", "consensus.heartbeat_interval", cf.heartbeatInterval, &s.heartbeatInterval)
	take(s, set, "max-key-bytes", "consensus.max_key_bytes", c.MaxKeyBytes, &s.maxKeyBytes)
	take(s, set, "max-value-bytes", "consensus.max_value_bytes", c.MaxValueBytes, &s.maxValueBytes)
	take(s, set, "snapshot-every", "consensus.snapshot_every", c.SnapshotEvery, &s.snapshotEvery)
	take(s, set, "snapshot-bytes", "consensus.snapshot_bytes", c.SnapshotBytes, &s.snapshotBytes)
	s.roles = cf.roles
}

func visited(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// runUsage heads run --help: the flags alone do not say how they combine
// with the file, nor what SIGHUP does.
const runUsage = `Usage: rsml-node run [--config FILE] [--id N] [--peers 1=HOST:PORT,...] [flags]

Runs one replica as a process: TCP between replicas, HTTP for clients.

Settings come from the flags and from --config FILE (TOML, or JSON when FILE
ends in .json; shapes in README.md and examples/config/). A flag that is set
wins over the file, the file over the flag's default. The HTTP address is
--http, else consensus.http, else this replica's client_port in
consensus.cluster.endpoints, else 127.0.0.1:8001. --peers replaces the whole
endpoints table. Relative paths are relative to the working directory.

--cacert, --cert, --key and --token are run --join's credentials, for a
cluster that asks for them (see "Securing a cluster" in README.md).

SIGTERM or SIGINT stop the replica cleanly. SIGHUP re-reads the config file:
the log level changes at once; any other changed setting is logged as
needing a restart; a file that no longer loads is logged and ignored.

Flags:
`

// runFlags declares run's flags on fs and returns a function that merges
// the config file (if --config names one) and the flags that were set.
// The function may be called again, to re-read the file on SIGHUP.
func runFlags(fs *flag.FlagSet) func() (settings, error) {
	config := fs.String("config", "", "config file: TOML, or JSON if it ends in .json (DESIGN.md §4.1 shapes, the RSML plan's included); flags that are set win over it; SIGHUP re-reads it")
	id := fs.String("id", "", "this replica's id: a positive integer that is a key of --peers (default: consensus.replica_id)")
	peers := fs.String("peers", "", "every replica's consensus address, this one's included: 1=HOST:PORT,2=HOST:PORT,... (default: consensus.cluster.endpoints)")
	clusterID := fs.String("cluster-id", "rsml", "cluster name; messages from replicas of another cluster are ignored")
	bind := fs.String("bind", "", "address to listen on for consensus traffic (default: consensus.transport.bind, else this replica's --peers address)")
	httpAddr := fs.String("http", "127.0.0.1:8001", "HOST:PORT of the HTTP API (if not set: consensus.http, else this replica's client_port in consensus.cluster.endpoints)")
	storage := fs.String("storage", "nutsdb", "storage: nutsdb (durable, in --data-dir; wal is another name for it) or memory (lost when the process ends: a restarted replica must not rejoin)")
	dataDir := fs.String("data-dir", "", "data directory for --storage nutsdb (one per replica; locked while in use)")
	logFormat := fs.String("log-format", "text", "log format: text (colours on a terminal) or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error (SIGHUP applies a changed log.level from the file)")
	election := fs.Duration("election-timeout", defElectionTimeout, "shortest wait without a leader before a follower campaigns (each wait is drawn from [T, 2T))")
	heartbeat := fs.Duration("heartbeat-interval", defHeartbeatInterval, "how often the leader beacons; must be below --election-timeout")
	maxKey := fs.Int("max-key-bytes", defMaxKeyBytes, "longest key accepted by the HTTP API")
	maxValue := fs.Int("max-value-bytes", defMaxValueBytes, "largest value accepted by the HTTP API, inclusive")
	snapEvery := fs.Uint64("snapshot-every", defSnapshotEvery, "applied commands between snapshots; the logs are truncated below each snapshot, so this bounds their size and a restart's replay")
	snapBytes := fs.Uint64("snapshot-bytes", defSnapshotBytes, "also snapshot once this many `BYTES` of commands were applied since the last snapshot (or as many as the last snapshot holds, if more): the logs keep in memory what follows the previous snapshot, so this bounds a replica's memory under writes")
	pprofOn := fs.Bool("pprof", false, "serve Go's profiles (net/http/pprof) under /debug/pprof/ on the HTTP address: go tool pprof http://HOST:PORT/debug/pprof/heap (off by default: profiles show data in memory)")
	memLimit := fs.String("memory-limit", "", memoryLimitHelp)
	peerCert := fs.String("peer-cert", "", "this replica's certificate (PEM) for mutual TLS with the other replicas; with --peer-key and --peer-ca, remoting accepts only peers whose certificate chains to --peer-ca and never speaks plaintext (default: consensus.tls.peer_cert; SIGHUP reloads the files)")
	peerKey := fs.String("peer-key", "", "the key (PEM) of --peer-cert (default: consensus.tls.peer_key)")
	peerCA := fs.String("peer-ca", "", "the peer CA's certificate (PEM): the replicas' certificates must chain to it; keep client certificates under another CA (default: consensus.tls.peer_ca)")
	clientCert := fs.String("client-cert", "", "certificate (PEM) to serve the HTTP API over HTTPS with, with --client-key (default: consensus.tls.client_cert; SIGHUP reloads it)")
	clientKey := fs.String("client-key", "", "the key (PEM) of --client-cert (default: consensus.tls.client_key)")
	clientCA := fs.String("client-ca", "", "CA (PEM) of client certificates: a client whose certificate chains to it is admin; needs --client-cert (default: consensus.tls.client_ca)")
	authTokens := fs.String("auth-tokens", "", "`FILE` of bearer tokens, one 'TOKEN ROLE' per line (role read, write or admin; '#' starts a comment): with it or --client-ca, every request but /healthz needs credentials (default: consensus.tls.auth_tokens; SIGHUP reloads it)")
	witness := fs.Bool("witness", false, "run as a witness: an acceptor that votes and holds no data (no state machine; reads and writes are answered 503 witness; its acceptor log is truncated only behind the full replicas' durable snapshots). Give it the acceptor role only: 'member add ID ADDR --roles acceptor', or list it only under consensus.cluster.acceptors (which makes it a witness without this flag). A data directory stays a witness's")
	var joinCACert, joinCert, joinKey, joinToken string
	addCredFlags(fs, &joinCACert, &joinCert, &joinKey, &joinToken)
	join := fs.String("join", "", "start a replica that is not in the cluster yet: comma-separated client `URLs` of members to ask for the configuration (needs --bind, its consensus address; then 'member add ID ADDR' on the cluster). A data directory that joined before keeps what it learned")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), runUsage)
		fs.PrintDefaults()
	}
	return func() (settings, error) {
		set := visited(fs)
		s := settings{clusterID: *clusterID, http: *httpAddr, storage: *storage, logFormat: *logFormat,
			logLevel: *logLevel, electionTimeout: *election, heartbeatInterval: *heartbeat,
			maxKeyBytes: *maxKey, maxValueBytes: *maxValue, dataDir: *dataDir, bind: *bind, snapshotEvery: *snapEvery, snapshotBytes: *snapBytes,
			file: *config, src: map[string]string{}, witness: *witness, pprof: *pprofOn,
			peerCert: *peerCert, peerKey: *peerKey, peerCA: *peerCA,
			clientCert: *clientCert, clientKey: *clientKey, clientCA: *clientCA, authTokens: *authTokens,
			joinCACert: joinCACert, joinCert: joinCert, joinKey: joinKey, joinToken: joinToken}
		if err := s.setMemoryLimit(*memLimit); err != nil {
			return s, err
		}
		var cf *configFile
		if *config != "" {
			var err error
			if cf, err = readConfig(*config); err != nil {
				return s, err
			}
			s.applyFile(cf, set)
			c := &cf.fc.Consensus
			if t := c.Transport.Type; t != nil && *t == "memory" {
				return s, s.fileErr("consensus.transport.type", " %q: run supports tcp (memory is the in-process cluster of dev)", *t)
			}
			take(&s, set, "bind", "consensus.transport.bind", c.Transport.Bind, &s.bind)
			take(&s, set, "peer-cert", "consensus.tls.peer_cert", c.TLS.PeerCert, &s.peerCert)
			take(&s, set, "peer-key", "consensus.tls.peer_key", c.TLS.PeerKey, &s.peerKey)
			take(&s, set, "peer-ca", "consensus.tls.peer_ca", c.TLS.PeerCA, &s.peerCA)
			take(&s, set, "client-cert", "consensus.tls.client_cert", c.TLS.ClientCert, &s.clientCert)
			take(&s, set, "client-key", "consensus.tls.client_key", c.TLS.ClientKey, &s.clientKey)
			take(&s, set, "client-ca", "consensus.tls.client_ca", c.TLS.ClientCA, &s.clientCA)
			take(&s, set, "auth-tokens", "consensus.tls.auth_tokens", c.TLS.AuthTokens, &s.authTokens)
			if c.ReplicaID != nil && !set["id"] {
				v, err := parseID(*c.ReplicaID)
				if err != nil {
					return s, s.fileErr("consensus.replica_id", ": %w", err)
				}
				s.id, s.src["id"] = v, "consensus.replica_id"
			}
			if cf.endpoints != nil && !set["peers"] {
				s.peers = map[msg.NodeID]string{}
				for id, ep := range cf.endpoints {
					s.peers[id] = ep.consensus
				}
				s.src["peers"] = endpointsKey
			}
		}
		if set["id"] || s.id == 0 {
			v, err := parseID(*id)
			if err != nil {
				return s, fmt.Errorf("--id: %w", err)
			}
			s.id = v
		}
		if err := s.validatePeerTLS(); err != nil {
			return s, err
		}
		if *join != "" {
			for _, u := range strings.Split(*join, ",") {
				if u = strings.TrimSpace(u); u != "" {
					s.join = append(s.join, u)
				}
			}
			if set["peers"] {
				return s, errors.New("--join and --peers: give one (a joining replica learns its peers from the cluster)")
			}
			s.peers = nil
			return s, s.validateJoin()
		}
		if set["peers"] || s.peers == nil {
			p, err := parsePeers(*peers)
			if err != nil {
				return s, fmt.Errorf("--peers: %w", err)
			}
			s.peers = p
		}
		if _, ok := s.src["http"]; !set["http"] && !ok && s.src["peers"] == endpointsKey {
			if ep := cf.endpoints[s.id]; ep.client != "" {
				s.http, s.src["http"] = ep.client, fmt.Sprintf("%s.%d.client_port", endpointsKey, s.id)
			}
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

func sortedIDs[V any](m map[msg.NodeID]V) []msg.NodeID {
	ids := make([]msg.NodeID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func idList[V any](m map[msg.NodeID]V) string {
	var b strings.Builder
	for i, id := range sortedIDs(m) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(id.String())
	}
	return b.String()
}

// validateJoin checks run --join's settings: its own consensus address is
// --bind, since no peer list names it yet.
func (s *settings) validateJoin() error {
	if s.bind == "" {
		return s.errf("bind", ": required with --join (the address its peers reach this replica at)")
	}
	if err := checkHostPort(s.bind); err != nil {
		return s.errf("bind", ": %v", err)
	}
	if s.bind == s.http {
		return s.errf("bind", " %s is also %s", s.bind, s.label("http"))
	}
	return s.validateCommon()
}

// validate runs run's checks on the merged settings.
func (s *settings) validate() error {
	if _, ok := s.peers[s.id]; !ok {
		return s.errf("id", " %d is not in %s (%s)", s.id, s.label("peers"), idList(s.peers))
	}
	owner := map[string]msg.NodeID{}
	for _, id := range sortedIDs(s.peers) {
		a := s.peers[id]
		if other, dup := owner[a]; dup {
			return s.errf("peers", ": replicas %d and %d share address %s", other, id, a)
		}
		owner[a] = id
	}
	if err := s.checkRoles(s.peers); err != nil {
		return err
	}
	if err := s.validateCommon(); err != nil {
		return err
	}
	if err := checkHostPort(s.http); err != nil {
		return s.errf("http", ": %v", err)
	}
	if other, clash := owner[s.http]; clash {
		return s.errf("http", " %s is the consensus address of replica %d", s.http, other)
	}
	if s.bind != "" {
		if err := checkHostPort(s.bind); err != nil {
			return s.errf("bind", ": %v", err)
		}
		if s.bind == s.http {
			return s.errf("bind", " %s is also %s", s.bind, s.label("http"))
		}
	}
	return nil
}

// checkRoles checks the role lists against the replicas: every entry names
// one, once. Then, since every replica runs every role in this version,
// each list given must name them all; that comes last so that a typo is
// reported as itself rather than as a list that is too short.
func (s *settings) checkRoles(replicas map[msg.NodeID]string) error {
	for _, r := range s.roles {
		seen := map[msg.NodeID]bool{}
		for _, e := range r.ids {
			id, err := parseID(e)
			if err != nil {
				return s.fileErr(r.key, ": %q is not a replica id", e)
			}
			if seen[id] {
				return s.fileErr(r.key, ": %q listed twice", e)
			}
			seen[id] = true
			if _, ok := replicas[id]; !ok {
				return s.fileErr(r.key, ": %q is not a replica (replicas: %s)", e, idList(replicas))
			}
		}
	}
	if len(s.roles) == 0 {
		return nil
	}
	roles := s.firstRoles(replicas)
	var ms []membership.Member
	for _, id := range sortedIDs(replicas) {
		if roles[id] == 0 {
			return s.fileErr("consensus.cluster", ": replica %d is in no role list", id)
		}
		ms = append(ms, membership.Member{ID: id, Addr: "replica-" + id.String(), Roles: roles[id]})
	}
	if err := membership.Validate(&membership.Config{Num: 1, Members: ms}); err != nil {
		return s.fileErr("consensus.cluster", ": %v", err)
	}
	return nil
}

// roleBits maps a role list's key to its role.
var roleBits = map[string]membership.Roles{"consensus.cluster.acceptors": membership.Acceptor,
	"consensus.cluster.proposers": membership.Proposer, "consensus.cluster.learners": membership.Learner}

// firstRoles are the roles the role lists give each replica: a role with
// no list goes to every replica.
func (s *settings) firstRoles(replicas map[msg.NodeID]string) map[msg.NodeID]membership.Roles {
	out := make(map[msg.NodeID]membership.Roles, len(replicas))
	listed := membership.Roles(0)
	for _, r := range s.roles {
		bit := roleBits[r.key]
		listed |= bit
		for _, e := range r.ids {
			if id, err := parseID(e); err == nil {
				if _, ok := replicas[id]; ok {
					out[id] |= bit
				}
			}
		}
	}
	for id := range replicas {
		out[id] |= membership.All &^ listed
	}
	return out
}

// validateCommon runs the checks run and dev share.
func (s *settings) validateCommon() error {
	switch s.storage {
	case "memory":
	case "nutsdb", "wal":
		if s.dataDir == "" {
			if k, ok := s.src["storage"]; ok {
				want := "consensus.storage.dir"
				if s.storage == "wal" {
					want = "consensus.storage.wal_path"
				}
				return s.fileErr(k, " %q needs %s (or --data-dir)", s.storage, want)
			}
			return fmt.Errorf("--storage %s needs --data-dir", s.storage)
		}
	default:
		return s.errf("storage", " %q: want nutsdb, wal (another name for nutsdb) or memory", s.storage)
	}
	if s.logFormat != "text" && s.logFormat != "json" {
		return s.errf("log-format", " %q: want text or json", s.logFormat)
	}
	if _, err := parseLevel(s.logLevel); err != nil {
		return s.errf("log-level", " %q: want debug, info, warn or error", s.logLevel)
	}
	if s.snapshotEvery == 0 {
		return s.errf("snapshot-every", " 0: want at least 1")
	}
	if s.snapshotBytes == 0 {
		return s.errf("snapshot-bytes", " 0: want at least 1")
	}
	if s.maxKeyBytes <= 0 {
		return s.errf("max-key-bytes", " %d: want a positive size", s.maxKeyBytes)
	}
	if s.maxValueBytes <= 0 {
		return s.errf("max-value-bytes", " %d: want a positive size", s.maxValueBytes)
	}
	if s.heartbeatInterval <= 0 || s.electionTimeout <= s.heartbeatInterval {
		return s.errf("heartbeat-interval", " (%v) must be positive and below %s (%v)", s.heartbeatInterval, s.label("election-timeout"), s.electionTimeout)
	}
	return nil
}

// durable reports whether the settings keep the replica's state on disk.
func (s *settings) durable() bool { return s.storage != "memory" }

// devUsage heads dev --help: what dev takes from a config file written for
// run, and what it leaves.
const devUsage = `Usage: rsml-node dev [--config FILE] [--nodes N] [--http HOST:PORT] [flags]

Runs a whole cluster in this process, replicas 1 to N over an in-memory
network, for development. It prints the replicas' URLs and runs until SIGINT
or SIGTERM.

--config FILE (TOML, or JSON when FILE ends in .json; the same file run
takes) gives dev: consensus.cluster_id; consensus.storage (its dir or
wal_path is the parent data directory: replica i uses DIR/replica-i);
the HTTP addresses (consensus.http is replica 1's, replica i listens on
PORT+(i-1); without it, every endpoint's client_port); the number of
replicas (the endpoints, numbered 1 to N); the timeouts, max_key_bytes,
max_value_bytes, snapshot_every and snapshot_bytes; [log]; the role lists, which are
checked. A flag that is set wins. The settings dev has no use for
(consensus.replica_id, consensus.transport, the endpoints' consensus
addresses) are named in a warning when dev starts.

SIGHUP re-reads the config file, as in run: the log level changes at once;
any other changed setting is logged as needing a restart.

Flags:
`

// devFlags declares dev's flags on fs and returns a function that merges
// the config file and the flags; it may be called again on SIGHUP.
func devFlags(fs *flag.FlagSet) func() (settings, error) {
	config := fs.String("config", "", "config file (TOML, or JSON if it ends in .json): dev takes the cluster id, storage, HTTP addresses, number of replicas, timeouts, sizes and log settings from it (see above); flags that are set win")
	nodes := fs.Int("nodes", 3, "number of replicas, 1 to 7 (if not set: the number of consensus.cluster.endpoints)")
	httpAddr := fs.String("http", "127.0.0.1:8001", "HOST:PORT of replica 1's HTTP API; replica i listens on PORT+(i-1) (if not set: consensus.http, else the endpoints' client_ports)")
	storeKind := fs.String("storage", "memory", "storage: memory or nutsdb (durable, one directory per replica under --data-dir; wal is another name for it)")
	dataDir := fs.String("data-dir", "", "parent data directory for --storage nutsdb (replica i uses DIR/replica-i)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error (SIGHUP applies a changed log.level from the file)")
	pprofOn := fs.Bool("pprof", false, "serve Go's profiles (net/http/pprof) under /debug/pprof/ on every replica's HTTP address (off by default)")
	memLimit := fs.String("memory-limit", "", memoryLimitHelp)
	tlsOn := fs.Bool("tls", false, "serve HTTPS with a development CA and ask for credentials: a token file with an admin and a read token, and client certificates of the client CA (the files go to --tls-dir; the curl commands that work are printed)")
	tlsDir := fs.String("tls-dir", "", "`DIR` of dev --tls's certificates and tokens: made with rsml-node certs if it holds no ca.crt, reused if it does (default: a new directory under the system's temporary directory, kept at exit)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), devUsage)
		fs.PrintDefaults()
	}
	return func() (settings, error) {
		set := visited(fs)
		s := settings{nodes: *nodes, http: *httpAddr, storage: *storeKind, dataDir: *dataDir,
			logFormat: *logFormat, logLevel: *logLevel, clusterID: "rsml",
			electionTimeout: defElectionTimeout, heartbeatInterval: defHeartbeatInterval,
			maxKeyBytes: defMaxKeyBytes, maxValueBytes: defMaxValueBytes, snapshotEvery: defSnapshotEvery,
			snapshotBytes: defSnapshotBytes, file: *config, src: map[string]string{}, pprof: *pprofOn}
		if err := s.setMemoryLimit(*memLimit); err != nil {
			return s, err
		}
		switch {
		case *tlsDir != "" && !*tlsOn:
			return s, errors.New("--tls-dir needs --tls")
		case *tlsOn && *tlsDir == "":
			s.tlsDir = "-" // made at start
		default:
			s.tlsDir = *tlsDir
		}
		var endpoints map[msg.NodeID]endpoint
		if *config != "" {
			cf, err := readConfig(*config)
			if err != nil {
				return s, err
			}
			s.applyFile(cf, set)
			s.ignored = devIgnored(cf)
			endpoints = cf.endpoints
			if endpoints != nil && !set["nodes"] {
				s.nodes, s.src["nodes"] = len(endpoints), endpointsKey
			}
		}
		return s, s.validateDev(endpoints, set["http"])
	}
}

// devIgnored lists the file's settings that mean something to run but not
// to a cluster in one process, so that dev can say it leaves them.
func devIgnored(cf *configFile) []string {
	var out []string
	c := &cf.fc.Consensus
	if c.ReplicaID != nil {
		out = append(out, "consensus.replica_id")
	}
	if c.Transport.Type != nil && *c.Transport.Type == "tcp" {
		out = append(out, "consensus.transport.type")
	}
	if c.Transport.Bind != nil {
		out = append(out, "consensus.transport.bind")
	}
	if len(cf.endpoints) > 0 {
		out = append(out, "consensus.cluster.endpoints (the consensus addresses)")
	}
	return out
}

// validateDev checks dev's merged settings and works out every replica's
// HTTP address. endpoints are the file's, if any; httpFlag says --http was
// set.
func (s *settings) validateDev(endpoints map[msg.NodeID]endpoint, httpFlag bool) error {
	if s.nodes < 1 || s.nodes > 7 {
		if s.src["nodes"] == endpointsKey {
			return s.fileErr(endpointsKey, " names %d replicas: dev runs 1 to 7", s.nodes)
		}
		return fmt.Errorf("--nodes %d: want 1 to 7", s.nodes)
	}
	for id := range endpoints {
		if int(id) > len(endpoints) {
			return s.fileErr(endpointsKey, ": replicas %s: dev numbers its replicas 1 to %d", idList(endpoints), len(endpoints))
		}
	}
	if err := s.devHTTP(endpoints, httpFlag); err != nil {
		return err
	}
	replicas := map[msg.NodeID]string{}
	for i := 1; i <= s.nodes; i++ {
		replicas[msg.NodeID(i)] = ""
	}
	if err := s.checkRoles(replicas); err != nil {
		return err
	}
	return s.validateCommon()
}

// devHTTP works out every replica's HTTP address: --http, else
// consensus.http (replica i on PORT+(i-1)), else the endpoints'
// client_ports, else --http's default.
func (s *settings) devHTTP(endpoints map[msg.NodeID]endpoint, httpFlag bool) error {
	s.https = nil
	clientPorts := false
	for _, ep := range endpoints {
		clientPorts = clientPorts || ep.client != ""
	}
	if _, fromFile := s.src["http"]; !httpFlag && !fromFile && clientPorts {
		if s.nodes != len(endpoints) {
			return fmt.Errorf("--nodes %d: %s names %d replicas, whose client_ports give the HTTP addresses: give --http too", s.nodes, endpointsKey, len(endpoints))
		}
		owner := map[string]int{}
		for i := 1; i <= s.nodes; i++ {
			a := endpoints[msg.NodeID(i)].client
			if a == "" {
				return s.fileErr(fmt.Sprintf("%s.%d", endpointsKey, i), ": no client_port while other endpoints have one: give every replica's, or consensus.http")
			}
			if other, dup := owner[a]; dup {
				return s.fileErr(endpointsKey, ": replicas %d and %d share the client address %s", other, i, a)
			}
			owner[a] = i
			s.https = append(s.https, a)
		}
		s.src["http"] = endpointsKey + ".N.client_port"
		return nil
	}
	host, portStr, err := net.SplitHostPort(s.http) // an empty host: every interface
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || port < 0 || port+s.nodes-1 > 65535 {
		return s.errf("http", " %q: want HOST:PORT (replica i listens on PORT+(i-1), at most 65535)", s.http)
	}
	for i := 1; i <= s.nodes; i++ {
		p := port + i - 1
		if port == 0 {
			p = 0 // every replica on a port the system picks
		}
		s.https = append(s.https, net.JoinHostPort(host, strconv.Itoa(p)))
	}
	return nil
}

// settingValue is one setting as a reload compares it: name is a flag's
// name, or the file key of a setting that has no flag.
type settingValue struct{ name, value string }

// values lists the settings a reload compares; the dev-only ones are empty
// for run and the other way round.
func (s *settings) values() []settingValue {
	peers := make([]string, 0, len(s.peers))
	for _, id := range sortedIDs(s.peers) {
		peers = append(peers, id.String()+"="+s.peers[id])
	}
	http := s.http
	if s.https != nil {
		http = strings.Join(s.https, ",") // dev: every replica's
	}
	v := []settingValue{
		{"id", s.id.String()}, {"cluster-id", s.clusterID}, {"peers", strings.Join(peers, ",")}, {"bind", s.bind},
		{"http", http}, {"nodes", fmt.Sprint(s.nodes)},
		{"storage", s.storage}, {"data-dir", s.dataDir}, {"log-format", s.logFormat},
		{"election-timeout", s.electionTimeout.String()}, {"heartbeat-interval", s.heartbeatInterval.String()},
		{"max-key-bytes", fmt.Sprint(s.maxKeyBytes)}, {"max-value-bytes", fmt.Sprint(s.maxValueBytes)},
		{"snapshot-every", fmt.Sprint(s.snapshotEvery)}, {"snapshot-bytes", fmt.Sprint(s.snapshotBytes)},
		{"peer-cert", s.peerCert}, {"peer-key", s.peerKey}, {"peer-ca", s.peerCA},
		{"client-cert", s.clientCert}, {"client-key", s.clientKey}, {"client-ca", s.clientCA}, {"auth-tokens", s.authTokens},
	}
	roles := map[string]string{}
	for _, r := range s.roles {
		roles[r.key] = strings.Join(r.ids, ",")
	}
	for _, k := range []string{"consensus.cluster.acceptors", "consensus.cluster.proposers", "consensus.cluster.learners"} {
		val, ok := roles[k]
		if !ok {
			val = "(every replica)"
		}
		v = append(v, settingValue{k, val})
	}
	return v
}

// settingChange is a setting whose reloaded value differs from the running
// one.
type settingChange struct{ setting, running, reloaded string }

// restartNeeded lists the settings, other than the log level, whose value
// in next differs from the running one: a replica cannot change them while
// it runs. Each is named as next names it (the file key, or the flag).
func restartNeeded(running, next *settings) []settingChange {
	a, b := running.values(), next.values()
	var out []settingChange
	for i := range a {
		if a[i].value == b[i].value {
			continue
		}
		name := a[i].name
		if !strings.HasPrefix(name, "consensus.") {
			name = next.label(name)
		}
		out = append(out, settingChange{name, a[i].value, b[i].value})
	}
	return out
}

const memoryLimitHelp = "soft memory limit of the Go runtime (GOMEMLIMIT) in `BYTES`, such as 512MiB, 2GiB or 1000000000: the garbage collector works harder as the heap nears it (default: GOMEMLIMIT from the environment, else 80% of the container's cgroup memory limit, else none; GOGC defaults to 50 unless set in the environment)"

// setMemoryLimit takes --memory-limit (empty: not set).
func (s *settings) setMemoryLimit(v string) error {
	if v == "" {
		return nil
	}
	n, err := parseBytes(v)
	if err != nil {
		return fmt.Errorf("--memory-limit %q: %w", v, err)
	}
	s.memoryLimit = n
	return nil
}

// parseBytes reads a size as GOMEMLIMIT spells it (a number, then B, KiB,
// MiB, GiB or TiB) or with decimal units (KB, MB, GB, TB).
func parseBytes(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	num, mult := strings.TrimSpace(v), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	switch {
	case err != nil:
		return 0, errors.New("want a whole number of bytes, then B, KiB, MiB, GiB, TiB, KB, MB, GB or TB")
	case n <= 0:
		return 0, errors.New("want a positive size")
	case n > math.MaxInt64/mult:
		return 0, errors.New("too large")
	}
	return n * mult, nil
}

// validatePeerTLS: the three files of mutual TLS come together.
func (s *settings) validatePeerTLS() error {
	n := 0
	for _, f := range []string{s.peerCert, s.peerKey, s.peerCA} {
		if f != "" {
			n++
		}
	}
	if n != 0 && n != 3 {
		return fmt.Errorf("%s, %s and %s: give all three for mutual TLS between replicas, or none",
			s.label("peer-cert"), s.label("peer-key"), s.label("peer-ca"))
	}
	if (s.clientCert == "") != (s.clientKey == "") {
		return fmt.Errorf("%s and %s: give both to serve HTTPS, or neither", s.label("client-cert"), s.label("client-key"))
	}
	if s.clientCA != "" && s.peerCA != "" {
		a, errA := os.ReadFile(s.clientCA)
		b, errB := os.ReadFile(s.peerCA)
		if errA == nil && errB == nil && bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b)) {
			return fmt.Errorf("%s and %s hold the same CA: every replica certificate would be an HTTP admin, and every "+
				"client certificate could join the cluster; give clients a CA of their own (rsml-node certs writes client-ca.crt)",
				s.label("client-ca"), s.label("peer-ca"))
		}
	}
	if s.clientCA != "" && s.clientCert == "" {
		return fmt.Errorf("%s needs %s and %s: client certificates come over HTTPS", s.label("client-ca"), s.label("client-cert"), s.label("client-key"))
	}
	return nil
}

// peerTLS reports whether the replicas talk mutual TLS.
func (s *settings) peerTLS() bool { return s.peerCert != "" }
