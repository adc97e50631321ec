package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logSink keeps what a process writes to stderr; exec copies into it from
// its own goroutine while the test reads, hence the lock.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// find returns the first JSON log record that match accepts.
func (l *logSink) find(match func(map[string]any) bool) map[string]any {
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && match(rec) {
			return rec
		}
	}
	return nil
}

// cfgProc is an rsml-node process whose JSON log the test reads.
type cfgProc struct {
	cmd    *exec.Cmd
	log    *logSink
	stdout *logSink
	err    error         // Wait's, once exited is closed
	exited chan struct{} // closed once Wait returned
}

// startCfgProc starts bin with args in dir (the working directory, which
// relative paths in a config file are relative to); the process is killed
// at cleanup if it is still running.
func startCfgProc(t *testing.T, bin, dir string, args ...string) *cfgProc {
	t.Helper()
	p := &cfgProc{cmd: exec.Command(bin, args...), log: &logSink{}, stdout: &logSink{}, exited: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stderr, p.cmd.Stdout = p.log, p.stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// running fails the test at once if the process has ended.
func (p *cfgProc) running(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("rsml-node exited (%v); its log:\n%s", p.err, p.log)
	default:
	}
}

// waitLog waits for a log record with message msg that match accepts.
func (p *cfgProc) waitLog(t *testing.T, msg string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	var rec map[string]any
	waitUntil(t, fmt.Sprintf("log line %q", msg), func() bool {
		p.running(t)
		rec = p.log.find(func(r map[string]any) bool { return r["msg"] == msg && (match == nil || match(r)) })
		return rec != nil
	})
	return rec
}

func (p *cfgProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// stop sends SIGTERM and wants exit status 0 within 10s (DESIGN.md §4.1).
func (p *cfgProc) stop(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v; log:\n%s", p.err, p.log)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit within 10s of SIGTERM; log:\n%s", p.log)
	}
}

func portNum(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// setting writes key = value as the file's format does.
func setting(jsonFile bool, key, value string) string {
	if jsonFile {
		return fmt.Sprintf("%q: %s", key, value)
	}
	return fmt.Sprintf("%s = %s", key, value)
}

// TestPlanConfigProcessCluster starts three rsml-node processes from the
// plan's own example file (and from its JSON copy), as a user would: each
// replica's copy differs in replica_id, transport.bind and wal_path, and
// every port is one the system just handed out. Every replica must serve a
// write made through another one.
func TestPlanConfigProcessCluster(t *testing.T) {
	bin := buildBinary(t)
	for _, example := range []string{"plan.toml", "plan.json"} {
		t.Run(example, func(t *testing.T) {
			isJSON := strings.HasSuffix(example, ".json")
			body := planFile(t, example)
			cons, https := freePorts(t, 3), freePorts(t, 3)
			var ports []string
			for i := 0; i < 3; i++ {
				ports = append(ports, fmt.Sprint(7001+i), portNum(t, cons[i]), fmt.Sprint(8001+i), portNum(t, https[i]))
			}
			dir := t.TempDir()
			var procs []*cfgProc
			for i := 1; i <= 3; i++ {
				f := body
				for _, e := range []struct{ key, from, to string }{
					{"replica_id", `"1"`, fmt.Sprintf(`"%d"`, i)},
					{"wal_path", `"./data/1"`, fmt.Sprintf(`"./data/%d"`, i)},
					{"bind", `"127.0.0.1:7001"`, fmt.Sprintf(`"127.0.0.1:%d"`, 7000+i)}, // a port replaced below
				} {
					f = edit(t, f, setting(isJSON, e.key, e.from), setting(isJSON, e.key, e.to))
				}
				for j := 0; j < len(ports); j += 2 {
					if !strings.Contains(f, ports[j]) {
						t.Fatalf("port %s not in %s", ports[j], example)
					}
				}
				f = strings.NewReplacer(ports...).Replace(f)
				cfg := filepath.Join(dir, fmt.Sprintf("replica-%d-%s", i, example))
				if err := os.WriteFile(cfg, []byte(f), 0o600); err != nil {
					t.Fatal(err)
				}
				procs = append(procs, startCfgProc(t, bin, dir, "run", "--config", cfg, "--log-format", "json"))
			}
			urls := make([]string, 3)
			for i, p := range procs {
				rec := p.waitLog(t, "serving", nil)
				urls[i] = "http://" + https[i]
				if rec["http"] != urls[i] || rec["consensus"] != cons[i] || rec["cluster"] != "demo" {
					t.Fatalf("replica %d serves %v, want HTTP %s (its client_port) and consensus %s", i+1, rec, urls[i], cons[i])
				}
				// wal_path is relative to the working directory.
				if _, err := os.Stat(filepath.Join(dir, "data", fmt.Sprint(i+1))); err != nil {
					t.Fatalf("replica %d's wal_path: %v", i+1, err)
				}
			}
			waitUntil(t, "a leader", func() bool {
				for _, u := range urls {
					if st, err := getStatus(u); err == nil && st.IsLeader {
						return true
					}
				}
				return false
			})
			for i, u := range urls {
				key := fmt.Sprintf("plan-%d", i)
				if code, body := httpDo(t, "PUT", u+"/v1/kv/"+key, "v"+key); code != 200 {
					t.Fatalf("PUT via replica %d: %d %s", i+1, code, body)
				}
			}
			for i, u := range urls {
				for j := range urls {
					key := fmt.Sprintf("plan-%d", j)
					if code, body := httpDo(t, "GET", u+"/v1/kv/"+key, ""); code != 200 || body != "v"+key {
						t.Fatalf("GET %s via replica %d: %d %q", key, i+1, code, body)
					}
				}
			}
			for _, p := range procs {
				p.stop(t)
			}
		})
	}
}

// hupConfig is a one-replica cluster's config file.
func hupConfig(cons, http, cluster, level string) string {
	return fmt.Sprintf(`[consensus]
engine     = "rsml"
replica_id = "1"
cluster_id = %q
storage    = { type = "memory" }

[consensus.cluster.endpoints]
"1" = { host = "127.0.0.1", consensus_port = %s, client_port = %s }

[log]
level = %q
`, cluster, cons, http, level)
}

func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serves checks that the replica still takes writes and answers reads.
func serves(t *testing.T, url, key string) {
	t.Helper()
	waitUntil(t, "a leader at "+url, func() bool { st, err := getStatus(url); return err == nil && st.IsLeader })
	if code, body := httpDo(t, "PUT", url+"/v1/kv/"+key, "v"); code != 200 {
		t.Fatalf("PUT %s: %d %s", key, code, body)
	}
	if code, body := httpDo(t, "GET", url+"/v1/kv/"+key, ""); code != 200 || body != "v" {
		t.Fatalf("GET %s: %d %q", key, code, body)
	}
}

// TestHupReloadsLogLevel edits a running replica's config file (log level
// info → debug, and a setting that cannot change while it runs) and sends
// SIGHUP: the replica keeps serving, applies the level, says which setting
// needs a restart, and still stops cleanly on SIGTERM.
func TestHupReloadsLogLevel(t *testing.T) {
	bin := buildBinary(t)
	cons, https := freePorts(t, 1), freePorts(t, 1)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rsml.toml")
	writeConfig(t, cfg, hupConfig(portNum(t, cons[0]), portNum(t, https[0]), "hup", "info"))
	p := startCfgProc(t, bin, dir, "run", "--config", cfg, "--log-format", "json")
	p.waitLog(t, "serving", nil)
	url := "http://" + https[0]
	serves(t, url, "before")
	if p.log.find(func(r map[string]any) bool { return r["level"] == "DEBUG" }) != nil {
		t.Fatalf("a debug line at level info:\n%s", p.log)
	}

	writeConfig(t, cfg, hupConfig(portNum(t, cons[0]), portNum(t, https[0]), "hup-renamed", "debug"))
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, "SIGHUP: log level changed", func(r map[string]any) bool {
		return r["level"] == "INFO" && r["setting"] == "log.level" && r["from"] == "INFO" && r["to"] == "DEBUG"
	})
	p.waitLog(t, "SIGHUP: setting changed; needs a restart", func(r map[string]any) bool {
		return r["level"] == "WARN" && r["setting"] == "consensus.cluster_id" && r["running"] == "hup" && r["reloaded"] == "hup-renamed"
	})
	p.running(t)
	serves(t, url, "after")
	// The new level is in force: the reload's own debug line appears.
	p.waitLog(t, "SIGHUP: settings in force", func(r map[string]any) bool { return r["level"] == "DEBUG" })
	p.stop(t)
}

// TestHupBrokenConfigKeepsRunning sends SIGHUP after the config file was
// broken: the replica logs why and runs on with its settings; once the file
// is mended, the next SIGHUP applies it.
func TestHupBrokenConfigKeepsRunning(t *testing.T) {
	bin := buildBinary(t)
	cons, https := freePorts(t, 1), freePorts(t, 1)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rsml.toml")
	good := hupConfig(portNum(t, cons[0]), portNum(t, https[0]), "hup", "info")
	writeConfig(t, cfg, good)
	p := startCfgProc(t, bin, dir, "run", "--config", cfg, "--log-format", "json")
	p.waitLog(t, "serving", nil)
	url := "http://" + https[0]

	writeConfig(t, cfg, "[consensus\nreplica_id = ")
	p.signal(t, syscall.SIGHUP)
	rec := p.waitLog(t, "SIGHUP: config file not reloaded; the running settings stay", nil)
	if rec["level"] != "ERROR" || !strings.Contains(fmt.Sprint(rec["err"]), cfg) {
		t.Fatalf("reload error logged as %v", rec)
	}
	serves(t, url, "after-broken")

	writeConfig(t, cfg, strings.Replace(good, `level = "info"`, `level = "warn"`, 1))
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, "SIGHUP: log level changed", func(r map[string]any) bool { return r["level"] == "WARN" && r["to"] == "WARN" })
	serves(t, url, "after-mended")
	p.stop(t)
}

// TestHupWithoutConfig: SIGHUP to a replica started from flags alone only
// says there is nothing to reload.
func TestHupWithoutConfig(t *testing.T) {
	bin := buildBinary(t)
	cons, https := freePorts(t, 1), freePorts(t, 1)
	p := startCfgProc(t, bin, t.TempDir(), "run", "--id", "1", "--peers", "1="+cons[0], "--http", https[0],
		"--storage", "memory", "--log-format", "json")
	p.waitLog(t, "serving", nil)
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, "SIGHUP: no config file (--config) to reload; nothing changes", nil)
	serves(t, "http://"+https[0], "k")
	p.stop(t)
}

// TestDevConfigFromPlanFile runs dev on the plan's example file: the
// endpoints give the number of replicas and their HTTP addresses, wal_path
// the parent data directory, and what dev cannot use is named in a warning.
// SIGHUP reloads the level as in run.
func TestDevConfigFromPlanFile(t *testing.T) {
	bin := buildBinary(t)
	https := freePorts(t, 3)
	var ports []string
	for i := 0; i < 3; i++ {
		ports = append(ports, fmt.Sprint(8001+i), portNum(t, https[i]))
	}
	dir := t.TempDir()
	body := strings.NewReplacer(ports...).Replace(planFile(t, "plan.toml"))
	cfg := filepath.Join(dir, "plan.toml")
	writeConfig(t, cfg, body)
	p := startCfgProc(t, bin, dir, "dev", "--config", cfg, "--log-format", "json")
	rec := p.waitLog(t, "dev runs every replica in this process: these settings of the config file do not apply", nil)
	if rec["settings"] != "consensus.replica_id, consensus.transport.type, consensus.transport.bind, consensus.cluster.endpoints (the consensus addresses)" {
		t.Fatalf("warning: %v", rec)
	}
	p.waitLog(t, "dev cluster running; Ctrl-C stops it", func(r map[string]any) bool { return r["replicas"] == float64(3) })
	for i := 0; i < 3; i++ {
		if _, err := os.Stat(filepath.Join(dir, "data", "1", fmt.Sprint("replica-", i+1))); err != nil {
			t.Fatalf("replica %d's data directory under wal_path: %v", i+1, err)
		}
	}
	if code, body := httpDo(t, "PUT", "http://"+https[0]+"/v1/kv/dev", "v"); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	for _, h := range https {
		if code, body := httpDo(t, "GET", "http://"+h+"/v1/kv/dev", ""); code != 200 || body != "v" {
			t.Fatalf("GET via %s: %d %q", h, code, body)
		}
	}
	writeConfig(t, cfg, body+"\n[log]\nlevel = \"debug\"\n")
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, "SIGHUP: log level changed", func(r map[string]any) bool { return r["to"] == "DEBUG" })
	p.stop(t)
}
