package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rsml-go/rsml/msg"
)

// planFile is the example in the RSML plan's shape, as users will copy it.
func planFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "config", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit is strings.Replace that fails the test when old is not in s, so that
// a case cannot silently test the unedited file.
func edit(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not in %q", old, s)
	}
	return strings.Replace(s, old, new, 1)
}

// planBody is the plan's shape with the parts a test varies: the storage
// table, and the endpoints' entries.
func planBody(storage, endpoints string) string {
	return `
[consensus]
engine     = "rsml"
replica_id = "1"
cluster_id = "demo"
storage    = ` + storage + `
transport  = { type = "tcp", bind = "127.0.0.1:7001" }

[consensus.cluster]
acceptors = ["1", "2", "3"]
proposers = ["1", "2", "3"]
learners  = ["1", "2", "3"]

[consensus.cluster.endpoints]
` + endpoints
}

const planEndpoints = `"1" = { host = "127.0.0.1", consensus_port = 7001, client_port = 8001 }
"2" = { host = "127.0.0.1", consensus_port = 7002, client_port = 8002 }
"3" = { host = "127.0.0.1", consensus_port = 7003, client_port = 8003 }
`

const walStorage = `{ type = "wal", wal_path = "./data/1" }`

func TestPlanExampleLoads(t *testing.T) {
	s, err := loadSettings(t, "--config", writeFile(t, planFile(t, "plan.toml")))
	if err != nil {
		t.Fatal(err)
	}
	want := map[msg.NodeID]string{1: "127.0.0.1:7001", 2: "127.0.0.1:7002", 3: "127.0.0.1:7003"}
	if s.id != 1 || s.clusterID != "demo" || !reflect.DeepEqual(s.peers, want) || s.bind != "127.0.0.1:7001" ||
		s.http != "127.0.0.1:8001" || s.storage != "wal" || !s.durable() || s.dataDir != "./data/1" || len(s.roles) != 3 {
		t.Fatalf("settings from the plan's example: %+v", s)
	}
}

// TestPlanExampleTOMLAndJSONAgree keeps examples/config/plan.json a true
// copy of plan.toml.
func TestPlanExampleTOMLAndJSONAgree(t *testing.T) {
	st, err := loadSettings(t, "--config", writeNamed(t, "plan.toml", planFile(t, "plan.toml")))
	if err != nil {
		t.Fatal(err)
	}
	sj, err := loadSettings(t, "--config", writeNamed(t, "plan.json", planFile(t, "plan.json")))
	if err != nil {
		t.Fatal(err)
	}
	st.file, sj.file = "", ""
	if !reflect.DeepEqual(st, sj) {
		t.Fatalf("plan.toml and plan.json differ:\ntoml %+v\njson %+v", st, sj)
	}
	// The settings hold only this replica's client_port: compare the files
	// as decoded too. The raw endpoint tables differ in number types.
	ct, err := readConfig(filepath.Join("..", "..", "examples", "config", "plan.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cj, err := readConfig(filepath.Join("..", "..", "examples", "config", "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	ct.path, cj.path = "", ""
	ct.fc.Consensus.Cluster.Endpoints, cj.fc.Consensus.Cluster.Endpoints = nil, nil
	if !reflect.DeepEqual(ct, cj) || len(ct.endpoints) != 3 {
		t.Fatalf("plan.toml and plan.json differ:\ntoml %+v\njson %+v", ct, cj)
	}
}

func TestConfigShapesAccepted(t *testing.T) {
	peers := "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003"
	tests := []struct {
		name  string
		file  string // TOML unless fileName ends in .json
		fname string
		args  []string
		check func(settings) bool
	}{
		{"wal storage is nutsdb in wal_path", planBody(walStorage, planEndpoints), "", nil,
			func(s settings) bool { return s.durable() && s.dataDir == "./data/1" }},
		{"wal_path alone means type wal", planBody(`{ wal_path = "/var/rsml" }`, planEndpoints), "", nil,
			func(s settings) bool { return s.storage == "wal" && s.dataDir == "/var/rsml" }},
		{"nutsdb with dir", planBody(`{ type = "nutsdb", dir = "d" }`, planEndpoints), "", nil,
			func(s settings) bool { return s.storage == "nutsdb" && s.dataDir == "d" }},
		{"memory", planBody(`{ type = "memory" }`, planEndpoints), "", nil,
			func(s settings) bool { return !s.durable() }},
		{"wal without wal_path takes --data-dir", planBody(`{ type = "wal" }`, planEndpoints), "", []string{"--data-dir", "/x"},
			func(s settings) bool { return s.dataDir == "/x" && s.durable() }},
		{"endpoints as strings", planBody(walStorage, "\"1\" = \"127.0.0.1:7001\"\n\"2\" = \"127.0.0.1:7002\"\n\"3\" = \"127.0.0.1:7003\"\n"), "", nil,
			func(s settings) bool {
				return s.peers[2] == "127.0.0.1:7002" && s.http == "127.0.0.1:8001" && s.src["http"] == ""
			}},
		{"mixed endpoint forms", planBody(walStorage, "\"1\" = { host = \"127.0.0.1\", consensus_port = 7001, client_port = 9001 }\n\"2\" = \"127.0.0.1:7002\"\n\"3\" = { host = \"localhost\", consensus_port = 7003 }\n"), "", nil,
			func(s settings) bool {
				return s.peers[3] == "localhost:7003" && s.peers[2] == "127.0.0.1:7002" && s.http == "127.0.0.1:9001"
			}},
		{"an IPv6 host", planBody(walStorage, "\"1\" = { host = \"::1\", consensus_port = 7001 }\n\"2\" = \"127.0.0.1:7002\"\n\"3\" = \"127.0.0.1:7003\"\n"), "", nil,
			func(s settings) bool { return s.peers[1] == "[::1]:7001" }},
		{"client_port of this replica, not another's", planBody(walStorage, planEndpoints), "", []string{"--id", "3", "--bind", "127.0.0.1:7003"},
			func(s settings) bool { return s.http == "127.0.0.1:8003" }},
		{"consensus.http beats client_port", edit(t, planBody(walStorage, planEndpoints), `cluster_id = "demo"`, "cluster_id = \"demo\"\nhttp = \"127.0.0.1:9100\""), "",
			nil, func(s settings) bool { return s.http == "127.0.0.1:9100" && s.src["http"] == "consensus.http" }},
		{"--http beats consensus.http and client_port", edit(t, planBody(walStorage, planEndpoints), `cluster_id = "demo"`, "cluster_id = \"demo\"\nhttp = \"127.0.0.1:9100\""), "",
			[]string{"--http", "127.0.0.1:9200"}, func(s settings) bool { return s.http == "127.0.0.1:9200" }},
		{"flags win over the plan's file", planBody(walStorage, planEndpoints), "",
			[]string{"--id", "2", "--bind", "127.0.0.1:7002", "--storage", "memory", "--cluster-id", "other", "--log-level", "debug"},
			func(s settings) bool {
				return s.id == 2 && s.bind == "127.0.0.1:7002" && !s.durable() && s.clusterID == "other" && s.logLevel == "debug" && s.http == "127.0.0.1:8002"
			}},
		{"role lists with --peers", planBody(walStorage, planEndpoints), "", []string{"--peers", peers},
			func(s settings) bool {
				return len(s.peers) == 3 && s.src["peers"] == "" && s.http == "127.0.0.1:8001" && s.src["http"] == ""
			}},
		{"role lists checked against --peers, not the file's endpoints",
			regexp.MustCompile(`(?m)^(acceptors|proposers|learners) *= .*$`).ReplaceAllString(planBody(walStorage, planEndpoints), `$1 = ["1", "2", "3", "4"]`), "",
			[]string{"--peers", peers + ",4=127.0.0.1:7004"}, func(s settings) bool { return len(s.peers) == 4 && len(s.roles) == 3 }},
		{"role lists with --peers and no endpoints", strings.Split(goodConfig, "[consensus.cluster.endpoints]")[0], "",
			[]string{"--peers", peers}, func(s settings) bool { return len(s.peers) == 3 }},
		{"json role lists with --peers", `{"consensus": {"replica_id": "1", "storage": {"type": "memory"},
			"cluster": {"acceptors": ["1", "2", "3"], "endpoints": {"1": {"host": "127.0.0.1", "consensus_port": 7001, "client_port": 8005}}}}}`,
			"rsml.json", []string{"--peers", peers}, func(s settings) bool { return len(s.peers) == 3 && s.http == "127.0.0.1:8001" }},
		{"role entries written another way", edit(t, planBody(walStorage, planEndpoints), `learners  = ["1", "2", "3"]`, `learners  = ["3", "01", "2"]`), "", nil,
			func(s settings) bool { return len(s.roles) == 3 }},
		{"json endpoint object and string", `{"consensus": {"engine": "rsml", "replica_id": "2", "storage": {"type": "memory"},
			"cluster": {"endpoints": {"1": "127.0.0.1:7001", "2": {"host": "127.0.0.1", "consensus_port": 7002, "client_port": 8002}}}},
			"log": {"level": "debug"}}`, "rsml.json", nil,
			func(s settings) bool {
				return s.id == 2 && s.peers[1] == "127.0.0.1:7001" && s.peers[2] == "127.0.0.1:7002" && s.http == "127.0.0.1:8002" && s.logLevel == "debug"
			}},
		{"JSON by extension in any case", `{"consensus": {"replica_id": "1", "storage": {"type": "memory"}, "cluster": {"endpoints": {"1": "127.0.0.1:7001"}}}}`, "RSML.JSON", nil,
			func(s settings) bool { return s.id == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.fname
			if name == "" {
				name = "rsml.toml"
			}
			s, err := loadSettings(t, append([]string{"--config", writeNamed(t, name, tt.file)}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(s) {
				t.Fatalf("settings: %+v", s)
			}
		})
	}
}

func TestConfigShapesRefused(t *testing.T) {
	plan := planBody(walStorage, planEndpoints)
	ep := func(second string) string {
		return planBody(walStorage, "\"1\" = \"127.0.0.1:7001\"\n\"2\" = "+second+"\n\"3\" = \"127.0.0.1:7003\"\n")
	}
	role := func(list, entries string) string {
		return regexp.MustCompile(`(?m)^`+list+` *= .*$`).ReplaceAllString(plan, list+" = "+entries)
	}
	const jsonPlan = `{"consensus": {"engine": "rsml", "replica_id": "1", "storage": {"type": "memory"},
		"cluster": {"endpoints": {"1": {"host": "127.0.0.1", "consensus_port": 7001}, "2": "127.0.0.1:7002"}}}}`
	tests := []struct {
		name string
		file string
		json bool
		args []string
		want string
	}{
		{"engine other than rsml", edit(t, plan, `"rsml"`, `"raft"`), false, nil, `consensus.engine "raft": rsml-node runs engine "rsml"`},
		{"wal without wal_path", planBody(`{ type = "wal" }`, planEndpoints), false, nil, `consensus.storage.type "wal" needs consensus.storage.wal_path (or --data-dir)`},
		{"nutsdb without dir", planBody(`{ type = "nutsdb" }`, planEndpoints), false, nil, `consensus.storage.type "nutsdb" needs consensus.storage.dir`},
		{"wal_path with type nutsdb", planBody(`{ type = "nutsdb", wal_path = "w" }`, planEndpoints), false, nil, `consensus.storage.wal_path "w": type "nutsdb" takes dir`},
		{"dir with type wal", planBody(`{ type = "wal", dir = "d" }`, planEndpoints), false, nil, `consensus.storage.dir "d": type "wal" takes wal_path`},
		{"dir and wal_path", planBody(`{ dir = "d", wal_path = "w" }`, planEndpoints), false, nil, `consensus.storage: dir "d" and wal_path "w": give one`},
		{"memory with a directory", planBody(`{ type = "memory", wal_path = "w" }`, planEndpoints), false, nil, `consensus.storage.wal_path "w": type "memory" keeps nothing on disk`},
		{"empty wal_path", planBody(`{ type = "wal", wal_path = "" }`, planEndpoints), false, nil, `consensus.storage.wal_path "": want a directory`},
		{"unknown storage type", planBody(`{ type = "tape" }`, planEndpoints), false, nil, `consensus.storage.type "tape": want nutsdb, wal`},
		{"unknown storage key", planBody(`{ type = "wal", wal_path = "w", sync = true }`, planEndpoints), false, nil, "unknown settings: consensus.storage.sync"},
		{"unknown transport type", edit(t, plan, `type = "tcp"`, `type = "udp"`), false, nil, `consensus.transport.type "udp": want tcp or memory`},
		{"endpoint table with an unknown key", ep(`{ host = "127.0.0.1", consensus_port = 7002, grpc_port = 9 }`), false, nil, "consensus.cluster.endpoints.2.grpc_port: unknown setting"},
		{"consensus_port 0", ep(`{ host = "127.0.0.1", consensus_port = 0 }`), false, nil, "consensus.cluster.endpoints.2.consensus_port 0: want a port number, 1 to 65535"},
		{"consensus_port 70000", ep(`{ host = "127.0.0.1", consensus_port = 70000 }`), false, nil, "consensus.cluster.endpoints.2.consensus_port 70000: want a port number"},
		{"client_port as a string", ep(`{ host = "127.0.0.1", consensus_port = 7002, client_port = "8002" }`), false, nil, `consensus.cluster.endpoints.2.client_port "8002": want a port number`},
		{"fractional port", ep(`{ host = "127.0.0.1", consensus_port = 7002.5 }`), false, nil, "consensus.cluster.endpoints.2.consensus_port 7002.5: want a port number"},
		{"endpoint without host", ep(`{ consensus_port = 7002 }`), false, nil, "consensus.cluster.endpoints.2.host: required"},
		{"endpoint without consensus_port", ep(`{ host = "h", client_port = 8002 }`), false, nil, "consensus.cluster.endpoints.2.consensus_port: required"},
		{"host with a port", ep(`{ host = "127.0.0.1:7002", consensus_port = 7002 }`), false, nil, `consensus.cluster.endpoints.2.host "127.0.0.1:7002": want a host name or IP address, without a port`},
		{"endpoint as a number", ep(`7002`), false, nil, `consensus.cluster.endpoints.2 7002: want "HOST:PORT" or { host`},
		{"endpoint string without a port", ep(`"127.0.0.1"`), false, nil, `consensus.cluster.endpoints.2: address "127.0.0.1": want HOST:PORT`},
		{"endpoint id not a number", edit(t, plan, `"3" = {`, `"three" = {`), false, nil, `consensus.cluster.endpoints.three: replica id "three" is not a positive integer`},
		{"endpoint id twice", edit(t, plan, `"3" = {`, `"02" = {`), false, nil, "consensus.cluster.endpoints.2: replica 2 listed twice"},
		{"endpoints not a table", edit(t, plan, "[consensus.cluster.endpoints]\n", "endpoints = \"x\"\n[nothing]\n"), false, nil, "consensus.cluster.endpoints: want a table"},
		{"duplicate role entry", role("acceptors", `["1", "1", "2"]`), false, nil, `consensus.cluster.acceptors: "1" listed twice`},
		{"duplicate role entry written another way", role("proposers", `["1", "01", "2", "3"]`), false, nil, `consensus.cluster.proposers: "01" listed twice`},
		{"unknown role entry", role("learners", `["1", "2", "9"]`), false, nil, `consensus.cluster.learners: "9" is not a replica (replicas: 1,2,3)`},
		{"role entry not an id", role("acceptors", `["1", "x"]`), false, nil, `consensus.cluster.acceptors: "x" is not a replica id`},
		{"a proposer that does not learn", role("learners", `["1", "2"]`), false, nil, "consensus.cluster: invalid configuration: member 3: a proposer must also be a learner"},
		{"role entries checked against --peers", plan, false, []string{"--peers", "1=127.0.0.1:7001,2=127.0.0.1:7002,4=127.0.0.1:7004"}, `consensus.cluster.acceptors: "3" is not a replica (replicas: 1,2,4)`},
		{"replica_id not an endpoint", edit(t, plan, `replica_id = "1"`, `replica_id = "4"`), false, nil, "consensus.replica_id 4 is not in consensus.cluster.endpoints (1,2,3)"},
		{"bad consensus.http", edit(t, plan, `cluster_id = "demo"`, "cluster_id = \"demo\"\nhttp = \"nowhere\""), false, nil, `consensus.http: address "nowhere": want HOST:PORT`},
		{"client_port is a consensus address", ep(`{ host = "127.0.0.1", consensus_port = 7002, client_port = 7001 }`), false, []string{"--id", "2", "--bind", "127.0.0.1:7002"}, "consensus.cluster.endpoints.2.client_port 127.0.0.1:7001 is the consensus address of replica 1"},
		{"max_key_bytes = 0 is not unset", edit(t, plan, `cluster_id = "demo"`, "cluster_id = \"demo\"\nmax_key_bytes = 0"), false, nil, "consensus.max_key_bytes 0: want a positive size"},
		{"heartbeat from the file", edit(t, plan, `cluster_id = "demo"`, "cluster_id = \"demo\"\nheartbeat_interval = \"1s\""), false, nil, "consensus.heartbeat_interval (1s) must be positive and below --election-timeout"},
		{"bad log level in the file", plan + "\n[log]\nlevel = \"loud\"\n", false, nil, `log.level "loud": want debug`},
		{"a flag does not hide another setting's error", role("learners", `["1", "1"]`), false, []string{"--http", "127.0.0.1:9999"}, `consensus.cluster.learners: "1" listed twice`},
		{"json unknown field", `{"consensus": {"replica_id": "1", "bogus": 1}}`, true, nil, "unknown settings: consensus.bogus"},
		{"json unknown nested fields", `{"consensus": {"storage": {"type": "wal", "walpath": "x"}}, "logs": {}}`, true, nil, "unknown settings: consensus.storage.walpath, logs"},
		{"json endpoint object with an unknown key", edit(t, jsonPlan, `"consensus_port": 7001`, `"consensus_port": 7001, "port": 1`), true, nil, "consensus.cluster.endpoints.1.port: unknown setting"},
		{"json endpoint port out of range", edit(t, jsonPlan, `7001`, `70000`), true, nil, "consensus.cluster.endpoints.1.consensus_port 70000: want a port number"},
		{"json endpoint port fractional", edit(t, jsonPlan, `7001`, `7001.5`), true, nil, "consensus.cluster.endpoints.1.consensus_port 7001.5: want a port number"},
		{"json endpoint port as a string", edit(t, jsonPlan, `7001`, `"7001"`), true, nil, `consensus.cluster.endpoints.1.consensus_port "7001": want a port number`},
		{"json endpoint as a list", edit(t, jsonPlan, `"127.0.0.1:7002"`, `[1]`), true, nil, `consensus.cluster.endpoints.2 (a list): want "HOST:PORT"`},
		{"json engine", edit(t, jsonPlan, `"rsml"`, `"etcd"`), true, nil, `consensus.engine "etcd": rsml-node runs engine "rsml"`},
		{"json wrong type", `{"consensus": {"max_key_bytes": "big"}}`, true, nil, "consensus.max_key_bytes: got string, want an integer"},
		{"json key twice", `{"consensus": {"http": "127.0.0.1:1", "http": "127.0.0.1:2"}}`, true, nil, "consensus.http: set twice"},
		{"json endpoint twice", edit(t, jsonPlan, `"2": "127.0.0.1:7002"`, `"2": "127.0.0.1:7002", "2": "127.0.0.1:7003"`), true, nil, "consensus.cluster.endpoints.2: set twice"},
		{"json syntax error", "{\n\"consensus\": {\n\"http\": }\n}", true, nil, "line 3: invalid character"},
		{"json cut short", `{"consensus": {`, true, nil, "the JSON ends before the object does"},
		{"json cut short in a list", `{"consensus": {"cluster": {"acceptors": ["1"`, true, nil, "the JSON ends before the object does"},
		{"json not an object", `["consensus"]`, true, nil, "want a JSON object"},
		{"json empty", ``, true, nil, "empty file"},
		{"json after the object", `{"consensus": {}} {}`, true, nil, "more data after the JSON object"},
		{"json role list duplicate", edit(t, jsonPlan, `"endpoints"`, `"acceptors": ["1", "1"], "endpoints"`), true, nil, `consensus.cluster.acceptors: "1" listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "rsml.toml"
			if tt.json {
				name = "rsml.json"
			}
			args := append([]string{"--config", writeNamed(t, name, tt.file)}, tt.args...)
			_, err := loadSettings(t, args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
			t.Log(err)
			if !strings.HasPrefix(err.Error(), "config ") && !strings.HasPrefix(err.Error(), "--") {
				t.Fatalf("error %q names neither the file nor a flag", err)
			}
		})
	}
}

func loadDev(t *testing.T, args ...string) (settings, error) {
	t.Helper()
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	load := devFlags(fs)
	if err := fs.Parse(args); err != nil {
		return settings{}, err
	}
	return load()
}

func TestDevConfig(t *testing.T) {
	plan := planBody(walStorage, planEndpoints)
	withHTTP := edit(t, plan, `cluster_id = "demo"`, "cluster_id = \"demo\"\nhttp = \"127.0.0.1:9100\"\nelection_timeout = \"400ms\"\nmax_value_bytes = 10")
	tests := []struct {
		name  string
		file  string
		args  []string
		check func(settings) bool
		want  string // the error, if refused
	}{
		{"the plan's file", plan, nil, func(s settings) bool {
			return s.nodes == 3 && reflect.DeepEqual(s.https, []string{"127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"}) &&
				s.durable() && s.dataDir == "./data/1" && s.clusterID == "demo" &&
				reflect.DeepEqual(s.ignored, []string{"consensus.replica_id", "consensus.transport.type", "consensus.transport.bind", "consensus.cluster.endpoints (the consensus addresses)"})
		}, ""},
		{"consensus.http beats client_ports", withHTTP, nil, func(s settings) bool {
			return reflect.DeepEqual(s.https, []string{"127.0.0.1:9100", "127.0.0.1:9101", "127.0.0.1:9102"}) &&
				s.electionTimeout == 400*time.Millisecond && s.maxValueBytes == 10
		}, ""},
		{"--http beats both", withHTTP, []string{"--http", "127.0.0.1:9200"}, func(s settings) bool {
			return s.https[2] == "127.0.0.1:9202"
		}, ""},
		{"flags win", plan, []string{"--storage", "memory", "--nodes", "2", "--http", "127.0.0.1:0", "--log-level", "warn"}, nil,
			`consensus.cluster.acceptors: "3" is not a replica (replicas: 1,2)`},
		{"flags win, role lists left out", strings.Split(plan, "[consensus.cluster]")[0], []string{"--storage", "memory", "--nodes", "2", "--http", "127.0.0.1:0", "--log-level", "warn"},
			func(s settings) bool {
				return s.nodes == 2 && !s.durable() && s.logLevel == "warn" && s.https[1] == "127.0.0.1:0" && len(s.ignored) == 3
			}, ""},
		{"no config", "", []string{"--nodes", "2"}, func(s settings) bool {
			return reflect.DeepEqual(s.https, []string{"127.0.0.1:8001", "127.0.0.1:8002"}) && s.clusterID == "rsml" && !s.durable()
		}, ""},
		{"--nodes against the client_ports", plan, []string{"--nodes", "5"}, nil, "--nodes 5: consensus.cluster.endpoints names 3 replicas"},
		{"a missing client_port", edit(t, plan, `consensus_port = 7002, client_port = 8002`, `consensus_port = 7002`), nil, nil,
			"consensus.cluster.endpoints.2: no client_port while other endpoints have one"},
		{"replicas not numbered from 1", edit(t, plan, `"3" = {`, `"5" = {`), nil, nil,
			"consensus.cluster.endpoints: replicas 1,2,5: dev numbers its replicas 1 to 3"},
		{"too many endpoints", strings.Split(plan, "[consensus.cluster]")[0] + "[consensus.cluster.endpoints]\n" +
			`"1"="h:1"` + "\n" + `"2"="h:2"` + "\n" + `"3"="h:3"` + "\n" + `"4"="h:4"` + "\n" + `"5"="h:5"` + "\n" + `"6"="h:6"` + "\n" + `"7"="h:7"` + "\n" + `"8"="h:8"` + "\n",
			nil, nil, "consensus.cluster.endpoints names 8 replicas: dev runs 1 to 7"},
		{"wal without a directory", planBody(`{ type = "wal" }`, planEndpoints), nil, nil, `consensus.storage.type "wal" needs consensus.storage.wal_path`},
		{"bad http", plan, []string{"--http", "127.0.0.1:65535"}, nil, `--http "127.0.0.1:65535": want HOST:PORT`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, tt.file)}, args...)
			}
			s, err := loadDev(t, args...)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(s) {
				t.Fatalf("settings: %+v", s)
			}
		})
	}
}

// logRecords decodes the JSON log lines in b.
func logRecords(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestHupReload(t *testing.T) {
	base := func() settings {
		s, err := loadSettings(t, "--config", writeFile(t, planBody(walStorage, planEndpoints)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	type line struct{ level, msg, setting string }
	tests := []struct {
		name      string
		running   func() settings
		next      func(settings) (settings, error)
		want      []line
		wantLevel slog.Level
	}{
		{"without a config file", func() settings { s := base(); s.file = ""; return s }, nil,
			[]line{{"INFO", "SIGHUP: no config file (--config) to reload; nothing changes", ""}}, slog.LevelInfo},
		{"a file that no longer loads", base, func(settings) (settings, error) { return settings{}, os.ErrNotExist },
			[]line{{"ERROR", "SIGHUP: config file not reloaded; the running settings stay", ""}}, slog.LevelInfo},
		{"nothing changed", base, func(s settings) (settings, error) { return s, nil },
			[]line{{"INFO", "SIGHUP: config file reloaded; nothing changed", ""}}, slog.LevelInfo},
		{"log level up", base, func(s settings) (settings, error) {
			s.logLevel = "debug"
			s.src = map[string]string{"log-level": "log.level"}
			return s, nil
		},
			[]line{{"INFO", "SIGHUP: log level changed", "log.level"}, {"DEBUG", "SIGHUP: settings in force", ""}}, slog.LevelDebug},
		{"log level down, said at the new level", base, func(s settings) (settings, error) { s.logLevel = "error"; return s, nil },
			[]line{{"ERROR", "SIGHUP: log level changed", "--log-level"}}, slog.LevelError},
		{"same level spelled otherwise", base, func(s settings) (settings, error) { s.logLevel = "INFO"; return s, nil },
			[]line{{"INFO", "SIGHUP: config file reloaded; nothing changed", ""}}, slog.LevelInfo},
		{"settings that need a restart", base, func(s settings) (settings, error) {
			s.clusterID, s.http = "other", "127.0.0.1:9999"
			s.roles = s.roles[:1]
			s.src = map[string]string{"cluster-id": "consensus.cluster_id"}
			return s, nil
		}, []line{
			{"WARN", "SIGHUP: setting changed; needs a restart", "consensus.cluster_id"},
			{"WARN", "SIGHUP: setting changed; needs a restart", "--http"},
			{"WARN", "SIGHUP: setting changed; needs a restart", "consensus.cluster.proposers"},
			{"WARN", "SIGHUP: setting changed; needs a restart", "consensus.cluster.learners"},
		}, slog.LevelInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			level := new(slog.LevelVar)
			logger := newLevelLogger(&buf, "json", level)
			running := tt.running()
			load := func() (settings, error) { return tt.next(running) }
			after := reload(logger, level, running, load)
			got := logRecords(t, &buf)
			if len(got) != len(tt.want) {
				t.Fatalf("logged %v, want %v", got, tt.want)
			}
			for i, w := range tt.want {
				if got[i]["level"] != w.level || got[i]["msg"] != w.msg || (w.setting != "" && got[i]["setting"] != w.setting) {
					t.Fatalf("line %d: %v, want %+v", i, got[i], w)
				}
			}
			if level.Level() != tt.wantLevel {
				t.Fatalf("level %v, want %v", level.Level(), tt.wantLevel)
			}
			if l, _ := parseLevel(after.logLevel); l != tt.wantLevel || after.clusterID != running.clusterID {
				t.Fatalf("settings in force after the reload: %+v", after)
			}
		})
	}
}

func TestRunAndDevHelp(t *testing.T) {
	for _, cmd := range []string{"run", "dev"} {
		var out, errb bytes.Buffer
		if code := run([]string{cmd, "--help"}, strings.NewReader(""), &out, &errb); code != 0 {
			t.Errorf("%s --help: exit %d", cmd, code)
		}
		for _, want := range []string{"--config", "SIGHUP", "JSON", "wins"} {
			if !strings.Contains(errb.String(), want) {
				t.Errorf("%s --help does not mention %q:\n%s", cmd, want, errb.String())
			}
		}
	}
}
