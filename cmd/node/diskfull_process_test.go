package main

import (
	"fmt"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestProcessFullDiskStopsAcknowledgements fills every replica's disk while
// clients write (RLIMIT_FSIZE set on the running processes: every write to a
// file fails with EFBIG, as on a full disk), and checks that no write is
// acknowledged while it lasts: the acceptors stop answering rather than
// answer what they could not persist. After a restart with space again,
// every write acknowledged before is there, none that was refused as
// certainly not applied (503) is, and writes work again.
func TestProcessFullDiskStopsAcknowledgements(t *testing.T) {
	c := newTrio(t)
	start := c.startAll
	procs := start()
	leaderURL := func() string {
		var url string
		waitUntil(t, "a leader", func() bool {
			for _, p := range procs {
				if st, err := getStatus(p.url); err == nil && st.IsLeader {
					url = p.url
					return true
				}
			}
			return false
		})
		return url
	}
	url := leaderURL()
	acked := map[string]string{}
	for i := 0; i < 20; i++ {
		key, val := fmt.Sprintf("before-%d", i), fmt.Sprint("v", i)
		if code, body := httpDo(t, "PUT", url+"/v1/kv/"+key, val); code != 200 {
			t.Fatalf("PUT %s: %d %s", key, code, body)
		}
		acked[key] = val
	}

	// The disks fill up.
	for _, p := range procs {
		lim := unix.Rlimit{Cur: 1, Max: unix.RLIM_INFINITY}
		if err := unix.Prlimit(p.cmd.Process.Pid, unix.RLIMIT_FSIZE, &lim, nil); err != nil {
			t.Fatalf("prlimit: %v", err)
		}
	}
	// Writes through every replica, each waiting up to the server's request
	// timeout (10 s): none may be acknowledged.
	type outcome struct {
		key  string
		code int
		body string
	}
	results := make(chan outcome, 16)
	for i := 0; i < 16; i++ {
		go func(i int) {
			key := fmt.Sprintf("during-%d", i)
			code, body := httpDoQuiet2("PUT", procs[i%3].url+"/v1/kv/"+key, "x")
			results <- outcome{key, code, body}
		}(i)
	}
	var refused []string
	codes := map[int]int{}
	for i := 0; i < 16; i++ {
		o := <-results
		codes[o.code]++
		switch o.code {
		case 200:
			t.Fatalf("PUT %s acknowledged while no replica could write its disk: %s", o.key, o.body)
		case 503:
			refused = append(refused, o.key)
		}
	}
	t.Logf("while the disks were full: status codes %v", codes)

	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
	procs = start()
	waitUntil(t, "every replica serving after the restart", func() bool {
		for _, p := range procs {
			if _, err := getStatus(p.url); err != nil {
				return false
			}
		}
		return true
	})
	url = leaderURL()
	for k, v := range acked {
		if code, body := httpDo(t, "GET", url+"/v1/kv/"+k, ""); code != 200 || body != v {
			t.Fatalf("acknowledged %s=%s after the disk-full restart: %d %q", k, v, code, body)
		}
	}
	for _, k := range refused {
		if code, _ := httpDo(t, "GET", url+"/v1/kv/"+k, ""); code != 404 {
			t.Fatalf("%s was refused as not applied (503) but reads %d", k, code)
		}
	}
	if code, body := httpDo(t, "PUT", url+"/v1/kv/after", "y"); code != 200 {
		t.Fatalf("PUT after the restart: %d %s", code, body)
	}
}
