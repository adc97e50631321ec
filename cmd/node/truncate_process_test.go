package main

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// metric reads one unlabelled metric from a replica's /metrics.
func metric(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no metric %s at %s", name, url)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("metric %s: %v", name, err)
	}
	return v
}

// TestProcessCatchUpBySnapshot SIGKILLs a follower, writes until the others
// have snapshotted and truncated their logs well past it, restarts it, and
// checks that it installed a peer's snapshot and then serves every
// acknowledged write from its own state.
func TestProcessCatchUpBySnapshot(t *testing.T) {
	c := newTrio(t, "--snapshot-every", "20")
	procs := c.startAll()
	leader := -1
	waitUntil(t, "a leader", func() bool {
		for i, p := range procs {
			if st, err := getStatus(p.url); err == nil && st.IsLeader {
				leader = i
				return true
			}
		}
		return false
	})
	acked := map[string]string{}
	put := func(i int) {
		t.Helper()
		key, val := fmt.Sprintf("k%d", i%60), fmt.Sprintf("v%d", i)
		if code, body := httpDo(t, "PUT", procs[leader].url+"/v1/kv/"+key, val); code != 200 {
			t.Fatalf("PUT %s: %d %s", key, code, body)
		}
		acked[key] = val
	}
	for i := 0; i < 10; i++ {
		put(i)
	}
	lag := (leader + 1) % 3
	var stoppedAt uint64
	waitUntil(t, "the follower to apply the first writes", func() bool {
		st, err := getStatus(procs[lag].url)
		stoppedAt = st.Applied
		return err == nil && st.Applied >= 10
	})
	_ = procs[lag].cmd.Process.Signal(syscall.SIGKILL)
	<-procs[lag].done
	for i := 10; i < 400; i++ {
		put(i)
	}
	if base := metric(t, procs[leader].url, "rsml_chosen_log_base"); base <= float64(stoppedAt) {
		t.Fatalf("leader's chosen log base %v, not past the killed follower's %d", base, stoppedAt)
	}
	procs[lag] = c.start(lag)
	waitUntil(t, "the restarted follower to catch up", func() bool {
		for k, v := range acked {
			code, body := httpDoQuiet(procs[lag].url + "/v1/kv/" + k + "?consistency=stale")
			if code != 200 || body != v {
				return false
			}
		}
		return true
	})
	if n := metric(t, procs[lag].url, "rsml_snapshot_installs_total"); n < 1 {
		t.Fatalf("the follower caught up without installing a snapshot (installs %v)", n)
	}
	if base := metric(t, procs[lag].url, "rsml_chosen_log_base"); base <= float64(stoppedAt) {
		t.Fatalf("follower's chosen log base %v after catching up, not past %d", base, stoppedAt)
	}
	// It takes part again: it follows new writes.
	put(1000)
	waitUntil(t, "the follower to apply a new write", func() bool {
		code, body := httpDoQuiet(procs[lag].url + "/v1/kv/k40?consistency=stale")
		return code == 200 && body == "v1000"
	})
}

// httpDoQuiet is a GET that reports failure as status 0, for polling.
func httpDoQuiet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// httpDoQuiet2 is a request that reports failure as status 0; its timeout
// is longer than the server's request timeout (10 s).
func httpDoQuiet2(method, url, body string) (int, string) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, ""
	}
	c := http.Client{Timeout: 15 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
