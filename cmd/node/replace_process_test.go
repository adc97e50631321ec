package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rsml-go/rsml/client"
)

// startJoiner starts replica id with run --join: an empty data directory,
// its consensus address bind, and the members' URLs to ask.
func startJoiner(t *testing.T, bin string, id int, join []string, bind, httpAddr, dataDir string) *proc {
	t.Helper()
	return launch(t, bin, httpAddr, "run", "--id", fmt.Sprint(id), "--join", strings.Join(join, ","), "--bind", bind,
		"--http", httpAddr, "--cluster-id", "proc-test", "--log-format", "json", "--log-level", "info",
		"--storage", "nutsdb", "--data-dir", dataDir)
}

// Every replica of a three-replica cluster is replaced, one at a time,
// under load: a new replica joins with an empty disk (run --join), is added
// (POST /v1/members), and the replica it replaces is removed (DELETE
// /v1/members/{id}), whose run then exits 0 saying so. At the end only new
// replicas remain, and every write acknowledged along the way reads back
// through them.
func TestProcessReplaceEveryReplica(t *testing.T) {
	c := newTrio(t, "--log-level", "info")
	procs := c.startAll()
	cons := freePorts(t, 3)
	https := freePorts(t, 3)
	var eps []string
	for _, p := range procs {
		eps = append(eps, p.url)
	}
	for _, h := range https {
		eps = append(eps, "http://"+h)
	}
	waitUntil(t, "a leader", func() bool {
		for _, p := range procs {
			if st, err := getStatus(p.url); err == nil && st.IsLeader {
				return true
			}
		}
		return false
	})
	cl, err := client.New(eps)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdleConnections()
	var mu sync.Mutex
	acked := map[string]string{}
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				k, v := fmt.Sprintf("w%d-%d", w, i), fmt.Sprint(i)
				_, err := cl.Put(ctx, k, []byte(v), client.Cond{})
				cancel()
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					acked[k] = v
				}
				mu.Unlock()
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	live := []string{procs[0].url, procs[1].url, procs[2].url}
	for i := range 3 {
		waitUntil(t, "writes before the replacement", func() bool { return count() >= 100*(i+1) })
		id := 4 + i
		dir := filepath.Join(t.TempDir(), fmt.Sprint("replica-", id))
		joiner := startJoiner(t, c.bin, id, live, cons[i], https[i], dir)
		code, body := httpDo(t, "POST", live[0]+"/v1/members",
			fmt.Sprintf(`{"id": "%d", "address": %q, "http": %q}`, id, cons[i], "http://"+https[i]))
		if code != 200 {
			t.Fatalf("add %d: %d %s; joiner's stderr:\n%s", id, code, body, joiner.stderr)
		}
		waitUntil(t, "the new replica to serve", func() bool { _, err := getStatus(joiner.url); return err == nil })
		old := i + 1
		code, body = httpDo(t, "DELETE", joiner.url+fmt.Sprintf("/v1/members/%d", old), "")
		if code != 200 {
			t.Fatalf("remove %d: %d %s", old, code, body)
		}
		select {
		case err := <-procs[i].done:
			if err != nil {
				t.Fatalf("removed replica %d exited with %v; stderr:\n%s", old, err, procs[i].stderr)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("removed replica %d did not exit; stderr:\n%s", old, procs[i].stderr)
		}
		if !strings.Contains(procs[i].stderr.String(), "removed from the configuration") {
			t.Fatalf("replica %d exited without saying it was removed; stderr:\n%s", old, procs[i].stderr)
		}
		live = append(live[1:], joiner.url)
		t.Logf("replica %d replaced by %d (%d writes so far)", old, id, count())
	}
	waitUntil(t, "writes after the last replacement", func() bool { return count() >= 400 })
	close(stop)
	wg.Wait()
	reader, err := client.New(live)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	num, members, err := reader.Members(ctx)
	var ids []string
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	if err != nil || strings.Join(ids, ",") != "4,5,6" || num != 10 {
		t.Fatalf("members after replacing all: config %d %v, %v; want config 10 (three adds, promotions and removals) of 4,5,6", num, ids, err)
	}
	for k, v := range acked {
		got, _, err := reader.Get(ctx, k)
		if err != nil || string(got) != v {
			t.Fatalf("acknowledged write %s=%s reads back as %q, %v", k, v, got, err)
		}
	}
	t.Logf("%d acknowledged writes read back through the new replicas; %d writes failed", len(acked), len(failures))
	if len(failures) > 0 {
		t.Logf("first failure: %s", failures[0])
	}
}
