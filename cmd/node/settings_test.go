package main

import (
	"bytes"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func loadSettings(t *testing.T, args ...string) (settings, error) {
	t.Helper()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	load := runFlags(fs)
	if err := fs.Parse(args); err != nil {
		return settings{}, err
	}
	return load()
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	return writeNamed(t, "rsml.toml", body)
}

// writeNamed writes body to a file called name in a new directory: the
// extension chooses the format.
func writeNamed(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodConfig = `
[consensus]
replica_id = "2"
cluster_id = "demo"
storage   = { type = "nutsdb", dir = "/tmp/rsml-test-2" }
transport = { type = "tcp", bind = "127.0.0.1:7002" }
http      = "127.0.0.1:8002"
election_timeout = "300ms"

[consensus.cluster]
acceptors = ["1", "2", "3"]
proposers = ["1", "2", "3"]
learners  = ["1", "2", "3"]

[consensus.cluster.endpoints]
"1" = "127.0.0.1:7001"
"2" = "127.0.0.1:7002"
"3" = "127.0.0.1:7003"
`

func TestConfigFileAndFlagsOverride(t *testing.T) {
	p := writeFile(t, goodConfig)
	s, err := loadSettings(t, "--config", p)
	if err != nil {
		t.Fatal(err)
	}
	if s.id != 2 || s.clusterID != "demo" || s.http != "127.0.0.1:8002" || len(s.peers) != 3 ||
		s.peers[3] != "127.0.0.1:7003" || s.electionTimeout != 300*time.Millisecond || s.bind != "127.0.0.1:7002" ||
		s.storage != "nutsdb" || s.dataDir != "/tmp/rsml-test-2" {
		t.Fatalf("settings from file: %+v", s)
	}
	tlsFile := writeFile(t, goodConfig+"\n[consensus.tls]\npeer_cert = \"r.crt\"\npeer_key = \"r.key\"\npeer_ca = \"ca.crt\"\n")
	s, err = loadSettings(t, "--config", tlsFile, "--peer-ca", "other.crt")
	if err != nil || s.peerCert != "r.crt" || s.peerKey != "r.key" || s.peerCA != "other.crt" || !s.peerTLS() {
		t.Fatalf("peer TLS from the file, --peer-ca from the flag: %+v, %v", s, err)
	}
	s, err = loadSettings(t, "--config", p, "--http", "127.0.0.1:9999", "--id", "3", "--election-timeout", "1s")
	if err != nil {
		t.Fatal(err)
	}
	if s.id != 3 || s.http != "127.0.0.1:9999" || s.electionTimeout != time.Second || s.clusterID != "demo" {
		t.Fatalf("flags must win over the file: %+v", s)
	}
}

func TestBadSettingsAreRefusedWithAClearError(t *testing.T) {
	peers := "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003"
	tests := []struct {
		name string
		args []string
		file string
		want string
	}{
		{"missing id", []string{"--peers", peers}, "", "--id: required"},
		{"bad id", []string{"--id", "x", "--peers", peers}, "", `"x" is not a positive integer`},
		{"zero id", []string{"--id", "0", "--peers", peers}, "", "not a positive integer"},
		{"missing peers", []string{"--id", "1"}, "", "--peers: required"},
		{"id not in peers", []string{"--id", "4", "--peers", peers}, "", "--id 4 is not in --peers"},
		{"duplicate peer id", []string{"--id", "1", "--peers", "1=127.0.0.1:1,1=127.0.0.1:2"}, "", "replica 1 listed twice"},
		{"peer without address", []string{"--id", "1", "--peers", "1=,2=127.0.0.1:2"}, "", "want HOST:PORT"},
		{"peer without =", []string{"--id", "1", "--peers", "1:127.0.0.1:1"}, "", "want ID=HOST:PORT"},
		{"shared address", []string{"--id", "1", "--peers", "1=127.0.0.1:1,2=127.0.0.1:1"}, "", "share address"},
		{"bad port", []string{"--id", "1", "--peers", "1=127.0.0.1:99999"}, "", "bad port"},
		{"nutsdb without a data dir", []string{"--id", "1", "--peers", peers}, "", "--storage nutsdb needs --data-dir"},
		{"unknown storage", []string{"--id", "1", "--peers", peers, "--storage", "tape"}, "", `--storage "tape": want nutsdb, wal`},
		{"bad log format", []string{"--id", "1", "--peers", peers, "--storage", "memory", "--log-format", "xml"}, "", "--log-format"},
		{"bad memory limit", []string{"--id", "1", "--peers", peers, "--storage", "memory", "--memory-limit", "lots"}, "", `--memory-limit "lots": want a whole number`},
		{"bad log level", []string{"--id", "1", "--peers", peers, "--storage", "memory", "--log-level", "loud"}, "", "--log-level"},
		{"heartbeat not below election", []string{"--id", "1", "--peers", peers, "--storage", "memory", "--heartbeat-interval", "1s"}, "", "must be positive and below"},
		{"unknown flag", []string{"--id", "1", "--peers", peers, "--bogus"}, "", "flag provided but not defined"},
		{"missing file", []string{"--config", "/nonexistent/rsml.toml"}, "", "no such file"},
		{"malformed file", nil, "[consensus\nreplica_id=", "config"},
		{"unknown setting", nil, "[consensus]\nreplica_idd = \"1\"\n", "unknown settings: consensus.replica_idd"},
		{"partial role sets", nil, strings.Replace(goodConfig, `learners  = ["1", "2", "3"]`, `learners  = ["1"]`, 1), "consensus.cluster: invalid configuration: member 2: a proposer must also be a learner"},
		{"memory transport in run", nil, strings.Replace(goodConfig, `type = "tcp"`, `type = "memory"`, 1), "run supports tcp"},
		{"bad duration", nil, strings.Replace(goodConfig, `"300ms"`, `"soon"`, 1), "consensus.election_timeout"},
		{"peer TLS without a CA", []string{"--id", "1", "--peers", peers, "--storage", "memory", "--peer-cert", "a.crt", "--peer-key", "a.key"}, "",
			"--peer-cert, --peer-key and --peer-ca: give all three"},
		{"peer TLS key from the file only", nil, goodConfig + "\n[consensus.tls]\npeer_key = \"a.key\"\n",
			"--peer-cert, consensus.tls.peer_key and --peer-ca: give all three"},
		{"HTTPS without a key", nil, goodConfig + "\n[consensus.tls]\nclient_cert = \"c.crt\"\n", "consensus.tls.client_cert and --client-key: give both"},
		{"client CA without HTTPS", []string{"--client-ca", "ca.crt"}, goodConfig, "--client-ca needs --client-cert and --client-key"},
		{"unknown TLS setting", nil, goodConfig + "\n[consensus.tls]\nclient_crt = \"c.crt\"\n", "unknown settings: consensus.tls.client_crt"},
	}
	sameCA := writeNamed(t, "ca.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	tests = append(tests, struct {
		name string
		args []string
		file string
		want string
	}{"one CA for peers and clients", []string{"--id", "1", "--peers", peers, "--storage", "memory", "--peer-cert", "r.crt",
		"--peer-key", "r.key", "--peer-ca", sameCA, "--client-cert", "r.crt", "--client-key", "r.key", "--client-ca", sameCA}, "",
		"--client-ca and --peer-ca hold the same CA"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, tt.file)}, args...)
			}
			_, err := loadSettings(t, args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestRunRefusesAnAddressInUse(t *testing.T) {
	addrs := freePorts(t, 2)
	// Occupy the HTTP port.
	ln, err := netListen(addrs[1])
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out, errb bytes.Buffer
	code := run([]string{"run", "--id", "1", "--peers", "1=" + addrs[0], "--http", addrs[1], "--log-level", "error", "--storage", "memory"},
		strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "address already in use") {
		t.Fatalf("exit %d, stderr %q: want 1 and a message about the address", code, errb.String())
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"1000000000": 1e9, "512MiB": 512 << 20, "2GiB": 2 << 30, "1 TiB": 1 << 40, "64KiB": 64 << 10,
		"500MB": 500e6, "3GB": 3e9, "100B": 100,
	} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-5MiB", "0", "1.5GiB", "12 parsecs", "99999999999TiB"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
	s, err := loadSettings(t, "--id", "1", "--peers", "1=127.0.0.1:7001", "--storage", "memory", "--memory-limit", "256MiB")
	if err != nil || s.memoryLimit != 256<<20 {
		t.Fatalf("--memory-limit 256MiB: %d, %v", s.memoryLimit, err)
	}
}

// run and dev collect garbage at GOGC=50 unless the environment says
// otherwise, and set --memory-limit as given.
func TestApplyMemoryLimitSetsGC(t *testing.T) {
	prevGC, prevLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(prevGC); debug.SetMemoryLimit(prevLimit) })
	quiet := slog.New(slog.DiscardHandler)

	t.Setenv("GOGC", "")
	applyMemoryLimit(settings{memoryLimit: 1 << 30}, quiet)
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("GOGC unset: gc percent %d, want %d", got, defaultGCPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("--memory-limit 1GiB: limit %d", got)
	}

	t.Setenv("GOGC", "80")
	debug.SetGCPercent(80) // as the runtime did at start
	applyMemoryLimit(settings{memoryLimit: 1 << 30}, quiet)
	if got := debug.SetGCPercent(100); got != 80 {
		t.Errorf("GOGC=80: gc percent %d, want the environment's 80", got)
	}
}
