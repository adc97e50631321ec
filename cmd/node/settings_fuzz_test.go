package main

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzConfigFile feeds arbitrary TOML to run's settings: a bad file must be
// an error, never a panic, and a file that loads must pass validation.
func FuzzConfigFile(f *testing.F) {
	f.Add(goodConfig)
	f.Add(planBody(walStorage, planEndpoints))
	f.Add(planBody(`{ type = "nutsdb", wal_path = "w" }`, `"1" = { host = "::1", consensus_port = 1, grpc = 2 }`))
	f.Add(planBody(`{ wal_path = "w" }`, `"1" = "127.0.0.1:1"`+"\n"+`"2" = { host = "h", consensus_port = 70000 }`))
	f.Add("[consensus]\nreplica_id = \"1\"\n[consensus.cluster.endpoints]\n\"1\" = \"127.0.0.1:1\"\n")
	f.Add("[consensus\n")
	f.Add("[consensus]\nelection_timeout = \"-5s\"\nmax_value_bytes = -1\n")
	f.Add("[consensus.cluster]\nacceptors = [\"1\", \"x\"]\n")
	f.Add("[consensus.cluster]\nacceptors = [\"1\", \"1\"]\nendpoints = 3\n")
	fuzzConfig(f, "fuzz.toml")
}

// FuzzConfigFileJSON is FuzzConfigFile for the JSON shape, whose unknown
// and duplicate keys rsml-node finds itself.
func FuzzConfigFileJSON(f *testing.F) {
	f.Add(`{"consensus": {"engine": "rsml", "replica_id": "1", "storage": {"type": "wal", "wal_path": "w"},
		"cluster": {"acceptors": ["1"], "endpoints": {"1": {"host": "127.0.0.1", "consensus_port": 7001, "client_port": 8001}}}}}`)
	f.Add(`{"consensus": {"replica_id": "1", "storage": {"type": "memory"}, "cluster": {"endpoints": {"1": "127.0.0.1:1", "1": null}}}}`)
	f.Add(`{"consensus": {"cluster": {"endpoints": {"1": {"host": "h", "consensus_port": 1e3}}}}, "log": {"level": 7}}`)
	f.Add(`{"consensus": [{"x": {}}]}`)
	f.Add(`{"consensus": {"cluster": {"endpoints": null}}} trailing`)
	fuzzConfig(f, "fuzz.json")
}

func fuzzConfig(f *testing.F, name string) {
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := loadSettings(t, "--config", p)
		if err != nil {
			return
		}
		if verr := s.validate(); verr != nil {
			t.Fatalf("settings loaded without error but do not validate: %v", verr)
		}
	})
}
