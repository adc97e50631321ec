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
	f.Add("[consensus]\nreplica_id = \"1\"\n[consensus.cluster.endpoints]\n\"1\" = \"127.0.0.1:1\"\n")
	f.Add("[consensus\n")
	f.Add("[consensus]\nelection_timeout = \"-5s\"\nmax_value_bytes = -1\n")
	f.Add("[consensus.cluster]\nacceptors = [\"1\", \"x\"]\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(dir, "fuzz.toml")
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
